//! The providers' current API versions against their real CRDs: Cluster API's CRDs of one
//! version beside the published CRDs of CAPD, CAPM3 and CAPX (`scripts/setup.sh` fetches
//! them from the Go modules), installed in the real `cluster.x-k8s.io` groups as an admin
//! would, serving one version each (Docker and Metal3 `v1beta2` beside Cluster API
//! `v1beta2`, every provider `v1beta1` beside `v1beta1`; Nutanix publishes only `v1beta1`).
//! A ClusterClass-era fleet of each provider runs in `cluster.x-k8s.io` mode with
//! `fleet.provider_api_version` left open, so the version comes from the target's
//! discovery: every request is accepted, and every provider body and status also passes
//! the apiserver's strict field validation (`fieldValidation=Strict`: a field the schema
//! does not know is refused, not silently pruned), which a misspelled field shows it
//! catches.
//! A third test serves Metal3 only in `v1beta2` beside Cluster API `v1beta1`: discovery
//! picks it, and naming `v1beta1` in the profile is refused by the target.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::kube::KubeTarget;
use capi_loadgen::env::provider_crds;
use capi_loadgen::model::{self, CapiVersion, CrdSchemas, FleetSpec, Provider};
use serde_json::Value;
use std::sync::Arc;

/// A small ClusterClass-era fleet of `provider` in `cluster.x-k8s.io` mode (`extra`: more
/// fleet fields).
fn fleet_yaml(provider: Provider, v: &str, extra: &str) -> String {
    let pools = if provider.machine_pool_kind().is_some() {
        "  machine_pools: 1\n  machine_pool_replicas: 2\n"
    } else {
        ""
    };
    format!(
        "fleet:\n  clusters: 2\n  clusters_per_namespace: 2\n  control_plane_replicas: 1\n  machine_deployments: 1\n  workers_per_machine_deployment: 1\n  provider: {}\n  capi_version: {v}\n  api_group: cluster.x-k8s.io\n  install_crds: false\n  topology: true\n  machine_health_checks: true\n{pools}{extra}client: {{pool_size: 2, qps: -1}}\n",
        provider.as_str()
    )
}

/// The provider's published CRDs of the kinds a fleet writes.
fn published(provider: Provider) -> Vec<Value> {
    let mut kinds = vec![
        provider.cluster_kind(),
        provider.machine_kind(),
        provider.cluster_template_kind(),
        provider.machine_template_kind(),
    ];
    kinds.extend(provider.machine_pool_kind());
    provider_crds::read_provider_crds(provider.as_str(), &kinds).unwrap_or_else(|e| panic!("{e}"))
}

/// Cluster API's release CRDs and every provider's, as published.
fn upstream_docs() -> Vec<Value> {
    let mut docs = capi_loadgen::profile::read_crd_dir(&common::capi_release_crds())
        .expect("the release's CRDs parse");
    for p in Provider::ALL {
        docs.extend(published(p));
    }
    docs
}

/// The fleet's CRDs from the upstream documents (Cluster API's in `capi`, the provider's
/// in `provider_version`), in the real groups, one served version each.
fn install_spec(
    provider: Provider,
    capi: CapiVersion,
    provider_version: CapiVersion,
    docs: &Arc<Vec<Value>>,
) -> FleetSpec {
    let v = capi.as_str();
    let mut spec = common::fleet(
        &format!("pv-install-{}-{v}", provider.as_str()),
        &fleet_yaml(provider, v, ""),
        "pv",
    );
    spec.provider_api_version = provider_version;
    spec.crd_schemas = CrdSchemas::Upstream(docs.clone());
    spec
}

/// Installs the fleet's CRDs, checking that every kind got its upstream schema.
async fn install(admin: &KubeTarget, spec: &FleetSpec) {
    let upstream = model::upstream_kinds(spec);
    assert_eq!(
        upstream.len(),
        spec.custom_kinds().len(),
        "{:?}: every kind from the real CRDs: {upstream:?}",
        spec.provider
    );
    admin
        .install_crds(&model::crds(spec))
        .await
        .expect("upstream CRDs install");
}

