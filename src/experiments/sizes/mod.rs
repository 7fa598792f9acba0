//! etcd sizing (`capi-loadgen sizes`): bytes per kind and per cluster as stored in etcd,
//! measured after a small real run (never estimated), projected to large fleets against
//! etcd's 2 GiB default and 8 GiB suggested-maximum quotas.

use crate::backend::etcd::{decode_value, key_prefix, EtcdStatus, EtcdTarget};
use crate::backend::Target;
use crate::error::{Error, UsageError};
use crate::measure::memory::{settled, MemorySample};
use crate::measure::scrape::Sources;
use crate::model::{self, Kind};
use crate::profile::{RunPlan, TargetPlan};
use crate::runner::{execute, with_target};
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

/// Fleet sizes the report projects to.
pub const PROJECT_TO: [u64; 3] = [1_000, 5_000, 15_000];
/// The quotas projections are compared with (etcd default and suggested maximum).
pub const QUOTAS: [(&str, u64); 2] = [("2 GiB", 2 << 30), ("8 GiB", 8 << 30)];

/// Stored bytes of one kind.
#[derive(Debug, Default, Serialize)]
pub struct KindBytes {
    /// Objects of the kind written by the run.
    pub objects: u64,
    /// Key + value bytes of all of them.
    pub bytes: u64,
    /// Mean bytes per object.
    pub bytes_per_object: f64,
    /// Bytes per cluster (namespaces: per cluster of the namespace layout).
    pub bytes_per_cluster: f64,
}

/// One projection row.
#[derive(Debug, Serialize)]
pub struct Projection {
    /// Fleet size.
    pub clusters: u64,
    /// Key + value bytes.
    pub logical_bytes: u64,
    /// etcd db growth, from the measured growth per cluster.
    pub db_bytes: u64,
    /// db bytes as a share of each quota, in percent.
    pub percent_of_quota: BTreeMap<String, f64>,
}

/// `sizes.json`.
#[derive(Debug, Serialize)]
pub struct SizesReport {
    /// The run the bytes were measured in.
    pub run_id: String,
    /// Clusters written.
    pub clusters: u64,
    /// Bytes by kind label.
    pub kinds: BTreeMap<String, KindBytes>,
    /// Key + value bytes per cluster (all kinds).
    pub logical_bytes_per_cluster: f64,
    /// Growth of etcd's db size in use per cluster (bbolt pages, indexes, free space).
    pub db_bytes_per_cluster: f64,
    /// etcd status before and after.
    pub db_size_in_use_before: u64,
    /// After the run.
    pub db_size_in_use_after: u64,
    /// Projections.
    pub projections: Vec<Projection>,
    /// Clusters that fit each quota (by db growth).
    pub clusters_at_quota: BTreeMap<String, u64>,
    /// kube-apiserver memory per cluster, when the run had an apiserver and kept its fleet.
    pub apiserver_memory: Option<MemoryPerCluster>,
    /// Why `apiserver_memory` is null, when it is.
    pub apiserver_memory_not_measured: Option<String>,
}

/// kube-apiserver memory per cluster, from a settled sample before the run and the run's
/// settled end (a forced garbage collection, an idle period, the median of 3 samples).
#[derive(Debug, Serialize)]
pub struct MemoryPerCluster {
    /// Growth of the resident set per cluster (bytes).
    pub resident_bytes_per_cluster: Option<f64>,
    /// Growth of the live heap per cluster (allocated heap after forced collections; bytes).
    pub live_heap_bytes_per_cluster: Option<f64>,
    /// Resident bytes per cluster / etcd db bytes per cluster.
    pub resident_per_db_byte: Option<f64>,
    /// Before the run.
    pub before: MemorySample,
    /// After the run.
    pub after: MemorySample,
}

