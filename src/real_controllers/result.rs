//! What a run with the real managers found (`capi-controllers.json`, schema
//! `results/capi-controllers.schema.json`).

use super::audit::{AuditSummary, BusiestKind};
use super::metrics::StepCalls;
use super::provision::{Creates, FleetState};
use serde::Serialize;
use std::collections::BTreeMap;

/// One step of the run (startup, provision, scale_up, idle, delete) and what each manager did.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Step {
    /// `startup`, `provision`, `scale_up`, `upgrade`, `idle` or `delete`.
    pub name: String,
    /// Wall time.
    pub seconds: f64,
    /// What each manager did, by manager name.
    pub managers: BTreeMap<String, StepCalls>,
    /// kube-apiserver's CPU seconds during the step.
    pub apiserver_cpu_seconds: Option<f64>,
}

/// How the run ended.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub enum CapiStatus {
    /// Every step ran.
    #[default]
    Completed,
    /// The fleet was not provisioned (or taken down) in time.
    TimedOut,
    /// Interrupted (SIGINT/SIGTERM).
    Interrupted,
    /// A manager died.
    ManagerExited,
}

/// The managers' flags, as run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Flags {
    /// `--kube-api-qps`.
    pub kube_api_qps: f64,
    /// `--kube-api-burst`.
    pub kube_api_burst: u64,
    /// Every reconciler's concurrency (None: the release's defaults).
    pub concurrency: Option<u64>,
    /// `--sync-period` (s).
    pub sync_period_seconds: u64,
    /// `--feature-gates`.
    pub feature_gates: String,
    /// `service_account` or `admin`.
    pub identity: String,
}

/// The fleet as asked for.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct FleetAsked {
    /// Clusters.
    pub clusters: u64,
    /// Namespaces (one ClusterClass each).
    pub namespaces: u64,
    /// Control-plane machines per cluster.
    pub control_plane_machines: u64,
    /// Workers per cluster.
    pub worker_machines: u64,
    /// Workers added per cluster after provisioning.
    pub scale_up_workers: u64,
    /// The upgrade step's Kubernetes version.
    pub upgrade_to: Option<String>,
    /// Clusters created per minute (None: all at once).
    pub clusters_per_minute: Option<f64>,
    /// The workload clusters' Kubernetes version.
    pub kubernetes_version: String,
}

/// The apiserver's account of one manager, beside the manager's own, over the whole run
/// (start to just before the managers stop).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CallCheck {
    /// Management calls the manager's client counted.
    pub client: u64,
    /// Requests the apiserver's audit log holds from the manager's identity.
    pub apiserver: u64,
}

/// A run with the real managers.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CapiRunResult {
    /// The run id (labels the fleet; names the results folder).
    pub run_id: String,
    /// The profile's name.
    pub profile: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// How it ended.
    pub status: CapiStatus,
    /// The Cluster API release of the managers.
    pub capi_version: String,
    /// kube-apiserver's version.
    pub server_version: String,
    /// etcd's version.
    pub etcd_version: Option<String>,
    /// The fleet.
    pub fleet: FleetAsked,
    /// The managers' flags.
    pub flags: Flags,
    /// Creating the Clusters.
    pub creates: Creates,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The fleet once provisioned (or when the run gave up waiting).
    pub provisioned: FleetState,
    /// The fleet after the scale-up step (if any).
    pub scaled: Option<FleetState>,
    /// The fleet after the upgrade step (if any).
    pub upgraded: Option<FleetState>,
    /// Management calls per machine replaced by the upgrade, by manager and in all.
    pub calls_per_upgraded_machine: Option<BTreeMap<String, f64>>,
    /// Management calls per cluster provisioned, by manager and in all.
    pub calls_per_cluster: BTreeMap<String, f64>,
    /// Management calls per added worker, by manager and in all (scale-up step).
    pub calls_per_added_machine: Option<BTreeMap<String, f64>>,
    /// Management calls per reconcile while provisioning, by manager.
    pub calls_per_reconcile: BTreeMap<String, Option<f64>>,
    /// Management calls in the idle window, by manager.
    pub idle_calls: BTreeMap<String, u64>,
    /// Each manager's peak resident memory (bytes).
    pub manager_peak_rss_bytes: BTreeMap<String, u64>,
    /// kube-apiserver's resident memory at the end of provisioning (bytes).
    pub apiserver_rss_bytes: Option<u64>,
    /// etcd keys + values of the run's namespaces per cluster, once provisioned (bytes).
    pub etcd_bytes_per_cluster: Option<f64>,
    /// The audit log's counts (with `audit: true`).
    pub audit: Option<AuditSummary>,
    /// Per manager: its client's count against the apiserver's, over the whole run.
    pub call_check: BTreeMap<String, CallCheck>,
    /// Per manager, the resource it called most per cluster while provisioning (audit log):
    /// controller-runtime gives every resource kind its own client and so its own token
    /// bucket, so this kind's calls are what `--kube-api-qps` limits first.
    pub busiest_kind: BTreeMap<String, BusiestKind>,
    /// What the run says about itself (a timeout, a manager that died, what was left).
    pub notes: Vec<String>,
}
