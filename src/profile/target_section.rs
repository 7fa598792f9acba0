//! `target:` and `local:` as written in YAML: where the load goes, and the local
//! environment the tool starts when it goes nowhere else.

use serde::Deserialize;
use std::path::PathBuf;

/// Kind of target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// A local etcd + kube-apiserver started by the tool (default).
    #[default]
    Local,
    /// Any cluster from a kubeconfig (kind, a real management cluster).
    Kube,
    /// A bare etcd, written as kube-apiserver would (default: the local environment's).
    Etcd,
}

/// `target:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// `local` (default) or `kube`.
    #[serde(rename = "type", default)]
    pub kind: TargetType,
    /// Kubeconfig file for `kube` (default: $KUBECONFIG, then ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig (default: its current context).
    pub context: Option<String>,
    /// etcd endpoints for `etcd` (default: the local environment's etcd).
    pub endpoints: Option<Vec<String>>,
    /// CA bundle for an etcd with TLS.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for an etcd with TLS.
    pub cert_file: Option<PathBuf>,
    /// Client key for an etcd with TLS.
    pub key_file: Option<PathBuf>,
}

/// `local:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSection {
    /// Where state, logs and the kubeconfig go (default: a fresh temporary directory).
    pub state_dir: Option<PathBuf>,
    /// kube-apiserver flags.
    #[serde(default)]
    pub apiserver: ApiserverSection,
    /// etcd flags.
    #[serde(default)]
    pub etcd: EtcdSection,
    /// kube-apiserver version to start, `vX.Y.Z` (default: the newest built; see
    /// `scripts/setup.sh --kubernetes`).
    pub kubernetes_version: Option<String>,
    /// etcd version to start, `vX.Y.Z` (default: the newest built).
    pub etcd_version: Option<String>,
    /// kube-apiservers on the one etcd (1-5, default 1), as highly available control
    /// planes run them; the kubeconfig names the first.
    pub apiservers: Option<u64>,
    /// Independent etcd + kube-apiserver pairs to start (1-8, default 1); the fleet is
    /// split over them by namespace, each with its own client pool, metrics and verdicts.
    pub management_clusters: Option<u64>,
    /// Extra ms per fsync of etcd's data directory (0-1000; a FUSE disk, docs/slow-disk-and-memory-limit.md).
    pub etcd_fsync_delay_ms: Option<u64>,
    /// What the slow disk passes through to: `disk` (default) or `memory` (tmpfs).
    pub etcd_fsync_backing: Option<super::constraints::FsyncBacking>,
    /// kube-apiserver's memory cgroup limit: bytes or a quantity like `512Mi`.
    pub apiserver_memory_limit: Option<super::constraints::ByteQuantity>,
    /// `GOMEMLIMIT` for kube-apiserver (at most `apiserver_memory_limit`).
    pub apiserver_gomemlimit: Option<super::constraints::ByteQuantity>,
    /// etcd members started as a cluster on loopback (1, 3 or 5; default: one etcd).
    pub etcd_members: Option<u64>,
    /// Round-trip time (ms) added between kube-apiserver and each etcd member and between
    /// the members, by a delaying proxy.
    pub etcd_rtt_ms: Option<f64>,
}

/// `local.apiserver:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiserverSection {
    /// `--max-requests-inflight` (server default 400).
    pub max_requests_inflight: Option<u64>,
    /// `--max-mutating-requests-inflight` (server default 200).
    pub max_mutating_requests_inflight: Option<u64>,
    /// More flags, each `--name=value`.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

/// `local.etcd:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSection {
    /// `--quota-backend-bytes` (default 2 GiB).
    pub quota_backend_bytes: Option<u64>,
    /// More flags, each `--name=value`.
    #[serde(default)]
    pub extra_args: Vec<String>,
}
