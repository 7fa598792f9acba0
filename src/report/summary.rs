//! `summary.json`: the machine-readable result of a run. Its shape is fixed by
//! `results/summary.schema.json` (root `additionalProperties: false`), which the tests
//! validate every written summary against. Bump [`SCHEMA_VERSION`] on any change.

use crate::measure::{Measurements, OpStats};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the summary format. 2 added `load_started_at`, `shard` and `merged_from`;
/// 3 added `observed.apiserver_memory` and the apiserver memory series of the observed
/// points; 4 added `webhooks`, `observed.admission_webhooks` and
/// `observed.apiserver_cpu_seconds` (all optional, so older files still read); 5 added
/// `generator` (the tool's own CPU, memory, threads and scheduling delay, and whether it
/// was saturated), `warm_up` and the phases' `skipped_missing`; 6 added
/// `fleet.provider_api_version`, `apiserver_memory_limit` and `etcd_cluster`.
pub const SCHEMA_VERSION: u32 = 6;

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every phase ran to its end.
    Completed,
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
    /// Stopped because the target failed.
    Aborted,
    /// Every phase ran, but more requests failed than `--max-failure-ratio` allows
    /// (`stop_reason` says how many).
    Failed,
}

/// The whole summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Format version.
    pub schema_version: u32,
    /// Tool name and version.
    pub tool: ToolInfo,
    /// The run id (also the value of the `capi-loadgen.io/run-id` label).
    pub run_id: String,
    /// The profile used.
    pub profile: ProfileInfo,
    /// How the run ended.
    pub status: RunStatus,
    /// Why it stopped early, if it did.
    pub stop_reason: Option<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
    /// Wall time of the load phases in seconds (set-up excluded).
    pub duration_seconds: f64,
    /// When the load phases started (second 0 of `timeseries.csv`), RFC 3339 UTC with
    /// microseconds: what aligns the time series of shards.
    #[serde(default)]
    pub load_started_at: Option<String>,
    /// The slice of the fleet this process generated (`--shard i/n`); null when the run
    /// covered the whole fleet.
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// For a summary made by `merge`: the shard results directories merged, in shard order.
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// What was written to.
    pub target: TargetInfo,
    /// The fleet.
    pub fleet: FleetInfo,
    /// The client pool.
    pub client: ClientInfo,
    /// The phases that ran, in order.
    pub phases: Vec<PhaseSummary>,
    /// The controllers of the steady phase (cluster, and machine if configured).
    pub controllers: Vec<ControllerSummary>,
    /// The watchers, when the profile held any.
    pub watch: Option<WatchSummary>,
    /// What scraping the apiserver and etcd showed (per-interval points in observed.csv too).
    pub observed: Option<crate::measure::scrape::Observed>,
    /// Health verdicts from what was observed.
    pub health: Vec<crate::report::health::Verdict>,
    /// Totals over all operations.
    pub totals: Counts,
    /// One entry per (phase, verb, kind).
    pub operations: Vec<Operation>,
    /// The simulated admission webhooks, when the profile has `webhooks:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<super::webhooks::WebhooksSummary>,
    /// The tool's own resource use, per phase and for the whole run, and whether it kept up
    /// (`saturated`: its latencies include its own queueing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<super::generator::GeneratorSummary>,
    /// What was done to the target before the measured phases so that their first requests
    /// do not pay for a cold start (CRDs established and served, one unmeasured request per
    /// kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<WarmUp>,
    /// kube-apiserver under `local.apiserver_memory_limit`: how it ended (OOM-killed, died,
    /// GC thrash, survived), at how many clusters, and the fitted line's prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apiserver_memory_limit: Option<super::memory_limit::MemoryLimitSummary>,
    /// The local environment's etcd cluster (`local.etcd_members`, `local.etcd_rtt_ms`,
    /// `faults:`): every member's leader changes and failed proposals, the write-latency
    /// spike, the faults as injected and the read-back of every acknowledged object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_cluster: Option<super::etcd_cluster::EtcdClusterSummary>,
}

/// The unmeasured warm-up before the load phases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmUp {
    /// CRDs waited for until `Established` and listed by discovery.
    pub crds_established: u64,
    /// Kinds (labels) that answered one unmeasured dry-run create.
    pub kinds_warmed: Vec<String>,
    /// Kinds whose warm-up request failed (`kind: error`); the run went on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Wall seconds the warm-up took.
    pub seconds: f64,
}

