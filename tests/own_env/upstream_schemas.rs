//! `fleet.crd_schemas: upstream`: the real Cluster API CRDs (the YAML files as published,
//! the release `scripts/setup.sh` fetches into the cache) renamed into the tool's `loadtest.` groups, installed by a
//! run, and a fleet created, reconciled (status patches) and deleted through them, in both
//! API versions.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::kube::KubeTarget;
use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::model::CapiVersion;
use std::time::Duration;

/// Request timeout of the admin client that inspects the installed CRDs.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn upstream_dir() -> String {
    common::capi_release_crds().display().to_string()
}

/// Counts `key` anywhere in `v`.
fn count_key(v: &serde_json::Value, key: &str) -> usize {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, x)| usize::from(k == key) + count_key(x, key))
            .sum(),
        serde_json::Value::Array(a) => a.iter().map(|x| count_key(x, key)).sum(),
        _ => 0,
    }
}

async fn check_version(version: CapiVersion) {
    let v = version.as_str();
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: common::state_dir(&format!("upstream-schemas-{v}")),
        ..Default::default()
    })
    .await
    .expect("local environment");
    let kc = env.info.kubeconfig.clone();
    let profile = common::profile_file(
        &format!("upstream-schemas-{v}"),
        &format!(
            "fleet:\n  clusters: 2\n  control_plane_replicas: 3\n  machine_deployments: 1\n  workers_per_machine_deployment: 2\n  provider: metal3\n  capi_version: {v}\n  crd_schemas: upstream\n  crd_dir: {}\nclient: {{pool_size: 2, qps: -1}}\nphases:\n  create: {{concurrency: 4}}\n  steady:\n    duration_seconds: 4\n    sync_period_seconds: 600\n    time_scale: 300\n    calls_per_reconcile: {{get: 1, list: 1, patch_status: 2}}\n    machine_controller: {{concurrency: 4}}\n",
            upstream_dir()
        ),
    );
    let out = common::state_dir(&format!("upstream-schemas-out-{v}"));
    let run_id = format!("upstream-{v}");
    common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--run-id",
        &run_id,
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect("run completes");
    let summary = common::assert_valid_summary(&out.join("summary.json"));
    let (sent, ok, _, _) = common::accounted(&summary);
    assert_eq!(sent, ok, "{v}: requests refused by the upstream schemas");
    assert_eq!(summary["fleet"]["crd_schemas"], "upstream");
    let kinds = summary["fleet"]["upstream_schema_kinds"]
        .as_array()
        .unwrap();
    assert_eq!(kinds.len(), 6, "{v}: {kinds:?}");
    let steady_patches: u64 = summary["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["phase"] == "steady" && o["verb"] == "patch")
        .map(|o| o["ok"].as_u64().unwrap())
        .sum();
    assert!(steady_patches > 0, "{v}: no status patch was written");

    // The installed CRDs are upstream's, in the tool's group, with one version and no
    // conversion webhook; v1beta2 keeps its CEL rules.
    let admin = KubeTarget::from_kubeconfig(Some(&kc), Some("capi-loadgen-admin"), CLIENT_TIMEOUT)
        .await
        .unwrap();
    let crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (code, kcp) = admin
        .raw(
            "GET",
            &format!("{crd_path}/kubeadmcontrolplanes.controlplane.loadtest.cluster.x-k8s.io"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(kcp["spec"]["conversion"]["strategy"], "None");
    assert_eq!(kcp["spec"]["versions"].as_array().unwrap().len(), 1);
    assert_eq!(kcp["spec"]["versions"][0]["name"], v);
    assert!(
        count_key(&kcp, "description") > 100,
        "{v}: not upstream's schema"
    );
    if version == CapiVersion::V1beta2 {
        assert!(
            count_key(&kcp, "x-kubernetes-validations") > 0,
            "CEL rules kept"
        );
    }

    // Validation is upstream's: a Machine whose clusterName is longer than upstream's
    // 63-character limit (which an inferred schema does not know) is refused.
    let ns = format!("clg-{run_id}-00000");
    let machines = format!("/apis/loadtest.cluster.x-k8s.io/{v}/namespaces/{ns}/machines");
    let (_, list) = admin.raw("GET", &machines, None).await.unwrap();
    let mut m = list["items"][0].clone();
    assert!(m.is_object(), "{v}: no machine in {ns}");
    let meta = m["metadata"].as_object_mut().unwrap();
    meta.retain(|k, _| matches!(k.as_str(), "namespace" | "labels"));
    meta.insert("name".into(), "too-long-cluster-name".into());
    m["spec"]["clusterName"] = "c".repeat(64).into();
    let (code, status) = admin.raw("POST", &machines, Some(&m)).await.unwrap();
    assert_eq!(code, 422, "{v}: {status}");
    assert!(
        status["message"].as_str().unwrap().contains("clusterName"),
        "{v}: {status}"
    );
    env.stop().await;
}

#[tokio::test]
async fn v1beta1_fleet_runs_through_renamed_upstream_crds() {
    check_version(CapiVersion::V1beta1).await;
}

#[tokio::test]
async fn v1beta2_fleet_runs_through_renamed_upstream_crds() {
    check_version(CapiVersion::V1beta2).await;
}
