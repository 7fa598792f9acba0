//! The load engine against a real kube-apiserver: client-side token buckets, the controller
//! simulation's queue, and server-side 429s counted like the apiserver counts them.

use capi_loadgen_test_support as common;

use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::report::Summary;
use std::path::PathBuf;

/// How long into the run etcd is killed (the run is creating objects by then).
const ETCD_KILL_AFTER: std::time::Duration = std::time::Duration::from_secs(3);
/// How long a run may take to abort once its etcd is gone.
const ABORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// Request timeout of the set-up clients the test reads the server with.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn run_profile(name: &str, yaml: &str, kubeconfig: &std::path::Path) -> (Summary, PathBuf) {
    let p = common::profile_file(name, yaml);
    let out = common::state_dir(&format!("out-{name}"));
    common::run_profile_to(&p, Some(kubeconfig), name, &out)
        .await
        .expect("run completes");
    common::assert_valid_summary(&out.join("summary.json"));
    (Summary::read(&out).unwrap(), out)
}

/// 9 clusters of 11 objects + 1 namespace = exactly 100 creates.
const HUNDRED: &str = "fleet: {clusters: 9, clusters_per_namespace: 9, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 0, cluster_secrets: [kubeconfig, ca]}\n";

#[tokio::test]
async fn qps_5_burst_10_paces_100_requests_and_shows_as_throttle_wait() {
    let env = common::shared_env();
    let (s, _) = run_profile("qps5", &format!("{HUNDRED}client: {{pool_size: 1, qps: 5, burst: 10}}\nphases: {{create: {{concurrency: 4}}}}\n"), &env.kubeconfig).await;
    assert_eq!((s.totals.sent, s.totals.ok), (100, 100));
    // The bucket starts with 10 tokens and refills at 5/s: (100 - 10) / 5 = 18 s.
    let d = s.duration_seconds;
    assert!(
        (17.0..=24.0).contains(&d),
        "100 requests at QPS 5 / burst 10 took {d:.1} s, expected about 18 s"
    );
    let wait_p99 = common::max_over_ops(&s, |o| o.throttle_wait_ms.p99);
    let server_p99 = common::max_over_ops(&s, |o| o.server_ms.p99);
    assert!(
        wait_p99 > 400.0,
        "throttle wait p99 {wait_p99} ms: 4 workers share 5 tokens/s"
    );
    // Medians: on a loaded machine the server's tail can reach the wait's tail, but the
    // typical request waits ~0.8 s for a token and takes milliseconds in the server.
    let median = |f: fn(&capi_loadgen::report::summary::Operation) -> f64| {
        let mut v: Vec<f64> = s.operations.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (wait_p50, server_p50) = (
        median(|o| o.throttle_wait_ms.p50),
        median(|o| o.server_ms.p50),
    );
    assert!(
        wait_p50 > 2.0 * server_p50,
        "the wait is the client's, not the server's (p50 {wait_p50} vs {server_p50}; p99 {wait_p99} vs {server_p99})"
    );

    let (s, _) = run_profile(
        "qps-unlimited",
        &format!(
            "{HUNDRED}client: {{pool_size: 1, qps: -1}}\nphases: {{create: {{concurrency: 4}}}}\n"
        ),
        &env.kubeconfig,
    )
    .await;
    assert_eq!(s.totals.ok, 100);
    let wait_max = common::max_over_ops(&s, |o| o.throttle_wait_ms.max);
    assert!(wait_max < 5.0, "no limiter, no wait: max {wait_max} ms");
}

fn steady_profile(client_qps: u32) -> String {
    // 40 clusters reconciled every 10 s with 2 calls each: demand 8 calls/s.
    format!(
        "fleet: {{clusters: 40, clusters_per_namespace: 40, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: [kubeconfig]}}\n\
         client: {{pool_size: 1, qps: -1}}\n\
         phases:\n  create: {{concurrency: 8}}\n  steady: {{duration_seconds: 12, sync_period_seconds: 10, jitter: 0, concurrency: 10, calls_per_reconcile: {{get: 2}}, client_qps: {client_qps}, client_burst: 1}}\n"
    )
}

fn queue_depths(out: &std::path::Path) -> Vec<u64> {
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let points = capi_loadgen::measure::timeseries::read_csv(&csv).unwrap();
    points.iter().map(|p| p.queue_depth).collect()
}

#[tokio::test]
async fn steady_queue_grows_above_capacity_and_stays_flat_below() {
    let env = common::shared_env();
    // Demand 8 calls/s against 4 calls/s of client capacity: twice what the pool allows.
    let (over, out_over) = run_profile("steady-over", &steady_profile(4), &env.kubeconfig).await;
    let c = over
        .controllers
        .first()
        .cloned()
        .expect("controller summary");
    assert_eq!((c.name.as_str(), c.items), ("cluster", 40));
    assert_eq!(
        c.predicted_breakpoint_clusters,
        Some(20.0),
        "N* = 4 x 10 / 2"
    );
    assert!((c.demand_calls_per_second - 8.0).abs() < 1e-9);
    assert!(c.final_queue_depth >= 8, "queue keeps growing: {c:?}");
    assert!(
        c.queue_wait_ms.max > 3000.0,
        "clusters wait seconds for a worker: {c:?}"
    );
    // Half the demand: a flat queue, every cluster reconciled within its period.
    let (under, out_under) =
        run_profile("steady-under", &steady_profile(16), &env.kubeconfig).await;
    let u = under.controllers.first().cloned().unwrap();
    assert!(u.final_queue_depth <= 2, "flat queue: {u:?}");
    assert_eq!(u.missed_periods, 0);
    assert!(u.queue_wait_ms.p99 < 1000.0, "{u:?}");
    assert!(
        u.reconciles >= 40,
        "every cluster reconciled at least once: {u:?}"
    );
    assert!(c.reconciles < u.reconciles);
    // The time series shows it: the over-capacity queue's last seconds are deeper than its first.
    let d = queue_depths(&out_over);
    let n = d.len();
    assert!(n >= 10, "{d:?}");
    let late: u64 = d[n - 4..].iter().sum();
    let early: u64 = d[..4].iter().sum();
    assert!(late > early + 8, "queue depth over time {d:?}");
    let d = queue_depths(&out_under);
    let late: u64 = d[d.len().saturating_sub(4)..].iter().sum();
    assert!(late <= 8, "no growth below capacity: {d:?}");
}

fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn tiny_inflight_limits_yield_429s_that_match_the_apiservers_count() {
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: common::state_dir("tiny-inflight"),
        max_requests_inflight: Some(1),
        max_mutating_requests_inflight: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let admin = env.admin_client().await.unwrap();
    let scrape = || async {
        let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
        admin.request_text(req).await.unwrap()
    };
    // CRDs first (admin is exempt from APF), so the measured run only creates.
    let crd_profile = "fleet: {clusters: 1}\nclient: {qps: -1}\n";
    let p = common::profile_file("tiny-crds", crd_profile);
    let out = common::state_dir("tiny-crds-out");
    common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.info.kubeconfig.to_str().unwrap(),
        "--run-id",
        "tiny-crds",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();

    let before = scrape().await;
    // 800 concurrent creators from one identity (one APF flow: a hand of 6 queues x 50 seats
    // holds at most 300 waiting requests), no client limit, no retries: every 429 is final.
    let (s, _) = run_profile(
        "tiny-429",
        "fleet: {clusters: 800, clusters_per_namespace: 800, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {pool_size: 4, qps: -1, max_retries: 0}\nphases: {create: {concurrency: 800}}\n# The scraper would read /metrics as the same throttled identity: only the load here.\nobserve: {enabled: false}\n",
        &env.info.kubeconfig,
    )
    .await;
    let after = scrape().await;
    let rejected = metric_sum(&after, "apiserver_flowcontrol_rejected_requests_total", "")
        - metric_sum(&before, "apiserver_flowcontrol_rejected_requests_total", "");
    let code_429 = metric_sum(&after, "apiserver_request_total", "code=\"429\"")
        - metric_sum(&before, "apiserver_request_total", "code=\"429\"");
    let ours: u64 = s.operations.iter().map(|o| o.responses_429).sum();
    println!("429s: ours {ours}, apiserver_flowcontrol_rejected_requests_total +{rejected}, apiserver_request_total{{code=429}} +{code_429}");
    assert!(
        ours > 0,
        "tiny limits must reject some of 800 concurrent creators"
    );
    assert_eq!(
        ours as f64, rejected,
        "every 429 we counted is one the apiserver counted"
    );
    assert_eq!(
        s.totals.throttled, ours,
        "no retries: each 429 is a final outcome"
    );
    assert_eq!(
        s.totals.sent,
        s.totals.ok + s.totals.failed + s.totals.throttled
    );
    env.stop().await;
}

#[tokio::test]
async fn a_dead_etcd_stops_the_run_with_partial_results_and_full_accounting() {
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: common::state_dir("dead-etcd"),
        ..Default::default()
    })
    .await
    .unwrap();
    let endpoint = env.info.etcd_endpoint.clone();
    let p = common::profile_file("dead-etcd", "fleet: {clusters: 2000}\nclient: {pool_size: 2, qps: 100, burst: 10}\nphases: {create: {concurrency: 8}}\n");
    let out = common::state_dir("dead-etcd-out");
    let run = tokio::spawn({
        let (p, out) = (p.clone(), out.clone());
        async move {
            let argv = [
                "capi-loadgen",
                "run",
                p.to_str().unwrap(),
                "--etcd-endpoint",
                &endpoint,
                "--run-id",
                "dead-etcd",
                "--out",
                out.to_str().unwrap(),
            ];
            common::cli(&argv[1..]).await
        }
    });
    tokio::time::sleep(ETCD_KILL_AFTER).await;
    env.kill_etcd();
    let killed = std::time::Instant::now();
    let err = tokio::time::timeout(ABORT_DEADLINE, run)
        .await
        .expect("the run ends by itself")
        .unwrap()
        .unwrap_err();
    let took = killed.elapsed();
    assert_eq!(err.exit_code(), capi_loadgen::exit::TARGET_FAILED, "{err}");
    assert!(err.to_string().contains("without an answer"), "{err}");
    let doc = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(doc["status"], "aborted");
    let (_, ok, failed, _) = common::accounted(&doc);
    assert!(ok > 0 && failed > 0, "{}", doc["totals"]);
    println!("etcd killed: run stopped {took:?} later with {ok} ok, {failed} failed");
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("target failed"));
    env.stop().await;
}

