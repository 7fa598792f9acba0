//! CustomResourceDefinitions for the fleet's custom kinds, with schemas inferred from
//! example bodies.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::kinds::Kind;
use super::objects::cluster_objects;
use super::schema::{merge_schemas, schema_from_example};
use super::spec::CrdSchemas;
use super::spec::FleetSpec;
use super::topology::namespace_objects;
use super::upstream::{self, envelope};
use super::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// The upstream core group; short names are only given in it.
const UPSTREAM_GROUP: &str = "cluster.x-k8s.io";

/// A spec that yields every structural variant of every kind: an init and a joining
/// control-plane machine and a worker.
fn sample_spec(spec: &FleetSpec) -> FleetSpec {
    let mut s = spec.clone();
    s.clusters = 1;
    s.control_plane_replicas = 2;
    s.machine_deployments = 1;
    s.workers_per_machine_deployment = 1;
    s
}

/// Merged schemas of every custom kind, from one sample namespace and cluster.
fn schemas(spec: &FleetSpec) -> BTreeMap<Kind, Value> {
    let mut out: BTreeMap<Kind, Value> = BTreeMap::new();
    let sample = sample_spec(spec);
    for obj in namespace_objects(&sample, 0).chain(cluster_objects(&sample, 0)) {
        if obj.kind.is_builtin() {
            continue;
        }
        let s = schema_from_example(&obj.body);
        let merged = match out.get(&obj.kind) {
            Some(prev) => merge_schemas(prev, &s),
            None => s,
        };
        out.insert(obj.kind, merged);
    }
    out
}

/// Turns an inferred object schema into a CRD root schema: `metadata` may only say
/// `type: object` (kube-apiserver rejects more), only `spec` is required (status is
/// dropped on create when it is a subresource), and nothing inside `status` is required
/// (controllers write status a few fields at a time, as upstream's schemas allow).
fn root_schema(mut s: Value) -> Value {
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("metadata".into(), json!({"type": "object"}));
        if let Some(status) = props.get_mut("status") {
            drop_required(status);
        }
    }
    if let Some(obj) = s.as_object_mut() {
        obj.remove("required");
        if obj
            .get("properties")
            .is_some_and(|p| p.get("spec").is_some())
        {
            obj.insert("required".into(), json!(["spec"]));
        }
    }
    s
}

fn drop_required(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // The keyword (a list), not a property named "required" (a schema).
            if m.get("required").is_some_and(Value::is_array) {
                m.remove("required");
            }
            m.values_mut().for_each(drop_required);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_required),
        _ => {}
    }
}

fn provider_label(spec: &FleetSpec, kind: Kind) -> String {
    match kind {
        Kind::KubeadmControlPlane | Kind::KubeadmControlPlaneTemplate => {
            "control-plane-kubeadm".into()
        }
        Kind::KubeadmConfig | Kind::KubeadmConfigTemplate => "bootstrap-kubeadm".into(),
        k if k.is_provider() => format!("infrastructure-{}", spec.provider.as_str()),
        _ => "cluster-api".into(),
    }
}

fn short_name(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Cluster => Some("cl"),
        Kind::MachineDeployment => Some("md"),
        Kind::MachineSet => Some("ms"),
        Kind::Machine => Some("ma"),
        Kind::KubeadmControlPlane => Some("kcp"),
        Kind::ClusterClass => Some("cc"),
        Kind::MachineHealthCheck => Some("mhc"),
        Kind::MachinePool => Some("mp"),
        _ => None,
    }
}

/// The labels of the tool's CRDs: managed-by, Cluster API's provider label and, on provider
/// kinds, the contract label Cluster API uses to find a provider's version.
fn crd_labels(spec: &FleetSpec, kind: Kind) -> Value {
    let mut labels = json!({
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        "cluster.x-k8s.io/provider": provider_label(spec, kind),
    });
    if kind.is_provider() {
        // Cluster API finds the provider version for its contract under the label named
        // after the contract (`cluster.x-k8s.io/v1beta1` or `/v1beta2`).
        let contract = format!("cluster.x-k8s.io/{}", spec.capi_version.as_str());
        labels[contract] = json!(spec.api_ref(kind).version);
    }
    labels
}

