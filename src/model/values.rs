//! What varies between objects of the same shape: the per-object values a byte template
//! (`stored::template`) patches into bytes rendered once per fleet.
//!
//! Objects with the same [`TemplateKey`] have the same structure (the same keys, lists and
//! constants); they differ only in the [`Val`]s listed here, always in the same order for
//! a key, and in their owners' UIDs. The values are the object's names and the names,
//! UIDs, hashes and opaque contents derived from the cluster or machine it belongs to;
//! computing them costs a few small strings, not a `serde_json::Value` tree. Whether a
//! list is complete is not assumed: a template is only used once it reproduced other
//! objects of its key byte for byte, and a test compares every kind with the reference
//! encoder.

use super::kinds::Kind;
use super::layout::Slot;
use super::machine::{ConfigVariant, MachineInfo};
use super::meta::with_padding;
use super::names;
use super::objects::ClusterObjects;
use super::spec::{FleetSpec, Object};
use super::{capi, kubeadm, pools, providers, secrets, PADDING_ANNOTATION};

/// One varying value of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    /// A string, written JSON-escaped in JSON and as is in protobuf.
    Text(String),
    /// Secret data: base64 in JSON, the bytes themselves in protobuf.
    Data(Vec<u8>),
}

/// Which objects share a structure: the position kind (Cluster, MachineSet, ...) and what
/// changes a body's shape inside it (which cluster Secret; a machine's kubeadm variant and
/// failure domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    /// The object's position kind.
    pub kind: Kind,
    /// Shape within the kind (0 when the kind has one shape).
    pub shape: u32,
}

/// An object without its body, the key of its structure and its varying values.
#[derive(Clone, Debug)]
pub struct Templated {
    /// Index, kind, api, namespace, name, uid and owners; `body` is `null`.
    pub object: Object,
    /// The structure the object shares with others.
    pub key: TemplateKey,
    /// The varying values, in the key's order.
    pub values: Vec<Val>,
    /// Placeholder UIDs of the owners (in `object.owners` order), used when no
    /// server-assigned UID is known.
    pub owner_uids: Vec<String>,
}

fn text(s: &str) -> Val {
    Val::Text(s.to_string())
}

fn variant_shape(v: ConfigVariant) -> u32 {
    match v {
        ConfigVariant::ControlPlaneTemplate => 0,
        ConfigVariant::Init => 1,
        ConfigVariant::JoinControlPlane => 2,
        ConfigVariant::Worker => 3,
    }
}

/// The padding annotation's value of `name`, if the spec pads `kind`.
fn padding(spec: &FleetSpec, kind: Kind, name: &str, out: &mut Vec<Val>) {
    let a = with_padding(spec, kind, name, serde_json::Map::new());
    if let Some(p) = a.get(PADDING_ANNOTATION).and_then(|v| v.as_str()) {
        out.push(text(p));
    }
}

impl ClusterObjects {
    /// The key of the object at `index` without building anything (None past the end).
    pub fn template_key(&self, index: u32) -> Option<TemplateKey> {
        let slot = self.layout.slot(index.into())?;
        Some(self.key_of(slot))
    }

    fn key_of(&self, slot: Slot) -> TemplateKey {
        let machine_shape = |m: u64| {
            let variant = match self.layout.machine_deployment_of(m) {
                Some(_) => ConfigVariant::Worker,
                None if m == 0 => ConfigVariant::Init,
                None => ConfigVariant::JoinControlPlane,
            };
            let fd = providers::failure_domain(self.ctx.spec.provider, m).map_or(0, |_| 1 + m % 3);
            variant_shape(variant) * 8 + fd as u32
        };
        let (kind, shape) = match slot {
            Slot::Cluster => (Kind::Cluster, 0),
            Slot::InfraCluster => (Kind::InfraCluster, 0),
            Slot::ControlPlane => (Kind::KubeadmControlPlane, 0),
            Slot::ClusterSecret(i) => (Kind::Secret, 1 + i as u32),
            Slot::MachineDeployment(_) => (Kind::MachineDeployment, 0),
            Slot::MachineSet(_) => (Kind::MachineSet, 0),
            Slot::Machine(m) => (Kind::Machine, machine_shape(m)),
            Slot::KubeadmConfig(m) => (Kind::KubeadmConfig, machine_shape(m)),
            Slot::InfraMachine(m) => (Kind::InfraMachine, machine_shape(m)),
            Slot::BootstrapSecret(m) => (Kind::Secret, 1000 + machine_shape(m)),
            Slot::MachineHealthCheck(i) => (Kind::MachineHealthCheck, u32::from(i > 0)),
            Slot::MachinePool(_) => (Kind::MachinePool, 0),
            Slot::PoolConfig(_) => (Kind::KubeadmConfig, 10_000),
            Slot::InfraMachinePool(_) => (Kind::InfraMachinePool, 0),
            Slot::PoolSecret(_) => (Kind::Secret, 10_000),
        };
        TemplateKey { kind, shape }
    }

