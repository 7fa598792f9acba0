//! What a sweep over the local environment's constraints reads at each point:
//! `local.etcd_fsync_delay_ms` (etcd's write ceiling against fsync latency, with the WAL
//! fsync p99 and its health verdict beside it) and `local.apiserver_memory_limit` (how
//! kube-apiserver ended under the limit, at how many clusters, against the fitted memory
//! line's prediction), with the machine's load average, since these machines are shared.

use super::file::SweepReport;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

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

fn f(v: Option<f64>, d: usize) -> String {
    v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into())
}

/// The constraints table of `sweep.md`, for sweeps of [`FIELDS`] or points that ran under
/// a memory limit (empty otherwise).
pub fn markdown(r: &SweepReport) -> String {
    let points: Vec<_> = r
        .points
        .iter()
        .filter_map(|p| p.constraints.as_ref().map(|c| (p, c)))
        .collect();
    let memory = points.iter().any(|(_, c)| c.apiserver_outcome.is_some());
    if points.is_empty() || !(memory || FIELDS.contains(&r.field.as_str())) {
        return String::new();
    }
    let mut o = String::from("## etcd disk and kube-apiserver memory\n\n");
    if memory {
        o += "| x | status | apiserver | clusters at death (or end) | fitted line predicts | measured / predicted | died after s | peak MiB | WAL fsync p99 ms | verdict | load avg |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n";
        for (p, c) in &points {
            let ratio = match (c.apiserver_clusters, c.apiserver_predicted_clusters) {
                (Some(n), Some(pr)) if pr > 0.0 => format!("{:.2}", n as f64 / pr),
                _ => "-".into(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {ratio} | {} | {} | {} | {} | {} |",
                p.x,
                p.status,
                c.apiserver_outcome.as_deref().unwrap_or("-"),
                c.apiserver_clusters
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                f(c.apiserver_predicted_clusters, 0),
                f(c.apiserver_died_after_seconds, 1),
                f(c.apiserver_peak_bytes.map(|b| b as f64 / 1048576.0), 0),
                f(c.wal_fsync_p99_ms, 1),
                c.wal_fsync_verdict.as_deref().unwrap_or("-"),
                f(c.machine_load_average, 2),
            );
        }
    } else {
        o += "| x | status | writes/s | write p99 ms | WAL fsync p99 ms | WAL fsync verdict | load avg |\n|---:|---|---:|---:|---:|---|---:|\n";
        for (p, c) in &points {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.x,
                p.status,
                f(p.writes_per_second, 0),
                f(p.write_p99_ms, 1),
                f(c.wal_fsync_p99_ms, 1),
                c.wal_fsync_verdict.as_deref().unwrap_or("-"),
                f(c.machine_load_average, 2),
            );
        }
    }
    o += "\n";
    o
}
