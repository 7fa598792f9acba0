//! The capacity planner: from a fleet description and a calibration (a `breakpoints`
//! results directory, or unmeasured defaults) to demand, the breakpoint progression of one
//! management cluster, the controller flags a fleet needs, and — when one management
//! cluster cannot hold the fleet — the smallest number of management clusters that keeps
//! every shard below every breakpoint with a margin. Every figure carries its source.

pub mod calibration;
pub mod render;

pub use calibration::{Calibration, Figure};

use crate::model::{FleetSpec, Provider};
use serde::Serialize;

/// Controller defaults of a Cluster API release line (its `main.go` flags; see
/// docs/throttling.md).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Preset {
    /// Name, e.g. `v1.5`.
    pub name: &'static str,
    /// `--kube-api-qps`.
    pub qps: f64,
    /// `--kube-api-burst`.
    pub burst: f64,
    /// `--cluster-concurrency`.
    pub cluster_concurrency: f64,
    /// `--sync-period`, seconds.
    pub sync_period_seconds: f64,
}

/// Cluster API v1.5–v1.12 and v1.13+ defaults.
pub const PRESETS: [Preset; 2] = [
    Preset {
        name: "v1.5",
        qps: 20.0,
        burst: 30.0,
        cluster_concurrency: 10.0,
        sync_period_seconds: 600.0,
    },
    Preset {
        name: "v1.13",
        qps: 100.0,
        burst: 200.0,
        cluster_concurrency: 50.0,
        sync_period_seconds: 600.0,
    },
];

/// The fleet and the assumptions about its controllers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetInput {
    /// Workload clusters.
    pub clusters: u64,
    /// Machines per cluster (control plane included).
    pub machines_per_cluster: u64,
    /// MachineDeployments per cluster.
    pub machine_deployments: u32,
    /// Provider shape.
    pub provider: String,
    /// Machines replaced per cluster per hour (rolling upgrades, remediation).
    pub churn_machines_per_hour: f64,
    /// The CAPI release line whose controller defaults apply.
    pub preset: Preset,
    /// API calls one periodic reconcile of a cluster costs, all controllers together.
    pub calls_per_reconcile: f64,
    /// Of those, writes (status patches) that reach etcd.
    pub writes_per_reconcile: f64,
    /// Wall time of one reconcile, seconds.
    pub reconcile_seconds: f64,
    /// Mean server time of one request, seconds (for requests in flight).
    pub request_seconds: f64,
    /// Writes one replaced machine costs (its objects deleted and created, status patches).
    pub writes_per_churned_machine: f64,
    /// Headroom kept below every breakpoint, e.g. 0.2.
    pub margin: f64,
    /// etcd quota a management cluster may use, bytes (8 GiB: etcd's suggested maximum).
    pub max_quota_bytes: f64,
    /// `namespace`, `hash` or `region`.
    pub sharding: String,
    /// Keep the preset's controller flags: client QPS and concurrency limit each
    /// management cluster too.
    pub keep_flags: bool,
}

/// One breakpoint of one management cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breakpoint {
    /// `client-qps`, `concurrency`, `etcd-writes`, `etcd-size-2GiB`, `etcd-size-8GiB`, `apf`.
    pub id: String,
    /// What saturates.
    pub bottleneck: String,
    /// Clusters at which it saturates.
    pub clusters: f64,
    /// The formula with its inputs.
    pub formula: String,
    /// Where the calibration factor or ceiling came from.
    pub source: String,
    /// True when flags can move it (client QPS, workers); false for etcd and the apiserver.
    pub tunable: bool,
}

/// The fleet's load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Demand {
    /// API requests per second of the periodic reconciles.
    pub api_qps: f64,
    /// etcd writes per second (status patches and churn).
    pub etcd_writes_per_second: f64,
    /// etcd db bytes (model bytes x calibration factor).
    pub etcd_bytes: f64,
    /// Bytes per cluster as stored (model x factor).
    pub etcd_bytes_per_cluster: f64,
    /// Watches the controllers hold (one per watched kind per controller).
    pub watches: u64,
    /// Requests in flight on average (Little's law: rate x server time).
    pub in_flight: f64,
    /// Objects stored.
    pub objects: u64,
    /// kube-apiserver resident memory (bytes): its base + clusters x bytes per cluster, when
    /// the calibration measured it; null otherwise.
    pub apiserver_memory_bytes: Option<f64>,
}

