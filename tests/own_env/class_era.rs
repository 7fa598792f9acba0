//! ClusterClass-era fleets (`fleet.topology`, `fleet.machine_health_checks`,
//! `fleet.machine_pools`) against the real upstream CRDs of a Cluster API release, in both
//! API versions users run: in `cluster.x-k8s.io` mode (the CRDs installed as published,
//! one served version each) and with `crd_schemas: upstream` in the tool's own groups.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::kube::KubeTarget;
use capi_loadgen::model::{self, CapiVersion, CrdSchemas, Provider};
use std::sync::Arc;

/// The fleet of both runs: 3 clusters in 2 namespaces (two ClusterClasses), a health check
/// per control plane and MachineDeployment, 2 MachinePools per cluster.
fn fleet_yaml(v: &str, group: &str, extra: &str) -> String {
    format!(
        "fleet:\n  clusters: 3\n  clusters_per_namespace: 2\n  control_plane_replicas: 1\n  machine_deployments: 2\n  workers_per_machine_deployment: 1\n  provider: docker\n  capi_version: {v}\n  api_group: {group}\n  topology: true\n  machine_health_checks: true\n  machine_pools: 2\n  machine_pool_replicas: 3\n{extra}client: {{pool_size: 2, qps: -1}}\n"
    )
}

/// Lists `plural` of `group`/`v` across namespaces.
async fn count(admin: &KubeTarget, group: &str, v: &str, plural: &str) -> usize {
    let req = http::Request::get(format!("/apis/{group}/{v}/{plural}"))
        .body(Vec::new())
        .unwrap();
    let list: serde_json::Value = admin.client().request(req).await.unwrap();
    list["items"].as_array().unwrap().len()
}

/// Runs `yaml` as run id `name`: its summary (schema-checked) and report.
async fn run(kc: &std::path::Path, name: &str, yaml: &str) -> (serde_json::Value, String) {
    let profile = common::profile_file(name, yaml);
    let out = common::state_dir(&format!("{name}-out"));
    common::run_profile_to(&profile, Some(kc), name, &out)
        .await
        .expect("run completes");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    (
        common::assert_valid_summary(&out.join("summary.json")),
        report,
    )
}

fn assert_all_accepted(summary: &serde_json::Value, what: &str) {
    let (sent, ok, _, _) = common::accounted(summary);
    let refused: Vec<String> = summary["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["ok"] != o["sent"])
        .map(|o| format!("{} {}: {}", o["verb"], o["kind"], o["failed_by"]))
        .collect();
    assert_eq!(
        sent, ok,
        "{what}: refused by the upstream CRDs: {refused:?}"
    );
    assert_eq!(
        summary["fleet"]["objects_planned"].as_u64(),
        Some(ok),
        "{what}"
    );
}

async fn check_version(version: CapiVersion) {
    let v = version.as_str();
    let (mut env, admin) = common::own_env_with_admin(&format!("class-era-{v}")).await;
    let kc = env.info.kubeconfig.clone();
    let dir = common::capi_release_crds();
    let docs = capi_loadgen::profile::read_crd_dir(&dir).expect("the release's CRDs parse");

    // cluster.x-k8s.io mode: the release's CRDs in their own groups (serving `v`, without
    // the conversion webhook), the provider kinds inferred, as an admin installs them.
    let mut spec = common::fleet(
        &format!("class-era-spec-{v}"),
        &fleet_yaml(v, "cluster.x-k8s.io", "  install_crds: false\n"),
        "era",
    );
    spec.crd_schemas = CrdSchemas::Upstream(Arc::new(docs));
    assert_eq!(spec.provider, Provider::Docker);
    let crds = model::crds(&spec);
    assert_eq!(crds.len(), spec.custom_kinds().len());
    let upstream = model::upstream_kinds(&spec);
    assert_eq!(upstream.len(), 11, "{v}: {upstream:?}");
    admin
        .install_crds(&crds)
        .await
        .expect("upstream CRDs install");
    let name = format!("era-capi-{v}");
    let (summary, _) = run(
        &kc,
        &name,
        &fleet_yaml(v, "cluster.x-k8s.io", "  install_crds: false\n"),
    )
    .await;
    assert_all_accepted(&summary, &format!("{v} cluster.x-k8s.io"));
    let g = "cluster.x-k8s.io";
    assert_eq!(count(&admin, g, v, "clusterclasses").await, 2);
    assert_eq!(count(&admin, g, v, "machinehealthchecks").await, 3 * 3);
    assert_eq!(count(&admin, g, v, "machinepools").await, 3 * 2);
    let cp = format!("controlplane.{g}");
    assert_eq!(
        count(&admin, &cp, v, "kubeadmcontrolplanetemplates").await,
        2
    );

    // crd_schemas: upstream: the same schemas renamed into the tool's groups, with
    // defaulting and validating webhooks on every kind (ClusterClass and templates too).
    let extra = format!("  crd_schemas: upstream\n  crd_dir: {}\n", dir.display());
    let name = format!("era-side-{v}");
    let yaml = fleet_yaml(v, model::DEFAULT_API_GROUP, &extra) + "webhooks: {latency: {ms: 1}}\n";
    let (summary, report) = run(&kc, &name, &yaml).await;
    assert_all_accepted(&summary, &format!("{v} crd_schemas: upstream"));
    let w = &summary["webhooks"];
    let kinds = w["setup"]["kinds"].as_array().unwrap();
    // Every custom kind: this fleet writes all of them.
    assert_eq!(kinds.len(), model::CUSTOM_KINDS.len(), "{v}: {kinds:?}");
    assert!(kinds.iter().any(|k| k == "cluster_class"), "{kinds:?}");
    // The apiserver counted every call the tool served: two per create of those kinds.
    let calls = w["calls_tool"].as_u64().unwrap();
    assert!(calls > 100, "{v}: {calls}");
    assert_eq!(w["calls_apiserver"].as_f64(), Some(calls as f64), "{v}");
    assert!(report.contains("## Webhooks"), "{report}");
    assert!(
        report.contains("ClusterClass era: topology-managed"),
        "{report}"
    );
    assert_eq!(
        summary["fleet"]["upstream_schema_kinds"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    let g = model::DEFAULT_API_GROUP;
    assert_eq!(count(&admin, g, v, "clusterclasses").await, 2);
    assert_eq!(
        count(
            &admin,
            &format!("infrastructure.{g}"),
            // CAPD's newest (v1beta2) beside Cluster API v1beta2, v1beta1 beside v1beta1.
            Provider::Docker.default_api_version(version).as_str(),
            "dockermachinepools"
        )
        .await,
        3 * 2
    );

    // Cleanup finds every kind by the run's label.
    common::cli(&[
        "cleanup",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--run-id",
        &name,
    ])
    .await
    .expect("cleanup");
    assert_eq!(count(&admin, g, v, "clusterclasses").await, 0);
    assert_eq!(count(&admin, g, v, "machinepools").await, 0);
    env.stop().await;
}

#[tokio::test]
async fn v1beta1_class_era_objects_are_accepted_by_the_release_crds() {
    check_version(CapiVersion::V1beta1).await;
}

#[tokio::test]
async fn v1beta2_class_era_objects_are_accepted_by_the_release_crds() {
    check_version(CapiVersion::V1beta2).await;
}
