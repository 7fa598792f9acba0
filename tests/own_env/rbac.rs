//! Least privilege, proven on a real apiserver: the local environment's load identity (the
//! ServiceAccount capi-loadgen-system/capi-loadgen) loses its cluster-admin binding and is
//! bound only to what `deploy/rbac.yaml` grants, with the CRDs installed by an admin from
//! `capi-loadgen crds`. As that identity the quickstart runs, `cleanup` deletes a run and
//! keeps a namespace holding a foreign object, and a sweep runs; Secrets outside its own
//! namespaces, RoleBindings elsewhere, other namespaces and CRD creation stay out of reach.

use capi_loadgen_test_support as common;

use capi_loadgen::env::{local, LocalEnv, LocalOptions};
use serde_json::Value;
use std::time::Duration;

/// How long the apiserver may take to enforce a new ValidatingAdmissionPolicy.
const POLICY_DEADLINE: Duration = Duration::from_secs(60);
/// Between two probes of the policy.
const POLL: Duration = Duration::from_millis(500);

/// POSTs an object as the admin; an object that already exists is fine.
async fn create(admin: &kube::Client, obj: &Value) {
    let kind = obj["kind"].as_str().unwrap();
    let api = obj["apiVersion"].as_str().unwrap();
    let plural = match kind {
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies".to_string(),
        "ValidatingAdmissionPolicyBinding" => "validatingadmissionpolicybindings".to_string(),
        k => format!("{}s", k.to_ascii_lowercase()),
    };
    let root = if api == "v1" {
        "/api/v1".to_string()
    } else {
        format!("/apis/{api}")
    };
    let path = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{root}/namespaces/{ns}/{plural}"),
        None => format!("{root}/{plural}"),
    };
    let (code, body) = raw(admin, "POST", &path, Some(obj)).await;
    assert!(
        (200..300).contains(&code) || code == 409,
        "{path}: HTTP {code}: {body}"
    );
}

