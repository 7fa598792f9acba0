//! `capi_controllers:` the real Cluster API managers as the load, as written in the profile
//! and validated into a [`CapiControllersPlan`].
//!
//! Instead of the tool's own model of a controller, Cluster API's own managers (core,
//! kubeadm control plane, kubeadm bootstrap) and CAPD with its in-memory backend run against
//! the local kube-apiserver; the tool creates the fleet the way a user does (a ClusterClass
//! per namespace, Clusters with `spec.topology`) and measures what the managers ask of the
//! management cluster. `fleet.clusters` and `fleet.clusters_per_namespace` size the fleet.

use super::ProfileError;
use serde::Deserialize;
use std::time::Duration;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// `capi_controllers:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapiControllersSection {
    /// The Cluster API release whose managers run (built by `scripts/setup.sh --capi`;
    /// default v1.14.2).
    pub version: Option<String>,
    /// Clusters created per minute (default 0: all at once, as fast as the client allows).
    pub clusters_per_minute: Option<f64>,
    /// Control-plane machines per cluster (default 1).
    pub control_plane_machines: Option<u64>,
    /// Worker machines per cluster, in one MachineDeployment (default 1).
    pub worker_machines: Option<u64>,
    /// The workload clusters' Kubernetes version (default v1.35.0).
    pub kubernetes_version: Option<String>,
    /// After every cluster is Available, add this many workers per cluster and time them
    /// (default 0: no scale-up step).
    pub scale_up_workers: Option<u64>,
    /// After provisioning (and the scale-up), upgrade every cluster to this Kubernetes
    /// version through `spec.topology.version` and time the rolling replacement of every
    /// machine (default: no upgrade step).
    pub upgrade_to: Option<String>,
    /// Seconds to watch the managers with nothing to do once the fleet is provisioned
    /// (default 30).
    pub idle_seconds: Option<u64>,
    /// Seconds the fleet may take to become Available before the run gives up (default 600).
    pub provision_timeout_seconds: Option<u64>,
    /// Record every request the apiserver serves in an audit log (Metadata level) and count
    /// the managers' calls from it as the server saw them (default true).
    pub audit: Option<bool>,
    /// Delete the fleet at the end and wait for the managers to take it down (default true).
    pub delete: Option<bool>,
    /// The managers' flags.
    #[serde(default)]
    pub managers: ManagersSection,
}

/// `capi_controllers.managers:` flags every manager gets.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagersSection {
    /// `--kube-api-qps` (default 20, the value of Cluster API v1.5 to v1.12; v1.13 raised it
    /// to 100).
    pub kube_api_qps: Option<f64>,
    /// `--kube-api-burst` (default 30; 200 from v1.13).
    pub kube_api_burst: Option<u64>,
    /// Every `--*-concurrency` flag of every manager's reconcilers (default: the release's
    /// own defaults, 10 up to v1.12 and 50 or 100 from v1.13).
    pub concurrency: Option<u64>,
    /// `--sync-period` in seconds (default 600, the managers' own).
    pub sync_period_seconds: Option<u64>,
    /// `--feature-gates` (default `ClusterTopology=true`, which the fleet's topology Clusters
    /// need).
    pub feature_gates: Option<String>,
    /// Each manager authenticates as its own ServiceAccount (bound to cluster-admin), and so
    /// is subject to API Priority and Fairness like a real deployment (`service_account`,
    /// default), or as the local environment's admin (`admin`: `system:masters`, never
    /// throttled by the server).
    pub identity: Option<ManagerIdentity>,
}

/// Who the managers are to the apiserver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerIdentity {
    /// A ServiceAccount per manager (APF flow `service-accounts`, priority `workload-low`).
    #[default]
    ServiceAccount,
    /// The admin identity (`system:masters`: APF-exempt).
    Admin,
}

/// The validated section.
#[derive(Clone, Debug, PartialEq)]
pub struct CapiControllersPlan {
    /// Cluster API release.
    pub version: String,
    /// Clusters created per minute (None: all at once).
    pub clusters_per_minute: Option<f64>,
    /// Control-plane machines per cluster.
    pub control_plane_machines: u64,
    /// Workers per cluster.
    pub worker_machines: u64,
    /// Workload Kubernetes version.
    pub kubernetes_version: String,
    /// Workers added per cluster after provisioning.
    pub scale_up_workers: u64,
    /// The Kubernetes version of the upgrade step.
    pub upgrade_to: Option<String>,
    /// The idle window.
    pub idle: Duration,
    /// Provisioning deadline.
    pub provision_timeout: Duration,
    /// Audit log on.
    pub audit: bool,
    /// Delete the fleet at the end.
    pub delete: bool,
    /// Managers' flags.
    pub managers: ManagersPlan,
}

/// The managers' validated flags.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagersPlan {
    /// `--kube-api-qps`.
    pub kube_api_qps: f64,
    /// `--kube-api-burst`.
    pub kube_api_burst: u64,
    /// Every reconciler's concurrency (None: the release's defaults).
    pub concurrency: Option<u64>,
    /// `--sync-period`.
    pub sync_period: Duration,
    /// `--feature-gates`.
    pub feature_gates: String,
    /// Identity.
    pub identity: ManagerIdentity,
}

