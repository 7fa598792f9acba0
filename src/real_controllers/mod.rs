//! The real Cluster API managers as the load (`capi_controllers:` in a profile).
//!
//! Cluster API's own managers (core, kubeadm control plane, kubeadm bootstrap) and CAPD with
//! its in-memory backend, built by `scripts/setup.sh --capi`, run against the local
//! kube-apiserver. The tool installs the release's CRDs and webhook configurations pointed at
//! the managers on 127.0.0.1 (certificates from its own CA), starts the managers with the
//! profile's flags, each as its own ServiceAccount, creates the fleet the way a user does
//! (a ClusterClass per namespace and Clusters with `spec.topology`, from CAPD's in-memory
//! templates), and measures what the managers ask of the management cluster: calls by
//! manager, verb and resource (their own client metrics and the apiserver's audit log),
//! reconciles, errors and requeues, work queues, client-side throttling, CPU and memory, and
//! the provisioning latency users ask for (Cluster created → control plane initialized →
//! Available; Machine created → Running). Then it deletes the fleet and stops everything.
//!
//! `docs/real-controllers.md` explains the measurements and what they mean for the model.

mod apply;
mod audit;
mod identity;
mod managers;
mod manifests;
mod metrics;
mod provision;
mod render;
mod result;
mod run;
mod sweep;
mod teardown;

pub use result::CapiRunResult;

/// What a run of `plan` will do, for `run --dry-run`: the fleet, the managers and their flags,
/// and whether the release is built.
pub fn describe(
    plan: &crate::profile::RunPlan,
    c: &crate::profile::capi_controllers::CapiControllersPlan,
) -> String {
    let built = match manifests::check_built(&c.version) {
        Ok(dir) => format!("built in {}", dir.display()),
        Err(e) => e.to_string(),
    };
    let m = &c.managers;
    format!(
        "profile {} ({}): run id {}\nreal Cluster API {} managers ({built}): {}\nflags: --kube-api-qps {} --kube-api-burst {} {} --sync-period {}s --feature-gates {} as {:?}\nfleet: {} topology clusters from CAPD's in-memory ClusterClass in {} namespaces, {} control-plane + {} worker machines each, Kubernetes {}, created {}; then {} added workers per cluster, {}, {} s idle, {}",
        plan.name,
        plan.source.display(),
        plan.run_id,
        c.version,
        manifests::PROVIDERS.map(|p| p.binary).join(", "),
        m.kube_api_qps,
        m.kube_api_burst,
        m.concurrency.map_or_else(|| "(reconciler concurrency: the release's defaults)".into(), |n| format!("--*-concurrency {n}")),
        m.sync_period.as_secs(),
        m.feature_gates,
        m.identity,
        plan.fleet.clusters,
        plan.fleet.namespace_count(),
        c.control_plane_machines,
        c.worker_machines,
        c.kubernetes_version,
        c.clusters_per_minute.map_or_else(|| "all at once".into(), |r| format!("{r} per minute")),
        c.scale_up_workers,
        c.upgrade_to.as_ref().map_or_else(|| "no upgrade".into(), |u| format!("an upgrade to {u}")),
        c.idle.as_secs(),
        if c.delete { "then deleted" } else { "then left in place" },
    )
}
pub use run::run;
pub use sweep::{sweep, CapiSweep};

use std::path::PathBuf;

/// What can go wrong with the real managers.
#[derive(Debug, thiserror::Error)]
pub enum CapiError {
    /// `scripts/setup.sh --capi` has not built this release.
    #[error("Cluster API {version} managers are not built ({missing} is missing): run scripts/setup.sh --capi")]
    NotBuilt {
        /// Release.
        version: String,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An upstream manifest or template is not what the tool expects.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The apiserver refused a call the set-up needs.
    #[error("{what}: {source}")]
    Api {
        /// The call.
        what: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A manifest or template object without `apiVersion` and `kind`.
    #[error("object {name} has no apiVersion/kind")]
    NoKind {
        /// Its name.
        name: String,
    },
    /// The apiserver answered a TokenRequest without a token.
    #[error("the TokenRequest for ServiceAccount {sa} returned no token")]
    NoToken {
        /// The ServiceAccount.
        sa: String,
    },
    /// A CRD was not Established in time.
    #[error("CRD {crd} was not Established within {seconds} s")]
    NotEstablished {
        /// The CRD.
        crd: String,
        /// The deadline.
        seconds: u64,
    },
    /// A manager exited or never became ready.
    #[error("{manager} {problem} (log: {})", log.display())]
    Manager {
        /// The manager.
        manager: String,
        /// What happened.
        problem: String,
        /// Its log.
        log: PathBuf,
    },
    /// A port the in-memory backend binds on every interface is taken.
    #[error("port {port} is taken: CAPD's in-memory backend binds {port} (and workload apiservers on 20000-30000) on every interface, so one CAPD runs per machine; stop the other one (another run with capi_controllers, or a CAPD) first")]
    PortTaken {
        /// The port.
        port: u16,
    },
    /// Certificates could not be made.
    #[error("webhook certificates: {0}")]
    Cert(#[from] rcgen::Error),
    /// The run ended before every step did; partial results were written.
    #[error("the run with the real managers ended {status}: partial results written to {}", dir.display())]
    Incomplete {
        /// How it ended.
        status: String,
        /// The results folder.
        dir: PathBuf,
    },
    /// The local environment is needed.
    #[error("capi_controllers runs on the local environment only")]
    NotLocal,
}

impl CapiError {
    /// The exit code: a missing build or a taken port is the environment's; a bad manifest,
    /// a refused call, a dead manager or an unfinished run are the managers' (13).
    pub fn exit_code(&self) -> i32 {
        match self {
            CapiError::NotBuilt { .. } | CapiError::PortTaken { .. } => crate::exit::ENVIRONMENT,
            _ => crate::exit::CONTROLLERS,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> CapiError {
        CapiError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> CapiError {
        let what = what.into();
        move |source| CapiError::Api { what, source }
    }
}
