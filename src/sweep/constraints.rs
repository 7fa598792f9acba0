//! What a sweep over the local environment's constraints reads at each point:
//! `local.etcd_fsync_delay_ms` (etcd's write ceiling against fsync latency, with the WAL
//! fsync p99 and its health verdict beside it) and `local.apiserver_memory_limit` (how
//! kube-apiserver ended under the limit, at how many clusters, against the fitted memory
//! line's prediction), with the machine's load average, since these machines are shared.

use serde::{Deserialize, Serialize};

/// The swept fields whose sweeps get the constraints table.
pub const FIELDS: [&str; 3] = [
    "local.etcd_fsync_delay_ms",
    "local.apiserver_memory_limit",
    "local.apiserver_gomemlimit",
];

/// One point's etcd disk and apiserver memory readings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConstraintsPoint {
    /// etcd's WAL fsync p99 over the run, worst interval (ms).
    pub wal_fsync_p99_ms: Option<f64>,
    /// Its health verdict (`healthy`, `warning`, `degraded`, `critical`, `not_observed`).
    pub wal_fsync_verdict: Option<String>,
    /// The machine's 1-minute load average at the end of the point.
    pub machine_load_average: Option<f64>,
    /// The apiserver's memory limit (bytes), when it had one.
    pub apiserver_limit_bytes: Option<u64>,
    /// How it ended (`oom_killed`, `died`, `gc_thrash`, `survived`).
    pub apiserver_outcome: Option<String>,
    /// Complete clusters' worth of acknowledged objects when it died (or at the end).
    pub apiserver_clusters: Option<u64>,
    /// What the fitted memory line predicts at this limit.
    pub apiserver_predicted_clusters: Option<f64>,
    /// The cgroup's peak charge (bytes).
    pub apiserver_peak_bytes: Option<u64>,
    /// Seconds into the load when it died.
    pub apiserver_died_after_seconds: Option<f64>,
}
