//! Environments the tool runs against. `local` starts a real etcd and kube-apiserver on
//! loopback as child processes so every test and the quickstart have a real target.

pub mod assets;
mod bootstrap;
pub mod capi_crds;
mod constraints;
pub mod delay_proxy;
pub mod etcd_cluster;
mod kubeconfig;
pub mod local;
mod local_options;
pub mod memory_cgroup;
pub mod pki;
pub mod process;
pub mod provider_crds;
pub mod replicas;
pub mod slow_disk;

pub use constraints::ApiserverWatch;
pub use local::{LocalEnv, LocalInfo, LocalOptions};

/// Why the local environment could not be found, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A binary is missing or unusable.
    #[error("{0}")]
    Asset(String),
    /// A process failed to start or become ready.
    #[error("local environment: {0}")]
    Start(String),
    /// A file in the state directory could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `env status`/`env down` found nothing running.
    #[error("no local environment in {0} (start one with `capi-loadgen env up`)")]
    NotRunning(std::path::PathBuf),
}

impl EnvError {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        EnvError::Io {
            path: path.into(),
            source,
        }
    }
}
