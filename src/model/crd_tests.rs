//! Tests of the generated CRDs and of schema inference.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::upstream_tests::{schema_errors, strict_errors, validator};
use super::*;

/// Structural-schema rules kube-apiserver enforces on CRD schemas (the subset inference can
/// break): every node typed (or preserving unknown fields), objects with properties or
/// additionalProperties but not both, arrays with items, `required` naming known properties.
fn structural_errors(s: &Value, path: &str, errs: &mut Vec<String>) {
    let preserve = s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match s.get("type").and_then(Value::as_str) {
        None if preserve => {}
        None => errs.push(format!("{path}: no type")),
        Some("object") => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            if props.is_some() && additional.is_some() {
                errs.push(format!("{path}: properties and additionalProperties"));
            }
            for (k, child) in props.into_iter().flatten() {
                structural_errors(child, &format!("{path}.{k}"), errs);
            }
            if let Some(a) = additional {
                structural_errors(a, &format!("{path}.*"), errs);
            }
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap_or_default();
                if props.is_none_or(|p| !p.contains_key(r)) {
                    errs.push(format!("{path}: required {r} is not a property"));
                }
            }
        }
        Some("array") => match s.get("items") {
            Some(items) => structural_errors(items, &format!("{path}[]"), errs),
            None => errs.push(format!("{path}: array without items")),
        },
        Some("string" | "integer" | "number" | "boolean") => {}
        Some(t) => errs.push(format!("{path}: unknown type {t}")),
    }
}

fn spec_for(group: &str, provider: Provider, version: CapiVersion) -> FleetSpec {
    let mut spec = FleetSpec::example("20261128-133501-ab12");
    spec.api_group = group.into();
    spec.provider = provider;
    spec.capi_version = version;
    spec.provider_api_version = provider.default_api_version(version);
    spec.clusters = 3;
    spec.clusters_per_namespace = 2;
    spec.machine_deployments = 2;
    spec.payload.extra.insert(Kind::KubeadmConfig, 64);
    // The ClusterClass-era kinds too (machine pools where the provider has them).
    spec.topology = true;
    spec.machine_health_checks = true;
    if provider.machine_pool_kind().is_some() {
        spec.machine_pools = 2;
    }
    spec
}

#[test]
fn schema_from_example_validates_its_example() {
    let spec = spec_for(DEFAULT_API_GROUP, Provider::Nutanix, CapiVersion::V1beta2);
    for obj in cluster_objects(&spec, 0).chain(namespace_objects(&spec, 0)) {
        let schema = schema_from_example(&obj.body);
        let mut errs = schema_errors(&validator(&schema), &obj.body);
        strict_errors(&schema, &obj.body, "", &mut errs);
        structural_errors(&schema, "", &mut errs);
        assert!(errs.is_empty(), "{}: {errs:?}", obj.name);
    }
}

#[test]
fn schema_inference_rules() {
    let s = schema_from_example(&json!({
        "metadata": {"labels": {"a": "b"}, "annotations": {}},
        "n": 1, "f": 1.5, "b": true, "s": "x", "empty": [], "null": null,
        "list": [{"x": 1, "y": "a"}, {"x": 2}],
    }));
    assert_eq!(
        s["properties"]["metadata"]["properties"]["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string"}})
    );
    assert_eq!(s["properties"]["n"]["type"], "integer");
    assert_eq!(s["properties"]["f"]["type"], "number");
    assert_eq!(s["properties"]["b"]["type"], "boolean");
    assert_eq!(s["properties"]["s"]["type"], "string");
    assert_eq!(
        s["properties"]["empty"]["items"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    // Items merge: x is required by both elements, y only by one.
    assert_eq!(s["properties"]["list"]["items"]["required"], json!(["x"]));
    assert_eq!(
        s["properties"]["list"]["items"]["properties"]["y"]["type"],
        "string"
    );
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(required.contains(&"metadata") && required.contains(&"list"));
    // A different value of the same shape validates; a wrong type does not.
    let v = validator(&s);
    let other = json!({
        "metadata": {"labels": {"c": "d"}, "annotations": {"e": "f"}},
        "n": 7, "f": 2, "b": false, "s": "y", "empty": [1], "null": "anything",
        "list": [{"x": 3}],
    });
    assert!(schema_errors(&v, &other).is_empty());
    let mut bad = other.clone();
    bad["n"] = "7".into();
    assert!(!schema_errors(&v, &bad).is_empty());
}

#[test]
fn generated_crds_are_well_formed_and_accept_the_fleet() {
    for group in [DEFAULT_API_GROUP, "cluster.x-k8s.io", "scale.example.com"] {
        for provider in Provider::ALL {
            for version in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
                check_crds(&spec_for(group, provider, version));
            }
        }
    }
}

