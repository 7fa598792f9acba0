//! The profile as written in YAML. Every struct denies unknown fields.

use crate::model::{CapiVersion, ClusterSecret, Provider};
use serde::Deserialize;
use std::path::PathBuf;

/// A whole profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name shown in reports (default: the file name).
    pub name: Option<String>,
    /// Free text shown in reports.
    pub description: Option<String>,
    /// What to write to.
    #[serde(default)]
    pub target: TargetSection,
    /// Settings of the `local` environment (only with `target.type: local`).
    pub local: Option<LocalSection>,
    /// The fleet to create.
    pub fleet: FleetSection,
    /// The client pool (rate limits like client-go's `rest.Config`).
    #[serde(default)]
    pub client: ClientSection,
    /// The phases of the run.
    #[serde(default)]
    pub phases: PhasesSection,
    /// Watches held for the whole run, as controllers' informers hold them.
    pub watchers: Option<WatchersSection>,
    /// Scraping the target's metrics and judging its health.
    #[serde(default)]
    pub observe: ObserveSection,
    /// How `capi-loadgen sweep` varies this profile (its flags override).
    pub sweep: Option<SweepSection>,
    /// What to do when the target stops answering: `abort` (default) or `continue`.
    pub on_target_failure: Option<OnTargetFailure>,
    /// Simulated admission webhooks (defaulting and validating) for the fleet's kinds.
    pub webhooks: Option<super::webhooks::WebhooksSection>,
    /// The real Cluster API managers as the load (instead of the phases' model).
    pub capi_controllers: Option<super::capi_controllers::CapiControllersSection>,
    /// etcd faults during the run (local environment; see `local.etcd_members`).
    #[serde(default)]
    pub faults: Vec<super::faults::FaultSection>,
}

/// `on_target_failure:` what a run does when the target fails: 25 requests in a row
/// without an answer or with a 5xx (etcd or the apiserver gone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTargetFailure {
    /// Stop the run, write partial results, exit 8.
    #[default]
    Abort,
    /// Keep going: count every failed request, back off (50 ms doubling to 5 s while the
    /// target keeps failing) and resume when it answers again (an apiserver restart).
    Continue,
}

/// What a run prints on stdout at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// The Markdown table of operations and the results folder (default).
    #[default]
    Markdown,
    /// `summary.json` itself, and nothing else on stdout (logs go to stderr).
    Json,
    /// The Markdown table, then the whole results folder as archive lines
    /// (`report::archive`), for a pod whose files do not outlive it.
    Archive,
    /// Nothing (a part of a larger run that prints for all of them).
    Nothing,
}

/// Seconds between progress log lines when stderr is not a terminal (CI logs, `kubectl logs`).
pub const DEFAULT_LOG_PROGRESS_SECONDS: f64 = 5.0;

/// `sweep:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// The dotted field to vary, e.g. `fleet.clusters`.
    pub field: Option<String>,
    /// The values, in order.
    pub values: Option<Vec<f64>>,
    /// `lo:hi:step`, instead of `values`.
    pub range: Option<String>,
    /// `reset` (default) or `accumulate`.
    pub state: Option<SweepState>,
}

pub use crate::sweep::SweepState;

