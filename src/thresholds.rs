//! Health thresholds: the checks a run's observations are judged by, their default
//! warning / degraded / critical values and the levels. Shared by `profile` (which lets
//! `observe.thresholds` override them and `--fail-on` pick a level) and `report` (which
//! judges). The defaults are those practitioners' write-ups on Kubernetes control planes
//! commonly use; etcd's own documentation asks for a WAL fsync p99 below 10 ms ("Hardware
//! recommendations", <https://etcd.io/docs/v3.6/op-guide/hardware/>, and "Frequently Asked
//! Questions", <https://etcd.io/docs/v3.6/faq/>). `docs/` explains each.

use serde::{Deserialize, Serialize};

/// How bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Within the healthy range.
    Healthy,
    /// Worth a look.
    Warning,
    /// Degraded service.
    Degraded,
    /// Page someone.
    Critical,
    /// Could not be judged (the metric was not observed).
    NotObserved,
}

/// Values at which a check turns warning, degraded, critical (value >= threshold).
pub type Thresholds = [f64; 3];

/// The checks and their default thresholds.
pub const DEFAULTS: [(&str, &str, Thresholds); 7] = [
    ("etcd_wal_fsync_p99", "ms", [10.0, 25.0, 50.0]),
    ("etcd_backend_commit_p99", "ms", [25.0, 50.0, 100.0]),
    ("etcd_leader_changes_per_10min", "changes", [1.0, 4.0, 10.0]),
    ("etcd_proposals_failed", "proposals", [1.0, 10.0, 100.0]),
    ("etcd_db_size_of_quota", "%", [50.0, 75.0, 90.0]),
    ("apiserver_mutating_p99", "ms", [500.0, 1000.0, 5000.0]),
    ("rejected_429_rate", "% of requests", [0.001, 1.0, 10.0]),
];

/// The share of the cores the tool may use (its cgroup's CPU quota, else the CPUs it may
/// run on) above which the generator counts as saturated (%).
pub const GENERATOR_CPU_PERCENT: f64 = 80.0;

/// The scheduling delay p99 of the tool's runtime (how late a task due every 10 ms wakes)
/// above which the generator counts as saturated (ms).
pub const GENERATOR_SCHED_DELAY_P99_MS: f64 = 50.0;
