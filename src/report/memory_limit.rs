//! `summary.json` `apiserver_memory_limit` and its report section: how kube-apiserver
//! ended under `local.apiserver_memory_limit` (OOM-killed, died otherwise, thrashing in
//! its garbage collector, or survived), at how many clusters, and what the fitted memory
//! line (the `apiserver-memory` breakpoints row, shipped in `results/reference`) predicts
//! for the same limit and fleet shape.

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// How the apiserver ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryOutcome {
    /// Killed by the kernel's OOM killer (SIGKILL, and the cgroup counted the kill).
    OomKilled,
    /// Exited otherwise (`apiserver_exit` says how).
    Died,
    /// Alive, but the run stopped because it stopped answering while its memory sat at the
    /// limit: the Go collector ran without end to stay under it.
    GcThrash,
    /// Alive and answering to the end.
    Survived,
}

/// What the watcher saw of the apiserver during the load.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watched {
    /// Seconds into the load when it exited.
    pub died_after_seconds: Option<f64>,
    /// How it exited (`signal 9 (SIGKILL)`, `exit code 1`).
    pub exit: Option<String>,
    /// Whether it was killed by SIGKILL.
    pub sigkill: bool,
    /// OOM kills the cgroup counted during the load (None: not counted by this kernel).
    pub oom_kills: Option<u64>,
    /// Times the cgroup hit its limit during the load.
    pub limit_hits: Option<u64>,
    /// The cgroup's peak charge (bytes).
    pub peak_bytes: Option<u64>,
    /// The apiserver's CPU seconds over the load (user + system).
    pub cpu_seconds: Option<f64>,
    /// Load seconds watched.
    pub watched_seconds: f64,
}

/// Creates answered OK during the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Acknowledged {
    /// Every kind.
    pub objects: u64,
    /// Cluster objects.
    pub clusters: u64,
    /// Namespaces.
    pub namespaces: u64,
}

/// The limit the apiserver ran under, and what the fit predicts for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// The cgroup's limit (bytes).
    pub limit_bytes: u64,
    /// `GOMEMLIMIT` (bytes), when set.
    pub gomemlimit_bytes: Option<u64>,
    /// `v1` or `v2`.
    pub cgroup: String,
    /// The fitted line's (clusters, how), when there is a fit.
    pub prediction: Option<(f64, String)>,
}

/// `summary.json` `apiserver_memory_limit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimitSummary {
    /// The cgroup's limit (bytes).
    pub limit_bytes: u64,
    /// `GOMEMLIMIT` (bytes), when set.
    pub gomemlimit_bytes: Option<u64>,
    /// `v1` or `v2`.
    pub cgroup: String,
    /// How the apiserver ended.
    pub outcome: MemoryOutcome,
    /// How it exited, when it did.
    pub apiserver_exit: Option<String>,
    /// Seconds into the load when it exited.
    pub died_after_seconds: Option<f64>,
    /// OOM kills counted by the cgroup during the load (null: not counted by this kernel).
    pub oom_kills: Option<u64>,
    /// Times the cgroup hit its limit during the load.
    pub limit_hits: Option<u64>,
    /// The cgroup's peak charge (bytes).
    pub peak_bytes: Option<u64>,
    /// The apiserver's CPU seconds over the load.
    pub apiserver_cpu_seconds: Option<f64>,
    /// Creates answered OK, every kind (all before the death: a dead server answers none).
    pub objects_acknowledged: u64,
    /// Cluster objects among them.
    pub cluster_objects_acknowledged: u64,
    /// Complete clusters' worth of acknowledged objects (objects other than namespaces /
    /// objects per cluster): the fleet the apiserver held when it died (or at the end).
    pub clusters: u64,
    /// What the fitted memory line predicts for this limit and fleet shape:
    /// (limit - base) / resident bytes per cluster (null without a fit).
    pub predicted_clusters: Option<f64>,
    /// How `predicted_clusters` was computed, with its source.
    pub prediction: Option<String>,
}

pub(crate) fn mib(b: f64) -> String {
    format!("{:.0} MiB", b / 1048576.0)
}

