//! Offline conformance against the real Cluster API CRDs: the release `scripts/setup.sh`
//! fetches into the cache, prepared into one served version each
//! ([`crate::env::capi_crds`]).
//!
//! Every body is checked three ways: JSON-Schema validation of the CRD's `openAPIV3Schema`
//! (types, required fields, enums, patterns, lengths, formats); a strict walk that fails on
//! any field the apiserver would silently prune and on duplicate keys of `map`/`set` lists;
//! and the one CEL rule our values reach (unique `extraArgs` names), any other CEL rule met
//! being an error rather than silently unchecked.

use serde_json::Value;

use super::*;

const UNIQUE_NAMES_RULE: &str = "self.all(x, self.exists_one(y, x.name == y.name))";

/// Removes `x-kubernetes-*` keys (unknown keywords to a JSON-Schema validator).
pub(super) fn strip_k8s_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with("x-kubernetes-"))
                .map(|(k, v)| (k.clone(), strip_k8s_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_k8s_keys).collect()),
        other => other.clone(),
    }
}

/// A strict validator for an OpenAPI v3 (Kubernetes flavour) schema.
pub(super) fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&strip_k8s_keys(schema))
        .expect("schema compiles")
}

/// JSON-Schema errors of `value`, as "path: message" lines.
pub(super) fn schema_errors(v: &jsonschema::Validator, value: &Value) -> Vec<String> {
    v.iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

/// Fields the apiserver would prune, duplicate list-map keys and unchecked CEL rules.
pub(super) fn strict_errors(schema: &Value, value: &Value, path: &str, errs: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules.iter().filter_map(|r| r["rule"].as_str()) {
            if rule == UNIQUE_NAMES_RULE {
                let mut seen = std::collections::HashSet::new();
                let unique = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(|x| seen.insert(x["name"].to_string())));
                if !unique {
                    errs.push(format!("{path}: names not unique"));
                }
            } else {
                errs.push(format!("{path}: unchecked CEL rule {rule}"));
            }
        }
    }
    match value {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, child) in m {
                let p = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) => strict_errors(s, child, &p, errs),
                    (None, Some(a)) if a.is_object() => strict_errors(a, child, &p, errs),
                    (None, Some(Value::Bool(true))) => {}
                    _ => errs.push(format!("{p}: unknown field (would be pruned)")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    strict_errors(s, item, &format!("{path}[{i}]"), errs);
                }
            }
            let keys: Vec<Value> =
                match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("map") => {
                        let key_names = schema["x-kubernetes-list-map-keys"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        items
                            .iter()
                            .map(|it| {
                                Value::Array(
                                    key_names
                                        .iter()
                                        .map(|k| it[k.as_str().unwrap_or_default()].clone())
                                        .collect(),
                                )
                            })
                            .collect()
                    }
                    Some("set") => items.clone(),
                    _ => vec![],
                };
            for (i, k) in keys.iter().enumerate() {
                if keys[..i].contains(k) {
                    errs.push(format!("{path}[{i}]: duplicate list key {k}"));
                }
            }
        }
        _ => {}
    }
}

/// The release's CRD in `file`, prepared for `version`; a cache without the release (run
/// `scripts/setup.sh`, as `scripts/test.sh` does first) fails the test saying so.
fn load_crd(version: &str, file: &str) -> Value {
    use crate::env::capi_crds;
    let dir = capi_crds::release_crds_dir();
    let crd = capi_crds::read_release_crd(&dir, file).unwrap_or_else(|e| panic!("{e}"));
    capi_crds::prepare(&crd, version)
        .unwrap_or_else(|| panic!("{}/{file}: does not serve {version}", dir.display()))
}

fn crd_file(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Cluster => "cluster.x-k8s.io_clusters.yaml",
        Kind::MachineDeployment => "cluster.x-k8s.io_machinedeployments.yaml",
        Kind::MachineSet => "cluster.x-k8s.io_machinesets.yaml",
        Kind::Machine => "cluster.x-k8s.io_machines.yaml",
        Kind::KubeadmConfig => "bootstrap.cluster.x-k8s.io_kubeadmconfigs.yaml",
        Kind::KubeadmControlPlane => "controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml",
        _ => return None,
    })
}

/// Errors of `body` (without metadata) against the upstream CRD of its kind.
fn upstream_errors(crd: &Value, v: &jsonschema::Validator, body: &Value) -> Vec<String> {
    let mut body = body.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("metadata");
    }
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut errs = schema_errors(v, &body);
    strict_errors(schema, &body, "", &mut errs);
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let version = crd["spec"]["versions"][0]["name"]
        .as_str()
        .unwrap_or_default();
    if body["apiVersion"] != format!("{group}/{version}").as_str() {
        errs.push(format!(
            "apiVersion {} is not {group}/{version}",
            body["apiVersion"]
        ));
    }
    if body["kind"] != crd["spec"]["names"]["kind"] {
        errs.push(format!("kind {} mismatch", body["kind"]));
    }
    errs
}