/// `observe:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveSection {
    /// Scrape the apiserver's and etcd's metrics during the run (default true).
    pub enabled: Option<bool>,
    /// Seconds between scrapes (default 5).
    pub interval_seconds: Option<f64>,
    /// etcd's quota in bytes, for the db-size verdict when the tool did not start etcd.
    pub etcd_quota_bytes: Option<u64>,
    /// etcd's plain-HTTP `/metrics` URL for a kube target (kind-configs/tuned.yaml publishes
    /// `http://127.0.0.1:2381/metrics`); `--etcd-metrics-url` wins.
    pub etcd_metrics_url: Option<String>,
    /// etcd's client endpoints, for its `Status` (db size and in-use size) on a kube target.
    pub etcd: Option<ObserveEtcdSection>,
    /// Scrape each kube-apiserver instance listed in the `default/kubernetes`
    /// EndpointSlices directly (default true); false: `/metrics` through the kubeconfig's
    /// server only.
    pub apiserver_instances: Option<bool>,
    /// The kube-apiserver instances to scrape, e.g. `[https://10.0.0.11:6443, …]`, when
    /// `default/kubernetes` does not list them or they are reached at other addresses.
    pub apiserver_urls: Option<Vec<String>>,
    /// A Prometheus that scrapes the target (http(s) URL, a path prefix allowed): the
    /// apiserver's and etcd's series are queried from it instead of scraped;
    /// `--prometheus-url` wins.
    pub prometheus_url: Option<String>,
    /// A file holding a bearer token for that Prometheus (sent as `Authorization: Bearer`,
    /// never logged or written to results).
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// Extra label matchers for every Prometheus query, e.g. `cluster="mgmt"`.
    pub prometheus_selector: Option<String>,
    /// Verdict thresholds to override: check name → [warning, degraded, critical].
    pub thresholds: Option<std::collections::BTreeMap<String, Vec<f64>>>,
    /// Idle seconds after the load before kube-apiserver's end memory is sampled (default 2).
    pub memory_settle_seconds: Option<f64>,
    /// kube-apiserver memory limits (bytes) the fleet is sized against (default 8 GiB and
    /// 16 GiB).
    pub apiserver_memory_limits_bytes: Option<Vec<u64>>,
}

/// `observe.etcd:` etcd's client endpoints, read only for `Status`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveEtcdSection {
    /// Client URLs, e.g. `https://172.18.0.2:2379` (required).
    pub endpoints: Option<Vec<String>>,
    /// CA bundle of etcd's server certificate (kubeadm: `/etc/kubernetes/pki/etcd/ca.crt`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (kubeadm: `healthcheck-client.crt`).
    pub cert_file: Option<PathBuf>,
    /// Client key (kubeadm: `healthcheck-client.key`).
    pub key_file: Option<PathBuf>,
}

/// `watchers:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchersSection {
    /// Watches per kind (required).
    pub count: Option<u64>,
    /// Kinds to watch, by label (default `[machine]`).
    pub kinds: Option<Vec<String>>,
    /// `cluster` (default): each watch sees every namespace; `namespace`: watches spread
    /// over the fleet's namespaces.
    pub scope: Option<WatchScope>,
}

/// Watch scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchScope {
    /// All namespaces.
    #[default]
    Cluster,
    /// One namespace each.
    Namespace,
}

pub use super::target_section::{
    ApiserverSection, EtcdSection, LocalSection, TargetSection, TargetType,
};

/// `fleet:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// Number of workload clusters (required).
    pub clusters: u64,
    /// Clusters per namespace (default 1: one namespace per cluster).
    pub clusters_per_namespace: Option<u64>,
    /// Control-plane machines per cluster (default 3; odd, as KCP requires).
    pub control_plane_replicas: Option<u64>,
    /// MachineDeployments per cluster (default 1).
    pub machine_deployments: Option<u64>,
    /// Worker machines per MachineDeployment (default 3).
    pub workers_per_machine_deployment: Option<u64>,
    /// Infrastructure provider shape (default metal3).
    pub provider: Option<Provider>,
    /// API group of the CAPI kinds (default `loadtest.cluster.x-k8s.io`).
    pub api_group: Option<String>,
    /// `v1beta1` (default) or `v1beta2`.
    pub capi_version: Option<CapiVersion>,
    /// API version of the provider kinds, `v1beta1` or `v1beta2` (default: what the
    /// target's CRDs serve when the tool does not install them, else the provider's newest
    /// for the Cluster API version; see `profile::provider_version`).
    pub provider_api_version: Option<CapiVersion>,
    /// Install the tool's CRDs before the run (default true).
    pub install_crds: Option<bool>,
    /// Warm the target before the measured phases (default true): one unmeasured create
    /// and delete per kind in a warm-up namespace, so the first measured creates of a kind
    /// do not pay for the apiserver bringing up its handler.
    pub warm_up: Option<bool>,
    /// Where the CRDs' schemas come from: `inferred` (default) or `upstream`.
    pub crd_schemas: Option<CrdSchemaSource>,
    /// Directory of upstream CRD YAML/JSON files (for `crd_schemas: upstream`; relative
    /// paths from the working directory, as every path in a profile).
    pub crd_dir: Option<PathBuf>,
    /// Kubernetes version written into KCP/Machines (default v1.30.4).
    pub kubernetes_version: Option<String>,
    /// Per-cluster Secrets (default kubeconfig, ca, etcd, sa, proxy).
    pub cluster_secrets: Option<Vec<ClusterSecret>>,
    /// ClusterClass-managed clusters: a ClusterClass and its templates per namespace and
    /// Clusters with `spec.topology` (default false).
    pub topology: Option<bool>,
    /// A MachineHealthCheck for the control plane and one per MachineDeployment (default
    /// false).
    pub machine_health_checks: Option<bool>,
    /// MachinePools per cluster (default 0; providers with a machine pool kind only).
    pub machine_pools: Option<u64>,
    /// Replicas of each MachinePool (default 3).
    pub machine_pool_replicas: Option<u64>,
    /// Object size knobs.
    #[serde(default)]
    pub payload_bytes: PayloadSection,
}