/// The summary from what was watched and the run's own counts. `aborted` says the run
/// stopped because the target failed.
pub fn summarize(
    limit: &Limit,
    w: &Watched,
    fleet: &crate::model::FleetSpec,
    acked: Acknowledged,
    aborted: bool,
) -> MemoryLimitSummary {
    let objects = acked.objects;
    let per_cluster = fleet.objects_in_cluster().max(1);
    let limit_bytes = limit.limit_bytes;
    let near_limit = w
        .peak_bytes
        .is_some_and(|p| p as f64 >= 0.9 * limit_bytes as f64);
    let outcome = match (&w.exit, w.sigkill, w.oom_kills) {
        (Some(_), true, Some(k)) if k > 0 => MemoryOutcome::OomKilled,
        // The cgroup holds the apiserver alone: a kill counted there is its death, even
        // when its exit was not seen in time.
        (None, _, Some(k)) if k > 0 => MemoryOutcome::OomKilled,
        // A kernel that counts no kills: SIGKILL at the limit.
        (Some(_), true, None) if near_limit => MemoryOutcome::OomKilled,
        (Some(_), _, _) => MemoryOutcome::Died,
        (None, _, _) if aborted && near_limit => MemoryOutcome::GcThrash,
        (None, _, _) => MemoryOutcome::Survived,
    };
    let prediction = limit.prediction.clone();
    MemoryLimitSummary {
        limit_bytes,
        gomemlimit_bytes: limit.gomemlimit_bytes,
        cgroup: limit.cgroup.clone(),
        outcome,
        apiserver_exit: w.exit.clone(),
        died_after_seconds: w.died_after_seconds,
        oom_kills: w.oom_kills,
        limit_hits: w.limit_hits,
        peak_bytes: w.peak_bytes,
        apiserver_cpu_seconds: w.cpu_seconds,
        objects_acknowledged: objects,
        cluster_objects_acknowledged: acked.clusters,
        clusters: (objects - acked.namespaces.min(objects)) / per_cluster,
        predicted_clusters: prediction.as_ref().map(|p| p.0),
        prediction: prediction.map(|p| p.1),
    }
}

/// Why the run stopped, when the apiserver died under its limit.
pub fn stop_reason(m: &MemoryLimitSummary) -> String {
    format!(
        "kube-apiserver {} under its {} memory limit{}, at {} clusters",
        match m.outcome {
            MemoryOutcome::OomKilled => "was OOM-killed".to_string(),
            _ => format!(
                "died ({})",
                m.apiserver_exit.as_deref().unwrap_or("unknown")
            ),
        },
        mib(m.limit_bytes as f64),
        m.died_after_seconds
            .map(|t| format!(" {t:.1} s into the load"))
            .unwrap_or_default(),
        m.clusters
    )
}

/// The report's section.
pub fn markdown(m: &MemoryLimitSummary) -> String {
    let mut o = String::from("\n## kube-apiserver memory limit\n\n");
    let go = m
        .gomemlimit_bytes
        .map(|g| format!(", GOMEMLIMIT {}", mib(g as f64)))
        .unwrap_or_default();
    let what = match m.outcome {
        MemoryOutcome::OomKilled => format!(
            "**OOM-killed** {} ({})",
            m.died_after_seconds
                .map(|t| format!("after {t:.1} s of load"))
                .unwrap_or_else(|| "as the load ended".into()),
            m.apiserver_exit
                .as_deref()
                .unwrap_or("counted by its cgroup")
        ),
        MemoryOutcome::Died => format!(
            "**died** after {:.1} s of load ({}), not counted as an OOM kill",
            m.died_after_seconds.unwrap_or(0.0),
            m.apiserver_exit.as_deref().unwrap_or("unknown")
        ),
        MemoryOutcome::GcThrash => {
            "**GC thrash**: alive, but it stopped answering with its memory at the limit".into()
        }
        MemoryOutcome::Survived => "**survived** the run".into(),
    };
    let _ = writeln!(
        o,
        "Limit {} (cgroup {}{go}): {what}, at **{} clusters** ({} objects acknowledged, {} Cluster objects). Peak charge {}, {} OOM kills, {} CPU seconds.",
        mib(m.limit_bytes as f64),
        m.cgroup,
        m.clusters,
        m.objects_acknowledged,
        m.cluster_objects_acknowledged,
        m.peak_bytes.map(|p| mib(p as f64)).unwrap_or_else(|| "-".into()),
        m.oom_kills.map(|h| h.to_string()).unwrap_or_else(|| "not counted".into()),
        m.apiserver_cpu_seconds.map(|c| format!("{c:.1}")).unwrap_or_else(|| "-".into()),
    );
    if let (Some(p), Some(how)) = (m.predicted_clusters, &m.prediction) {
        let _ = writeln!(
            o,
            "\nThe fitted memory line predicts **{p:.0} clusters** at this limit: {how}. Measured / predicted = {:.2}.",
            m.clusters as f64 / p.max(1.0)
        );
    }
    o
}
