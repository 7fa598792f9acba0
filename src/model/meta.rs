//! Per-cluster context and the pieces every body shares: metadata, ownerReferences,
//! object references and conditions.

use serde_json::{json, Map, Value};

use super::kinds::{CapiVersion, Kind};
use super::names::{self, Rng};
use super::spec::{ApiRef, FleetSpec};
use super::{
    CLUSTER_NAME_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PADDING_ANNOTATION, RUN_ID_LABEL,
};

/// Everything about one cluster that its objects share, computed once per cluster.
#[derive(Clone, Debug)]
pub(crate) struct ClusterCtx {
    pub spec: FleetSpec,
    pub cluster: u64,
    pub ns: String,
    pub name: String,
    /// Seed for this cluster's pseudo-random content and name suffixes.
    pub key: u64,
    /// Fake creation time of the Cluster (seconds since the epoch).
    pub t0: u64,
    pub v2: bool,
    /// The provider kinds are written in their `v1beta2` shape.
    pub provider_v2: bool,
    /// `ApiRef` per kind, indexed like `Kind::ALL`.
    apis: Vec<ApiRef>,
    /// `apiVersion` strings per kind, indexed like `Kind::ALL`.
    api_versions: Vec<String>,
    pub bootstrap_group: String,
    pub controlplane_group: String,
    pub infra_group: String,
    pub kcp_name: String,
    pub infra_cluster_name: String,
    /// Control-plane endpoint (a VIP in the cluster's subnet).
    pub endpoint_host: String,
    /// First address of the cluster's /20 machine subnet.
    pub subnet: u32,
    /// JSON of the ClusterConfiguration, for the annotation KCP puts on its Machines.
    pub cluster_configuration_json: String,
    /// Fake CA certificate hash for kubeadm discovery ("sha256:...").
    pub ca_cert_hash: String,
    /// Fake kubeadm bootstrap token.
    pub bootstrap_token: String,
    /// Build status conditions (off for create bodies, which carry no status).
    pub with_conditions: bool,
}

fn kind_slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

impl ClusterCtx {
    /// Builds the context of `cluster`, without its kubeadm ClusterConfiguration JSON
    /// (`kubeadm::cluster_ctx` adds it; the bodies need it).
    pub(crate) fn new(spec: &FleetSpec, cluster: u64) -> ClusterCtx {
        let name = spec.cluster_name(cluster);
        let key = names::hash_parts(1, &[spec.run_id.as_bytes(), &cluster.to_le_bytes()]);
        let apis: Vec<ApiRef> = Kind::ALL.iter().map(|&k| spec.api_ref(k)).collect();
        let api_versions = apis.iter().map(ApiRef::api_version).collect();
        // One /20 per cluster inside 10.0.0.0/8 (wraps after 4096 clusters).
        let subnet = 0x0a00_0000 | (((cluster % 4096) as u32) << 12);
        let mut rng = Rng::new(key ^ 0xca);
        let mut ca_cert_hash = String::from("sha256:");
        rng.push_hex(&mut ca_cert_hash, 64);
        let mut bootstrap_token = String::new();
        rng.push_chars(
            &mut bootstrap_token,
            6,
            b"abcdefghijklmnopqrstuvwxyz0123456789",
        );
        bootstrap_token.push('.');
        rng.push_chars(
            &mut bootstrap_token,
            16,
            b"abcdefghijklmnopqrstuvwxyz0123456789",
        );
        ClusterCtx {
            ns: spec.namespace_of(cluster),
            kcp_name: format!("{name}-control-plane"),
            infra_cluster_name: format!(
                "{name}-{}",
                names::suffix(key, names::INFRA_CLUSTER_ORDINAL)
            ),
            endpoint_host: names::ipv4(subnet | 1),
            name,
            key,
            t0: names::BASE_EPOCH + cluster * 17,
            v2: spec.capi_version == CapiVersion::V1beta2,
            provider_v2: spec.provider_api_version == CapiVersion::V1beta2,
            apis,
            api_versions,
            bootstrap_group: spec.bootstrap_group(),
            controlplane_group: spec.controlplane_group(),
            infra_group: spec.infrastructure_group(),
            subnet,
            cluster_configuration_json: String::new(),
            ca_cert_hash,
            bootstrap_token,
            spec: spec.clone(),
            cluster,
            with_conditions: true,
        }
    }