/// `fleet.crd_schemas:` where the CRDs' schemas come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrdSchemaSource {
    /// Inferred from the tool's own example bodies.
    Inferred,
    /// Real Cluster API CRDs from `fleet.crd_dir`, renamed into the tool's groups.
    Upstream,
}

/// `fleet.payload_bytes:` extra bytes per object of a kind, and the cloud-init size.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadSection {
    /// Size of the bootstrap Secret's cloud-init (default 6144).
    pub bootstrap_data: Option<u64>,
    /// Extra bytes on each Cluster.
    pub cluster: Option<u64>,
    /// Extra bytes on each provider cluster.
    pub infra_cluster: Option<u64>,
    /// Extra bytes on each KubeadmControlPlane.
    pub kubeadm_control_plane: Option<u64>,
    /// Extra bytes on each MachineDeployment.
    pub machine_deployment: Option<u64>,
    /// Extra bytes on each MachineSet.
    pub machine_set: Option<u64>,
    /// Extra bytes on each Machine.
    pub machine: Option<u64>,
    /// Extra bytes on each KubeadmConfig.
    pub kubeadm_config: Option<u64>,
    /// Extra bytes on each provider machine.
    pub infra_machine: Option<u64>,
    /// Extra bytes on each Secret.
    pub secret: Option<u64>,
}

/// Named client settings: the QPS / burst of client-go's `rest.Config` defaults, Cluster
/// API's controller flags per release line and controller-runtime's defaults (see
/// docs/throttling.md for the sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ClientPreset {
    /// client-go's `rest.Config` defaults: QPS 5, burst 10.
    #[serde(rename = "client-go")]
    ClientGo,
    /// Cluster API v1.5–v1.12 managers: QPS 20, burst 30, concurrency 10.
    #[serde(rename = "capi-1.5")]
    Capi15,
    /// Cluster API v1.13+: QPS 100, burst 200, concurrency 50.
    #[serde(rename = "capi-1.13")]
    Capi113,
    /// controller-runtime ≥ 0.21: no client-side limit (relies on APF).
    #[serde(rename = "controller-runtime-0.21")]
    ControllerRuntime021,
}

/// `client:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Start from a named preset; explicit fields override it.
    pub preset: Option<ClientPreset>,
    /// Number of clients, each with its own token bucket (default 1).
    pub pool_size: Option<u64>,
    /// Requests per second per client; -1 = unlimited (default 5, like client-go).
    pub qps: Option<f64>,
    /// Token bucket size per client (default 10, like client-go).
    pub burst: Option<u64>,
    /// Per-request timeout in seconds (default 30).
    pub timeout_seconds: Option<f64>,
    /// Retries on 429 / 5xx with Retry-After, like client-go (default 10; 0 = none).
    pub max_retries: Option<u32>,
}

/// `phases:` each optional; they run in this order: create, steady, churn, delete.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhasesSection {
    /// Create the fleet.
    pub create: Option<CreateSection>,
    /// Controller-like reconciles of every cluster once per sync period.
    pub steady: Option<SteadySection>,
    /// Rolling-upgrade-like replacement of a fraction of the machines per interval.
    pub churn: Option<ChurnSection>,
    /// Delete the fleet.
    pub delete: Option<DeleteSection>,
}

