//! What a validated profile becomes: the [`RunPlan`] and its parts (target, client,
//! observation, watch), and the limits validation holds profiles to.

use super::observe::ObserveEtcd;
use super::types::*;
use crate::env::LocalOptions;
use crate::model::{FleetSpec, Kind};
use std::path::PathBuf;
use std::time::Duration;

/// etcd's default request size limit (`--max-request-bytes`, 1.5 MiB): no object may exceed it.
pub const ETCD_MAX_REQUEST_BYTES: u64 = 1_572_864;
/// The most objects one run may plan (keeps counters and names far from overflow).
pub const MAX_TOTAL_OBJECTS: u64 = 100_000_000_000;

/// Where the run writes.
#[derive(Clone, Debug)]
pub enum TargetPlan {
    /// Start (or reuse) a local etcd + kube-apiserver.
    Local(LocalOptions),
    /// A bare etcd written as kube-apiserver would.
    Etcd {
        /// Endpoints; empty = start the local environment and use its etcd.
        endpoints: Vec<String>,
        /// TLS client settings.
        tls: Option<crate::backend::etcd::EtcdTls>,
        /// The local environment to start when `endpoints` is empty.
        local: LocalOptions,
        /// Endpoints off loopback the safety guard lets through.
        allow: Vec<String>,
    },
    /// An existing cluster through a kubeconfig.
    Kube {
        /// Kubeconfig file (None: $KUBECONFIG, then ~/.kube/config).
        kubeconfig: Option<PathBuf>,
        /// Context (None: the current context).
        context: Option<String>,
        /// Contexts the safety guard lets through besides kind-* and the local environment.
        allow: Vec<String>,
        /// Why this kubeconfig, when `$KUBECONFIG` chose it over the profile's target (the
        /// run says so in its first line).
        chosen: Option<String>,
    },
}

/// client-go's retry limit for 429 and 5xx answers with Retry-After (`maxRetries` in
/// client-go's `rest/with_retry.go`): the default of `client.max_retries`.
pub const CLIENT_GO_MAX_RETRIES: u32 = 10;

/// The client pool, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientPlan {
    /// Number of clients.
    pub pool_size: usize,
    /// Requests/s per client; None = unlimited.
    pub qps: Option<f64>,
    /// Bucket size per client.
    pub burst: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Preset the values came from, if any.
    pub preset: Option<String>,
    /// Retries on 429 / 5xx with Retry-After (client-go: 10).
    pub max_retries: u32,
}

/// Scraping and health verdicts.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservePlan {
    /// Seconds between scrapes; None = not scraping.
    pub interval: Option<Duration>,
    /// etcd quota for the db-size verdict (overrides the local environment's).
    pub etcd_quota_bytes: Option<u64>,
    /// Threshold overrides.
    pub thresholds: std::collections::BTreeMap<String, crate::thresholds::Thresholds>,
    /// Idle time after the load before kube-apiserver's end memory is sampled.
    pub memory_settle: Duration,
    /// kube-apiserver memory limits to size against, bytes, ascending.
    pub apiserver_memory_limits_bytes: Vec<u64>,
    /// etcd's `/metrics` URL given by the user (wins over the one the target knows).
    pub etcd_metrics_url: Option<String>,
    /// etcd's client endpoints given by the user, for `Status`.
    pub etcd: Option<ObserveEtcd>,
    /// Scrape every kube-apiserver instance directly when they can be discovered.
    pub apiserver_instances: bool,
    /// The instances named in the profile (instead of discovering them).
    pub apiserver_urls: Vec<String>,
    /// A Prometheus to read the series from instead of scraping.
    pub prometheus: Option<super::observe::ObservePrometheus>,
}

/// Default `observe.memory_settle_seconds`.
pub const DEFAULT_MEMORY_SETTLE_SECONDS: f64 = 2.0;
/// Default `observe.apiserver_memory_limits_bytes`: 8 GiB and 16 GiB, common control-plane
/// node sizes.
pub const DEFAULT_APISERVER_MEMORY_LIMITS: [u64; 2] = [8 << 30, 16 << 30];

/// Watches held for the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchPlan {
    /// Watches per kind.
    pub count: usize,
    /// Kinds watched.
    pub kinds: Vec<Kind>,
    /// One namespace per watch instead of all namespaces.
    pub per_namespace: bool,
}

/// A validated run: everything the engine needs, nothing left to check.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// The profile file.
    pub source: PathBuf,
    /// Profile name.
    pub name: String,
    /// Free text from the profile.
    pub description: Option<String>,
    /// The run id (labels every object; names the results folder).
    pub run_id: String,
    /// The fleet.
    pub fleet: FleetSpec,
    /// Install the CRDs first.
    pub install_crds: bool,
    /// `fleet.provider_api_version` was not set: a run against CRDs it does not install
    /// asks the target's discovery which provider version to write.
    pub discover_provider_version: bool,
    /// One unmeasured create and delete per kind before the load phases (`fleet.warm_up`).
    pub warm_up: bool,
    /// Where to write.
    pub target: TargetPlan,
    /// Client pool.
    pub client: ClientPlan,
    /// The phases, in order: create, steady, churn, delete.
    pub phases: super::phases::PhasePlans,
    /// Watches held during the run.
    pub watchers: Option<WatchPlan>,
    /// Scraping and verdicts.
    pub observe: ObservePlan,
    /// Where to serve the tool's metrics, and how long after the run.
    pub metrics: Option<(std::net::SocketAddr, Duration)>,
    /// A verdict at least this bad fails the run (`--fail-on`).
    pub fail_on: Option<crate::thresholds::Level>,
    /// More failed requests than this percentage of those sent fail a completed run
    /// (`--max-failure-ratio`); None: no limit.
    pub max_failure_ratio: Option<f64>,
    /// Results directory.
    pub out_dir: PathBuf,
    /// How `sweep` varies this profile.
    pub sweep: super::sweep_section::SweepPlan,
    /// What the run does when the target fails.
    pub on_target_failure: super::OnTargetFailure,
    /// Local environments to split the fleet over (`local.management_clusters`).
    pub management_clusters: u64,
    /// What the run prints on stdout.
    pub output: Output,
    /// Where to write the verdicts as JUnit XML.
    pub junit: Option<PathBuf>,
    /// Seconds between progress log lines when stderr is not a terminal.
    pub log_progress: Duration,
    /// Simulated admission webhooks.
    pub webhooks: Option<super::WebhookPlan>,
    /// The real Cluster API managers as the load (`capi_controllers:`).
    pub capi_controllers: Option<super::capi_controllers::CapiControllersPlan>,
    /// etcd faults during the run (`faults:`), in the order written.
    pub faults: Vec<super::faults::FaultPlan>,
}

/// A fresh run id: `YYYYmmdd-HHMMSS-xxxx` (UTC, 4 random hex digits).
pub fn new_run_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    format!("{now}-{:04x}", rand::rng().random::<u16>())
}