/// Controller flags for a management cluster holding `clusters`, with the margin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Flags {
    /// Clusters these flags are for.
    pub clusters: f64,
    /// `--kube-api-qps`.
    pub kube_api_qps: u64,
    /// `--kube-api-burst`.
    pub kube_api_burst: u64,
    /// `--cluster-concurrency` (and the other controllers' concurrency).
    pub cluster_concurrency: u64,
    /// `--sync-period`, seconds.
    pub sync_period_seconds: f64,
    /// How they follow from the formulas.
    pub formula: String,
}

/// How the fleet is spread over management clusters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sizing {
    /// Management clusters.
    pub management_clusters: u64,
    /// Largest fleet one management cluster holds with the margin, with tuned flags.
    pub clusters_per_management_cluster_max: f64,
    /// The breakpoint that sets that maximum.
    pub limited_by: String,
    /// Clusters per management cluster (the largest shard).
    pub clusters_per_shard: u64,
    /// `namespace`, `hash` or `region`.
    pub sharding: String,
    /// What each shard holds, in words.
    pub sharding_note: String,
    /// etcd quota per shard, bytes (rounded up to 0.5 GiB, at least 2 GiB).
    pub etcd_quota_bytes_per_shard: f64,
    /// Per-shard load.
    pub shard_demand: Demand,
    /// Controller flags per shard.
    pub shard_flags: Flags,
    /// Recommended kube-apiserver memory request per shard (bytes): the shard's apiserver
    /// memory x (1 + margin), rounded up to 0.5 GiB; null when apiserver memory was not
    /// measured.
    pub apiserver_memory_request_bytes_per_shard: Option<f64>,
    /// How the request follows, or why there is none.
    pub apiserver_memory_note: String,
}

/// A commonly quoted scaling figure that does not add up, checked against the formulas.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClaimCheck {
    /// The figure as commonly quoted.
    pub claim: String,
    /// What the formulas say.
    pub finding: String,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityPlan {
    /// Inputs.
    pub fleet: FleetInput,
    /// The calibration used.
    pub calibration: Calibration,
    /// Where it came from: a directory or `built-in defaults (unmeasured)`.
    pub calibration_from: String,
    /// The whole fleet's load.
    pub demand: Demand,
    /// One management cluster with the preset's flags, in the order they are hit.
    pub progression: Vec<Breakpoint>,
    /// The first breakpoint with the preset's flags.
    pub first: Breakpoint,
    /// Flags for the whole fleet on one management cluster (if it fits).
    pub flags: Flags,
    /// Management clusters and sharding.
    pub sizing: Sizing,
    /// Commonly quoted figures checked against the formulas.
    pub claim_checks: Vec<ClaimCheck>,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl FleetInput {
    /// A fleet of `clusters` x `machines_per_cluster` with the defaults the breakpoints
    /// suite uses: 20 calls per reconcile (N* = 600 at QPS 20 / 600 s, as the Metal3 "Scaling to 1000 clusters" posts observed), 8 of them
    /// status writes, 6 s per reconcile (N* = 1,000 at concurrency 10), 20 ms per request.
    pub fn new(clusters: u64, machines_per_cluster: u64, preset: Preset) -> FleetInput {
        FleetInput {
            clusters,
            machines_per_cluster,
            machine_deployments: 1,
            provider: "metal3".into(),
            churn_machines_per_hour: 0.0,
            preset,
            calls_per_reconcile: 20.0,
            writes_per_reconcile: 8.0,
            reconcile_seconds: 6.0,
            request_seconds: 0.02,
            writes_per_churned_machine: 12.0,
            margin: 0.2,
            max_quota_bytes: 8.0 * GIB,
            sharding: "namespace".into(),
            keep_flags: false,
        }
    }

    /// The model fleet of one cluster of this shape (for its stored bytes).
    fn spec(&self) -> FleetSpec {
        let mut f = FleetSpec::example("plan");
        f.clusters = 1;
        f.control_plane_replicas = if self.machines_per_cluster >= 3 { 3 } else { 1 };
        let workers = self
            .machines_per_cluster
            .saturating_sub(u64::from(f.control_plane_replicas));
        f.machine_deployments = if workers == 0 {
            0
        } else {
            self.machine_deployments.max(1)
        };
        f.workers_per_machine_deployment = if workers == 0 {
            0
        } else {
            workers.div_ceil(u64::from(f.machine_deployments)) as u32
        };
        f.provider = Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == self.provider)
            .unwrap_or(Provider::Metal3);
        f
    }
}

