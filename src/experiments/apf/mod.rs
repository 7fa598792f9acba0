//! Row 5, kube-apiserver's in-flight limits as API Priority and Fairness divides them:
//! concurrent creates against small limits until 429s start, beside the onset APF's own
//! configuration predicts.

use super::context::{curve, evidence, range_of, Suite};
use super::sweep::sweep;
use super::{Experiment, Needs, RowFacts, RowFuture};
use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::profile::{self, Overrides, TargetPlan};
use crate::report::breakpoints::{group, Bottleneck, Documented, Row, RowStatus};
use crate::runner::{with_target, Connected};
use crate::sweep::knee::Breakpoint;

/// The APF row.
pub struct Apf;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::Apf,
    short: "apf",
    documented: Documented {
        bottleneck: "API server in-flight requests (APF)",
        value: "5,000 clusters (secondary)",
        clusters: Some(5000.0),
        unit: "requests in flight",
    },
    profile: (
        "profiles/breakpoints/apf.yaml",
        include_str!("../../../profiles/breakpoints/apf.yaml"),
    ),
    needs: Needs::Apiserver,
};

impl Experiment for Apf {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(run(s, self))
    }
}

/// Concurrent creates against small apiserver limits until 429s start.
async fn run(s: &Suite, e: &Apf) -> Result<Row, Error> {
    let id = e.id().id();
    let spec = s.spec(e, None)?;
    let plan0 = profile::parse_with(
        &spec.source,
        &spec.text,
        &spec.field,
        &spec.values[0],
        &Overrides {
            run_id: Some(format!("{}-apfm", s.run_id)),
            ..s.overrides.clone()
        },
    )?;
    let limits = match &plan0.target {
        TargetPlan::Local(o) => Some(
            u64::from(o.max_requests_inflight.unwrap_or(400))
                + u64::from(o.max_mutating_requests_inflight.unwrap_or(200)),
        ),
        _ => None,
    };
    let model = with_target(&plan0, async |c: &Connected, _h: StopHandle, _s: Stop| {
        Ok(match &c.admin {
            Some(a) => crate::measure::apf::workload_low(a).await,
            None => None,
        })
    })
    .await?;
    let r = sweep(&spec).await?;
    let mut out = e.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(id, &r, &["rate_429", "write_p99"]);
    match model {
        Some(m) => (out.model, out.model_note) = m.onset_model(limits),
        None => {
            out.model_note =
                "No PriorityLevelConfiguration could be read (APF off?): no model.".into()
        }
    }
    let c = curve(&r, "rate_429");
    match c.map(|c| c.crossing) {
        Some(Breakpoint::At { x }) => {
            out.status = RowStatus::Measured;
            out.measured = Some(x);
            // The points around the crossing: the onset lies between them.
            let pts = c.map(|c| c.points.clone()).unwrap_or_default();
            let below = pts
                .iter()
                .filter(|p| p.0 < x || p.1 < 1.0)
                .map(|p| p.0)
                .fold(f64::NAN, f64::max);
            let above = pts
                .iter()
                .filter(|p| p.1 >= 1.0)
                .map(|p| p.0)
                .fold(f64::NAN, f64::min);
            out.measured_note = format!(
                "429s pass 1% of requests at {} concurrent creates (interpolated; none at {}, {:.0}% at {}; swept {}), client retries off so every 429 is seen.",
                group(x),
                group(below),
                pts.iter().find(|p| p.0 == above).map(|p| p.1).unwrap_or(0.0),
                group(above),
                range_of(&r)
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "Fewer than 1% of requests were rejected up to {} concurrent creates: not reached in range.",
                r.points.last().map(|p| group(p.x)).unwrap_or_default()
            );
        }
    }
    out.scaling = "The apiserver's limits are 20 + 10 instead of 400 + 200: APF's seats shrink in proportion while the per-flow queue stays the same, so the 429 onset moves to a concurrency 2 cores can offer; the model row shows the default-limit equivalent. Converting in-flight requests to clusters needs a per-cluster request rate and latency the documented figure does not give, so this row stays in requests.".into();
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}