/// `phases.create:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSection {
    /// Concurrent workers creating clusters (default: the preset's, else 10).
    pub concurrency: Option<u64>,
    /// Open-loop target rate in objects per second (default: as fast as the pool allows).
    pub objects_per_second: Option<f64>,
    /// Open-loop target rate in clusters per second.
    pub clusters_per_second: Option<f64>,
    /// Stop creating after this many wall seconds even if clusters remain (a write-rate
    /// test rather than a fleet build; default: until the fleet exists).
    pub duration_seconds: Option<f64>,
}

/// `phases.steady.calls_per_reconcile:` API calls one reconcile of one cluster makes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallMixSection {
    /// GETs of the cluster's objects.
    pub get: Option<u64>,
    /// LISTs of the cluster's Machines (by cluster-name label, in its namespace).
    pub list: Option<u64>,
    /// Status PATCHes of the Cluster.
    pub patch_status: Option<u64>,
}

/// `phases.steady:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteadySection {
    /// Wall-clock length of the phase in seconds (required).
    pub duration_seconds: Option<f64>,
    /// The controller's sync period in model seconds (default 600, CAPI's 10 minutes).
    pub sync_period_seconds: Option<f64>,
    /// Relative jitter of each cluster's period (default 0.1).
    pub jitter: Option<f64>,
    /// Compress time by this factor: period / scale, client QPS x scale and reconcile
    /// workers x scale (default 1).
    pub time_scale: Option<f64>,
    /// Reconcile workers (default: the preset's concurrency, else 10).
    pub concurrency: Option<u64>,
    /// The calls of one reconcile (default get 10, list 2, patch_status 8: 20 calls).
    pub calls_per_reconcile: Option<CallMixSection>,
    /// Extra event-driven reconciles per model second (default 0).
    pub events_per_second: Option<f64>,
    /// Wall milliseconds a reconcile spends outside the management apiserver (workload
    /// cluster health checks, infrastructure API calls), slept before its API calls
    /// (default 0). Not compressed by `time_scale`: see `time_scale`.
    pub think_ms: Option<f64>,
    /// `spread` (default): each cluster at its own offset in the period; `burst`: all
    /// clusters enqueued together, like an informer resync.
    pub enqueue: Option<EnqueueMode>,
    /// The controller's own client QPS per pool client (default: `client.qps`); -1 = unlimited.
    pub client_qps: Option<f64>,
    /// The controller's own burst (default: `client.burst`).
    pub client_burst: Option<u64>,
    /// A Machine controller beside the Cluster controller, sharing its client (one manager,
    /// one rest.Config, like capi-controller-manager): every Machine once per period.
    pub machine_controller: Option<MachineControllerSection>,
    /// `simulated` (default): the tool's own model of the controllers; `reference`: the
    /// controller-runtime manager built from servers/reference-controller, run against the
    /// same target with flags derived from this section.
    pub controller: Option<ControllerKind>,
    /// Token buckets of the controller's clients: `shared` (default; one bucket per pool
    /// client, the simulation's model) or `per-kind` (controller-runtime's own behaviour:
    /// every GroupVersionKind's REST client has its own bucket; `reference` only).
    pub rate_limiter: Option<RateLimiterScope>,
}

/// Which controller runs in the steady phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControllerKind {
    /// The tool's controller simulation.
    #[default]
    Simulated,
    /// The controller-runtime reference controller.
    Reference,
}

/// Scope of the controller's client-side token buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimiterScope {
    /// One bucket per pool client, whatever it calls.
    #[default]
    Shared,
    /// One bucket per GroupVersionKind (controller-runtime's REST clients).
    PerKind,
}

/// `phases.steady.machine_controller:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineControllerSection {
    /// Reconcile workers (`--machine-concurrency`; default 10).
    pub concurrency: Option<u64>,
    /// Calls per Machine reconcile (default get 3: Machine, KubeadmConfig, provider
    /// machine; patch_status 1; list 0).
    pub calls_per_reconcile: Option<CallMixSection>,
}