    /// Where `kind` is served.
    pub(crate) fn api(&self, kind: Kind) -> &ApiRef {
        &self.apis[kind_slot(kind)]
    }

    /// `apiVersion` of `kind`.
    pub(crate) fn api_version(&self, kind: Kind) -> &str {
        &self.api_versions[kind_slot(kind)]
    }

    /// Placeholder UID of an object of this cluster's namespace.
    pub(crate) fn uid(&self, name: &str) -> String {
        names::placeholder_uid(&self.spec.run_id, &self.ns, name)
    }

    /// Placeholder UID of a Secret (its name may equal its KubeadmConfig's).
    pub(crate) fn secret_uid(&self, name: &str) -> String {
        self.uid(&format!("secrets/{name}"))
    }

    /// RFC 3339 time `offset` seconds after the cluster's creation.
    pub(crate) fn time(&self, offset: u64) -> String {
        names::rfc3339(self.t0 + offset)
    }

    /// Labels every object of the cluster carries.
    pub(crate) fn base_labels(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(RUN_ID_LABEL.into(), self.spec.run_id.clone().into());
        m.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
        m.insert(CLUSTER_NAME_LABEL.into(), self.name.clone().into());
        m
    }

    /// An ownerReference to the object `name` of `kind` (controller, blocks deletion).
    pub(crate) fn owner_ref(&self, kind: Kind, name: &str) -> Value {
        json!({
            "apiVersion": self.api_version(kind),
            "kind": self.api(kind).kind,
            "name": name,
            "uid": self.uid(name),
            "controller": true,
            "blockOwnerDeletion": true,
        })
    }

    /// Complete `metadata` of an object of `kind` in this cluster's namespace. Adds the
    /// padding annotation when the spec asks for it; omits empty annotations.
    pub(crate) fn metadata(
        &self,
        kind: Kind,
        name: &str,
        labels: Map<String, Value>,
        annotations: Map<String, Value>,
        owner_refs: Vec<Value>,
    ) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("namespace".into(), self.ns.clone().into());
        m.insert("labels".into(), Value::Object(labels));
        let annotations = with_padding(&self.spec, kind, name, annotations);
        if !annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(annotations));
        }
        if !owner_refs.is_empty() {
            m.insert("ownerReferences".into(), Value::Array(owner_refs));
        }
        Value::Object(m)
    }

    /// A reference to another object in the cluster's namespace, shaped for the CAPI
    /// version: v1beta1 `ObjectReference` (apiVersion/kind/name/namespace, optional uid),
    /// v1beta2 `ContractVersionedObjectReference` (apiGroup/kind/name).
    pub(crate) fn obj_ref(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        name: &str,
        uid: Option<String>,
    ) -> Value {
        if self.v2 {
            json!({"apiGroup": group, "kind": kind, "name": name})
        } else {
            let mut v = json!({
                "apiVersion": format!("{group}/{version}"),
                "kind": kind,
                "name": name,
                "namespace": self.ns,
            });
            if let Some(uid) = uid {
                v["uid"] = uid.into();
            }
            v
        }
    }

    /// A reference to a provider object (in the provider's API version).
    pub(crate) fn infra_ref(&self, kind: &str, name: &str, uid: Option<String>) -> Value {
        let version = self.spec.provider_api_version.as_str();
        self.obj_ref(&self.infra_group, version, kind, name, uid)
    }

    /// A pseudo-random generator for object `index` of this cluster, salted by `salt`.
    pub(crate) fn rng(&self, index: u64, salt: u64) -> Rng {
        Rng::new(names::mix64(
            self.key ^ index.wrapping_mul(0x9e37_79b9) ^ (salt << 48),
        ))
    }
}

/// Adds the `capi-loadgen.io/padding` annotation of the configured size, if any.
pub(crate) fn with_padding(
    spec: &FleetSpec,
    kind: Kind,
    name: &str,
    mut annotations: Map<String, Value>,
) -> Map<String, Value> {
    if let Some(&n) = spec.payload.extra.get(&kind).filter(|&&n| n > 0) {
        let seed = names::hash_parts(7, &[spec.run_id.as_bytes(), name.as_bytes()]);
        let mut s = String::with_capacity(n);
        Rng::new(seed).push_base64_chars(&mut s, n);
        annotations.insert(PADDING_ANNOTATION.into(), s.into());
    }
    annotations
}

