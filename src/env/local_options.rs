//! What the local environment is asked to start ([`LocalOptions`]) and what it started
//! ([`LocalInfo`], kept in the state directory's `state.json`).

use super::assets::{self, Version};
use super::process;
use super::EnvError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to start the local environment (from the profile's `local:` section or flags).
#[derive(Clone, Debug, Default)]
pub struct LocalOptions {
    /// Where state, logs and the kubeconfig go.
    pub state_dir: PathBuf,
    /// kube-apiserver `--max-requests-inflight` (server default 400).
    pub max_requests_inflight: Option<u32>,
    /// kube-apiserver `--max-mutating-requests-inflight` (server default 200).
    pub max_mutating_requests_inflight: Option<u32>,
    /// Extra kube-apiserver flags, passed as given (`--flag=value`).
    pub apiserver_extra_args: Vec<String>,
    /// etcd `--quota-backend-bytes` (etcd default 2 GiB).
    pub quota_backend_bytes: Option<u64>,
    /// Extra etcd flags, passed as given.
    pub etcd_extra_args: Vec<String>,
    /// Leave the processes running after the tool exits (`env up --detach`).
    pub detach: bool,
    /// Which kube-apiserver and etcd to run (default: the first found, see [`assets`]).
    pub versions: assets::Wanted,
    /// kube-apiservers on the one etcd, as highly available control planes run them (0 or
    /// 1: one). The kubeconfig names the first; see [`super::replicas`].
    pub apiservers: u32,
    /// Extra ms every fsync of etcd's data directory takes (a FUSE disk, [`super::slow_disk`]).
    pub etcd_fsync_delay_ms: Option<u32>,
    /// The slow disk's backing directory is tmpfs, not the state directory's disk.
    pub etcd_fsync_in_memory: bool,
    /// kube-apiserver's memory cgroup limit and GOMEMLIMIT ([`super::memory_cgroup`]).
    pub apiserver_memory: Option<super::memory_cgroup::MemoryLimit>,
    /// etcd members (1, 3 or 5) started as a cluster, see [`super::etcd_cluster`]; 0: the
    /// single etcd of `etcd.log`.
    pub etcd_members: u32,
    /// Round-trip time added between kube-apiserver and each etcd member and between the
    /// members (a delaying proxy, [`super::delay_proxy`]); needs `etcd_members` >= 1.
    pub etcd_rtt: Option<Duration>,
}

/// What a running local environment looks like from outside (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalInfo {
    /// The state directory.
    pub state_dir: PathBuf,
    /// etcd client URL (`http://127.0.0.1:<port>`).
    pub etcd_endpoint: String,
    /// etcd metrics URL.
    pub etcd_metrics_url: String,
    /// kube-apiserver URL (`https://127.0.0.1:<port>`).
    pub apiserver_url: String,
    /// Every kube-apiserver's URL, the first being `apiserver_url` (`local.apiservers`).
    #[serde(default)]
    pub apiserver_urls: Vec<String>,
    /// The kubeconfig written for this environment.
    pub kubeconfig: PathBuf,
    /// kube-apiserver version.
    pub apiserver_version: Version,
    /// etcd version.
    pub etcd_version: Version,
    /// etcd pid.
    pub etcd_pid: u32,
    /// kube-apiserver pid.
    pub apiserver_pid: u32,
    /// Whether the processes outlive the tool.
    pub detached: bool,
    /// etcd's quota in bytes, as started.
    pub quota_backend_bytes: u64,
    /// The delay of every fsync of etcd's data directory (ms), when it is a slow disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_fsync_delay_ms: Option<u32>,
    /// The members of an etcd cluster (`local.etcd_members`); empty: the single etcd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etcd_members: Vec<super::etcd_cluster::EtcdMemberInfo>,
    /// The round-trip time added in front of every member (`local.etcd_rtt_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_rtt_ms: Option<f64>,
}

impl LocalInfo {
    /// Reads `state.json` from a state directory.
    pub fn read(state_dir: &Path) -> Result<LocalInfo, EnvError> {
        let p = state_dir.join("state.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|_| EnvError::NotRunning(state_dir.to_path_buf()))?;
        serde_json::from_str(&text)
            .map_err(|e| EnvError::Start(format!("{}: unreadable: {e}", p.display())))
    }

    /// True when both processes of this environment are alive.
    pub fn processes_alive(&self) -> bool {
        process::pid_alive_as(self.etcd_pid, "etcd")
            && process::pid_alive_as(self.apiserver_pid, "kube-apiserver")
    }

    /// kube-apiserver's `--etcd-servers`: every member (through its delay proxy), or the
    /// single etcd.
    pub fn apiserver_etcd_servers(&self) -> String {
        super::etcd_cluster::etcd_servers(&self.etcd_members)
            .unwrap_or_else(|| self.etcd_endpoint.clone())
    }
}
