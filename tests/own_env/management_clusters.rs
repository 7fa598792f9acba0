//! Validating a plan: a fleet that drives one management cluster past its client-QPS
//! breakpoint (20 clusters x 1 call per 2 s against 5 requests/s: N* = 10) backs up on one
//! local environment, and runs healthy on the number of management clusters `plan`
//! recommends, each its own local etcd + kube-apiserver with its own client.

use capi_loadgen_test_support as common;

use capi_loadgen::report::Summary;

const FLEET: &str = "fleet: {clusters: 20, control_plane_replicas: 1, machine_deployments: 0, cluster_secrets: []}
client: {pool_size: 1, qps: -1}
observe: {enabled: false}
phases:
  create: {concurrency: 4}
  steady: {duration_seconds: 8, sync_period_seconds: 2, jitter: 0, concurrency: 10, calls_per_reconcile: {get: 1}, client_qps: 5, client_burst: 1}
";

async fn run(name: &str, yaml: &str) -> (Summary, std::path::PathBuf) {
    let p = common::profile_file(name, yaml);
    let out = common::state_dir(name);
    common::run_profile_to(&p, None, name, &out)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    common::assert_valid_summary(&out.join("summary.json"));
    (Summary::read(&out).unwrap(), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planned_management_clusters_hold_a_fleet_one_cannot() {
    // One management cluster: past N* = 5 x 2 / 1 = 10, the queue backs up.
    let (one, _) = run("mc-one", FLEET).await;
    let c = &one.controllers[0];
    println!(
        "1 management cluster: {} reconciles owed at the end, lag p99 {:.0} ms, queue wait p99 {:.0} ms",
        c.unserved_reconciles, c.lag_ms.p99, c.queue_wait_ms.p99
    );
    assert!(c.unserved_reconciles > 10.0, "{c:?}");
    assert!(
        c.lag_ms.p99 > 2000.0,
        "a reconcile waits more than a period: {c:?}"
    );

    // What the planner recommends for this fleet with these flags.
    let plan_dir = common::state_dir("mc-plan");
    common::cli(&[
        "plan",
        "--clusters",
        "20",
        "--machines-per-cluster",
        "1",
        "--kube-api-qps",
        "5",
        "--sync-period-seconds",
        "2",
        "--calls-per-reconcile",
        "1",
        "--writes-per-reconcile",
        "1",
        "--reconcile-seconds",
        "0.05",
        "--keep-flags",
        "--out",
        plan_dir.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let plan = common::assert_valid(&plan_dir.join("plan.json"), "plan.schema.json");
    assert_eq!(plan["first"]["id"], "client-qps");
    assert_eq!(plan["sizing"]["limited_by"], "client-qps");
    let m = plan["sizing"]["management_clusters"].as_u64().unwrap();
    assert!(m >= 2, "{}", plan["sizing"]);

    // The same fleet over M local environments.
    let (many, out) = run(
        "mc-many",
        &format!("{FLEET}local: {{management_clusters: {m}}}\n"),
    )
    .await;
    assert_eq!(many.merged_from.len() as u64, m);
    assert_eq!(many.fleet.clusters, 20);
    common::accounted(&serde_json::to_value(&many).unwrap());
    assert_eq!(many.totals.failed + many.totals.throttled, 0);
    for i in 0..m {
        let s = Summary::read(&out.join(format!("mc-{i}"))).unwrap();
        let c = &s.controllers[0];
        println!(
            "management cluster {i}: {} clusters on {}, {} reconciles owed, lag p99 {:.0} ms, queue wait p99 {:.0} ms",
            s.fleet.clusters, s.target.endpoint, c.unserved_reconciles, c.lag_ms.p99, c.queue_wait_ms.p99
        );
        assert!(c.unserved_reconciles < 2.0, "mc-{i} keeps up: {c:?}");
        assert!(
            c.lag_ms.p99 < 2000.0,
            "mc-{i}: no reconcile waits a period: {c:?}"
        );
    }
    let endpoints: std::collections::BTreeSet<String> = (0..m)
        .map(|i| {
            Summary::read(&out.join(format!("mc-{i}")))
                .unwrap()
                .target
                .endpoint
        })
        .collect();
    assert_eq!(
        endpoints.len() as u64,
        m,
        "each management cluster is its own apiserver"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Per shard") && md.contains("mc-1"), "{md}");
}

/// The sizing guide's example (docs/guide/sizing.md): 15,000 clusters x 10 machines calibrated by the committed
/// reference suite, every figure with a source.
#[tokio::test]
async fn the_reference_plan_has_a_source_for_every_figure() {
    let out = common::state_dir("plan-15000");
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference");
    common::cli(&[
        "plan",
        "--clusters",
        "15000",
        "--machines-per-cluster",
        "10",
        "--calibration",
        reference.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let p = common::assert_valid(&out.join("plan.json"), "plan.schema.json");
    for b in p["progression"].as_array().unwrap() {
        assert!(
            b["source"]
                .as_str()
                .unwrap()
                .starts_with("measured in run ref "),
            "{b}"
        );
        assert!(b["formula"].as_str().unwrap().starts_with("N* = "), "{b}");
    }
    assert_eq!(p["first"]["id"], "client-qps");
    assert_eq!(p["claim_checks"].as_array().unwrap().len(), 4);
    // Bad input: one line, exit 2.
    for args in [
        vec!["plan", "--clusters", "0"],
        vec!["plan", "--clusters", "10", "--sharding", "alphabet"],
        vec!["plan", "--clusters", "10", "--calibration", "/nonexistent"],
        vec!["plan", "--clusters", "10", "--capi-version", "v0.1"],
    ] {
        let e = common::cli(&args).await.unwrap_err();
        assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{args:?}: {e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