/// kube-apiserver memory for this fleet's shape: (resident bytes per cluster, base bytes,
/// the formula), when the calibration measured it. The measurement's bytes per stored byte
/// scale it from the suite's fleet to this one.
fn apiserver_memory(f: &FleetInput, c: &Calibration) -> Option<(f64, f64, String)> {
    let m = c.apiserver_memory.as_ref()?;
    let stored = crate::stored::sizing::model_bytes_per_cluster(&f.spec());
    let per_cluster = m.bytes_per_stored_byte.value * stored;
    Some((
        per_cluster,
        m.base_bytes.value,
        format!(
            "{:.2} resident bytes per stored byte x {stored:.0} stored bytes per cluster = {per_cluster:.0} bytes per cluster",
            m.bytes_per_stored_byte.value
        ),
    ))
}

/// Load of `clusters` clusters of the fleet's shape.
fn demand(
    f: &FleetInput,
    clusters: f64,
    bytes_per_cluster: f64,
    memory: Option<(f64, f64)>,
) -> Demand {
    let t = f.preset.sync_period_seconds;
    let api_qps = clusters * f.calls_per_reconcile / t;
    let churn_writes = clusters * f.churn_machines_per_hour / 3600.0 * f.writes_per_churned_machine;
    let spec = f.spec();
    let per_cluster: u64 = spec.objects_in_cluster() + 1;
    Demand {
        api_qps,
        etcd_writes_per_second: clusters * f.writes_per_reconcile / t + churn_writes,
        etcd_bytes: clusters * bytes_per_cluster,
        etcd_bytes_per_cluster: bytes_per_cluster,
        // Informers: Cluster, Machine, MachineSet, MachineDeployment, KCP, KubeadmConfig,
        // provider cluster and machine, Secret; one per kind per controller manager.
        watches: 9,
        in_flight: api_qps * f.request_seconds,
        objects: (clusters * per_cluster as f64).round() as u64,
        apiserver_memory_bytes: memory.map(|(per, base)| base + clusters * per),
    }
}

/// The breakpoints of one management cluster running `qps` / `concurrency` per controller.
fn breakpoints(
    f: &FleetInput,
    c: &Calibration,
    bytes_per_cluster: f64,
    qps: f64,
    concurrency: f64,
) -> Vec<Breakpoint> {
    let t = f.preset.sync_period_seconds;
    let writes_per_cluster = f.writes_per_reconcile / t
        + f.churn_machines_per_hour / 3600.0 * f.writes_per_churned_machine;
    let in_flight_per_cluster = f.calls_per_reconcile / t * f.request_seconds;
    let mut v = vec![
        Breakpoint {
            id: "client-qps".into(),
            bottleneck: "controller client QPS".into(),
            clusters: qps * t / f.calls_per_reconcile * c.client_qps_factor.value,
            formula: format!(
                "N* = QPS x period / calls x factor = {qps} x {t} / {} x {:.3}",
                f.calls_per_reconcile, c.client_qps_factor.value
            ),
            source: c.client_qps_factor.source.clone(),
            tunable: true,
        },
        Breakpoint {
            id: "concurrency".into(),
            bottleneck: "controller concurrency".into(),
            clusters: concurrency * t / f.reconcile_seconds * c.concurrency_factor.value,
            formula: format!(
                "N* = concurrency x period / reconcile duration x factor = {concurrency} x {t} / {} s x {:.3}",
                f.reconcile_seconds, c.concurrency_factor.value
            ),
            source: c.concurrency_factor.source.clone(),
            tunable: true,
        },
        Breakpoint {
            id: "etcd-writes".into(),
            bottleneck: "etcd write throughput".into(),
            clusters: c.etcd_write_ceiling.value / writes_per_cluster,
            formula: format!(
                "N* = write ceiling / writes per cluster per s = {:.0} / {writes_per_cluster:.5}",
                c.etcd_write_ceiling.value
            ),
            source: c.etcd_write_ceiling.source.clone(),
            tunable: false,
        },
    ];
    for (id, quota) in [
        ("etcd-size-2GiB", 2.0 * GIB),
        ("etcd-size-max", f.max_quota_bytes),
    ] {
        v.push(Breakpoint {
            id: id.into(),
            bottleneck: format!("etcd database size at a {:.1} GiB quota", quota / GIB),
            clusters: quota / bytes_per_cluster,
            formula: format!(
                "N* = quota / bytes per cluster = {quota:.0} / {bytes_per_cluster:.0}"
            ),
            source: c.etcd_bytes_factor.source.clone(),
            tunable: id == "etcd-size-2GiB",
        });
    }
    v.push(Breakpoint {
        id: "apf".into(),
        bottleneck: "apiserver in-flight requests (APF)".into(),
        clusters: c.apf_onset_in_flight.value / in_flight_per_cluster,
        formula: format!(
            "N* = 429 onset / (calls per cluster per s x server time) = {:.0} / ({:.4} x {} s)",
            c.apf_onset_in_flight.value,
            f.calls_per_reconcile / t,
            f.request_seconds
        ),
        source: c.apf_onset_in_flight.source.clone(),
        tunable: false,
    });
    if let (Some((per, base, how)), Some(m)) = (apiserver_memory(f, c), &c.apiserver_memory) {
        let largest = m.limits_bytes.iter().cloned().fold(0.0, f64::max);
        for &limit in &m.limits_bytes {
            v.push(Breakpoint {
                id: format!("apiserver-memory-{}GiB", limit / GIB),
                bottleneck: format!("apiserver memory at a {:.1} GiB limit", limit / GIB),
                clusters: ((limit - base) / per).max(0.0),
                formula: format!(
                    "N* = (limit - base) / bytes per cluster = ({limit:.0} - {base:.0}) / {per:.0}; {how}"
                ),
                source: m.bytes_per_stored_byte.source.clone(),
                // A bigger control-plane node moves every limit but the largest the
                // calibration sized against.
                tunable: limit < largest,
            });
        }
    }
    v.sort_by(|a, b| a.clusters.total_cmp(&b.clusters));
    v
}

