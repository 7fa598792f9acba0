//! Offline conformance of the provider bodies against the real CRDs of the providers'
//! current releases (CAPD, CAPM3, CAPX), which `scripts/setup.sh` fetches into the cache
//! ([`crate::env::provider_crds`]): every provider object of a fleet, in every version the
//! provider publishes, beside both Cluster API versions, validates against the CRD's schema
//! of that version and loses nothing to pruning. CEL rules are left to the real apiserver
//! (`tests/own_env/provider_versions.rs` installs the same CRDs).

use serde_json::Value;

use super::upstream_tests::{schema_errors, strict_errors, validator};
use super::*;
use crate::env::{capi_crds, provider_crds};

/// `provider`'s published CRDs of the fleet's kinds (a cache without them fails the test,
/// naming the script).
pub(super) fn published(provider: Provider) -> Vec<Value> {
    let mut kinds = vec![
        provider.cluster_kind(),
        provider.machine_kind(),
        provider.cluster_template_kind(),
        provider.machine_template_kind(),
    ];
    kinds.extend(provider.machine_pool_kind());
    provider_crds::read_provider_crds(provider.as_str(), &kinds).unwrap_or_else(|e| panic!("{e}"))
}

fn fleet(provider: Provider, capi: CapiVersion, version: CapiVersion) -> FleetSpec {
    let mut spec = FleetSpec::example("20261208-010000-pv01");
    spec.api_group = UPSTREAM_CORE_GROUP.into();
    spec.provider = provider;
    spec.capi_version = capi;
    spec.provider_api_version = version;
    spec.clusters = 2;
    spec.clusters_per_namespace = 2;
    spec.machine_deployments = 2;
    spec.topology = true;
    if provider.machine_pool_kind().is_some() {
        spec.machine_pools = 2;
    }
    spec
}

/// Schema and pruning errors of `body` against `crd` (prepared for one version).
fn errors(crd: &Value, body: &Value) -> Vec<String> {
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut body = body.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("metadata");
    }
    let mut errs = schema_errors(&validator(schema), &body);
    strict_errors(schema, &body, "", &mut errs);
    errs.retain(|e| !e.contains("unchecked CEL rule"));
    let api_version = format!(
        "{}/{}",
        crd["spec"]["group"].as_str().unwrap_or_default(),
        crd["spec"]["versions"][0]["name"]
            .as_str()
            .unwrap_or_default()
    );
    if body["apiVersion"] != api_version.as_str() {
        errs.push(format!(
            "apiVersion {} is not {api_version}",
            body["apiVersion"]
        ));
    }
    errs
}

/// Every provider object of `spec`'s first namespace and its clusters, with its errors.
fn check_fleet(spec: &FleetSpec, crds: &[Value]) -> (usize, Vec<String>) {
    let version = spec.provider_api_version.as_str();
    let prepared: Vec<Value> = crds
        .iter()
        .map(|c| {
            capi_crds::prepare(c, version)
                .unwrap_or_else(|| panic!("{} does not serve {version}", c["metadata"]["name"]))
        })
        .collect();
    let (mut checked, mut failures) = (0, Vec::new());
    let objects = namespace_objects(spec, 0)
        .chain(cluster_objects(spec, 0))
        .chain(cluster_objects(spec, 1));
    for obj in objects.filter(|o| o.kind.is_provider()) {
        let crd = prepared
            .iter()
            .find(|c| c["spec"]["names"]["kind"] == obj.api.kind.as_str())
            .unwrap_or_else(|| panic!("no CRD of {}", obj.api.kind));
        checked += 1;
        for e in errors(crd, &obj.body) {
            failures.push(format!(
                "{:?} {} (Cluster API {}): {}: {e}",
                spec.provider,
                version,
                spec.capi_version.as_str(),
                obj.name
            ));
        }
    }
    (checked, failures)
}

#[test]
fn provider_bodies_conform_to_the_providers_crds_in_every_published_version() {
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for provider in Provider::ALL {
        let crds = published(provider);
        for &version in provider.api_versions() {
            for capi in CapiVersion::ALL {
                let spec = fleet(provider, capi, version);
                let (checked, f) = check_fleet(&spec, &crds);
                // Cluster, 2 templates + 2 machine templates, machines, machine pools.
                assert!(checked >= 9, "{provider:?} {version:?}: {checked}");
                failures.extend(f);
                kinds.insert((provider.as_str(), version.as_str()));
            }
        }
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert!(
        failures.is_empty(),
        "{} errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_published_versions_are_what_the_crds_serve() {
    for provider in Provider::ALL {
        for crd in published(provider) {
            let served: Vec<&str> = crd["spec"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["served"] == true)
                .filter_map(|v| v["name"].as_str())
                .collect();
            for v in provider.api_versions() {
                assert!(
                    served.contains(&v.as_str()),
                    "{}: {served:?}",
                    crd["metadata"]["name"]
                );
            }
            let newest = provider.api_versions().last().unwrap().as_str();
            let stored = crd["spec"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["storage"] == true)
                .and_then(|v| v["name"].as_str());
            assert_eq!(stored, Some(newest), "{}", crd["metadata"]["name"]);
        }
    }
}

#[test]
fn the_provider_check_catches_mistakes() {
    // The check above must be able to fail: a v1beta1 body against the v1beta2 schema, a
    // misspelled field, a missing required one.
    let spec = fleet(Provider::Metal3, CapiVersion::V1beta2, CapiVersion::V1beta2);
    let crds = published(Provider::Metal3);
    let crd = capi_crds::prepare(
        crds.iter()
            .find(|c| c["spec"]["names"]["kind"] == "Metal3Machine")
            .unwrap(),
        "v1beta2",
    )
    .unwrap();
    let machine = cluster_objects(&spec, 0)
        .find(|o| o.kind == Kind::InfraMachine)
        .unwrap();
    assert!(errors(&crd, &machine.body).is_empty());
    let mut b = machine.body.clone();
    b["spec"]["image"]["diskFormt"] = b["spec"]["image"]["diskFormat"].take();
    assert!(!errors(&crd, &b).is_empty(), "misspelled field");
    let mut b = machine.body.clone();
    b["spec"]["image"].as_object_mut().unwrap().remove("url");
    assert!(!errors(&crd, &b).is_empty(), "missing required field");
    let old = fleet(Provider::Metal3, CapiVersion::V1beta2, CapiVersion::V1beta1);
    let mut old = cluster_objects(&old, 0)
        .find(|o| o.kind == Kind::InfraMachine)
        .unwrap()
        .body;
    old["apiVersion"] = machine.body["apiVersion"].clone();
    assert!(!errors(&crd, &old).is_empty(), "v1beta1 shape");
}
