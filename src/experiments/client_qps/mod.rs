//! Row 1, the controllers' client-side rate limit: a fleet grown until the Cluster
//! controller's token bucket (QPS / burst) cannot keep up with the reconciles its sync
//! period asks for.

use super::controller_backlog::{self, BacklogRow};
use super::{Experiment, Needs, RowFacts, RowFuture, Suite};
use crate::report::breakpoints::{Bottleneck, Documented};
use crate::sweep::bound::Bound;

/// The client-QPS sweep the suite runs (the reference sweep in `results/reference/` runs
/// the profile's own 100..1000).
const CLIENT_QPS_VALUES: [&str; 5] = ["300", "450", "600", "750", "900"];

/// How the row scales the documented setting to this machine.
const SCALING: &str = "Sync period 600 s compressed 20x (30 s wall); the controller's QPS 20 becomes 400 wall requests/s and its 10 workers 200, so both the client's N* = QPS x period / calls and the workers' N* are those of the uncompressed model; 1 control-plane machine per cluster and no Secrets, because the breakpoint depends on calls per reconcile, not object sizes. Each point adds clusters to the previous points' fleet.";

/// The client-QPS row.
pub struct ClientQps;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::ClientQps,
    short: "qps",
    documented: Documented {
        bottleneck: "Controller QPS limits",
        value: "500 clusters (table); ~600 with QPS 20 / burst 30 and a 10-minute sync (Metal3)",
        clusters: Some(600.0),
        unit: "clusters",
    },
    profile: (
        "profiles/throttle-600.yaml",
        include_str!("../../../profiles/throttle-600.yaml"),
    ),
    needs: Needs::Apiserver,
};

impl Experiment for ClientQps {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(controller_backlog::run(
            s,
            self,
            BacklogRow {
                values: Some(&CLIENT_QPS_VALUES),
                scaling: SCALING,
                expected: Bound::ClientLimit,
            },
        ))
    }
}