async fn check_watchers(name: &str, target_args: &[&str]) {
    let p = common::profile_file(
        name,
        "fleet: {clusters: 6, clusters_per_namespace: 2, control_plane_replicas: 1, workers_per_machine_deployment: 2}\nclient: {pool_size: 2, qps: -1}\nwatchers: {count: 3, kinds: [machine, cluster]}\n",
    );
    let out = common::state_dir(&format!("out-{name}"));
    let mut args = vec![
        "run",
        p.to_str().unwrap(),
        "--run-id",
        name,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(target_args);
    common::cli(&args).await.expect("run completes");
    common::assert_valid_summary(&out.join("summary.json"));
    let s = Summary::read(&out).unwrap();
    let w = s.watch.expect("watch summary");
    // 6 clusters x (1 Cluster + 3 Machines) = 24 objects, each seen by 3 watches.
    assert_eq!(w.watchers, 6);
    assert_eq!(w.events, 3 * 24, "{w:?}");
    assert_eq!(
        w.matched, w.events,
        "every event matched to one of our writes: {w:?}"
    );
    assert_eq!(w.lag_ms.count, w.matched);
    assert_eq!(w.opened, 6);
    assert_eq!((w.too_old_restarts, w.errors), (0, 0));
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("## Watches"));
}

#[tokio::test]
async fn watchers_measure_delivery_lag_on_both_targets() {
    let env = common::shared_env();
    check_watchers(
        "watch-kube",
        &["--kubeconfig", env.kubeconfig.to_str().unwrap()],
    )
    .await;
    check_watchers("watch-etcd", &["--etcd-endpoint", &env.etcd_endpoint]).await;
}

