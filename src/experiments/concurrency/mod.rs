//! Row 2, the controllers' reconcile workers: a fleet grown until `--cluster-concurrency`
//! workers, each reconcile taking its measured time, cannot finish a sync period's
//! reconciles within the period.

use super::controller_backlog::{self, BacklogRow};
use super::{Experiment, Needs, RowFacts, RowFuture, Suite};
use crate::report::breakpoints::{Bottleneck, Documented};
use crate::sweep::bound::Bound;

/// How the row scales the documented setting to this machine.
const SCALING: &str = "Sync period 600 s compressed 40x (15 s wall) with the 10 workers run as 400: a reconcile's think time and API latency are real time in both, so N* = concurrency x period / duration is unchanged. The client limit is raised (QPS 200) so only the workers bind. Each point adds clusters to the previous points' fleet.";

/// The concurrency row.
pub struct Concurrency;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::Concurrency,
    short: "conc",
    documented: Documented {
        bottleneck: "Controller concurrency",
        value: "1,000 clusters with concurrency 10",
        clusters: Some(1000.0),
        unit: "clusters",
    },
    profile: (
        "profiles/breakpoints/concurrency.yaml",
        include_str!("../../../profiles/breakpoints/concurrency.yaml"),
    ),
    needs: Needs::Apiserver,
};

impl Experiment for Concurrency {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(controller_backlog::run(
            s,
            self,
            BacklogRow {
                values: None,
                scaling: SCALING,
                expected: Bound::Workers,
            },
        ))
    }
}