/// One shard of a sharded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// This shard, `0..count`.
    pub index: u64,
    /// Shards in all.
    pub count: u64,
    /// Clusters in the whole fleet (this shard's are in `fleet.clusters`).
    pub fleet_clusters: u64,
    /// Index of this shard's first cluster.
    pub first_cluster: u64,
    /// Index of this shard's first namespace (shards split the fleet by namespace).
    pub first_namespace: u64,
}

/// Tool identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    /// `capi-loadgen`.
    pub name: String,
    /// Crate version.
    pub version: String,
}

/// Profile identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    /// Profile name.
    pub name: String,
    /// Profile file as given.
    pub path: String,
    /// Profile description.
    pub description: Option<String>,
}

/// Target identity (never credentials).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// `local` or `kube`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Server URL.
    pub endpoint: String,
    /// Server version (`v1.37.2`).
    pub server_version: String,
    /// etcd's version, when the tool started it (the local environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_version: Option<String>,
}

/// Fleet shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetInfo {
    /// Clusters planned (this shard's, when sharded).
    pub clusters: u64,
    /// Namespaces planned (this shard's, when sharded).
    pub namespaces: u64,
    /// Objects planned, namespaces included (this shard's, when sharded).
    pub objects_planned: u64,
    /// Objects per cluster by kind label.
    pub objects_per_cluster: BTreeMap<String, u64>,
    /// Provider shape.
    pub provider: String,
    /// Core API group.
    pub api_group: String,
    /// CAPI API version.
    pub capi_version: String,
    /// API version of the provider kinds (absent in summaries before schema 6, which wrote
    /// them in `v1beta1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_api_version: Option<String>,
    /// Control-plane machines per cluster.
    pub control_plane_replicas: u32,
    /// MachineDeployments per cluster.
    pub machine_deployments: u32,
    /// Workers per MachineDeployment.
    pub workers_per_machine_deployment: u32,
    /// Where the CRDs' schemas came from: "inferred" or "upstream" (`fleet.crd_schemas`).
    #[serde(default = "inferred")]
    pub crd_schemas: String,
    /// Kinds (labels) whose CRDs had upstream schemas; the others' were inferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_schema_kinds: Vec<String>,
    /// ClusterClass-managed clusters (`fleet.topology`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub topology: bool,
    /// Objects per namespace by kind label, besides its clusters' (the Namespace, and with
    /// topology the ClusterClass and its templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects_per_namespace: BTreeMap<String, u64>,
}

fn inferred() -> String {
    "inferred".into()
}

/// Client pool settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientInfo {
    /// Clients in the pool.
    pub pool_size: usize,
    /// Requests/s per client; null = unlimited.
    pub qps: Option<f64>,
    /// Bucket size per client.
    pub burst: u32,
    /// Preset name, if any.
    pub preset: Option<String>,
    /// Per-request timeout.
    pub timeout_seconds: f64,
    /// Retries on 429 / 5xx with Retry-After.
    pub max_retries: u32,
}

/// One phase as it ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSummary {
    /// `create`, `steady`, `churn` or `delete`.
    pub name: String,
    /// `closed` (next request when the previous answered), `open` (scheduled starts;
    /// latency from the schedule) or `timed` (runs for a set wall time).
    pub mode: String,
    /// Scheduled rate in open mode.
    pub target_rate: Option<f64>,
    /// Unit of `target_rate`: `objects/s` or `clusters/s`.
    pub rate_unit: Option<String>,
    /// Workers.
    pub concurrency: usize,
    /// Client QPS per pool client in this phase (after time scaling); null = unlimited.
    pub client_qps: Option<f64>,
    /// Wall time.
    pub duration_seconds: f64,
    /// Requests sent in the phase.
    pub sent: u64,
    /// Machines churned (churn phase).
    pub machines_churned: Option<u64>,
    /// Objects (with what depends on them) left out of this phase because their create
    /// failed or timed out: requests for them would only measure 404s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_missing: Option<u64>,
}