/// Runs `yaml` as run id `name`: its summary, schema-checked.
async fn run(kc: &std::path::Path, name: &str, yaml: &str) -> Value {
    let profile = common::profile_file(name, yaml);
    let out = common::state_dir(&format!("{name}-out"));
    common::run_profile_to(&profile, Some(kc), name, &out)
        .await
        .expect("run completes");
    common::assert_valid_summary(&out.join("summary.json"))
}

fn refused(summary: &Value) -> Vec<String> {
    summary["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["ok"] != o["sent"])
        .map(|o| format!("{} {}: {}", o["verb"], o["kind"], o["failed_by"]))
        .collect()
}

/// The apiserver's strict field validation of every provider object of the run's first
/// namespace and cluster: a dry-run create of its body under another name, and a dry-run
/// merge patch of its full status onto the stored object. Returns the refusals.
async fn strict_refusals(admin: &KubeTarget, spec: &FleetSpec) -> (usize, Vec<String>) {
    let objects = model::namespace_objects(spec, 0).chain(model::cluster_objects(spec, 0));
    let (mut checked, mut out) = (0, Vec::new());
    for obj in objects.filter(|o| o.kind.is_provider()) {
        let ns = obj.namespace.as_deref();
        let collection = obj.api.collection_path(ns);
        let mut body = obj.body.clone();
        body["metadata"]["name"] = format!("{}-strict", obj.name).into();
        let create = format!("{collection}?dryRun=All&fieldValidation=Strict");
        match admin.raw("POST", &create, Some(&body)).await {
            Ok((201, _)) => {}
            other => out.push(format!("create {} {}: {other:?}", obj.api.kind, obj.name)),
        }
        checked += 1;
        if let Some(status) = obj.body.get("status") {
            let path = format!(
                "{collection}/{}/status?dryRun=All&fieldValidation=Strict",
                obj.name
            );
            let patch = serde_json::json!({ "status": status });
            let answer = admin
                .raw_typed("PATCH", &path, Some(&patch), "application/merge-patch+json")
                .await;
            match answer {
                Ok((200, _)) => {}
                other => out.push(format!("status {} {}: {other:?}", obj.api.kind, obj.name)),
            }
            checked += 1;
        }
    }
    (checked, out)
}

/// Objects of `plural` of the infrastructure group in version `v`, across namespaces.
async fn count(admin: &KubeTarget, v: &str, plural: &str) -> usize {
    let path = format!("/apis/infrastructure.cluster.x-k8s.io/{v}/{plural}");
    let (code, list) = admin.raw("GET", &path, None).await.expect("list");
    assert_eq!(code, 200, "{path}: {list}");
    list["items"].as_array().unwrap().len()
}

async fn check_version(capi: CapiVersion) {
    let v = capi.as_str();
    let (mut env, admin) = common::own_env_with_admin(&format!("provider-versions-{v}")).await;
    let kc = env.info.kubeconfig.clone();
    let docs = Arc::new(upstream_docs());
    let mut strict_checked = 0;
    for provider in Provider::ALL {
        let expected = provider.default_api_version(capi);
        install(&admin, &install_spec(provider, capi, expected, &docs)).await;
        let name = format!("pv-{}-{v}", provider.as_str());
        let yaml = fleet_yaml(provider, v, "");
        let summary = run(&kc, &name, &yaml).await;
        let (sent, ok, _, _) = common::accounted(&summary);
        assert_eq!(
            sent,
            ok,
            "{name}: refused by the real CRDs: {:?}",
            refused(&summary)
        );
        assert_eq!(summary["fleet"]["objects_planned"].as_u64(), Some(ok));
        assert_eq!(
            summary["fleet"]["provider_api_version"],
            expected.as_str(),
            "{name}: the version discovery found"
        );
        let machines = format!("{}s", provider.machine_kind().to_ascii_lowercase());
        // 2 clusters x (1 control plane + 1 worker), beside the other runs' machines.
        assert!(count(&admin, expected.as_str(), &machines).await >= 4);
        let spec = common::fleet(&name, &yaml, &name);
        assert_eq!(spec.provider_api_version, expected);
        let (checked, refusals) = strict_refusals(&admin, &spec).await;
        assert!(refusals.is_empty(), "{name}: {refusals:#?}");
        strict_checked += checked;
    }
    // Per provider: 3 templates, the cluster and 2 machines with their status (Docker: and
    // a machine pool with its status).
    assert_eq!(strict_checked, 3 * 9 + 2, "objects and statuses checked");

    // The strict check can fail: a misspelled spec field of a provider kind is a 422.
    let spec = common::fleet(
        "pv-misspelled",
        &fleet_yaml(Provider::Docker, v, ""),
        &format!("pv-docker-{v}"),
    );
    let mut obj = model::cluster_objects(&spec, 0)
        .find(|o| o.kind == model::Kind::InfraMachine)
        .expect("a DockerMachine");
    obj.body["metadata"]["name"] = "misspelled".into();
    obj.body["spec"]["customImge"] = "kindest/node:v1.30.4".into();
    let path = format!(
        "{}?dryRun=All&fieldValidation=Strict",
        obj.api.collection_path(obj.namespace.as_deref())
    );
    let (code, body) = admin.raw("POST", &path, Some(&obj.body)).await.unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field \"spec.customImge\""),
        "{body}"
    );
    // And a value the schema does not allow is a 422 (an address type outside its enum).
    let mut status = obj.body["status"].clone();
    status["addresses"][0]["type"] = "Bogus".into();
    let path = format!(
        "{}/{}/status?dryRun=All&fieldValidation=Strict",
        obj.api.collection_path(obj.namespace.as_deref()),
        obj.name
    );
    let patch = serde_json::json!({ "status": status });
    let (code, body) = admin
        .raw_typed("PATCH", &path, Some(&patch), "application/merge-patch+json")
        .await
        .unwrap();
    assert_eq!(code, 422, "{body}");
    env.stop().await;
}