    /// The object at `index` as a [`Templated`]: what a byte template needs instead of the
    /// body [`ClusterObjects::get`] builds.
    pub fn templated(&self, index: u32) -> Option<Templated> {
        let slot = self.layout.slot(index.into())?;
        let key = self.key_of(slot);
        let ctx = &self.ctx;
        let spec = &ctx.spec;
        let mut v: Vec<Val> = Vec::with_capacity(16);
        v.push(text(&ctx.ns));
        v.push(text(&ctx.name));
        let (kind, name) = match slot {
            Slot::Cluster => {
                v.extend(
                    [&ctx.kcp_name, &ctx.infra_cluster_name, &ctx.endpoint_host].map(|s| text(s)),
                );
                (Kind::Cluster, ctx.name.clone())
            }
            Slot::InfraCluster => {
                v.extend([&ctx.infra_cluster_name, &ctx.endpoint_host].map(|s| text(s)));
                (Kind::InfraCluster, ctx.infra_cluster_name.clone())
            }
            Slot::ControlPlane => {
                v.push(text(&ctx.kcp_name));
                self.kubeadm_values(&mut v);
                (Kind::KubeadmControlPlane, ctx.kcp_name.clone())
            }
            Slot::ClusterSecret(i) => {
                let which = spec.cluster_secrets[i];
                let name = format!("{}-{}", ctx.name, which.suffix());
                v.push(text(&name));
                v.push(text(&ctx.kcp_name));
                // The data values are opaque (PEM or a kubeconfig): each one is a value.
                for (_, data) in secrets::cluster_secret_data(ctx, which) {
                    v.push(Val::Data(data.into_bytes()));
                }
                (Kind::Secret, name)
            }
            Slot::MachineDeployment(i) => {
                let name = capi::md_name(ctx, i);
                v.push(text(&name));
                if spec.topology {
                    v.push(Val::Text(super::meta::topology_md_name(i)));
                }
                (Kind::MachineDeployment, name)
            }
            Slot::MachineHealthCheck(i) => {
                let name = pools::health_check_name(ctx, i);
                v.push(text(&name));
                v.push(if i == 0 {
                    text(&ctx.kcp_name)
                } else {
                    Val::Text(capi::md_name(ctx, i - 1))
                });
                (Kind::MachineHealthCheck, name)
            }
            Slot::MachinePool(p) => {
                self.pool_values(p, &mut v);
                (Kind::MachinePool, pools::pool_name(ctx, p))
            }
            Slot::PoolConfig(p) => {
                self.pool_values(p, &mut v);
                self.kubeadm_values(&mut v);
                (Kind::KubeadmConfig, pools::pool_config_name(ctx, p))
            }
            Slot::InfraMachinePool(p) => {
                self.pool_values(p, &mut v);
                v.extend(pools::instance_ips(ctx).into_iter().map(Val::Text));
                (Kind::InfraMachinePool, pools::infra_pool_name(ctx, p))
            }
            Slot::PoolSecret(p) => {
                self.pool_values(p, &mut v);
                let size = spec.payload.bootstrap_data_bytes;
                let cloud_init = pools::pool_cloud_init(ctx, p, size);
                v.push(Val::Data(cloud_init.into_bytes()));
                (Kind::Secret, pools::pool_config_name(ctx, p))
            }
            Slot::MachineSet(i) => {
                let name = capi::ms_name(ctx, i);
                v.push(text(&capi::md_name(ctx, i)));
                v.push(text(&name));
                v.push(Val::Text(capi::template_hash(ctx, i)));
                (Kind::MachineSet, name)
            }
            Slot::Machine(m) => {
                let info = self.machine(m);
                self.machine_values(&info, &mut v);
                v.push(Val::Text(ctx.uid(&info.config_name)));
                v.push(Val::Text(ctx.uid(&info.infra_name)));
                v.push(Val::Text(providers::provider_id(ctx, &info)));
                if info.is_control_plane() {
                    v.push(text(&ctx.cluster_configuration_json));
                }
                (Kind::Machine, info.machine_name)
            }
            Slot::KubeadmConfig(m) => {
                let info = self.machine(m);
                self.machine_values(&info, &mut v);
                self.kubeadm_values(&mut v);
                (Kind::KubeadmConfig, info.config_name)
            }
            Slot::InfraMachine(m) => {
                let info = self.machine(m);
                self.machine_values(&info, &mut v);
                v.push(Val::Text(providers::provider_id(ctx, &info)));
                v.push(Val::Text(providers::bare_metal_host(ctx, &info)));
                (Kind::InfraMachine, info.infra_name)
            }
            Slot::BootstrapSecret(m) => {
                let info = self.machine(m);
                v.push(text(&info.config_name));
                let size = spec.payload.bootstrap_data_bytes;
                let cloud_init = super::cloudinit::cloud_init(ctx, &info, size);
                v.push(Val::Data(cloud_init.into_bytes()));
                (Kind::Secret, info.config_name)
            }
        };
        padding(spec, kind, &name, &mut v);
        let object = self.object(index, slot, kind, name, serde_json::Value::Null);
        let owner_uids = self
            .layout
            .owners(slot, self.kubeconfig_position)
            .into_iter()
            .map(|s| ctx.uid(&self.slot_name(s)))
            .collect();
        Some(Templated {
            object,
            key,
            values: v,
            owner_uids,
        })
    }

