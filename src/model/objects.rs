//! The order of a cluster's objects and the lazy iterator that builds them.

use serde_json::{json, Map};

use super::kinds::Kind;
use super::machine::MachineInfo;
use super::meta::{with_padding, ClusterCtx};
use super::spec::{FleetSpec, Object};
use super::{capi, machine, names, pools, providers, secrets};
use super::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL};

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

/// The objects of one cluster, built one at a time in creation order (owners before
/// dependents). Holds only the cluster's shared context, so streaming a fleet of any size
/// needs O(1) memory. Also offers random access ([`ClusterObjects::get`]).
#[derive(Clone, Debug)]
pub struct ClusterObjects {
    pub(super) ctx: ClusterCtx,
    pub(super) layout: Layout,
    pub(super) kubeconfig_position: Option<usize>,
    next: u64,
    end: u64,
}

/// The objects of cluster `cluster` (0-based), lazily, in creation order: Cluster,
/// InfraCluster, KubeadmControlPlane, the cluster Secrets, then per MachineDeployment the
/// MachineDeployment and its MachineSet, then per machine (control plane first) Machine,
/// KubeadmConfig, InfraMachine and bootstrap Secret.
pub fn cluster_objects(spec: &FleetSpec, cluster: u64) -> ClusterObjects {
    let layout = Layout::new(spec);
    ClusterObjects {
        ctx: ClusterCtx::new(spec, cluster),
        kubeconfig_position: spec
            .cluster_secrets
            .iter()
            .position(|&s| s == super::ClusterSecret::Kubeconfig),
        next: 0,
        end: layout.total(),
        layout,
    }
}

impl ClusterObjects {
    /// Index of the cluster these objects belong to.
    pub fn cluster(&self) -> u64 {
        self.ctx.cluster
    }

    /// Namespace of the cluster.
    pub fn namespace(&self) -> &str {
        &self.ctx.ns
    }

    /// Name of the cluster.
    pub fn cluster_name(&self) -> &str {
        &self.ctx.name
    }

    /// Number of objects in the whole sequence (not only those left).
    pub fn total(&self) -> u64 {
        self.layout.total()
    }

    /// The same sequence without status conditions, for create bodies (the create strips
    /// `status`; controllers write it later): a tenth less work per object.
    pub fn for_create(mut self) -> Self {
        self.ctx.with_conditions = false;
        self
    }

    /// Builds the object at `index` of the sequence, independent of iteration state.
    pub fn get(&self, index: u32) -> Option<Object> {
        self.get_slot(index)
    }

    /// Number of machines (control plane and workers) in the cluster.
    pub fn machines(&self) -> u64 {
        self.layout.machines()
    }

    /// Index of machine `m`'s Machine; its KubeadmConfig, provider machine and bootstrap
    /// Secret follow at the next three indices. None past the last machine.
    pub fn machine_index(&self, m: u64) -> Option<u32> {
        (m < self.layout.machines()).then(|| self.layout.index(Slot::Machine(m)) as u32)
    }

    fn get_slot(&self, index: u32) -> Option<Object> {
        let slot = self.layout.slot(index.into())?;
        Some(self.build(index, slot))
    }

    pub(super) fn machine(&self, m: u64) -> MachineInfo {
        MachineInfo::new(&self.ctx, &self.layout, m)
    }