/// What the watchers saw.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSummary {
    /// Watches held.
    pub watchers: usize,
    /// Kinds watched.
    pub kinds: Vec<String>,
    /// `cluster` or `namespace`.
    pub scope: String,
    /// Events delivered (all watches together).
    pub events: u64,
    /// Events matched to an acknowledged write of the run.
    pub matched: u64,
    /// Events delivered before their write was acknowledged (lag counted as 0).
    pub before_ack: u64,
    /// Write acknowledged → event delivered.
    pub lag_ms: Distribution,
    /// Streams opened.
    pub opened: u64,
    /// Re-opens resuming from the last resourceVersion.
    pub reconnects: u64,
    /// Restarts because the resourceVersion was too old (410 Gone / compaction).
    pub too_old_restarts: u64,
    /// Stream errors.
    pub errors: u64,
}

/// The controller simulation's view: the queue, not just the requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSummary {
    /// `cluster` or `machine`.
    pub name: String,
    /// Model sync period.
    pub sync_period_seconds: f64,
    /// Time compression factor (period / scale, client QPS x scale).
    pub time_scale: f64,
    /// Wall-clock period.
    pub wall_period_seconds: f64,
    /// `spread` or `burst`.
    pub enqueue: String,
    /// Reconcile workers in the model (`--cluster-concurrency`).
    pub concurrency: usize,
    /// Workers actually run: concurrency x time_scale (rounded up).
    pub wall_workers: usize,
    /// Wall ms each reconcile spends off the management apiserver.
    pub think_ms: f64,
    /// Calls per reconcile.
    pub calls_per_reconcile: u32,
    /// GETs per reconcile.
    pub get_calls: u32,
    /// LISTs per reconcile.
    pub list_calls: u32,
    /// Status PATCHes per reconcile.
    pub patch_status_calls: u32,
    /// Event-driven reconciles per model second.
    pub events_per_second: f64,
    /// Items this controller reconciles (clusters, or machines).
    pub items: u64,
    /// Clusters in the fleet.
    pub clusters: u64,
    /// Calls per model second this controller needs: items x calls / period + events x calls.
    pub demand_calls_per_second: f64,
    /// Calls per model second the client pool allows (null = unlimited).
    pub capacity_calls_per_second: Option<f64>,
    /// N* = QPS x period / calls per cluster (all controllers sharing the client): clusters
    /// at which the client limit saturates (docs/throttling.md).
    pub predicted_breakpoint_clusters: Option<f64>,
    /// N* = concurrency x period / mean reconcile duration (measured): clusters at which
    /// the workers are busy all the time, when reconciles completed.
    pub predicted_concurrency_breakpoint_clusters: Option<f64>,
    /// Reconciles completed.
    pub reconciles: u64,
    /// Periodic enqueues.
    pub periodic_enqueues: u64,
    /// Event-driven enqueues.
    pub event_enqueues: u64,
    /// Periodic enqueues that found the cluster still waiting from the previous period.
    pub missed_periods: u64,
    /// Enqueue → reconcile start (wall ms).
    pub queue_wait_ms: Distribution,
    /// Reconcile duration (wall ms).
    pub reconcile_ms: Distribution,
    /// Enqueue → reconcile end (wall ms): how stale a cluster's status gets.
    pub lag_ms: Distribution,
    /// Queue depth when the phase ended.
    pub final_queue_depth: u64,
    /// Reconciles in progress when the phase ended.
    pub final_in_progress: u64,
    /// Reconciles' worth of work owed when the phase ended: reconciles asked for minus
    /// calls made / calls per reconcile.
    pub unserved_reconciles: f64,
    /// Deepest queue.
    pub max_queue_depth: u64,
    /// What only the reference controller measures (absent for the simulation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceMeasures>,
}

/// The reference controller's own accounting, read from its `/metrics` (controller-runtime's
/// series and its `capi_loadgen_reference_*` ones) and from the apiserver's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceMeasures {
    /// `shared` or `per-kind` token buckets.
    pub rate_limiter: String,
    /// Flags the controller ran with.
    pub flags: Vec<String>,
    /// GETs, LISTs and status PATCHes its reconciles made (`capi_loadgen_reference_calls_total`).
    pub calls: VerbCounts,
    /// Calls answered with an error.
    pub call_errors: u64,
    /// The apiserver's own count of the same requests (`apiserver_request_total` deltas over
    /// the phase: GETs of the reconciled objects' kinds, LISTs of Machines, PATCHes of the
    /// reconciled kind's status), when the apiserver's metrics were readable.
    pub apiserver_requests: Option<VerbCounts>,
    /// Client-side rate limiter wait of every request the manager made
    /// (`rest_client_rate_limiter_duration_seconds`, wall ms).
    pub client_wait_ms: Distribution,
    /// `workqueue_adds_total` of this controller's queue.
    pub workqueue_adds: u64,
    /// `controller_runtime_reconcile_total` (finished or not).
    pub reconcile_total: u64,
    /// `rest_client_requests_total` of the whole manager (informers and discovery included).
    pub rest_client_requests: u64,
    /// Seconds from the informer's initial list to its first resync, when one happened (the
    /// sync period with controller-runtime's 0.9–1.1 jitter, drawn once per informer).
    pub first_resync_after_seconds: Option<f64>,
    /// The resync period the reconciled kind's informer was built with (wall seconds):
    /// controller-runtime's draw of 0.9–1.1 x the sync period, or the period exactly when the
    /// profile asks for no jitter.
    #[serde(default)]
    pub resync_period_seconds: Option<f64>,
}

