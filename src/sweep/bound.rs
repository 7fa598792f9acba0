//! What bound a knee, from the data: a curve that breaks says where, not why. The points at
//! and past the knee say why:
//! - **generator**: the tool itself was saturated there (out of CPU, or its runtime woke
//!   tasks late), so the curve shows the tool's limit;
//! - **client limit**: the rate achieved is close to what the client limit allows
//!   (QPS x pool) and the client-side throttle wait rises;
//! - **target**: the rate achieved stays below the client limit while the server's own
//!   latency (sent → answered) rises: the apiserver, etcd or the machine under them;
//! - **workers**: neither: the rate is below the limit and the server answers as fast as
//!   before, so the reconcile workers are what is busy.
//!
//! A breakpoint row that measures one of these and finds its knee bound by another says so
//! instead of reporting the knee as its breakpoint (`src/report/breakpoints.rs`).

use super::points::SweepPoint;
use serde::{Deserialize, Serialize};

/// The share of the client limit above which the achieved rate counts as "at the limit".
pub const AT_LIMIT: f64 = 0.9;

/// A rise of throttle wait or server latency counts when the later value is this many times
/// the first point's and at least [`MIN_RISE_MS`] above it.
pub const RISE_FACTOR: f64 = 2.0;

/// See [`RISE_FACTOR`].
pub const MIN_RISE_MS: f64 = 20.0;

/// What bound a knee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The tool itself (saturated).
    Generator,
    /// The client-side rate limit (QPS / burst).
    ClientLimit,
    /// The controller's reconcile workers.
    Workers,
    /// The target: apiserver, etcd, or the machine under them.
    Target,
}

impl Bound {
    /// In words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Bound::Generator => "the load generator (the tool was saturated)",
            Bound::ClientLimit => "the client limit",
            Bound::Workers => "the reconcile workers",
            Bound::Target => "the target (apiserver, etcd or the machine)",
        }
    }
}

/// A knee's bound and the numbers that decided it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KneeBound {
    /// What bound it.
    pub bound: Bound,
    /// Whether the tool was saturated at a point at or past the knee (the knee may then be
    /// the tool's).
    pub generator_saturated: bool,
    /// The numbers, in words.
    pub evidence: String,
}

fn rose(first: Option<f64>, later: Option<f64>) -> bool {
    match (first, later) {
        (Some(a), Some(b)) => b > a * RISE_FACTOR && b - a >= MIN_RISE_MS,
        _ => false,
    }
}

/// What bound the knee at `x` of a sweep over `points`; None without points past it.
pub fn bound_of(points: &[SweepPoint], x: f64) -> Option<KneeBound> {
    let first = points.first()?;
    let past: Vec<&SweepPoint> = points.iter().filter(|p| p.x >= x).collect();
    let last = *past.last()?;
    let saturated = past.iter().find(|p| p.tool_saturated == Some(true));
    if let Some(p) = saturated {
        return Some(KneeBound {
            bound: Bound::Generator,
            generator_saturated: true,
            evidence: format!(
                "the tool was saturated at x = {} ({} of its CPU budget)",
                p.x,
                p.tool_cpu_percent
                    .map(|c| format!("{c:.0}%"))
                    .unwrap_or_else(|| "-".into())
            ),
        });
    }
    let at_limit = past
        .iter()
        .find(|p| match (p.phase_rps, p.client_limit_rps) {
            (Some(r), Some(l)) => l > 0.0 && r >= AT_LIMIT * l,
            _ => false,
        });
    let throttle_rose = rose(
        Some(first.throttle_wait_p99_ms),
        Some(last.throttle_wait_p99_ms),
    );
    let rate = |p: &SweepPoint| match (p.phase_rps, p.client_limit_rps) {
        (Some(r), Some(l)) => format!("{r:.0} of {l:.0} requests/s allowed"),
        (Some(r), None) => format!("{r:.0} requests/s, no client limit"),
        _ => "rate not recorded".into(),
    };
    if let (Some(p), true) = (at_limit, throttle_rose) {
        return Some(KneeBound {
            bound: Bound::ClientLimit,
            generator_saturated: false,
            evidence: format!(
                "at x = {}: {}; throttle wait p99 {:.0} → {:.0} ms",
                p.x,
                rate(p),
                first.throttle_wait_p99_ms,
                last.throttle_wait_p99_ms
            ),
        });
    }
    let server_rose = rose(first.server_p99_ms, last.server_p99_ms);
    let server = format!(
        "server latency p99 {} → {} ms",
        first
            .server_p99_ms
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "-".into()),
        last.server_p99_ms
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "-".into())
    );
    // Without a controller there are no workers to blame: what is left is the target.
    let has_workers = points.iter().any(|p| p.queue_wait_p99_ms.is_some());
    let bound = if server_rose || !has_workers {
        Bound::Target
    } else {
        Bound::Workers
    };
    Some(KneeBound {
        bound,
        generator_saturated: false,
        evidence: format!("at x = {}: {}; {server}", last.x, rate(last)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, rps: f64, limit: f64, throttle: f64, server: f64) -> SweepPoint {
        SweepPoint {
            constraints: None,
            x,
            run_id: String::new(),
            status: "completed".into(),
            throttle_wait_p99_ms: throttle,
            queue_wait_p99_ms: Some(1.0),
            missed_periods: None,
            write_p99_ms: None,
            rate_429_percent: 0.0,
            db_size_bytes: None,
            achieved_rps: rps,
            predicted_breakpoint: None,
            predicted_concurrency_breakpoint: None,
            queue_backlog: None,
            lag_p99_ms: None,
            writes_per_second: None,
            offered_writes_per_second: None,
            wall_period_ms: None,
            tool_cpu_percent: Some(20.0),
            tool_saturated: Some(false),
            client_limit_rps: Some(limit),
            phase_rps: Some(rps),
            server_p99_ms: Some(server),
        }
    }

    #[test]
    fn each_bound_from_its_data() {
        let client = [
            point(10.0, 100.0, 400.0, 1.0, 5.0),
            point(40.0, 395.0, 400.0, 900.0, 6.0),
        ];
        assert_eq!(bound_of(&client, 30.0).unwrap().bound, Bound::ClientLimit);
        let target = [
            point(10.0, 100.0, 4000.0, 1.0, 5.0),
            point(40.0, 300.0, 4000.0, 1.0, 400.0),
        ];
        assert_eq!(bound_of(&target, 30.0).unwrap().bound, Bound::Target);
        let workers = [
            point(10.0, 100.0, 4000.0, 1.0, 5.0),
            point(40.0, 300.0, 4000.0, 1.0, 6.0),
        ];
        assert_eq!(bound_of(&workers, 30.0).unwrap().bound, Bound::Workers);
        let mut busy = workers.clone();
        busy[1].tool_saturated = Some(true);
        let b = bound_of(&busy, 30.0).unwrap();
        assert!(
            b.bound == Bound::Generator && b.generator_saturated,
            "{b:?}"
        );
        assert_eq!(bound_of(&workers, 50.0), None, "no point past the knee");
    }
}
