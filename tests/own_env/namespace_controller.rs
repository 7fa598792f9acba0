//! `cleanup` and the namespace controller. The local environment has none (no
//! kube-controller-manager): there the tool must empty each namespace of *every* object
//! before it removes the finalizer, or what it did not create itself (a RoleBinding, the
//! `default` ServiceAccount, the `kube-root-ca.crt` ConfigMap a real cluster puts in every
//! namespace) stays in etcd without a namespace. Where a controller exists (here: its lease,
//! and a test task doing its work ten namespaces at a time, slowly, through the real
//! apiserver), the tool must only wait: every namespace is finalized by that controller and
//! nothing of the run is left in etcd.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::etcd::EtcdTarget;
use capi_loadgen::backend::kube::KubeTarget;
use capi_loadgen::runner::namespace_settle::{empty_namespace, NO_CONTROLLER_GRACE};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 25 namespaces of one cluster each: three batches of the simulated controller.
const PROFILE: &str = "fleet: {clusters: 25, clusters_per_namespace: 1, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nclient: {qps: -1}\n";

/// Namespaces the simulated controller works on at once (kube-controller-manager's
/// default `--concurrent-namespace-syncs`).
const BATCH: usize = 10;

/// How long the simulated controller takes per batch: longer than the tool's
/// no-controller grace, so a tool that took "no conditions yet" for "no controller" would
/// finalize the later batches while still full.
const BATCH_TIME: Duration = Duration::from_secs(3);

/// How long the run's namespaces may take to go after cleanup returned.
const CONTROLLER_DEADLINE: Duration = Duration::from_secs(120);

fn namespaces(run_id: &str) -> Vec<String> {
    let spec = common::fleet("nsc-spec", PROFILE, run_id);
    (0..spec.namespace_count())
        .map(|i| spec.namespace_name(i))
        .collect()
}

async fn post(admin: &KubeTarget, path: &str, body: serde_json::Value) {
    let (code, answer) = admin.raw("POST", path, Some(&body)).await.unwrap();
    assert!(code < 300 || code == 409, "POST {path}: {code} {answer}");
}

/// What a real cluster has in each namespace besides the run's objects: the `default`
/// ServiceAccount and `kube-root-ca.crt` ConfigMap (kube-controller-manager's), and the
/// run-labelled RoleBinding the tool creates for a least-privilege identity.
async fn plant(admin: &KubeTarget, run_id: &str, ns: &str) {
    post(
        admin,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
    )
    .await;
    post(
        admin,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "x"}}),
    )
    .await;
    post(
        admin,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "capi-loadgen-load", "labels": {"capi-loadgen.io/run-id": run_id}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "someone"}]}),
    )
    .await;
}

/// Runs the profile as `run_id`, then plants [`plant`]'s objects in each namespace.
async fn run_and_plant(env: &capi_loadgen::env::LocalEnv, admin: &KubeTarget, run_id: &str) {
    let p = common::profile_file(&format!("nsc-{run_id}"), PROFILE);
    let out = common::state_dir(&format!("nsc-{run_id}-out"));
    common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.info.kubeconfig.to_str().unwrap(),
        "--run-id",
        run_id,
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    for ns in namespaces(run_id) {
        plant(admin, run_id, &ns).await;
    }
}

/// etcd keys in (or of) any of the run's namespaces.
async fn left_in_etcd(etcd: &EtcdTarget, run_id: &str) -> Vec<String> {
    let ns: BTreeSet<String> = namespaces(run_id).into_iter().collect();
    etcd.keys_with_prefix("/registry/")
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.split('/').any(|part| ns.contains(part)))
        .collect()
}

async fn cleanup(env: &capi_loadgen::env::LocalEnv, run_id: &str) {
    common::cli(&[
        "cleanup",
        "--run-id",
        run_id,
        "--kubeconfig",
        env.info.kubeconfig.to_str().unwrap(),
    ])
    .await
    .expect("cleanup succeeds");
}