fn version_like(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Validates `capi_controllers:` (None when the profile has no such section).
pub(super) fn plan(
    s: Option<&CapiControllersSection>,
    err: Err,
) -> Result<Option<CapiControllersPlan>, ProfileError> {
    let Some(s) = s else { return Ok(None) };
    let version = s.version.clone().unwrap_or_else(|| "v1.14.2".into());
    if !version_like(&version) {
        return Err(err(
            "capi_controllers.version",
            format!("'{version}' is not a release like v1.14.2"),
        ));
    }
    let kubernetes_version = s
        .kubernetes_version
        .clone()
        .unwrap_or_else(|| "v1.35.0".into());
    if !version_like(&kubernetes_version) {
        return Err(err(
            "capi_controllers.kubernetes_version",
            format!("'{kubernetes_version}' is not a version like v1.35.0"),
        ));
    }
    let clusters_per_minute = match s.clusters_per_minute {
        None => None,
        Some(0.0) => None,
        Some(r) if r.is_finite() && r > 0.0 && r <= 100_000.0 => Some(r),
        Some(r) => {
            return Err(err(
                "capi_controllers.clusters_per_minute",
                format!(
                    "{r} is not allowed: use a rate > 0 (at most 100000), or 0 for all at once"
                ),
            ))
        }
    };
    let cp = super::fields::positive(
        err,
        "capi_controllers.control_plane_machines",
        s.control_plane_machines,
        1,
        7,
    )?;
    if cp % 2 == 0 {
        return Err(err(
            "capi_controllers.control_plane_machines",
            format!("{cp} is even: KubeadmControlPlane with stacked etcd accepts only odd replica counts"),
        ));
    }
    let worker_machines = s.worker_machines.unwrap_or(1);
    if worker_machines > 100 {
        return Err(err(
            "capi_controllers.worker_machines",
            format!("{worker_machines} is too large (at most 100)"),
        ));
    }
    let scale_up_workers = s.scale_up_workers.unwrap_or(0);
    if scale_up_workers > 100 {
        return Err(err(
            "capi_controllers.scale_up_workers",
            format!("{scale_up_workers} is too large (at most 100)"),
        ));
    }
    let upgrade_to = s.upgrade_to.clone();
    if let Some(u) = &upgrade_to {
        if !version_like(u) {
            return Err(err(
                "capi_controllers.upgrade_to",
                format!("'{u}' is not a version like v1.35.1"),
            ));
        }
        if *u == kubernetes_version {
            return Err(err(
                "capi_controllers.upgrade_to",
                format!("{u} is the fleet's version already (capi_controllers.kubernetes_version)"),
            ));
        }
    }
    let idle = s.idle_seconds.unwrap_or(30);
    if idle > 86_400 {
        return Err(err(
            "capi_controllers.idle_seconds",
            format!("{idle} is too large (at most 86400)"),
        ));
    }
    let timeout = super::fields::positive(
        err,
        "capi_controllers.provision_timeout_seconds",
        s.provision_timeout_seconds,
        600,
        86_400,
    )?;
    let m = &s.managers;
    let qps = m.kube_api_qps.unwrap_or(20.0);
    if !(qps.is_finite() && qps > 0.0 && qps <= 100_000.0) {
        return Err(err(
            "capi_controllers.managers.kube_api_qps",
            format!("{qps} is not allowed: use a rate > 0 (at most 100000)"),
        ));
    }
    let burst = super::fields::positive(
        err,
        "capi_controllers.managers.kube_api_burst",
        m.kube_api_burst,
        30,
        1_000_000,
    )?;
    let concurrency = match m.concurrency {
        None => None,
        Some(c) => Some(super::fields::positive(
            err,
            "capi_controllers.managers.concurrency",
            Some(c),
            1,
            10_000,
        )?),
    };
    let sync = super::fields::positive(
        err,
        "capi_controllers.managers.sync_period_seconds",
        m.sync_period_seconds,
        600,
        86_400,
    )?;
    let feature_gates = m
        .feature_gates
        .clone()
        .unwrap_or_else(|| "ClusterTopology=true".into());
    if feature_gates.split(',').any(|g| {
        g.split_once('=')
            .is_none_or(|(k, v)| k.trim().is_empty() || !matches!(v.trim(), "true" | "false"))
    }) {
        return Err(err(
            "capi_controllers.managers.feature_gates",
            format!("'{feature_gates}' is not a list like Gate=true,Other=false"),
        ));
    }
    Ok(Some(CapiControllersPlan {
        version,
        clusters_per_minute,
        control_plane_machines: cp,
        worker_machines,
        kubernetes_version,
        scale_up_workers,
        upgrade_to,
        idle: Duration::from_secs(idle),
        provision_timeout: Duration::from_secs(timeout),
        audit: s.audit.unwrap_or(true),
        delete: s.delete.unwrap_or(true),
        managers: ManagersPlan {
            kube_api_qps: qps,
            kube_api_burst: burst,
            concurrency,
            sync_period: Duration::from_secs(sync),
            feature_gates,
            identity: m.identity.unwrap_or_default(),
        },
    }))
}
