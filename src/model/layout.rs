//! Where each object of a cluster stands in its sequence (the order the tool creates
//! them in), from the fleet's shape.

use super::spec::FleetSpec;

/// What sits at one position of a cluster's sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Cluster,
    InfraCluster,
    ControlPlane,
    /// Position in `FleetSpec::cluster_secrets`.
    ClusterSecret(usize),
    MachineDeployment(u32),
    MachineSet(u32),
    /// 0 = the control plane's, `1 + i` = MachineDeployment `i`'s.
    MachineHealthCheck(u32),
    MachinePool(u32),
    PoolConfig(u32),
    InfraMachinePool(u32),
    PoolSecret(u32),
    Machine(u64),
    KubeadmConfig(u64),
    InfraMachine(u64),
    BootstrapSecret(u64),
}

/// Sizes of a cluster's sequence: Cluster, InfraCluster, KubeadmControlPlane, the cluster
/// Secrets, (MachineDeployment, MachineSet) per deployment, the MachineHealthChecks,
/// (MachinePool, KubeadmConfig, InfraMachinePool, bootstrap Secret) per pool, then
/// (Machine, KubeadmConfig, InfraMachine, bootstrap Secret) per machine, control plane
/// first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub secrets: u64,
    pub mds: u64,
    pub control_plane: u64,
    pub workers_per_md: u64,
    pub health_checks: u64,
    pub pools: u64,
}

const HEAD: u64 = 3;

impl Layout {
    pub(crate) fn new(spec: &FleetSpec) -> Layout {
        Layout {
            secrets: spec.cluster_secrets.len() as u64,
            mds: spec.machine_deployments.into(),
            control_plane: spec.control_plane_replicas.into(),
            workers_per_md: spec.workers_per_machine_deployment.into(),
            health_checks: spec.health_checks_per_cluster(),
            pools: spec.machine_pools.into(),
        }
    }

    pub(crate) fn machines(&self) -> u64 {
        self.control_plane + self.mds * self.workers_per_md
    }

    fn health_checks_start(&self) -> u64 {
        HEAD + self.secrets + 2 * self.mds
    }

    fn pools_start(&self) -> u64 {
        self.health_checks_start() + self.health_checks
    }

    fn machines_start(&self) -> u64 {
        self.pools_start() + 4 * self.pools
    }

    pub(crate) fn total(&self) -> u64 {
        self.machines_start() + 4 * self.machines()
    }

    /// The slot at `index`, or None past the end.
    pub(crate) fn slot(&self, index: u64) -> Option<Slot> {
        Some(match index {
            0 => Slot::Cluster,
            1 => Slot::InfraCluster,
            2 => Slot::ControlPlane,
            i if i < HEAD + self.secrets => Slot::ClusterSecret((i - HEAD) as usize),
            i if i < self.health_checks_start() => {
                let j = i - HEAD - self.secrets;
                if j.is_multiple_of(2) {
                    Slot::MachineDeployment((j / 2) as u32)
                } else {
                    Slot::MachineSet((j / 2) as u32)
                }
            }
            i if i < self.pools_start() => {
                Slot::MachineHealthCheck((i - self.health_checks_start()) as u32)
            }
            i if i < self.machines_start() => {
                let j = i - self.pools_start();
                let p = (j / 4) as u32;
                match j % 4 {
                    0 => Slot::MachinePool(p),
                    1 => Slot::PoolConfig(p),
                    2 => Slot::InfraMachinePool(p),
                    _ => Slot::PoolSecret(p),
                }
            }
            i if i < self.total() => {
                let j = i - self.machines_start();
                let m = j / 4;
                match j % 4 {
                    0 => Slot::Machine(m),
                    1 => Slot::KubeadmConfig(m),
                    2 => Slot::InfraMachine(m),
                    _ => Slot::BootstrapSecret(m),
                }
            }
            _ => return None,
        })
    }

    /// The index of `slot` (inverse of [`Layout::slot`]).
    pub(crate) fn index(&self, slot: Slot) -> u64 {
        let md = |i: u32| HEAD + self.secrets + 2 * u64::from(i);
        let m = |m: u64| self.machines_start() + 4 * m;
        let p = |p: u32| self.pools_start() + 4 * u64::from(p);
        match slot {
            Slot::Cluster => 0,
            Slot::InfraCluster => 1,
            Slot::ControlPlane => 2,
            Slot::ClusterSecret(i) => HEAD + i as u64,
            Slot::MachineDeployment(i) => md(i),
            Slot::MachineSet(i) => md(i) + 1,
            Slot::MachineHealthCheck(i) => self.health_checks_start() + u64::from(i),
            Slot::MachinePool(i) => p(i),
            Slot::PoolConfig(i) => p(i) + 1,
            Slot::InfraMachinePool(i) => p(i) + 2,
            Slot::PoolSecret(i) => p(i) + 3,
            Slot::Machine(i) => m(i),
            Slot::KubeadmConfig(i) => m(i) + 1,
            Slot::InfraMachine(i) => m(i) + 2,
            Slot::BootstrapSecret(i) => m(i) + 3,
        }
    }

    /// MachineDeployment of worker machine `m`, None for control-plane machines.
    pub(crate) fn machine_deployment_of(&self, m: u64) -> Option<u32> {
        (m >= self.control_plane && self.workers_per_md > 0)
            .then(|| ((m - self.control_plane) / self.workers_per_md) as u32)
    }

    /// The owner slots of `slot`, in ownerReferences order (see the module docs of `model`).
    pub(crate) fn owners(&self, slot: Slot, kubeconfig_position: Option<usize>) -> Vec<Slot> {
        match slot {
            Slot::Cluster => vec![],
            Slot::InfraCluster
            | Slot::ControlPlane
            | Slot::MachineDeployment(_)
            | Slot::MachineHealthCheck(_)
            | Slot::MachinePool(_) => vec![Slot::Cluster],
            Slot::PoolConfig(p) | Slot::InfraMachinePool(p) => vec![Slot::MachinePool(p)],
            Slot::PoolSecret(p) => vec![Slot::PoolConfig(p)],
            Slot::ClusterSecret(i) if Some(i) == kubeconfig_position => vec![Slot::Cluster],
            Slot::ClusterSecret(_) => vec![Slot::ControlPlane],
            Slot::MachineSet(i) => vec![Slot::MachineDeployment(i)],
            Slot::Machine(m) => match self.machine_deployment_of(m) {
                Some(md) => vec![Slot::MachineSet(md)],
                None => vec![Slot::ControlPlane],
            },
            Slot::KubeadmConfig(m) | Slot::InfraMachine(m) => vec![Slot::Machine(m)],
            Slot::BootstrapSecret(m) => vec![Slot::KubeadmConfig(m)],
        }
    }
}
