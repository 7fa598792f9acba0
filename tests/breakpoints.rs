//! The breakpoint machinery against a real etcd + kube-apiserver: an accumulating sweep
//! (one fleet built point by point, the backlog knee at the model's N*), and the
//! `breakpoints` suite's etcd-size experiment (fill a 64 MiB quota to NOSPACE, recover).

use capi_loadgen_test_support as common;

#[tokio::test]
async fn an_accumulating_sweep_builds_one_fleet_and_finds_n_star() {
    let env = common::shared_env();
    // N* = QPS x period / calls = 20 x 2 / 2 = 20 clusters. The sweep comes from the profile.
    let p = common::profile_file(
        "accumulate",
        "fleet: {clusters: 10, clusters_per_namespace: 100, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {qps: -1}\nobserve: {enabled: false}\nphases:\n  create: {concurrency: 8}\n  steady: {duration_seconds: 3, sync_period_seconds: 2, jitter: 0, concurrency: 10, calls_per_reconcile: {get: 2}, client_qps: 20, client_burst: 1}\nsweep: {field: fleet.clusters, values: [10, 15, 25, 35, 45], state: accumulate}\n",
    );
    let out = common::state_dir("accumulate-out");
    common::cli(&[
        "sweep",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--sweep-id",
        "sw-acc",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect("sweep completes");
    let r = std::fs::read_to_string(out.join("sweep.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["complete"], true);
    assert_eq!(r["state"], "accumulate");
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    // One run id for the whole fleet; each point created only the clusters it added.
    let xs = [10u64, 15, 25, 35, 45];
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p["run_id"], "sw-acc");
        let dir = out.join(format!("p{i:02}-{}", xs[i]));
        let s = common::assert_valid_summary(&dir.join("summary.json"));
        let clusters_created: u64 = s["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["phase"] == "create" && o["kind"] == "cluster")
            .map(|o| o["ok"].as_u64().unwrap())
            .sum();
        let added = xs[i] - if i == 0 { 0 } else { xs[i - 1] };
        assert_eq!(clusters_created, added, "point {i}");
        assert_eq!(s["controllers"][0]["items"], xs[i]);
    }
    let backlog: Vec<f64> = points
        .iter()
        .map(|p| p["queue_backlog"].as_f64().unwrap())
        .collect();
    // Below N* the controller keeps up; above it the owed work grows as
    // (N - N*) / 2 s x 3 s: 22.5 reconciles at 35 clusters, 37.5 at 45 (below N, so the
    // work queue's de-duplication does not cap it yet).
    assert!(backlog[0] <= 3.0 && backlog[1] <= 3.0, "{backlog:?}");
    assert!((12.0..=35.0).contains(&backlog[3]), "{backlog:?}");
    assert!((25.0..=50.0).contains(&backlog[4]), "{backlog:?}");
    let curve = r["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "queue_backlog")
        .expect("a backlog curve");
    assert_eq!(curve["prediction"], 20.0);
    let knee = curve["knee"]["x"].as_f64().expect("a knee in range");
    assert!(
        (12.0..=32.0).contains(&knee),
        "knee {knee} near N* = 20 ({backlog:?})"
    );
    // The client limit bound this knee (achieved ≈ QPS, throttle wait rising), and the
    // tool's own CPU is recorded beside every point.
    let bound = &r["knee_bounds"]["queue_backlog"];
    assert_eq!(bound["bound"], "client_limit", "{bound}");
    assert_eq!(bound["generator_saturated"], false, "{bound}");
    assert!(points.iter().all(|p| p["tool_cpu_percent"].is_number()));
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(
        md.contains("tool CPU %") && md.contains("the client limit ("),
        "{md}"
    );
    assert!(out.join("queue_backlog.svg").exists());
    assert!(out.join("reconcile_lag_p99.svg").exists());
}

#[tokio::test]
async fn accumulating_sweeps_reject_falling_values_and_other_fields() {
    let p = common::profile_file(
        "accumulate-bad",
        "fleet: {clusters: 10}\nphases:\n  create: {}\nsweep: {field: fleet.clusters, values: [20, 10], state: accumulate}\n",
    );
    let e = common::cli(&["sweep", p.to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    assert!(e.to_string().contains("sweep.values"), "{e}");
    let p = common::profile_file(
        "accumulate-bad2",
        "fleet: {clusters: 10}\nphases:\n  create: {}\n",
    );
    let e = common::cli(&[
        "sweep",
        p.to_str().unwrap(),
        "--field",
        "client.qps",
        "--values",
        "1,2",
        "--state",
        "accumulate",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    let e = common::cli(&["breakpoints", "--only", "client-qps,bogus"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    assert!(e.to_string().contains("bogus"), "{e}");
    // Experiments add a suffix to the run id, which may have at most 24 characters.
    let e = common::cli(&["breakpoints", "--run-id", "a-run-id-of-20-chars"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    assert!(e.to_string().contains("at most 16"), "{e}");
}

#[tokio::test]
async fn the_etcd_size_experiment_fills_the_quota_then_recovers() {
    let out = common::state_dir("bp-size");
    common::cli(&[
        "breakpoints",
        "--only",
        "etcd-size",
        "--run-id",
        "bp-test",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect("breakpoints completes");
    let r = common::assert_valid(&out.join("breakpoints.json"), "breakpoints.schema.json");
    assert_eq!(r["complete"], true);
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for row in rows {
        let expected = if row["id"] == "etcd-size" {
            "measured"
        } else {
            "skipped"
        };
        assert_eq!(row["status"], expected, "{row}");
    }
    let row = rows.iter().find(|r| r["id"] == "etcd-size").unwrap();
    let (measured, model) = (
        row["measured"].as_f64().unwrap(),
        row["model"].as_f64().unwrap(),
    );
    // The db holds at least the key + value bytes, plus bbolt's pages: fewer clusters fit
    // than the model's lower bound on bytes allows, but not absurdly fewer.
    assert!(
        measured <= model * 1.05 && measured >= model / 4.0,
        "measured {measured} vs model {model}"
    );
    let note = row["measured_note"].as_str().unwrap();
    assert!(note.contains("NOSPACE alarm armed"), "{note}");
    assert!(note.contains("then succeeded"), "{note}");
    let md = std::fs::read_to_string(out.join("breakpoints.md")).unwrap();
    assert!(
        md.contains("| row | bottleneck | documented | model prediction | measured here | evidence (plot) |"),
        "{md}"
    );
    assert!(out.join("etcd-size/summary.json").exists());
    assert_eq!(row["evidence"][0], "etcd-size/etcd_db_size.svg");
    assert!(out.join("etcd-size/etcd_db_size.svg").exists());
}