/// What the simulated controller saw: namespaces it finalized, and namespaces that were
/// already gone when it came to them (finalized by someone else: the tool).
#[derive(Default)]
struct Seen {
    finalized: BTreeSet<String>,
    gone_before: BTreeSet<String>,
}

/// A slow namespace controller: every [`BATCH_TIME`] it takes up to [`BATCH`] Terminating
/// namespaces of the run, deletes everything in them and removes their finalizer.
async fn slow_controller(
    admin: KubeTarget,
    run_id: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let collections = admin.namespaced_collections().await.unwrap();
    let selector = format!("capi-loadgen.io/run-id%3D{run_id}");
    let mut handled: BTreeSet<String> = BTreeSet::new();
    while !stop.load(Ordering::SeqCst) {
        let (_, list) = admin
            .raw(
                "GET",
                &format!("/api/v1/namespaces?labelSelector={selector}"),
                None,
            )
            .await
            .unwrap();
        let batch: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|ns| !ns["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|ns| ns["metadata"]["name"].as_str().map(String::from))
            .filter(|n| !handled.contains(n))
            .take(BATCH)
            .collect();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        tokio::time::sleep(BATCH_TIME).await;
        for n in batch {
            handled.insert(n.clone());
            let (code, _) = admin
                .raw("GET", &format!("/api/v1/namespaces/{n}"), None)
                .await
                .unwrap();
            if code == 404 {
                seen.lock().unwrap().gone_before.insert(n);
                continue;
            }
            empty_namespace(&admin, &collections, &n).await.unwrap();
            admin.finalize_namespace(&n).await.unwrap();
            seen.lock().unwrap().finalized.insert(n);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_empties_namespaces_itself_only_without_a_namespace_controller() {
    let (env, admin) = common::own_env_with_admin("nsc").await;
    let etcd = EtcdTarget::connect(
        std::slice::from_ref(&env.info.etcd_endpoint),
        None,
        common::ADMIN_CLIENT_TIMEOUT,
    )
    .await
    .unwrap();

    // No controller: the tool empties and finalizes, leaving nothing behind.
    run_and_plant(&env, &admin, "nsc-alone").await;
    assert!(!left_in_etcd(&etcd, "nsc-alone").await.is_empty());
    cleanup(&env, "nsc-alone").await;
    let left = left_in_etcd(&etcd, "nsc-alone").await;
    assert!(
        left.is_empty(),
        "left in etcd without a controller: {left:?}"
    );

    // A slow controller, announced by its lease: the tool only waits.
    post(
        &admin,
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "kube-controller-manager"},
            "spec": {"holderIdentity": "test-namespace-controller", "leaseDurationSeconds": 15}}),
    )
    .await;
    run_and_plant(&env, &admin, "nsc-slow").await;
    let (stop, seen) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Seen::default())),
    );
    let controller = tokio::spawn(slow_controller(
        admin.clone(),
        "nsc-slow".into(),
        stop.clone(),
        seen.clone(),
    ));
    let t0 = Instant::now();
    cleanup(&env, "nsc-slow").await;
    // Three batches take longer than the no-controller grace: the tool did wait.
    assert!(t0.elapsed() > NO_CONTROLLER_GRACE, "{:?}", t0.elapsed());
    let all: BTreeSet<String> = namespaces("nsc-slow").into_iter().collect();
    let deadline = Instant::now() + CONTROLLER_DEADLINE;
    loop {
        let (_, list) = admin
            .raw(
                "GET",
                "/api/v1/namespaces?labelSelector=capi-loadgen.io/run-id%3Dnsc-slow",
                None,
            )
            .await
            .unwrap();
        if list["items"].as_array().is_some_and(|i| i.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the run's namespaces did not go");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    controller.await.unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.gone_before.is_empty(),
        "the tool finalized namespaces a controller was about to handle: {:?}",
        seen.gone_before
    );
    assert_eq!(
        seen.finalized, all,
        "every namespace finalized by the controller, none by the tool"
    );
    let left = left_in_etcd(&etcd, "nsc-slow").await;
    assert!(left.is_empty(), "left in etcd with a controller: {left:?}");
}