#[tokio::test]
async fn status_patch_events_are_matched_to_the_patches_that_caused_them() {
    let env = common::shared_env();
    let name = "watch-status";
    // 4 Clusters, each reconciled (one status PATCH) every 0.5 s for 3 s.
    let p = common::profile_file(
        name,
        "fleet: {clusters: 4, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {pool_size: 2, qps: -1}\nobserve: {enabled: false}\nwatchers: {count: 1, kinds: [cluster]}\nphases:\n  create: {concurrency: 4}\n  steady: {duration_seconds: 3, sync_period_seconds: 0.5, jitter: 0, concurrency: 4, calls_per_reconcile: {patch_status: 1}}\n",
    );
    let out = common::state_dir(&format!("out-{name}"));
    common::run_profile_to(&p, Some(&env.kubeconfig), name, &out)
        .await
        .expect("run completes");
    common::assert_valid_summary(&out.join("summary.json"));
    let s = Summary::read(&out).unwrap();
    let w = s.watch.expect("watch summary");
    // Creates give 4 events; the status PATCHes give the rest.
    assert!(w.events > 8, "status patches were watched: {w:?}");
    assert_eq!(
        w.matched, w.events,
        "every event, status PATCHes' included, matched to the write that caused it: {w:?}"
    );
    assert_eq!(w.lag_ms.count, w.matched);
}

