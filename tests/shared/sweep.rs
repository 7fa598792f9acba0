//! `capi-loadgen sweep` against a real apiserver: one run per value, curves, breakpoints
//! and plots, with the analytic prediction beside the measured knee.

use capi_loadgen_test_support as common;

#[tokio::test]
async fn a_cluster_count_sweep_finds_the_client_qps_breakpoint() {
    let env = common::shared_env();
    // N* = QPS x period / calls = 20 x 2 / 2 = 20 clusters.
    let p = common::profile_file(
        "sweep",
        "fleet: {clusters: 10, clusters_per_namespace: 100, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {qps: -1}\nobserve: {enabled: false}\nphases:\n  create: {concurrency: 8}\n  steady: {duration_seconds: 5, sync_period_seconds: 2, jitter: 0, concurrency: 10, calls_per_reconcile: {get: 2}, client_qps: 20, client_burst: 1}\n",
    );
    let out = common::state_dir("sweep-out");
    let argv = [
        "capi-loadgen",
        "sweep",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--field",
        "fleet.clusters",
        "--values",
        "5,10,15,30,45,60",
        "--sweep-id",
        "sw-test",
        "--out",
        out.to_str().unwrap(),
    ];
    common::cli(&argv[1..]).await.expect("sweep completes");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(r["complete"], true);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(points[0]["predicted_breakpoint"], 20.0);
    assert_eq!(points[3]["run_id"], "sw-test-p3");
    let waits: Vec<f64> = points
        .iter()
        .map(|p| p["queue_wait_p99_ms"].as_f64().unwrap())
        .collect();
    // Below N* the queue stays empty; well above it clusters wait for seconds.
    assert!(waits[0] < 200.0 && waits[1] < 200.0, "{waits:?}");
    // Above it every point waits; within a 5 s phase the waits near 30-45 clusters cap out
    // at similar values, so no ordering between them is claimed.
    assert!(waits[3..].iter().all(|w| *w > 500.0), "{waits:?}");
    let curve = r["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "queue_wait_p99")
        .unwrap();
    let knee = curve["knee"]["x"].as_f64().expect("a knee in range");
    assert!(
        (10.0..=35.0).contains(&knee),
        "knee {knee} near N* = 20 ({waits:?})"
    );
    for f in [
        "sweep.md",
        "queue_wait_p99.svg",
        "throttle_wait_p99.svg",
        "p00-5/summary.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(
        md.contains("| queue_wait_p99 |") && md.contains("20 (N* = QPS x period / calls)"),
        "{md}"
    );
}

/// The committed reference sweep re-renders from its JSON, curves without a threshold
/// (written as null) included.
#[tokio::test]
async fn the_reference_sweep_re_renders_from_its_json() {
    let dir = common::state_dir("reference-sweep");
    std::fs::create_dir_all(&dir).unwrap();
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/throttle-600");
    std::fs::copy(src.join("sweep.json"), dir.join("sweep.json")).unwrap();
    common::cli(&["report", dir.to_str().unwrap()])
        .await
        .expect("report reads the reference sweep.json");
    let md = std::fs::read_to_string(dir.join("sweep.md")).unwrap();
    assert_eq!(md, std::fs::read_to_string(src.join("sweep.md")).unwrap());
}