    /// Name of the (owner) object at `slot`.
    fn slot_name(&self, slot: Slot) -> String {
        let ctx = &self.ctx;
        match slot {
            Slot::Cluster => ctx.name.clone(),
            Slot::InfraCluster => ctx.infra_cluster_name.clone(),
            Slot::ControlPlane => ctx.kcp_name.clone(),
            Slot::ClusterSecret(i) => {
                format!("{}-{}", ctx.name, ctx.spec.cluster_secrets[i].suffix())
            }
            Slot::MachineDeployment(i) => capi::md_name(ctx, i),
            Slot::MachineSet(i) => capi::ms_name(ctx, i),
            Slot::Machine(m) => self.machine(m).machine_name,
            Slot::KubeadmConfig(m) | Slot::BootstrapSecret(m) => self.machine(m).config_name,
            Slot::InfraMachine(m) => self.machine(m).infra_name,
            Slot::MachineHealthCheck(i) => pools::health_check_name(ctx, i),
            Slot::MachinePool(p) => pools::pool_name(ctx, p),
            Slot::PoolConfig(p) | Slot::PoolSecret(p) => pools::pool_config_name(ctx, p),
            Slot::InfraMachinePool(p) => pools::infra_pool_name(ctx, p),
        }
    }

    /// Names shared by a MachinePool's objects.
    fn pool_values(&self, p: u32, v: &mut Vec<Val>) {
        let ctx = &self.ctx;
        v.push(Val::Text(pools::pool_name(ctx, p)));
        v.push(Val::Text(pools::infra_pool_name(ctx, p)));
        v.push(Val::Text(pools::pool_config_name(ctx, p)));
    }

    /// Names shared by a machine's objects (labels, references, owner names).
    fn machine_values(&self, info: &MachineInfo, v: &mut Vec<Val>) {
        let ctx = &self.ctx;
        v.extend(
            [
                &info.machine_name,
                &info.config_name,
                &info.infra_name,
                &info.template_name,
                &ctx.kcp_name,
            ]
            .map(|s| text(s)),
        );
        if let Some(md) = info.md {
            v.push(text(info.ms_name.as_deref().unwrap_or_default()));
            v.push(Val::Text(capi::template_hash(ctx, md)));
        }
    }

    /// The cluster's kubeadm values (endpoint, discovery secrets, SSH key).
    fn kubeadm_values(&self, v: &mut Vec<Val>) {
        let ctx = &self.ctx;
        v.push(Val::Text(kubeadm::ssh_public_key(ctx)));
        v.extend([&ctx.endpoint_host, &ctx.ca_cert_hash, &ctx.bootstrap_token].map(|s| text(s)));
    }
}

/// The Namespace object `namespace_index` as a [`Templated`].
pub fn namespace_templated(spec: &FleetSpec, namespace_index: u64) -> Templated {
    let name = spec.namespace_name(namespace_index);
    let mut values = vec![text(&name)];
    padding(spec, Kind::Namespace, &name, &mut values);
    Templated {
        object: Object {
            index: 0,
            kind: Kind::Namespace,
            api: spec.api_ref(Kind::Namespace),
            namespace: None,
            uid: names::placeholder_uid(&spec.run_id, "", &name),
            name,
            owners: vec![],
            body: serde_json::Value::Null,
        },
        key: TemplateKey {
            kind: Kind::Namespace,
            shape: 0,
        },
        values,
        owner_uids: vec![],
    }
}

/// Every template key of `spec`'s clusters with the indices of the first and the last
/// object of that key in a cluster's sequence (the same in every cluster).
pub fn template_keys(spec: &FleetSpec) -> Vec<(TemplateKey, u32, u32)> {
    let objs = super::cluster_objects(spec, 0);
    let mut keys: Vec<(TemplateKey, u32, u32)> = Vec::new();
    for i in 0..objs.total() as u32 {
        let Some(k) = objs.template_key(i) else { break };
        match keys.iter_mut().find(|(x, _, _)| *x == k) {
            Some(e) => e.2 = i,
            None => keys.push((k, i, i)),
        }
    }
    keys
}
