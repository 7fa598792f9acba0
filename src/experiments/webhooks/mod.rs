//! The breakpoints suite's webhook row: open-loop creates at a rising offered rate against
//! a validating webhook with a concurrency limit (a webhook pod's capacity). By Little's
//! law the webhook serves at most concurrency / latency calls a second; past that, calls
//! wait for a slot, create latency climbs, and once the wait passes `timeoutSeconds`,
//! `failurePolicy: Fail` turns calls into failed creates.

use super::sweep::{sweep, SweepSpec};
use super::{Experiment, Needs, RowFacts, RowFuture, Suite};
use crate::error::Error;
use crate::profile;
use crate::report::breakpoints::{group, Bottleneck, Documented, Row, RowStatus};
use crate::report::plot::{svg_lines, Line};
use crate::report::Summary;
use crate::sweep::knee::{plateau, Breakpoint};

/// Failed creates (percent of sent) that count as "writes fail".
pub const FAILURE_THRESHOLD_PERCENT: f64 = 1.0;

/// One sweep point as the webhook row reads it.
#[derive(Clone, Debug, Default)]
struct Point {
    /// Offered creates/s (the swept value).
    offered: f64,
    /// Webhook calls/s the tool's server answered after holding a slot, per second it was
    /// busy (older summaries: calls received per second of load).
    calls: f64,
    /// Webhook calls/s the tool's server received (answered or given up on).
    arrivals: f64,
    /// Load seconds per second the webhooks were busy (>= 1: the load may start or end
    /// with objects without webhooks, e.g. the Secrets last), to turn the offered rate
    /// over the load into the offered rate while calls flowed.
    busy_factor: f64,
    /// Calls kube-apiserver counted, per second (None: not observed).
    calls_apiserver: Option<f64>,
    /// Failed creates, % of sent.
    failed_percent: f64,
    /// Worst create p99 of the kinds with webhooks (ms).
    create_p99: f64,
    /// Worst wait for a slot, p99 (ms).
    slot_wait_p99: f64,
    /// Webhook calls per create of the kinds with webhooks, and their share of creates.
    calls_per_create: f64,
    share: f64,
}

fn read_point(offered: f64, s: &Summary) -> Option<Point> {
    let w = s.webhooks.as_ref()?;
    let creates = |with: bool| -> u64 {
        s.operations
            .iter()
            .filter(|o| o.verb == "create" && w.setup.kinds.contains(&o.kind) == with)
            .map(|o| o.counts.sent)
            .sum()
    };
    let (with, without) = (creates(true), creates(false));
    let per_second = w.calls_per_second / w.calls_tool.max(1) as f64;
    Some(Point {
        offered,
        calls: if w.completed_per_second > 0.0 {
            w.completed_per_second
        } else {
            w.calls_per_second
        },
        arrivals: w.calls_per_second,
        busy_factor: if w.completed_per_second > 0.0 && w.calls_per_second > 0.0 {
            (w.calls_tool as f64 / w.calls_per_second / w.served.busy_seconds).max(1.0)
        } else {
            1.0
        },
        calls_apiserver: w.calls_apiserver.map(|c| c * per_second),
        failed_percent: s.totals.failed as f64 * 100.0 / s.totals.sent.max(1) as f64,
        create_p99: w.create_p99_ms_with.unwrap_or(0.0),
        slot_wait_p99: w
            .served
            .webhooks
            .iter()
            .map(|h| h.queue_p99_ms)
            .fold(0.0, f64::max),
        calls_per_create: w.calls_tool as f64 / with.max(1) as f64,
        share: with as f64 / (with + without).max(1) as f64,
    })
}

/// The first offered rate at which `f` reaches `threshold`, interpolated between points.
fn onset(points: &[Point], f: impl Fn(&Point) -> f64, threshold: f64) -> Option<f64> {
    let mut prev: Option<&Point> = None;
    for p in points {
        if f(p) >= threshold {
            return Some(match prev {
                Some(a) if f(p) > f(a) => {
                    a.offered + (p.offered - a.offered) * (threshold - f(a)) / (f(p) - f(a))
                }
                _ => p.offered,
            });
        }
        prev = Some(p);
    }
    None
}

/// The webhooks row.
pub struct Webhooks;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::Webhooks,
    short: "wh",
    documented: Documented {
        bottleneck: "Admission webhooks (latency, timeouts, failurePolicy)",
        value: "no cluster count; every Cluster API kind has defaulting and validating webhooks, so an overloaded webhook pod becomes apiserver latency and, with failurePolicy Fail, failed writes",
        clusters: None,
        unit: "webhook calls/s",
    },
    profile: (
        "profiles/breakpoints/webhooks.yaml",
        include_str!("../../../profiles/breakpoints/webhooks.yaml"),
    ),
    needs: Needs::Apiserver,
};

impl Experiment for Webhooks {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(async move { webhook_row(s.spec(self, None)?).await })
    }
}