fn flags(f: &FleetInput, c: &Calibration, clusters: f64) -> Flags {
    let t = f.preset.sync_period_seconds;
    let m = 1.0 + f.margin;
    let qps = (clusters * f.calls_per_reconcile / t / c.client_qps_factor.value * m)
        .ceil()
        .max(f.preset.qps);
    let conc = (clusters * f.reconcile_seconds / t / c.concurrency_factor.value * m)
        .ceil()
        .max(f.preset.cluster_concurrency);
    Flags {
        clusters,
        kube_api_qps: qps as u64,
        kube_api_burst: (qps * f.preset.burst / f.preset.qps).ceil() as u64,
        cluster_concurrency: conc as u64,
        sync_period_seconds: t,
        formula: format!(
            "QPS = N x calls / period / factor x (1 + margin), burst in the preset's ratio; concurrency = N x reconcile duration / period / factor x (1 + margin); never below the preset ({} / {} / {})",
            f.preset.qps, f.preset.burst, f.preset.cluster_concurrency
        ),
    }
}

/// Computes the plan.
pub fn plan(f: &FleetInput, c: &Calibration, calibration_from: &str) -> CapacityPlan {
    let model_bytes = crate::stored::sizing::model_bytes_per_cluster(&f.spec());
    let bytes_per_cluster = model_bytes * c.etcd_bytes_factor.value;
    let n = f.clusters as f64;
    let memory = apiserver_memory(f, c);
    let mem = memory.as_ref().map(|(per, base, _)| (*per, *base));
    let whole = demand(f, n, bytes_per_cluster, mem);
    let progression = breakpoints(
        f,
        c,
        bytes_per_cluster,
        f.preset.qps,
        f.preset.cluster_concurrency,
    );
    let first = progression[0].clone();
    // With tuned flags only etcd and the apiserver limit a management cluster; with the
    // flags kept, the client's QPS and the workers do too.
    let hard = progression
        .iter()
        .filter(|b| {
            !b.tunable || (f.keep_flags && ["client-qps", "concurrency"].contains(&b.id.as_str()))
        })
        .min_by(|a, b| a.clusters.total_cmp(&b.clusters))
        .cloned()
        .unwrap_or_else(|| first.clone());
    let max_per_mc = hard.clusters / (1.0 + f.margin);
    let kept = |fl: Flags| {
        if f.keep_flags {
            Flags {
                kube_api_qps: f.preset.qps.ceil() as u64,
                kube_api_burst: f.preset.burst.ceil() as u64,
                cluster_concurrency: f.preset.cluster_concurrency.ceil() as u64,
                formula: "kept as given (--keep-flags)".into(),
                ..fl
            }
        } else {
            fl
        }
    };
    let m = ((n / max_per_mc).ceil() as u64).max(1);
    let per_shard = f.clusters.div_ceil(m);
    let quota = {
        let need = per_shard as f64 * bytes_per_cluster * (1.0 + f.margin);
        ((need / (GIB / 2.0)).ceil() * GIB / 2.0).max(2.0 * GIB)
    };
    let sharding_note = match f.sharding.as_str() {
        _ if m == 1 => "no sharding needed: one management cluster holds the fleet".to_string(),
        "hash" => format!("cluster name hash mod {m}: about {per_shard} clusters each, no namespace constraint"),
        "region" => format!("one management cluster per region or group of regions; keep each at or below {per_shard} clusters"),
        _ => format!("whole namespaces per management cluster (as `run --shard i/{m}` splits a fleet): at most {per_shard} clusters each"),
    };
    let sizing = Sizing {
        management_clusters: m,
        clusters_per_management_cluster_max: max_per_mc,
        limited_by: hard.id.clone(),
        clusters_per_shard: per_shard,
        sharding: f.sharding.clone(),
        sharding_note,
        etcd_quota_bytes_per_shard: quota,
        shard_demand: demand(f, per_shard as f64, bytes_per_cluster, mem),
        shard_flags: kept(flags(f, c, per_shard as f64)),
        apiserver_memory_request_bytes_per_shard: mem.map(|(per, base)| {
            let need = (base + per_shard as f64 * per) * (1.0 + f.margin);
            (need / (GIB / 2.0)).ceil() * GIB / 2.0
        }),
        apiserver_memory_note: match &memory {
            Some((per, base, how)) => format!(
                "(base {base:.0} + {per_shard} clusters x {per:.0} bytes) x (1 + margin), rounded up to 0.5 GiB; {how}; {}",
                c.apiserver_memory.as_ref().map(|m| m.bytes_per_stored_byte.source.as_str()).unwrap_or_default()
            ),
            None => "apiserver memory not measured: give --calibration a breakpoints folder with an apiserver-memory row".into(),
        },
    };
    CapacityPlan {
        fleet: f.clone(),
        calibration: c.clone(),
        calibration_from: calibration_from.into(),
        demand: whole,
        first,
        flags: flags(f, c, n),
        progression,
        sizing,
        claim_checks: claim_checks(f, c, bytes_per_cluster),
    }
}