#[tokio::test]
async fn objects_whose_create_failed_are_left_out_of_the_steady_phase() {
    let env = common::shared_env();
    // A validating webhook refuses about half of the Cluster creates; their objects (and
    // what they own) are not reconciled: no 404s, and the steady phase says how many.
    // Half the creates fail on purpose: the run may exceed the default failure ratio.
    let p = common::profile_file(
        "missing",
        "fleet: {clusters: 12, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {pool_size: 2, qps: -1}\nobserve: {enabled: false}\nwebhooks: {kinds: [cluster], reject_rate: 0.5, failure_policy: Fail}\nphases:\n  create: {concurrency: 4}\n  steady: {duration_seconds: 3, sync_period_seconds: 0.5, jitter: 0, concurrency: 4, calls_per_reconcile: {get: 3, patch_status: 1}}\n",
    );
    let out = common::state_dir("out-missing");
    common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--run-id",
        "missing",
        "--out",
        out.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--max-failure-ratio",
        "100",
    ])
    .await
    .expect("run completes");
    common::assert_valid_summary(&out.join("summary.json"));
    let s = Summary::read(&out).unwrap();
    let failed_clusters: u64 = s
        .operations
        .iter()
        .filter(|o| o.phase == "create" && o.kind == "cluster")
        .map(|o| o.counts.failed)
        .sum();
    assert!(
        failed_clusters > 0,
        "the webhook refused some Cluster creates"
    );
    let steady = s.phases.iter().find(|p| p.name == "steady").unwrap();
    // Each refused Cluster and its dependents (the objects it owns).
    let skipped = steady
        .skipped_missing
        .expect("steady reports skipped_missing");
    assert!(skipped >= failed_clusters, "{skipped} < {failed_clusters}");
    let not_found: u64 = s
        .operations
        .iter()
        .filter(|o| o.phase == "steady")
        .filter_map(|o| o.failed_by.get("http_404"))
        .sum();
    assert_eq!(
        not_found, 0,
        "no requests for objects that were never stored"
    );
    let steady_ok: u64 = s
        .operations
        .iter()
        .filter(|o| o.phase == "steady")
        .map(|o| o.counts.ok)
        .sum();
    assert!(steady_ok > 0, "the stored clusters were reconciled");
}