/// How periodic reconciles are enqueued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnqueueMode {
    /// Clusters spread evenly over the period.
    #[default]
    Spread,
    /// All clusters at once every period.
    Burst,
    /// A shared informer's resyncs, as controller-runtime delivers them: every cluster at the
    /// start (the initial list), then every cluster at once, first two periods after the start
    /// and every period after that; the period is drawn once per controller within
    /// ±`jitter` (controller-runtime draws 0.9-1.1) instead of per cluster and period.
    Informer,
}

/// Churn mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnMode {
    /// Delete a worker machine's objects and create them again (a rolling replacement).
    #[default]
    Recreate,
    /// Patch the Machine's spec (an in-place update).
    Update,
}

/// `phases.churn:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSection {
    /// Wall-clock length of the phase in seconds (required).
    pub duration_seconds: Option<f64>,
    /// Seconds between churn rounds (default 10).
    pub interval_seconds: Option<f64>,
    /// Fraction of worker machines churned per round, 0–1 (default 0.1).
    pub fraction: Option<f64>,
    /// `recreate` (default) or `update`.
    pub mode: Option<ChurnMode>,
    /// Concurrent churn workers (default 10).
    pub concurrency: Option<u64>,
}

/// `phases.delete:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSection {
    /// Concurrent cluster workers (default: the create concurrency).
    pub concurrency: Option<u64>,
    /// Open-loop target rate in objects per second (default: as fast as the pool allows).
    pub objects_per_second: Option<f64>,
}

/// Command-line values that override the profile.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--run-id`.
    pub run_id: Option<String>,
    /// `--clusters`.
    pub clusters: Option<u64>,
    /// `--kubeconfig` (switches the target to `kube`).
    pub kubeconfig: Option<PathBuf>,
    /// `--context` (switches the target to `kube`).
    pub context: Option<String>,
    /// `--etcd-endpoint` (switches the target to `etcd`).
    pub etcd_endpoints: Vec<String>,
    /// `--state-dir` for the local environment.
    pub state_dir: Option<PathBuf>,
    /// `--kubernetes-version` for the local environment (wins over `local.kubernetes_version`).
    pub kubernetes_version: Option<String>,
    /// `--etcd-version` for the local environment (wins over `local.etcd_version`).
    pub etcd_version: Option<String>,
    /// `--out`: results directory.
    pub out: Option<PathBuf>,
    /// `--metrics-addr` and how long to keep serving after the run.
    pub metrics: Option<(std::net::SocketAddr, std::time::Duration)>,
    /// `--fail-on`: the verdict level that fails the run.
    pub fail_on: Option<crate::thresholds::Level>,
    /// `--max-failure-ratio` (percent): more failed requests fail the run (`run` only;
    /// sweeps and breakpoint experiments push targets into failure on purpose).
    pub max_failure_ratio: Option<f64>,
    /// Kube contexts the safety guard lets through (`--allow-context`).
    pub allow_contexts: Vec<String>,
    /// etcd endpoints the safety guard lets through (`--allow-endpoint`).
    pub allow_endpoints: Vec<String>,
    /// `--etcd-metrics-url` (wins over `observe.etcd_metrics_url`).
    pub etcd_metrics_url: Option<String>,
    /// `--prometheus-url` (wins over `observe.prometheus_url`).
    pub prometheus_url: Option<String>,
    /// `--output`: what `run` prints on stdout.
    pub output: Output,
    /// `--junit FILE`: the verdicts as JUnit XML.
    pub junit: Option<PathBuf>,
    /// `--log-progress-seconds`: seconds between progress log lines when stderr is not a
    /// terminal (default [`DEFAULT_LOG_PROGRESS_SECONDS`]).
    pub log_progress: Option<std::time::Duration>,
    /// `$KUBECONFIG`, when it names an existing file: kubectl's convention makes it the
    /// target after `--kubeconfig` and before the profile's target (`local` or `kube`).
    pub kubeconfig_env: Option<String>,
    /// `--webhook-host`: where kube-apiserver reaches the tool's webhooks (wins over
    /// `webhooks.host`).
    pub webhook_host: Option<String>,
}
