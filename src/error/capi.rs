//! What can go wrong with the real Cluster API managers (`capi_controllers:`).

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