    fn build(&self, index: u32, slot: Slot) -> Object {
        let ctx = &self.ctx;
        let (kind, name, body) = match slot {
            Slot::Cluster => (Kind::Cluster, ctx.name.clone(), capi::cluster(ctx)),
            Slot::InfraCluster => (
                Kind::InfraCluster,
                ctx.infra_cluster_name.clone(),
                providers::infra_cluster(ctx),
            ),
            Slot::ControlPlane => (
                Kind::KubeadmControlPlane,
                ctx.kcp_name.clone(),
                capi::kubeadm_control_plane(ctx),
            ),
            Slot::ClusterSecret(i) => {
                let which = ctx.spec.cluster_secrets[i];
                let name = format!("{}-{}", ctx.name, which.suffix());
                let body = secrets::cluster_secret(ctx, which, &name);
                (Kind::Secret, name, body)
            }
            Slot::MachineDeployment(i) => (
                Kind::MachineDeployment,
                capi::md_name(ctx, i),
                capi::machine_deployment(ctx, i, self.layout.workers_per_md),
            ),
            Slot::MachineSet(i) => (
                Kind::MachineSet,
                capi::ms_name(ctx, i),
                capi::machine_set(ctx, i, self.layout.workers_per_md),
            ),
            Slot::Machine(m) => {
                let info = self.machine(m);
                let body = machine::machine(ctx, &info);
                (Kind::Machine, info.machine_name, body)
            }
            Slot::KubeadmConfig(m) => {
                let info = self.machine(m);
                let body = machine::kubeadm_config(ctx, &info);
                (Kind::KubeadmConfig, info.config_name, body)
            }
            Slot::InfraMachine(m) => {
                let info = self.machine(m);
                let body = providers::infra_machine(ctx, &info);
                (Kind::InfraMachine, info.infra_name, body)
            }
            Slot::BootstrapSecret(m) => {
                let info = self.machine(m);
                let body = secrets::bootstrap_secret(ctx, &info);
                (Kind::Secret, info.config_name, body)
            }
            Slot::MachineHealthCheck(i) => (
                Kind::MachineHealthCheck,
                pools::health_check_name(ctx, i),
                pools::machine_health_check(ctx, i),
            ),
            Slot::MachinePool(p) => (
                Kind::MachinePool,
                pools::pool_name(ctx, p),
                pools::machine_pool(ctx, p),
            ),
            Slot::PoolConfig(p) => (
                Kind::KubeadmConfig,
                pools::pool_config_name(ctx, p),
                pools::pool_kubeadm_config(ctx, p),
            ),
            Slot::InfraMachinePool(p) => (
                Kind::InfraMachinePool,
                pools::infra_pool_name(ctx, p),
                pools::infra_machine_pool(ctx, p),
            ),
            Slot::PoolSecret(p) => (
                Kind::Secret,
                pools::pool_config_name(ctx, p),
                pools::pool_bootstrap_secret(ctx, p),
            ),
        };
        self.object(index, slot, kind, name, body)
    }

    /// The object at `index` (in `slot`) of `kind` named `name` with `body`: uid and owners.
    pub(super) fn object(
        &self,
        index: u32,
        slot: Slot,
        kind: Kind,
        name: String,
        body: serde_json::Value,
    ) -> Object {
        let ctx = &self.ctx;
        let owners = self
            .layout
            .owners(slot, self.kubeconfig_position)
            .into_iter()
            .map(|s| self.layout.index(s) as u32)
            .collect();
        let uid = if kind == Kind::Secret {
            ctx.secret_uid(&name)
        } else {
            ctx.uid(&name)
        };
        Object {
            index,
            kind,
            api: ctx.api(kind).clone(),
            namespace: Some(ctx.ns.clone()),
            name,
            uid,
            owners,
            body,
        }
    }
}

impl Iterator for ClusterObjects {
    type Item = Object;

    fn next(&mut self) -> Option<Object> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let slot = self.layout.slot(index)?;
        Some(self.build(index as u32, slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Object> {
        self.next = self.next.saturating_add(n as u64).min(self.end);
        self.next()
    }
}

impl ExactSizeIterator for ClusterObjects {}

impl std::iter::FusedIterator for ClusterObjects {}

/// The Namespace object with index `namespace_index` (labelled with the run id and
/// managed-by). Its `index` is 0 and it has no owners.
pub fn namespace_object(spec: &FleetSpec, namespace_index: u64) -> Object {
    let name = spec.namespace_name(namespace_index);
    let mut labels = Map::new();
    labels.insert(RUN_ID_LABEL.into(), spec.run_id.clone().into());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels.insert("kubernetes.io/metadata.name".into(), name.clone().into());
    let annotations = with_padding(spec, Kind::Namespace, &name, Map::new());
    let mut metadata = json!({"name": name, "labels": labels});
    if !annotations.is_empty() {
        metadata["annotations"] = annotations.into();
    }
    let api = spec.api_ref(Kind::Namespace);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    });
    Object {
        index: 0,
        kind: Kind::Namespace,
        api,
        namespace: None,
        uid: names::placeholder_uid(&spec.run_id, "", &name),
        name,
        owners: vec![],
        body,
    }
}

/// Every Namespace object of the fleet, in order (see [`FleetSpec::namespace_count`]).
pub fn namespaces(spec: &FleetSpec) -> impl Iterator<Item = Object> + Send + 'static {
    let spec = spec.clone();
    (0..spec.namespace_count()).map(move |i| namespace_object(&spec, i))
}