impl MemoryPerCluster {
    /// From settled samples before and after `clusters` clusters were created.
    pub fn of(
        before: MemorySample,
        after: MemorySample,
        clusters: u64,
        db_per_cluster: f64,
    ) -> Self {
        let c = clusters.max(1) as f64;
        let g = after.minus(&before);
        let resident = g.rss_bytes.or(g.resident_bytes).map(|b| b / c);
        MemoryPerCluster {
            resident_bytes_per_cluster: resident,
            live_heap_bytes_per_cluster: g.heap_alloc_bytes.map(|b| b / c),
            resident_per_db_byte: resident.map(|r| r / db_per_cluster.max(1.0)),
            before,
            after,
        }
    }
}

async fn bytes_by_kind(
    etcd: &EtcdTarget,
    spec: &model::FleetSpec,
) -> Result<BTreeMap<Kind, (u64, u64)>, Error> {
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        let api = spec.api_ref(kind);
        let items = etcd
            .range_prefix(&key_prefix(&api, None))
            .await
            .map_err(|e| {
                Error::setup(
                    etcd.endpoint(),
                    format_args!("reading etcd failed: {}", e.label()),
                )
            })?;
        for (key, value) in items {
            let ours = decode_value(&api, &value).is_some_and(|o| {
                o["metadata"]["labels"][model::RUN_ID_LABEL] == spec.run_id.as_str()
            });
            if ours {
                let e = out.entry(kind).or_insert((0, 0));
                e.0 += 1;
                e.1 += (key.len() + value.len()) as u64;
            }
        }
    }
    Ok(out)
}

async fn status(etcd: &EtcdTarget) -> Result<EtcdStatus, Error> {
    etcd.status().await.map_err(|e| {
        Error::setup(
            etcd.endpoint(),
            format_args!("etcd status failed: {}", e.label()),
        )
    })
}

/// Builds the report from measured bytes.
pub fn report(
    run_id: &str,
    clusters: u64,
    by_kind: &BTreeMap<Kind, (u64, u64)>,
    before: EtcdStatus,
    after: EtcdStatus,
) -> SizesReport {
    let c = clusters.max(1) as f64;
    let kinds: BTreeMap<String, KindBytes> = by_kind
        .iter()
        .map(|(k, (n, b))| {
            (
                k.label().to_string(),
                KindBytes {
                    objects: *n,
                    bytes: *b,
                    bytes_per_object: *b as f64 / (*n).max(1) as f64,
                    bytes_per_cluster: *b as f64 / c,
                },
            )
        })
        .collect();
    let logical: f64 = by_kind.values().map(|(_, b)| *b as f64).sum::<f64>() / c;
    let db = after.db_size_in_use.saturating_sub(before.db_size_in_use) as f64 / c;
    // Where the db barely moved (small runs fit in free pages), fall back to logical bytes.
    let per_cluster_db = db.max(logical);
    let projections = PROJECT_TO
        .iter()
        .map(|&n| Projection {
            clusters: n,
            logical_bytes: (logical * n as f64) as u64,
            db_bytes: (per_cluster_db * n as f64) as u64,
            percent_of_quota: QUOTAS
                .iter()
                .map(|(q, b)| (q.to_string(), per_cluster_db * n as f64 / *b as f64 * 100.0))
                .collect(),
        })
        .collect();
    SizesReport {
        run_id: run_id.to_string(),
        clusters,
        kinds,
        logical_bytes_per_cluster: logical,
        db_bytes_per_cluster: per_cluster_db,
        db_size_in_use_before: before.db_size_in_use,
        db_size_in_use_after: after.db_size_in_use,
        projections,
        clusters_at_quota: QUOTAS
            .iter()
            .map(|(q, b)| (q.to_string(), (*b as f64 / per_cluster_db.max(1.0)) as u64))
            .collect(),
        apiserver_memory: None,
        apiserver_memory_not_measured: Some("no apiserver".into()),
    }
}

fn mib(b: f64) -> String {
    format!("{:.1} MiB", b / 1048576.0)
}