/// A condition type with its v1beta2 status and reason.
pub(crate) type Cond2 = (&'static str, bool, &'static str);

/// v1beta1-style conditions (`clusterv1beta1.Conditions`), all `True`.
pub(crate) fn conditions_v1(types: &[&str], time: &str) -> Value {
    Value::Array(
        types
            .iter()
            .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": time}))
            .collect(),
    )
}

/// v1beta2-style conditions (`metav1.Condition`: reason and message required).
pub(crate) fn conditions_v2(conds: &[Cond2], time: &str, generation: u64) -> Value {
    Value::Array(
        conds
            .iter()
            .map(|&(t, ok, reason)| {
                json!({
                    "type": t,
                    "status": if ok { "True" } else { "False" },
                    "reason": reason,
                    "message": "",
                    "lastTransitionTime": time,
                    "observedGeneration": generation,
                })
            })
            .collect(),
    )
}

/// The two condition sets of an object, with their transition time and generation.
pub(crate) struct Conditions<'a> {
    /// v1beta1 condition types (all `True`).
    pub old: &'a [&'a str],
    /// v1beta2 conditions.
    pub new: &'a [Cond2],
    /// lastTransitionTime.
    pub time: &'a str,
    /// observedGeneration of the v1beta2 conditions.
    pub generation: u64,
}

/// Puts both condition sets into `status` where the CAPI version keeps them: v1beta1 has
/// `conditions` (old) and `v1beta2.conditions` (new) plus `v1beta2_extra`; v1beta2 has
/// `conditions` (new) and `deprecated.v1beta1.conditions` (old) plus `deprecated_extra`.
pub(crate) fn put_conditions(
    ctx: &ClusterCtx,
    status: &mut Map<String, Value>,
    conds: &Conditions<'_>,
    mut v1beta2_extra: Map<String, Value>,
    mut deprecated_extra: Map<String, Value>,
) {
    if !ctx.with_conditions {
        return;
    }
    let c1 = conditions_v1(conds.old, conds.time);
    let c2 = conditions_v2(conds.new, conds.time, conds.generation);
    if ctx.v2 {
        status.insert("conditions".into(), c2);
        deprecated_extra.insert("conditions".into(), c1);
        status.insert("deprecated".into(), json!({ "v1beta1": deprecated_extra }));
    } else {
        status.insert("conditions".into(), c1);
        v1beta2_extra.insert("conditions".into(), c2);
        status.insert("v1beta2".into(), Value::Object(v1beta2_extra));
    }
}

/// Builds a `Map` from string keys and JSON values.
pub(crate) fn map<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Label the topology controller puts on every object it creates.
pub(crate) const TOPOLOGY_OWNED_LABEL: &str = "topology.cluster.x-k8s.io/owned";
/// Label naming a MachineDeployment's entry in `spec.topology.workers`.
pub(crate) const TOPOLOGY_DEPLOYMENT_LABEL: &str = "topology.cluster.x-k8s.io/deployment-name";

/// The entry name of MachineDeployment `md` in `spec.topology.workers`: `md-<md>`.
pub(crate) fn topology_md_name(md: u32) -> String {
    format!("md-{md}")
}

/// Adds the topology controller's labels to an object it created (`md`: the
/// MachineDeployment's index, for its deployment-name label).
pub(crate) fn mark_owned(ctx: &ClusterCtx, labels: &mut Map<String, Value>, md: Option<u32>) {
    if !ctx.spec.topology {
        return;
    }
    labels.insert(TOPOLOGY_OWNED_LABEL.into(), "".into());
    if let Some(md) = md {
        labels.insert(
            TOPOLOGY_DEPLOYMENT_LABEL.into(),
            topology_md_name(md).into(),
        );
    }
}

/// Annotations Cluster API puts on objects cloned from a template.
pub(crate) fn cloned_from(name: &str, kind: &str, group: &str) -> Map<String, Value> {
    map([
        ("cluster.x-k8s.io/cloned-from-name", name.into()),
        (
            "cluster.x-k8s.io/cloned-from-groupkind",
            format!("{kind}.{group}").into(),
        ),
    ])
}