#[tokio::test]
async fn cluster_and_machine_controllers_share_one_client() {
    let env = common::shared_env();
    // 10 clusters x 3 machines; both controllers reconcile every item once per 4 s.
    let (s, _) = run_profile(
        "two-controllers",
        "fleet: {clusters: 10, control_plane_replicas: 1, workers_per_machine_deployment: 2}\nclient: {qps: -1}\nphases:\n  create: {concurrency: 5}\n  steady: {duration_seconds: 6, sync_period_seconds: 4, concurrency: 4, calls_per_reconcile: {get: 1, list: 1, patch_status: 1}, client_qps: 200, machine_controller: {concurrency: 6}}\n",
        &env.kubeconfig,
    )
    .await;
    assert_eq!(s.controllers.len(), 2);
    let (c, m) = (&s.controllers[0], &s.controllers[1]);
    assert_eq!(
        (c.name.as_str(), c.items, m.name.as_str(), m.items),
        ("cluster", 10, "machine", 30)
    );
    assert_eq!(
        (m.get_calls, m.patch_status_calls, m.concurrency),
        (3, 1, 6)
    );
    // Per cluster and period: 3 calls for the Cluster + 3 x 4 for its Machines.
    assert_eq!(c.predicted_breakpoint_clusters, Some(200.0 * 4.0 / 15.0));
    assert!(c.reconciles >= 10 && m.reconciles >= 30, "{c:?} {m:?}");
    // Every call succeeded, including status patches of Machines and Clusters.
    let steady: Vec<_> = s
        .operations
        .iter()
        .filter(|o| o.phase == "steady")
        .collect();
    assert!(steady
        .iter()
        .any(|o| o.verb == "patch" && o.kind == "machine"));
    assert!(
        steady.iter().all(|o| o.counts.ok == o.counts.sent),
        "{steady:?}"
    );
}

#[tokio::test]
async fn churn_replaces_machines_and_delete_removes_the_fleet() {
    let env = common::shared_env();
    let (s, _) = run_profile(
        "churn-delete",
        "fleet: {clusters: 4, control_plane_replicas: 1, workers_per_machine_deployment: 2}\nclient: {qps: -1}\nphases:\n  create: {concurrency: 4}\n  churn: {duration_seconds: 2.5, interval_seconds: 1, fraction: 0.5, mode: recreate, concurrency: 4}\n  delete: {concurrency: 4, objects_per_second: 200}\n",
        &env.kubeconfig,
    )
    .await;
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["create", "churn", "delete"]);
    let churn = &s.phases[1];
    // 8 workers, half per round, rounds at 0 s, 1 s, 2 s: 12 machines replaced.
    assert_eq!(churn.machines_churned, Some(12), "{churn:?}");
    let churned: Vec<_> = s.operations.iter().filter(|o| o.phase == "churn").collect();
    for (verb, kind, n) in [
        ("delete", "machine", 12),
        ("create", "machine", 12),
        ("create", "secret", 12),
        ("get", "machine_set", 12),
    ] {
        let op = churned
            .iter()
            .find(|o| o.verb == verb && o.kind == kind)
            .unwrap_or_else(|| panic!("{verb} {kind}"));
        assert_eq!((op.counts.sent, op.counts.ok), (n, n), "{verb} {kind}");
    }
    assert_eq!(s.phases[2].mode, "open");
    assert_eq!(s.totals.ok, s.totals.sent, "every request succeeded");
    // Nothing of the run is left but its (terminating) namespaces.
    let admin = capi_loadgen::backend::kube::KubeTarget::from_kubeconfig(
        Some(&env.kubeconfig),
        Some("capi-loadgen-admin"),
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    let spec = capi_loadgen::model::FleetSpec {
        run_id: "churn-delete".into(),
        ..capi_loadgen::model::FleetSpec::example("churn-delete")
    };
    for kind in capi_loadgen::model::Kind::ALL
        .into_iter()
        .filter(|k| *k != capi_loadgen::model::Kind::Namespace)
    {
        use capi_loadgen::backend::Target;
        let left = admin
            .list_names(
                &spec.api_ref(kind),
                None,
                "capi-loadgen.io/run-id=churn-delete",
            )
            .await
            .unwrap();
        assert!(left.is_empty(), "{kind:?}: {left:?}");
    }
}
