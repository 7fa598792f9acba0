//! Real (upstream) CustomResourceDefinitions renamed into the fleet's own groups.
//!
//! Cluster API's generated CRDs carry schemas an order of magnitude larger than the ones
//! inferred from example bodies: descriptions, validation (patterns, lengths, enums),
//! defaulting, list-map keys and, in `v1beta2`, CEL rules (`x-kubernetes-validations`). The
//! apiserver spends CPU on all of it on every write. With `fleet.crd_schemas: upstream` the
//! tool installs those schemas under its own groups (`loadtest.cluster.x-k8s.io` and the
//! `bootstrap.`, `controlplane.`, `infrastructure.` prefixes), so validation costs what it
//! costs on a real management cluster while no real Cluster API object is touched.
//!
//! Renaming keeps the schema of the served version as published (CEL rules included) and
//! changes only what must change: `metadata` (name, labels; annotations such as
//! cert-manager's CA injection dropped), `spec.group`, the versions (only the fleet's, as
//! storage) and `spec.conversion` (upstream's conversion webhook is not running here, so the
//! strategy becomes `None`).

use serde_json::{json, Value};

use super::kinds::Kind;
use super::spec::FleetSpec;

/// The group Cluster API's core kinds live in upstream; the bootstrap, control-plane and
/// infrastructure groups are this with a prefix.
pub const UPSTREAM_CORE_GROUP: &str = "cluster.x-k8s.io";

/// Why upstream CRDs cannot serve a fleet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No CRD of this kind in its upstream group.
    #[error("no CustomResourceDefinition for {kind} in group {group} (found: {found})")]
    Missing {
        /// The kind looked for, e.g. "KubeadmControlPlane".
        kind: String,
        /// Its upstream group.
        group: String,
        /// The CRDs that were found, by name.
        found: String,
    },
    /// The CRD does not serve the fleet's version or lacks its schema.
    #[error("CustomResourceDefinition {name} has no served version {version} with a schema")]
    Version {
        /// CRD name.
        name: String,
        /// The version the fleet writes.
        version: String,
    },
    /// The CRD's plural is not the one the tool's requests use.
    #[error("CustomResourceDefinition {name}: plural {found:?}, expected {expected:?}")]
    Plural {
        /// CRD name.
        name: String,
        /// Its plural.
        found: String,
        /// The plural the tool uses.
        expected: String,
    },
}

/// The upstream group a kind lives in, e.g. `controlplane.cluster.x-k8s.io`.
pub fn upstream_group(kind: Kind) -> String {
    match kind {
        Kind::KubeadmConfig | Kind::KubeadmConfigTemplate => {
            format!("bootstrap.{UPSTREAM_CORE_GROUP}")
        }
        Kind::KubeadmControlPlane | Kind::KubeadmControlPlaneTemplate => {
            format!("controlplane.{UPSTREAM_CORE_GROUP}")
        }
        k if k.is_provider() => format!("infrastructure.{UPSTREAM_CORE_GROUP}"),
        _ => UPSTREAM_CORE_GROUP.to_string(),
    }
}

/// True for the kinds Cluster API itself (core, kubeadm bootstrap and control plane)
/// defines, which an upstream CRD set must therefore contain.
pub fn is_capi_kind(kind: Kind) -> bool {
    !kind.is_builtin() && !kind.is_provider()
}

/// The upstream CRD document for `kind` of `spec`'s provider, if `docs` has one.
pub fn find<'a>(docs: &'a [Value], spec: &FleetSpec, kind: Kind) -> Option<&'a Value> {
    let api = spec.api_ref(kind);
    let group = upstream_group(kind);
    docs.iter().find(|d| {
        d["kind"] == "CustomResourceDefinition"
            && d["spec"]["names"]["kind"] == api.kind.as_str()
            && d["spec"]["group"] == group.as_str()
    })
}

/// `upstream` (the CRD of `kind`) renamed into `spec`'s groups, serving and storing only
/// the version the fleet writes, without a conversion webhook, labelled as the tool's.
pub fn rename(
    spec: &FleetSpec,
    kind: Kind,
    upstream: &Value,
    labels: Value,
) -> Result<Value, UpstreamError> {
    let api = spec.api_ref(kind);
    let upstream_name = upstream["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = upstream["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or_default();
    if plural != api.plural {
        return Err(UpstreamError::Plural {
            name: upstream_name,
            found: plural.to_string(),
            expected: api.plural,
        });
    }
    let version = upstream["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| {
            v["name"] == api.version.as_str()
                && v["served"] != false
                && v["schema"]["openAPIV3Schema"].is_object()
        })
        .ok_or_else(|| UpstreamError::Version {
            name: upstream_name.clone(),
            version: api.version.clone(),
        })?;
    let mut version = version.clone();
    version["served"] = json!(true);
    version["storage"] = json!(true);
    let mut names = upstream["spec"]["names"].clone();
    let in_capi_groups = api.group == UPSTREAM_CORE_GROUP
        || api
            .group
            .strip_suffix(UPSTREAM_CORE_GROUP)
            .is_some_and(|p| p.ends_with('.'));
    if !in_capi_groups {
        // Short names are global per resource name: only claim them in CAPI-like groups.
        if let Some(n) = names.as_object_mut() {
            n.remove("shortNames");
        }
    }
    let mut crd = envelope(
        &api,
        labels,
        names,
        upstream["spec"]["scope"].as_str().unwrap_or("Namespaced"),
        version,
    );
    crd["spec"]["conversion"] = json!({"strategy": "None"});
    Ok(crd)
}

/// Checks that `docs` can serve `spec`'s fleet: every Cluster API kind has an upstream CRD
/// serving the fleet's version under the plural the tool uses. Returns the kinds that will
/// get upstream schemas (the provider kinds only when `docs` define them too).
pub fn check(docs: &[Value], spec: &FleetSpec, kinds: &[Kind]) -> Result<Vec<Kind>, UpstreamError> {
    let mut out = Vec::new();
    for &kind in kinds {
        match find(docs, spec, kind) {
            Some(d) => {
                rename(spec, kind, d, json!({}))?;
                out.push(kind);
            }
            None if is_capi_kind(kind) => {
                let found: Vec<&str> = docs
                    .iter()
                    .filter_map(|d| d["metadata"]["name"].as_str())
                    .collect();
                return Err(UpstreamError::Missing {
                    kind: spec.api_ref(kind).kind,
                    group: upstream_group(kind),
                    found: if found.is_empty() {
                        "none".into()
                    } else {
                        found.join(", ")
                    },
                });
            }
            None => {}
        }
    }
    Ok(out)
}

/// A CustomResourceDefinition of `api` serving the one `version`.
pub(super) fn envelope(
    api: &super::spec::ApiRef,
    labels: Value,
    names: Value,
    scope: &str,
    version: Value,
) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{}", api.plural, api.group),
            "labels": labels,
        },
        "spec": {
            "group": api.group,
            "names": names,
            "scope": scope,
            "versions": [version],
        },
    })
}
