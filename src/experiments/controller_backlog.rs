//! What the two controller rows share (client QPS and concurrency): a `fleet.clusters`
//! sweep whose backlog curve — the work the Cluster controller owes at the end of the
//! steady phase — breaks at N*, judged against the model's N* and held to the limit the
//! row is about.

use super::context::{curve, evidence, range_of, tool_cpu_note, Suite};
use super::sweep::sweep;
use super::Experiment;
use crate::error::Error;
use crate::report::breakpoints::{group, hold_to_bound, Row, RowStatus};
use crate::sweep::bound::Bound;
use crate::sweep::knee::Breakpoint;

/// How one controller row differs from the other.
pub struct BacklogRow<'a> {
    /// The swept cluster counts, when not the profile's own.
    pub values: Option<&'a [&'a str]>,
    /// How the row scales the real system down to this machine.
    pub scaling: &'a str,
    /// The limit a knee must be bound by to be this row's breakpoint.
    pub expected: Bound,
}

/// Runs the sweep of `e`'s profile and judges its backlog knee.
pub async fn run(s: &Suite, e: &dyn Experiment, how: BacklogRow<'_>) -> Result<Row, Error> {
    let id = e.id().id();
    let spec = s.spec(e, how.values)?;
    let r = sweep(&spec).await?;
    let mut out = e.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(
        id,
        &r,
        &["queue_backlog", "reconcile_lag_p99", "throttle_wait_p99"],
    );
    let backlog = curve(&r, "queue_backlog");
    if let Some(c) = backlog {
        out.model = c.prediction;
        out.model_note = match (&c.prediction_formula, c.prediction) {
            (Some(f), Some(x)) => format!("{f} = {} clusters (from the profile and, for the workers, the reconcile duration measured at the first point).", group(x)),
            _ => "no model applies (no client limit and no reconciles measured)".into(),
        };
    }
    let lag = curve(&r, "reconcile_lag_p99");
    match backlog.map(|c| c.knee) {
        Some(Breakpoint::At { x }) => {
            out.status = RowStatus::Measured;
            out.measured = Some(x);
            out.measured_clusters = Some(x);
            out.measured_note = format!(
                "The work the Cluster controller owes at the end of the steady phase (reconciles asked for minus calls made / calls per reconcile) starts growing at {} clusters (two-segment knee over {} clusters){}{}.",
                group(x),
                range_of(&r),
                out.model
                    .map(|m| format!(", {:+.1}% from the model", (x - m) / m * 100.0))
                    .unwrap_or_default(),
                lag.and_then(|c| c.crossing.x())
                    .map(|l| format!("; reconcile lag p99 passes one wall period at {}", group(l)))
                    .unwrap_or_default()
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "No backlog knee over {} clusters: the controller kept up{}.",
                range_of(&r),
                if r.complete {
                    ""
                } else {
                    " (the sweep stopped early)"
                }
            );
        }
    }
    out.scaling = how.scaling.into();
    hold_to_bound(&mut out, r.knee_bound("queue_backlog"), how.expected);
    out.measured_note += &tool_cpu_note(&r);
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}