/// Request counts by verb.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerbCounts {
    /// GETs.
    pub get: u64,
    /// LISTs.
    pub list: u64,
    /// PATCHes.
    pub patch: u64,
}

/// Request accounting: `sent = ok + failed + throttled`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Requests sent.
    pub sent: u64,
    /// Succeeded.
    pub ok: u64,
    /// Failed for any reason but 429.
    pub failed: u64,
    /// Answered 429 Too Many Requests.
    pub throttled: u64,
}

/// A latency distribution in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Distribution {
    /// Summarises a µs histogram in ms.
    pub fn of(h: &Histogram<u64>) -> Distribution {
        if h.is_empty() {
            return Distribution::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Distribution {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Stats of one (phase, verb, kind).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Phase name.
    pub phase: String,
    /// Verb.
    pub verb: String,
    /// Kind label.
    pub kind: String,
    /// Accounting.
    #[serde(flatten)]
    pub counts: Counts,
    /// Final failures by label (`http_500`, `etcd_nospace`, `timeout`, `transport`; 429s are `throttled`).
    pub failed_by: BTreeMap<String, u64>,
    /// Requests whose first attempt succeeded.
    pub first_attempt_ok: u64,
    /// Requests whose first attempt was answered 429.
    pub first_attempt_throttled: u64,
    /// Retries (attempts beyond the first).
    pub retries: u64,
    /// Every 429 answer, all attempts (what the server rejected).
    pub responses_429: u64,
    /// Intended start → done: what a caller experiences (includes throttle wait).
    pub latency_ms: Distribution,
    /// Sent → done: server and network time.
    pub server_ms: Distribution,
    /// Intended start → sent: client-side throttle wait.
    pub throttle_wait_ms: Distribution,
}

impl Operation {
    fn from_stats(phase: &str, verb: &str, kind: &str, s: &OpStats) -> Operation {
        Operation {
            phase: phase.into(),
            verb: verb.into(),
            kind: kind.into(),
            counts: Counts {
                sent: s.sent,
                ok: s.ok,
                failed: s.failed_total(),
                throttled: s.throttled,
            },
            failed_by: s.failed.clone(),
            first_attempt_ok: s.first_attempt_ok,
            first_attempt_throttled: s.first_attempt_throttled,
            retries: s.retries,
            responses_429: s.responses_429,
            latency_ms: Distribution::of(&s.latency),
            server_ms: Distribution::of(&s.server),
            throttle_wait_ms: Distribution::of(&s.throttle_wait),
        }
    }
}

/// Per-operation entries and totals from measurements.
pub fn operations(m: &Measurements) -> (Vec<Operation>, Counts) {
    let mut ops: Vec<Operation> = m
        .ops
        .iter()
        .map(|((phase, verb, kind), s)| Operation::from_stats(phase, verb.label(), kind.label(), s))
        .collect();
    let rank = |p: &str| {
        ["create", "steady", "churn", "delete", "cleanup"]
            .iter()
            .position(|x| *x == p)
            .unwrap_or(9)
    };
    ops.sort_by_key(|o| rank(&o.phase));
    let (sent, ok, failed, throttled) = m.totals();
    (
        ops,
        Counts {
            sent,
            ok,
            failed,
            throttled,
        },
    )
}

impl Summary {
    /// Writes `summary.json` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("summary.json"), text + "\n")
    }

    /// Reads `summary.json` from a results directory.
    pub fn read(dir: &Path) -> std::io::Result<Summary> {
        let text = std::fs::read_to_string(dir.join("summary.json"))?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}
