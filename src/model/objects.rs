//! The order of a cluster's objects and the lazy iterator that builds them.

use serde_json::{json, Map};

use super::kinds::Kind;
use super::layout::{Layout, Slot};
use super::machine_info::MachineInfo;
use super::meta::{with_padding, ClusterCtx};
use super::spec::{FleetSpec, Object};
use super::{capi, machine, names, pools, providers, secrets};
use super::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL};

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
        ctx: super::kubeadm::cluster_ctx(spec, cluster),
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