/// Renders the report for people.
pub fn render(r: &SizesReport) -> String {
    let mut s = format!(
        "bytes as stored in etcd (key + value), measured over {} clusters of run {}:\n",
        r.clusters, r.run_id
    );
    s += &format!(
        "{:<30} {:>8} {:>12} {:>14}\n",
        "kind", "objects", "bytes/object", "bytes/cluster"
    );
    for (k, b) in &r.kinds {
        s += &format!(
            "{k:<30} {:>8} {:>12.0} {:>14.0}\n",
            b.objects, b.bytes_per_object, b.bytes_per_cluster
        );
    }
    s += &format!(
        "per cluster: {:.0} bytes of keys and values; etcd db in use grew {:.0} bytes per cluster\n",
        r.logical_bytes_per_cluster, r.db_bytes_per_cluster
    );
    let b = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or("n/o".into());
    match &r.apiserver_memory {
        Some(m) => {
            s += &format!(
                "per cluster: kube-apiserver resident set grew {} bytes ({} the etcd db bytes), live heap {} bytes (one run, settled samples before and after; `breakpoints --only apiserver-memory` fits a line over a growing fleet)\n",
                b(m.resident_bytes_per_cluster),
                m.resident_per_db_byte
                    .map(|x| format!("{x:.1}x"))
                    .unwrap_or("n/o".into()),
                b(m.live_heap_bytes_per_cluster)
            )
        }
        None => {
            s += &format!(
                "per cluster: kube-apiserver memory not measured ({})\n",
                r.apiserver_memory_not_measured
                    .as_deref()
                    .unwrap_or("no apiserver")
            )
        }
    }
    s += &format!(
        "{:>9} {:>14} {:>14} {:>10} {:>10}\n",
        "clusters", "keys+values", "etcd db", "% of 2 GiB", "% of 8 GiB"
    );
    for p in &r.projections {
        s += &format!(
            "{:>9} {:>14} {:>14} {:>9.1}% {:>9.1}%\n",
            p.clusters,
            mib(p.logical_bytes as f64),
            mib(p.db_bytes as f64),
            p.percent_of_quota["2 GiB"],
            p.percent_of_quota["8 GiB"]
        );
    }
    s += &format!(
        "fits: {} clusters at 2 GiB, {} clusters at 8 GiB (one management cluster's etcd, this fleet shape)\n",
        r.clusters_at_quota["2 GiB"], r.clusters_at_quota["8 GiB"]
    );
    s
}

/// The plan `sizes` runs: the profile's without its delete phase, so that the fleet is still
/// in etcd when its bytes are read (a profile such as the quickstart ends by deleting it).
pub fn measured_plan(plan: &RunPlan) -> RunPlan {
    let mut plan = plan.clone();
    plan.phases.delete = None;
    plan
}

