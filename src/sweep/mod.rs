//! Sweeps: one profile run over a range of values of one field, the breakpoints found on
//! the measured curves, and the sweep's files (`sweep.json`, `sweep.md`).

pub mod bound;
pub mod constraints;
pub mod file;
pub mod knee;
pub mod points;
pub mod values;

pub use file::SweepReport;

/// What a sweep keeps between its points.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum SweepState {
    /// Each point starts from an empty target: a fresh local environment, or (on a named
    /// target) its own run id and namespaces.
    #[default]
    Reset,
    /// One target for every point; a `fleet.clusters` sweep creates only the clusters the
    /// previous point did not, so point n measures a fleet built by points 0..n.
    Accumulate,
}