fn crd(spec: &FleetSpec, kind: Kind, schema: Value) -> Value {
    let api = spec.api_ref(kind);
    let singular = api.kind.to_ascii_lowercase();
    let mut names = json!({
        "kind": api.kind,
        "listKind": format!("{}List", api.kind),
        "plural": api.plural,
        "singular": singular,
        "categories": ["cluster-api"],
    });
    if api.group == UPSTREAM_GROUP
        || api
            .group
            .strip_suffix(UPSTREAM_GROUP)
            .is_some_and(|p| p.ends_with('.'))
    {
        if let Some(short) = short_name(kind) {
            names["shortNames"] = json!([short]);
        }
    }
    let mut subresources = json!({"status": {}});
    if matches!(
        kind,
        Kind::KubeadmControlPlane | Kind::MachineDeployment | Kind::MachineSet | Kind::MachinePool
    ) {
        subresources["scale"] = json!({
            "labelSelectorPath": ".status.selector",
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
        });
    }
    let version = json!({
        "name": api.version,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": root_schema(schema)},
        "subresources": subresources,
    });
    envelope(&api, crd_labels(spec, kind), names, "Namespaced", version)
}

/// The upstream CRD of `kind` renamed into the fleet's groups, when the fleet asks for
/// upstream schemas and they define the kind.
fn upstream_crd(spec: &FleetSpec, kind: Kind) -> Option<Value> {
    let CrdSchemas::Upstream(docs) = &spec.crd_schemas else {
        return None;
    };
    let doc = upstream::find(docs, spec, kind)?;
    upstream::rename(spec, kind, doc, crd_labels(spec, kind)).ok()
}

fn crds_for(spec: &FleetSpec, kinds: &[Kind]) -> Vec<Value> {
    let mut schemas = schemas(spec);
    kinds
        .iter()
        .filter_map(|&k| {
            let inferred = schemas.remove(&k);
            upstream_crd(spec, k).or_else(|| inferred.map(|s| crd(spec, k, s)))
        })
        .collect()
}

/// The custom kinds whose CRDs get upstream schemas (empty for inferred schemas).
pub fn upstream_kinds(spec: &FleetSpec) -> Vec<Kind> {
    spec.custom_kinds()
        .into_iter()
        .filter(|&k| upstream_crd(spec, k).is_some())
        .collect()
}

/// Checks that the fleet's upstream CRDs (if any) define every Cluster API kind it writes,
/// serving the fleet's version.
pub fn check_upstream(spec: &FleetSpec) -> Result<(), upstream::UpstreamError> {
    match &spec.crd_schemas {
        CrdSchemas::Inferred => Ok(()),
        CrdSchemas::Upstream(docs) => upstream::check(docs, spec, &spec.custom_kinds()).map(|_| ()),
    }
}

/// The CustomResourceDefinitions (`apiextensions.k8s.io/v1`) of every custom kind the fleet
/// uses, in `spec.api_group`'s groups, in creation order. Core, bootstrap and control-plane
/// kinds serve and store `spec.capi_version`; provider kinds `spec.provider_api_version`. Schemas are inferred
/// from example bodies (every variant merged), so they type and require exactly what the
/// tool writes, unless `spec.crd_schemas` is upstream: then the kinds the upstream CRDs
/// define get those (renamed, see [`CrdSchemas`]); `status` is a subresource (and `scale` for KubeadmControlPlane,
/// MachineDeployment and MachineSet, as upstream).
pub fn crds(spec: &FleetSpec) -> Vec<Value> {
    crds_for(spec, &spec.custom_kinds())
}

/// Only the provider (infrastructure) CRDs: what writing into the real `cluster.x-k8s.io`
/// CRDs needs in addition, as those do not include provider kinds.
pub fn provider_crds(spec: &FleetSpec) -> Vec<Value> {
    let kinds: Vec<Kind> = spec
        .custom_kinds()
        .into_iter()
        .filter(|k| k.is_provider())
        .collect();
    crds_for(spec, &kinds)
}
