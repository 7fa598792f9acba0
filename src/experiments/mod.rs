//! The experiments built from runs, one folder each: everything one experiment knows — its
//! built-in profile, how it runs, how it judges what it measured and how it words the
//! result — lives in its folder, and [`runner`](crate::runner) keeps only the run core.
//!
//! The rows of the breakpoints table implement [`Experiment`] and are listed in
//! [`REGISTRY`], in the table's order; [`suite`] runs the selected ones and writes
//! `breakpoints.json` / `breakpoints.md`. Adding a row means one new folder with a type that
//! implements [`Experiment`], one entry in [`REGISTRY`], and the row's id in
//! [`Bottleneck`] (the id `breakpoints.json` carries).
//!
//! The other experiments are commands of their own: [`sweep`] (a profile field over a list
//! of values, with the knee of each curve), [`versions`] (the suite or a sweep on each
//! Kubernetes version), [`sizes`] (bytes per object measured from a small real run and
//! projected), and [`controller_comparison`] (the simulated controller against the
//! controller-runtime reference one).

pub mod apf;
pub mod apiserver_memory;
pub mod client_qps;
pub mod concurrency;
pub mod context;
pub mod controller_backlog;
pub mod controller_comparison;
pub mod etcd_size;
pub mod etcd_writes;
pub mod row_cleanup;
pub mod sizes;
pub mod suite;
pub mod sweep;
pub mod versions;
pub mod webhooks;

use crate::error::Error;
use crate::report::breakpoints::{Bottleneck, Documented, Row};
pub use context::Suite;
use std::future::Future;
use std::pin::Pin;

/// What a row's [`Experiment::run`] returns.
pub type RowFuture<'a> = Pin<Box<dyn Future<Output = Result<Row, Error>> + Send + 'a>>;

/// The target an experiment needs; the suite skips it, with the reason in its row, when the
/// named target cannot serve it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// A kube-apiserver (the local environment or a named kubeconfig).
    Apiserver,
    /// A bare etcd (the local environment's, or named endpoints).
    Etcd,
    /// The experiment decides itself (it says why it skips in its own row).
    Any,
}

impl Needs {
    /// Why the experiment cannot run on the suite's target, if it cannot.
    pub fn unmet(self, s: &Suite) -> Option<&'static str> {
        match self {
            Needs::Apiserver if s.etcd && !s.kube => {
                Some("needs an apiserver (the named target is a bare etcd)")
            }
            Needs::Etcd if s.kube && !s.etcd => {
                Some("writes a bare etcd: name the target's etcd with --etcd-endpoint")
            }
            _ => None,
        }
    }
}

/// What a row is, as data: its id, its short name, the documented value it is compared
/// with, its built-in profile and the target it needs.
pub struct RowFacts {
    /// The row's id (in `breakpoints.json`, `--only` and the results folder's name).
    pub id: Bottleneck,
    /// The row's short name in run ids (which are at most 24 characters).
    pub short: &'static str,
    /// What the public write-ups document for this bottleneck.
    pub documented: Documented,
    /// The built-in profile: its path (named in reports) and its text.
    pub profile: (&'static str, &'static str),
    /// The target the experiment needs.
    pub needs: Needs,
}

/// One row of the breakpoints table: a documented bottleneck and the experiment that
/// measures it here.
pub trait Experiment: Sync {
    /// The row's facts.
    fn facts(&self) -> &'static RowFacts;
    /// Runs the experiment on the suite's target and judges it: the row, filled.
    fn run<'a>(&'a self, suite: &'a Suite) -> RowFuture<'a>;
    /// The row's id.
    fn id(&self) -> Bottleneck {
        self.facts().id
    }
    /// The row's short name in run ids.
    fn short(&self) -> &'static str {
        self.facts().short
    }
    /// The built-in profile: its path and its text.
    fn profile(&self) -> (&'static str, &'static str) {
        self.facts().profile
    }
    /// The target the experiment needs.
    fn needs(&self) -> Needs {
        self.facts().needs
    }
    /// The row with its documented facts and nothing measured yet.
    fn row(&self) -> Row {
        Row::blank(self.id(), self.facts().documented)
    }
}

/// Every row's experiment, in the table's order (the order a growing fleet usually meets
/// the bottlenecks).
pub const REGISTRY: [&dyn Experiment; 7] = [
    &client_qps::ClientQps,
    &concurrency::Concurrency,
    &etcd_writes::EtcdWrites,
    &etcd_size::EtcdSize,
    &apf::Apf,
    &apiserver_memory::ApiserverMemory,
    &webhooks::Webhooks,
];

/// The experiment of a row.
pub fn of(b: Bottleneck) -> &'static dyn Experiment {
    REGISTRY
        .into_iter()
        .find(|e| e.id() == b)
        .expect("every row has an experiment (test: every_row_has_one_experiment)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_one_experiment() {
        assert_eq!(REGISTRY.len(), Bottleneck::ALL.len());
        for (e, b) in REGISTRY.iter().zip(Bottleneck::ALL) {
            assert_eq!(e.id(), b, "the registry keeps the table's order");
            assert_eq!(of(b).row().id, b);
        }
        let shorts: std::collections::BTreeSet<_> = REGISTRY.iter().map(|e| e.short()).collect();
        assert_eq!(shorts.len(), REGISTRY.len(), "short names are unique");
        for e in REGISTRY {
            // "-<short>-p<N>" on a suite run id of at most MAX_RUN_ID characters fits 24.
            assert!(
                suite::MAX_RUN_ID + 1 + e.short().len() + 3 <= 24,
                "{}",
                e.short()
            );
            let (path, text) = e.profile();
            assert!(path.starts_with("profiles/") && !text.is_empty(), "{path}");
        }
    }
}