/// Runs the row's sweep and reads its points.
pub async fn webhook_row(spec: SweepSpec) -> Result<Row, Error> {
    let b = Webhooks;
    let id = b.id().id();
    let plan = profile::parse_str(&spec.source, &spec.text, &spec.overrides)?;
    let Some(w) = plan.webhooks.clone() else {
        return Err(Error::Internal(
            "the webhooks row's profile has no webhooks: section",
        ));
    };
    let mean = w.latency.mean().as_secs_f64();
    let model = w
        .concurrency
        .filter(|_| mean > 0.0)
        .map(|c| c as f64 / mean);
    let r = sweep(&spec).await?;
    let mut points = Vec::new();
    for (i, p) in r.points.iter().enumerate() {
        if let Some(pt) = Summary::read(&spec.point_dir(i))
            .ok()
            .and_then(|s| read_point(p.x, &s))
        {
            points.push(pt);
        }
    }
    let mut out = b.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.model = model;
    // Offered calls/s: offered creates/s x the share with webhooks x calls per create (as
    // measured at the first point that created kinds with webhooks).
    let (share, per) = points
        .iter()
        .find(|p| p.calls_per_create > 0.0)
        .map(|p| (p.share, p.calls_per_create))
        .unwrap_or((1.0, 1.0));
    out.model_note = match (w.concurrency, model) {
        (Some(c), Some(m)) => format!(
            "Little's law: at most {c} calls in flight / {:.1} ms per call = {} calls/s ({} creates of kinds with webhooks per second at {per:.0} call(s) per create); beyond it calls wait for a slot.",
            mean * 1e3,
            group(m),
            group(m / per.max(1.0)),
        ),
        _ => "no concurrency limit: no capacity model".into(),
    };
    let tool: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.offered * share * per * p.busy_factor, p.calls))
        .collect();
    let apiserver: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.offered * share * per * p.busy_factor, p.calls_apiserver?)))
        .collect();
    let (knee, ceiling) = plateau(&tool, 3.0);
    let chart = svg_lines(
        "webhook calls/s answered and made",
        "calls/s",
        "offered webhook calls/s",
        &[
            Line {
                label: "answered (tool's server)",
                points: &tool,
                knee: knee.x(),
            },
            Line {
                label: "made (kube-apiserver)",
                points: &apiserver,
                knee: None,
            },
        ],
        model,
    );
    if let Ok(svg) = chart {
        let p = spec.dir.join("webhook_calls.svg");
        std::fs::write(&p, svg).map_err(|e| Error::io(&p, e))?;
        out.evidence.push(format!("{id}/webhook_calls.svg"));
    }
    for m in ["write_p99", "write_throughput"] {
        if r.curves.iter().any(|c| c.metric == m) {
            out.evidence.push(format!("{id}/{m}.svg"));
        }
    }
    let fail = onset(&points, |p| p.failed_percent, FAILURE_THRESHOLD_PERCENT);
    let slow = onset(&points, |p| p.create_p99, 1000.0);
    let table: Vec<String> = points
        .iter()
        .map(|p| {
            format!(
                "{} offered: {:.0} calls/s answered ({:.0} received), create p99 {:.0} ms, slot wait p99 {:.0} ms, {:.1}% failed",
                group(p.offered),
                p.calls,
                p.arrivals,
                p.create_p99,
                p.slot_wait_p99,
                p.failed_percent
            )
        })
        .collect();
    let tail = format!(
        " Create p99 of the kinds with webhooks passes 1 s at {} offered creates/s; failed creates pass {FAILURE_THRESHOLD_PERCENT}% at {}. Per point (creates/s): {}.",
        slow.map(group).unwrap_or_else(|| "none in range".into()),
        fail.map(group).unwrap_or_else(|| "none in range".into()),
        table.join("; ")
    );
    // The webhook's capacity is the most calls it answered a second; past it, calls the
    // apiserver gives up on (waiting for a slot, or in service at timeoutSeconds) are work
    // lost, so what it answers falls below that peak.
    let peak = tool.iter().map(|p| p.1).fold(0.0, f64::max);
    match (knee, ceiling) {
        (Breakpoint::At { x }, Some(c)) => {
            out.status = RowStatus::Measured;
            out.measured = Some(peak);
            out.measured_note = format!(
                "Answered webhook calls peak at {} calls/s{}, and stop following the offered rate at about {} offered calls/s. Past it calls wait for a slot until kube-apiserver gives up on them at timeoutSeconds, also while in service, so the webhook answers fewer: {} calls/s over the last points.{tail}",
                group(peak),
                model
                    .map(|m| format!(" ({:+.1}% from the model)", (peak - m) / m * 100.0))
                    .unwrap_or_default(),
                group(x),
                group(c),
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "Webhook calls kept following the offered rate up to {} offered creates/s: not reached in range.{tail}",
                points.last().map(|p| group(p.offered)).unwrap_or_default()
            );
        }
    }
    out.scaling = format!(
        "Nothing but time is scaled: {} s per offered rate on a fresh environment, `timeoutSeconds: {}` (instead of 10) so that calls queued past it fail within a point. The webhook runs in the tool's process on this machine: its CPU (TLS, JSON) competes with kube-apiserver's on the same cores, as a webhook pod on a control-plane node would; the model is about the pod's concurrency, not its CPU.",
        plan.phases
            .create
            .as_ref()
            .and_then(|c| c.max_duration)
            .map(|d| format!("{:.0}", d.as_secs_f64()))
            .unwrap_or_else(|| "-".into()),
        w.timeout.as_secs()
    );
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onset_interpolates_between_points() {
        let p = |offered, failed_percent| Point {
            offered,
            failed_percent,
            ..Point::default()
        };
        let pts = [p(100.0, 0.0), p(200.0, 0.0), p(300.0, 3.0)];
        let x = onset(&pts, |p| p.failed_percent, 1.0).unwrap();
        assert!((x - 233.33).abs() < 0.01, "{x}");
        assert_eq!(onset(&pts, |p| p.failed_percent, 5.0), None);
        assert_eq!(
            onset(&[p(100.0, 2.0)], |p| p.failed_percent, 1.0),
            Some(100.0)
        );
    }
}