/// Runs `plan` without its delete phase ([`measured_plan`]; the target must reach etcd:
/// the local environment or an etcd target) and measures the bytes per kind as stored in
/// etcd and the db's growth; see [`report`].
pub async fn measure(plan: &RunPlan) -> Result<SizesReport, Error> {
    if matches!(plan.target, TargetPlan::Kube { .. }) {
        return Err(Error::Usage(UsageError::Combination(
            "sizes reads etcd directly: use the local environment (the default) or --etcd-endpoint, not --kubeconfig",
        )));
    }
    let plan = &measured_plan(plan);
    with_target(plan, async |c, handle, stop| {
        let etcd = c
            .etcd
            .clone()
            .ok_or_else(|| Error::Internal("no etcd handle"))?;
        let before = status(&etcd).await?;
        let sources = Sources {
            apiserver: c.admin.as_ref().map(|a| a.client().clone()),
            apiserver_pid: c.apiserver_pid(),
            ..Default::default()
        };
        let memory_before = match &sources.apiserver {
            Some(_) => {
                let mut problems = BTreeSet::new();
                let (s, _) = settled(
                    &sources,
                    &mut Default::default(),
                    plan.observe.memory_settle,
                    tokio::time::Instant::now(),
                    &mut problems,
                )
                .await;
                Some(s.sample)
            }
            None => None,
        };
        let summary = execute(plan, c, handle, stop).await?;
        let after = status(&etcd).await?;
        let by_kind = bytes_by_kind(&etcd, &plan.fleet).await?;
        let mut r = report(&plan.run_id, plan.fleet.clusters, &by_kind, before, after);
        let memory_after = summary
            .observed
            .and_then(|o| o.apiserver_memory)
            .filter(|m| m.settled)
            .map(|m| m.end);
        match (memory_before, memory_after) {
            (Some(b), Some(a)) => {
                r.apiserver_memory = Some(MemoryPerCluster::of(
                    b,
                    a,
                    plan.fleet.clusters,
                    r.db_bytes_per_cluster,
                ));
                r.apiserver_memory_not_measured = None;
            }
            (None, _) => {}
            (Some(_), None) => {
                r.apiserver_memory_not_measured =
                    Some("the run stopped early or scraping was off (observe)".into())
            }
        }
        Ok(r)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_linearly_and_fits_quotas() {
        let mut by = BTreeMap::new();
        by.insert(Kind::Machine, (10, 100_000));
        by.insert(Kind::Secret, (20, 100_000));
        let before = EtcdStatus {
            db_size_in_use: 1_000_000,
            ..Default::default()
        };
        let after = EtcdStatus {
            db_size_in_use: 1_000_000 + 10 * 300_000,
            ..Default::default()
        };
        let r = report("r", 10, &by, before, after);
        assert_eq!(r.logical_bytes_per_cluster, 20_000.0);
        assert_eq!(r.db_bytes_per_cluster, 300_000.0);
        assert_eq!(r.kinds["machine"].bytes_per_object, 10_000.0);
        assert_eq!(r.projections[0].db_bytes, 300_000_000);
        assert_eq!(r.clusters_at_quota["2 GiB"], (2u64 << 30) / 300_000);
        let p = &r.projections[2];
        assert!(
            (p.percent_of_quota["8 GiB"] - 15_000.0 * 300_000.0 / (8u64 << 30) as f64 * 100.0)
                .abs()
                < 1e-9
        );
        assert!(render(&r).contains("fits: 7158 clusters at 2 GiB"));
        assert!(render(&r).contains("kube-apiserver memory not measured (no apiserver)"));
        let m = MemoryPerCluster::of(
            MemorySample {
                rss_bytes: Some(300e6),
                heap_alloc_bytes: Some(100e6),
                ..Default::default()
            },
            MemorySample {
                rss_bytes: Some(310e6),
                heap_alloc_bytes: Some(105e6),
                ..Default::default()
            },
            10,
            r.db_bytes_per_cluster,
        );
        assert_eq!(m.resident_bytes_per_cluster, Some(1e6));
        assert_eq!(m.live_heap_bytes_per_cluster, Some(5e5));
        assert_eq!(m.resident_per_db_byte, Some(1e6 / 300_000.0));
        // A db that did not grow (free pages reused) falls back to logical bytes.
        let r = report("r", 10, &by, before, before);
        assert_eq!(r.db_bytes_per_cluster, 20_000.0);
    }

    #[test]
    fn the_measured_plan_keeps_the_fleet() {
        let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/quickstart.yaml");
        let plan = crate::profile::load(std::path::Path::new(quickstart), &Default::default())
            .expect("the quickstart profile");
        assert!(
            plan.phases.delete.is_some(),
            "the quickstart deletes its fleet"
        );
        let measured = measured_plan(&plan);
        assert!(measured.phases.delete.is_none());
        assert_eq!(measured.phases.create, plan.phases.create);
        assert_eq!(measured.fleet.clusters, plan.fleet.clusters);
    }
}