fn upstream_spec(provider: Provider, version: CapiVersion) -> FleetSpec {
    let mut spec = FleetSpec::example("20261128-133501-ab12");
    spec.api_group = "cluster.x-k8s.io".into();
    spec.provider = provider;
    spec.capi_version = version;
    spec.machine_deployments = 2;
    spec.cluster_secrets = ClusterSecret::ALL.to_vec();
    spec.payload.extra.insert(Kind::Machine, 100);
    spec
}

#[test]
fn bodies_conform_to_upstream_crds() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (version, capi) in [
        ("v1beta1", CapiVersion::V1beta1),
        ("v1beta2", CapiVersion::V1beta2),
    ] {
        let kinds = [
            Kind::Cluster,
            Kind::KubeadmControlPlane,
            Kind::MachineDeployment,
            Kind::MachineSet,
            Kind::Machine,
            Kind::KubeadmConfig,
        ];
        let crds: Vec<(Kind, Value, jsonschema::Validator)> = kinds
            .iter()
            .filter_map(|&k| {
                let crd = load_crd(version, crd_file(k)?);
                let v = validator(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
                Some((k, crd, v))
            })
            .collect();
        for provider in Provider::ALL {
            let spec = upstream_spec(provider, capi);
            for cluster in 0..2 {
                for obj in cluster_objects(&spec, cluster) {
                    let Some((_, crd, v)) = crds.iter().find(|(k, _, _)| *k == obj.kind) else {
                        continue;
                    };
                    checked += 1;
                    for e in upstream_errors(crd, v, &obj.body) {
                        failures.push(format!("{version} {provider:?} {}: {e}", obj.name));
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} bodies checked");
    assert!(
        failures.is_empty(),
        "{} errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn upstream_check_catches_mistakes() {
    // The checks above must be able to fail: break a v1beta2 Machine in several ways.
    let crd = load_crd("v1beta2", "cluster.x-k8s.io_machines.yaml");
    let v = validator(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
    let spec = upstream_spec(Provider::Metal3, CapiVersion::V1beta2);
    let machine = cluster_objects(&spec, 0)
        .find(|o| o.kind == Kind::Machine)
        .expect("a machine");
    assert!(upstream_errors(&crd, &v, &machine.body).is_empty());
    let mut b = machine.body.clone();
    b["spec"]["infrastructureRef"]["apiVersion"] = "x/v1".into();
    assert!(!upstream_errors(&crd, &v, &b).is_empty(), "pruned field");
    let mut b = machine.body.clone();
    b["spec"].as_object_mut().unwrap().remove("clusterName");
    assert!(!upstream_errors(&crd, &v, &b).is_empty(), "missing field");
    let mut b = machine.body.clone();
    b["status"]["lastUpdated"] = "yesterday".into();
    assert!(!upstream_errors(&crd, &v, &b).is_empty(), "bad date-time");
    let mut b = machine.body.clone();
    let first = b["status"]["conditions"][0].clone();
    b["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(first);
    assert!(
        !upstream_errors(&crd, &v, &b).is_empty(),
        "duplicate map key"
    );
    // A v1beta1 body is not a v1beta2 body.
    let old = cluster_objects(&upstream_spec(Provider::Metal3, CapiVersion::V1beta1), 0)
        .find(|o| o.kind == Kind::Machine)
        .expect("a machine");
    assert!(!upstream_errors(&crd, &v, &old.body).is_empty());
}

#[test]
fn status_patches_conform_to_upstream_crds() {
    // Every stage of the steady phase's status growth is a valid status of the real kinds.
    let now = "2026-11-29T10:00:00Z";
    let mut checked = 0;
    for (version, capi) in [
        ("v1beta1", CapiVersion::V1beta1),
        ("v1beta2", CapiVersion::V1beta2),
    ] {
        for kind in [Kind::Cluster, Kind::Machine] {
            let crd = load_crd(version, crd_file(kind).unwrap());
            let v = validator(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]);
            let spec = upstream_spec(Provider::Metal3, capi);
            for obj in cluster_objects(&spec, 0).filter(|o| o.kind == kind) {
                let mut sizes = Vec::new();
                for reconcile in 0..=RECONCILES_TO_FULL_STATUS {
                    let patch = status_patch(&obj.body["status"], reconcile, now);
                    let mut body = obj.body.clone();
                    body["status"] = patch["status"].clone();
                    let errs = upstream_errors(&crd, &v, &body);
                    assert!(
                        errs.is_empty(),
                        "{version} {} #{reconcile}: {errs:?}",
                        obj.name
                    );
                    sizes.push(patch.to_string().len());
                    checked += 1;
                }
                assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
                assert!(sizes[0] < sizes[sizes.len() - 1], "{sizes:?}");
            }
        }
    }
    assert!(checked > 20, "{checked}");
}