fn check_crds(spec: &FleetSpec) {
    let crds = crds(spec);
    let custom: Vec<Kind> = spec.custom_kinds();
    assert_eq!(crds.len(), custom.len());
    let mut by_kind: BTreeMap<String, (Kind, &Value)> = BTreeMap::new();
    for (crd, &kind) in crds.iter().zip(&custom) {
        let api = spec.api_ref(kind);
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert_eq!(
            crd["metadata"]["name"],
            format!("{}.{}", api.plural, api.group).as_str()
        );
        let s = &crd["spec"];
        assert_eq!(s["group"], api.group.as_str());
        assert_eq!(s["scope"], "Namespaced");
        assert_eq!(s["names"]["kind"], api.kind.as_str());
        assert_eq!(s["names"]["plural"], api.plural.as_str());
        assert_eq!(s["names"]["singular"], api.kind.to_lowercase().as_str());
        assert_eq!(s["names"]["listKind"], format!("{}List", api.kind).as_str());
        let versions = s["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        let v = &versions[0];
        assert_eq!(v["name"], api.version.as_str());
        assert_eq!((&v["served"], &v["storage"]), (&json!(true), &json!(true)));
        assert_eq!(v["subresources"]["status"], json!({}));
        let scalable = matches!(
            kind,
            Kind::KubeadmControlPlane
                | Kind::MachineDeployment
                | Kind::MachineSet
                | Kind::MachinePool
        );
        assert_eq!(v["subresources"].get("scale").is_some(), scalable);
        let expected_version = match kind {
            k if k.is_provider() => spec.provider_api_version.as_str(),
            _ => spec.capi_version.as_str(),
        };
        assert_eq!(api.version, expected_version);
        let schema = &v["schema"]["openAPIV3Schema"];
        assert_eq!(schema["properties"]["metadata"], json!({"type": "object"}));
        assert_eq!(schema["required"], json!(["spec"]));
        let mut errs = Vec::new();
        structural_errors(schema, "", &mut errs);
        assert!(errs.is_empty(), "{}: {errs:?}", api.kind);
        by_kind.insert(api.kind.clone(), (kind, schema));
    }
    // Every body of a fleet validates and loses nothing to pruning, with or without status.
    let class_objects: Vec<Object> = (0..spec.namespace_count())
        .flat_map(|n| namespace_objects(spec, n))
        .collect();
    for cluster in 0..spec.clusters {
        let objs = cluster_objects(spec, cluster).chain(class_objects.iter().cloned());
        for obj in objs.filter(|o| !o.kind.is_builtin()) {
            let (_, schema) = by_kind[&obj.api.kind];
            let v = validator(schema);
            let mut body = obj.body.clone();
            let mut errs = schema_errors(&v, &body);
            body.as_object_mut().unwrap().remove("metadata");
            strict_errors(schema, &body, "", &mut errs);
            body.as_object_mut().unwrap().remove("status");
            errs.extend(schema_errors(&v, &body));
            assert!(
                errs.is_empty(),
                "{:?} {}: {errs:?}",
                spec.provider,
                obj.name
            );
        }
    }
    // provider_crds is the infrastructure subset.
    let providers = provider_crds(spec);
    let provider_kinds = custom.iter().filter(|k| k.is_provider()).count();
    assert_eq!(providers.len(), provider_kinds);
    assert!(provider_kinds >= 4, "{provider_kinds}");
    for p in &providers {
        assert!(p["spec"]["group"]
            .as_str()
            .unwrap()
            .starts_with("infrastructure."));
        assert!(crds.contains(p));
        let contract = format!("cluster.x-k8s.io/{}", spec.capi_version.as_str());
        assert_eq!(
            p["metadata"]["labels"][contract],
            spec.provider_api_version.as_str()
        );
    }
}