#[tokio::test]
async fn v1beta2_provider_objects_are_accepted_by_the_providers_crds() {
    check_version(CapiVersion::V1beta2).await;
}

#[tokio::test]
async fn v1beta1_provider_objects_are_accepted_by_the_providers_crds() {
    check_version(CapiVersion::V1beta1).await;
}

#[tokio::test]
async fn discovery_picks_the_version_the_target_serves() {
    // Cluster API v1beta1 beside Metal3 served only in v1beta2 (the default for a v1beta1
    // fleet would be v1beta1).
    let (mut env, admin) = common::own_env_with_admin("provider-versions-discovery").await;
    let kc = env.info.kubeconfig.clone();
    let docs = Arc::new(upstream_docs());
    let (capi, provider) = (CapiVersion::V1beta1, Provider::Metal3);
    install(
        &admin,
        &install_spec(provider, capi, CapiVersion::V1beta2, &docs),
    )
    .await;
    let served = capi_loadgen::runner::provider_discovery::served_versions(
        &admin,
        &install_spec(provider, capi, CapiVersion::V1beta1, &docs),
    )
    .await;
    assert_eq!(served, vec![CapiVersion::V1beta2]);
    let summary = run(&kc, "pv-discovered", &fleet_yaml(provider, "v1beta1", "")).await;
    let (sent, ok, _, _) = common::accounted(&summary);
    assert_eq!(sent, ok, "{:?}", refused(&summary));
    assert_eq!(summary["fleet"]["provider_api_version"], "v1beta2");
    assert_eq!(count(&admin, "v1beta2", "metal3machines").await, 4);

    // Named in the profile, the version is not discovered: v1beta1 is not served here, so
    // every create of a Metal3 kind fails (and the run says so).
    let yaml = fleet_yaml(provider, "v1beta1", "  provider_api_version: v1beta1\n");
    let profile = common::profile_file("pv-named", &yaml);
    let out = common::state_dir("pv-named-out");
    let _ = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--run-id",
        "pv-named",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let summary = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(summary["fleet"]["provider_api_version"], "v1beta1");
    let failed: Vec<String> = refused(&summary);
    assert!(
        failed.iter().any(|f| f.contains("infra_machine")),
        "{failed:?}"
    );
    env.stop().await;
}