async fn raw(c: &kube::Client, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(bytes)
        .unwrap();
    let resp = c.send(req.map(kube::client::Body::from)).await.unwrap();
    let code = resp.status().as_u16();
    use http_body_util::BodyExt;
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[tokio::test]
async fn the_quickstart_cleanup_and_a_sweep_run_as_the_least_privileged_identity() {
    let dir = common::state_dir("rbac");
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: dir.join("env"),
        ..Default::default()
    })
    .await
    .unwrap();
    let kc = env.info.kubeconfig.clone();
    let admin = local::client_for(&kc, local::ADMIN_CONTEXT).await.unwrap();
    let load = local::client_for(&kc, local::LOAD_CONTEXT).await.unwrap();

    // The load identity loses cluster-admin and gets deploy/rbac.yaml only.
    let (code, _) = raw(
        &admin,
        "DELETE",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/capi-loadgen-load",
        None,
    )
    .await;
    assert_eq!(code, 200);
    let rbac =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml")).unwrap();
    for doc in documents(&rbac) {
        create(&admin, &doc).await;
    }
    // An admin installs the CRDs from `capi-loadgen crds`.
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/quickstart.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .args(["crds", quickstart])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    for crd in list["items"].as_array().unwrap() {
        create(&admin, crd).await;
    }

    // Out of reach: Secrets elsewhere, binding or deleting outside its namespaces, new CRDs.
    for path in ["/api/v1/secrets", "/api/v1/namespaces/default/secrets"] {
        assert_eq!(raw(&load, "GET", path, None).await.0, 403, "{path}");
    }
    let rb = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "sneak", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "capi-loadgen-namespace"},
        "subjects": [{"kind": "ServiceAccount", "name": "capi-loadgen", "namespace": "capi-loadgen-system"}],
    });
    // The admission policy takes effect once the apiserver has loaded it.
    let t0 = std::time::Instant::now();
    loop {
        let (code, body) = raw(
            &load,
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            Some(&rb),
        )
        .await;
        // Denied by the policy (422, reason Invalid) or by RBAC (403).
        if code == 403 || code == 422 {
            break;
        }
        assert_eq!(code, 201, "{body}");
        assert!(
            t0.elapsed() < POLICY_DEADLINE,
            "a RoleBinding in default still allowed after {POLICY_DEADLINE:?}"
        );
        raw(
            &admin,
            "DELETE",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/sneak",
            None,
        )
        .await;
        tokio::time::sleep(POLL).await;
    }
    let (code, body) = raw(&load, "DELETE", "/api/v1/namespaces/default", None).await;
    assert!(
        code == 403 || code == 422,
        "deleting default: HTTP {code}: {body}"
    );
    let crd = &list["items"][0];
    let (code, _) = raw(
        &load,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some(crd),
    )
    .await;
    assert_eq!(code, 403, "creating a CRD");
    // A run whose CRDs are not installed says so as a permission problem, with the fix.
    let other_group = common::profile_file(
        "rbac-crd-group",
        "fleet: {clusters: 1, api_group: other.rbac.example.io}\n",
    );
    let e = common::run_profile_to(&other_group, Some(&kc), "rbac-g", &dir.join("group"))
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::AUTH, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("permission denied (HTTP 403, RBAC)")
            && msg.contains("create CustomResourceDefinitions")
            && msg.contains("deploy/rbac-crds.yaml")
            && !msg.contains("credentials rejected"),
        "{msg}"
    );

    // The quickstart, as that identity (the kubeconfig's current context).
    let results = dir.join("results");
    let q = results.join("quickstart");
    common::run_profile_to(std::path::Path::new(quickstart), Some(&kc), "rbac-q", &q)
        .await
        .expect("the quickstart runs with deploy/rbac.yaml");
    let s = capi_loadgen::report::Summary::read(&q).unwrap();
    let (sent, ok, failed, throttled) = common::accounted(&serde_json::to_value(&s).unwrap());
    assert_eq!((failed, throttled), (0, 0), "{sent} sent, {ok} ok");
    assert!(sent > 1000);

    // A run left in place, a foreign object planted by the admin in one of its namespaces;
    // cleanup as the identity deletes the run, Secrets included, and keeps that namespace.
    let p = common::profile_file(
        "rbac-keep",
        "fleet: {clusters: 3, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nclient: {qps: -1}\nphases: {create: {concurrency: 3}}\n",
    );
    common::run_profile_to(&p, Some(&kc), "rbac-k", &results.join("keep"))
        .await
        .unwrap();
    let secrets = common::names_with_label(&kc, "/api/v1/secrets", "rbac-k").await;
    assert!(!secrets.is_empty());
    let namespaces = common::names_with_label(&kc, "/api/v1/namespaces", "rbac-k").await;
    assert_eq!(namespaces.len(), 3);
    let planted = namespaces[0].trim_start_matches('/').to_string();
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-ours", "namespace": planted}});
    create(&admin, &cm).await;
    common::cli(&[
        "cleanup",
        "--run-id",
        "rbac-k",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ])
    .await
    .expect("cleanup runs with deploy/rbac.yaml");
    assert!(common::names_with_label(&kc, "/api/v1/secrets", "rbac-k")
        .await
        .is_empty());
    let left = common::names_with_label(&kc, "/api/v1/namespaces", "rbac-k").await;
    assert_eq!(
        left,
        [format!("/{planted}")],
        "only the namespace with a foreign object"
    );
    let (code, _) = raw(
        &admin,
        "GET",
        &format!("/api/v1/namespaces/{planted}/configmaps/not-ours"),
        None,
    )
    .await;
    assert_eq!(code, 200, "the foreign object survives");

    // A sweep (two points, each its own run) as the identity.
    let sweep = common::profile_file(
        "rbac-sweep",
        "fleet: {clusters: 1, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nclient: {qps: -1}\nphases: {create: {concurrency: 2}, delete: {concurrency: 2}}\n",
    );
    let sweep_out = results.join("sweep");
    common::cli(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--field",
        "fleet.clusters",
        "--values",
        "1,2",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--sweep-id",
        "rbac-s",
        "--out",
        sweep_out.to_str().unwrap(),
    ])
    .await
    .expect("a sweep runs with deploy/rbac.yaml");
    for point in std::fs::read_dir(&sweep_out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("summary.json").exists())
    {
        let s = capi_loadgen::report::Summary::read(&point.path()).unwrap();
        assert_eq!(s.totals.failed, 0, "{}", point.path().display());
    }
    env.stop().await;
}