/// Commonly quoted rows and arguments, recomputed.
fn claim_checks(f: &FleetInput, c: &Calibration, bytes_per_cluster: f64) -> Vec<ClaimCheck> {
    let implied_bytes = 8.0 * GIB / 5000.0;
    let per_machine = {
        let mut one = f.clone();
        one.machines_per_cluster = 1;
        let mut hundred = f.clone();
        hundred.machines_per_cluster = 101;
        let b = |x: &FleetInput| {
            crate::stored::sizing::model_bytes_per_cluster(&x.spec()) * c.etcd_bytes_factor.value
        };
        (b(&hundred) - b(&one)) / 100.0
    };
    vec![
        ClaimCheck {
            claim: "600 clusters: controller QPS limits (\"600 clusters / 600 s = 1 API call per second\")".into(),
            finding: format!(
                "1 call/s is 5% of QPS 20 and throttles nothing. N* = QPS x period / calls gives 600 only with 20 calls per reconcile: 20 x 600 / 20 = {:.0} (docs/throttling.md).",
                20.0 * 600.0 / 20.0
            ),
        },
        ClaimCheck {
            claim: "client-go 10 QPS".into(),
            finding: "client-go's REST default is QPS 5 / burst 10; 10 is the workqueue's retry bucket, rate.NewLimiter(10, 100) in client-go's util/workqueue/default_rate_limiters.go.".into(),
        },
        ClaimCheck {
            claim: "2,500 clusters: etcd write throughput, with ~100-500 etcd writes/s at 1,000 clusters".into(),
            finding: format!(
                "At the commonly quoted 0.1-0.5 writes/s per cluster, 2,500 clusters write 250-1,250/s, below the {:.0} writes/s ceiling used here ({}); the ceiling is reached at {:.0}-{:.0} clusters.",
                c.etcd_write_ceiling.value,
                c.etcd_write_ceiling.source,
                c.etcd_write_ceiling.value / 0.5,
                c.etcd_write_ceiling.value / 0.1
            ),
        },
        ClaimCheck {
            claim: "5,000 clusters: etcd database size".into(),
            finding: format!(
                "8 GiB / 5,000 = {:.0} bytes per cluster: about {:.0} machines per cluster at {per_machine:.0} stored bytes per machine. This fleet stores {bytes_per_cluster:.0} bytes per cluster, so 8 GiB holds {:.0} clusters.",
                implied_bytes,
                implied_bytes / per_machine,
                8.0 * GIB / bytes_per_cluster
            ),
        },
    ]
}

#[cfg(test)]
mod tests;
