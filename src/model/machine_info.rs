//! What the four objects of one machine (Machine, KubeadmConfig, infrastructure machine,
//! bootstrap Secret) share: names and facts. Built by `machine.rs` (`MachineInfo::new`),
//! read by every body that belongs to a machine.

use serde_json::Value;

use super::kinds::Kind;
use super::kubeadm::ConfigVariant;
use super::meta::ClusterCtx;

/// Names and facts shared by the four objects of one machine.
#[derive(Clone, Debug)]
pub(crate) struct MachineInfo {
    /// Machine ordinal within the cluster (control plane first).
    pub m: u64,
    /// MachineDeployment of a worker, None for the control plane.
    pub md: Option<u32>,
    pub variant: ConfigVariant,
    pub machine_name: String,
    /// Name of the KubeadmConfig and of its bootstrap Secret.
    pub config_name: String,
    pub infra_name: String,
    /// Name of the template the infrastructure machine was cloned from.
    pub template_name: String,
    /// Name of the MachineSet of a worker.
    pub ms_name: Option<String>,
    /// Primary InternalIP.
    pub ip: String,
    /// Seconds after the cluster's creation at which the Machine was created.
    pub created: u64,
}

impl MachineInfo {
    /// True for control-plane machines.
    pub(crate) fn is_control_plane(&self) -> bool {
        self.md.is_none()
    }

    /// The ownerReference every object of this machine but the Machine points at.
    pub(crate) fn machine_owner(&self, ctx: &ClusterCtx) -> Value {
        ctx.owner_ref(Kind::Machine, &self.machine_name)
    }

    /// Time (RFC 3339) at which the machine became ready.
    pub(crate) fn ready_time(&self, ctx: &ClusterCtx) -> String {
        ctx.time(self.created + 420)
    }
}
