//! Observing the target: apiserver and etcd metrics scraped during a run, health verdicts,
//! and the tool's own /metrics endpoint.

use capi_loadgen_test_support as common;

use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;
use std::time::Duration;

/// Between two looks at the scrapes written so far.
const POLL: Duration = Duration::from_millis(250);

const PROFILE: &str = "fleet: {clusters: 6, control_plane_replicas: 1, workers_per_machine_deployment: 2}
client: {pool_size: 2, qps: -1}
observe: {interval_seconds: 1}
phases:
  create: {concurrency: 3}
  steady: {duration_seconds: 7, sync_period_seconds: 2, concurrency: 2, calls_per_reconcile: {get: 2, patch_status: 1}, client_qps: 50}
";

async fn scrape(port: u16) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

fn sum(text: &str, metric: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(metric)
                && l[metric.len()..].starts_with('{')
                && filter.split(',').all(|f| l.contains(f))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_local_run_observes_etcd_and_the_apiserver_and_serves_its_own_metrics() {
    let p = common::profile_file("observe", PROFILE);
    let out = common::state_dir("observe-out");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = tokio::spawn({
        let (p, out) = (p.clone(), out.clone());
        async move {
            let argv = [
                "capi-loadgen",
                "run",
                p.to_str().unwrap(),
                "--run-id",
                "observe",
                "--out",
                out.to_str().unwrap(),
                "--metrics-addr",
                &addr,
                "--metrics-linger-seconds",
                "3",
            ];
            common::cli(&argv[1..]).await
        }
    });
    // Scrape the tool while it runs; keep the last answer.
    let (mut last, mut scrapes) = (None, 0);
    while !run.is_finished() {
        if let Some(t) = scrape(port).await {
            scrapes += 1;
            last = Some(t);
        }
        tokio::time::sleep(POLL).await;
    }
    run.await.unwrap().expect("run completes");
    let s = Summary::read(&out).unwrap();
    common::assert_valid_summary(&out.join("summary.json"));

    // The tool's own metrics, scraped during the run, end equal to the summary's counters.
    let last = last.expect("scraped the tool at least once");
    assert!(scrapes >= 5, "{scrapes}");
    assert_eq!(
        sum(&last, "capi_loadgen_requests_total", ""),
        s.totals.sent as f64,
        "{last}"
    );
    assert_eq!(
        sum(&last, "capi_loadgen_requests_total", "outcome=\"ok\""),
        s.totals.ok as f64
    );
    let machines_created = s
        .operations
        .iter()
        .find(|o| o.phase == "create" && o.kind == "machine")
        .unwrap()
        .counts
        .sent;
    assert_eq!(
        sum(
            &last,
            "capi_loadgen_request_duration_seconds_count",
            "phase=\"create\",kind=\"machine\""
        ),
        machines_created as f64,
        "{last}"
    );

    // etcd and the apiserver, scraped every second.
    let o = s.observed.clone().expect("observed");
    assert!(o.points.len() >= 4, "{}", o.points.len());
    assert!(
        o.etcd_db_size_end.unwrap() > o.etcd_db_size_start.unwrap(),
        "etcd grew: {o:?}"
    );
    assert!(
        o.points.iter().filter_map(|p| p.wal_fsync_p99_ms).count() >= 3,
        "WAL fsync series: {:?}",
        o.points
    );
    assert!(o
        .points
        .iter()
        .any(|p| p.apiserver_mutating_p99_ms.is_some()));
    assert_eq!(
        o.objects_by_resource
            .get("machines.loadtest.cluster.x-k8s.io")
            .copied(),
        Some(machines_created as f64),
        "{:?}",
        o.objects_by_resource
    );
    assert_eq!(
        o.objects_by_resource
            .get("clusters.loadtest.cluster.x-k8s.io")
            .copied(),
        Some(6.0)
    );
    assert!(o.not_observed.is_empty(), "{:?}", o.not_observed);
    let csv = std::fs::read_to_string(out.join("observed.csv")).unwrap();
    assert_eq!(csv.lines().count(), o.points.len() + 1);
    // Verdicts for every check; nothing unobservable on the local environment.
    assert_eq!(s.health.len(), 7);
    assert!(
        s.health.iter().all(|v| v.level != Level::NotObserved),
        "{:?}",
        s.health
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Observed") && md.contains("| etcd_wal_fsync_p99 |"),
        "{md}"
    );
}

#[tokio::test]
async fn fail_on_turns_a_verdict_into_an_exit_code() {
    let env = common::shared_env();
    // Any mutating request slower than 1 µs is "critical": the run must fail with exit 9.
    let p = common::profile_file(
        "fail-on",
        "fleet: {clusters: 1}\nclient: {qps: -1}\nobserve: {interval_seconds: 1, thresholds: {apiserver_mutating_p99: [0.0001, 0.0002, 0.0003]}}\n",
    );
    let out = common::state_dir("fail-on-out");
    let argv = [
        "capi-loadgen",
        "run",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fail-on",
        "critical",
    ];
    let e = common::cli(&argv[1..]).await.unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::UNHEALTHY, "{e}");
    let s = Summary::read(&out).unwrap();
    let v = s
        .health
        .iter()
        .find(|v| v.check == "apiserver_mutating_p99")
        .unwrap();
    assert_eq!(v.level, Level::Critical);
    // Through a kubeconfig etcd is not reachable: said, not guessed.
    let o = s.observed.unwrap();
    assert!(
        o.not_observed.iter().any(|n| n.contains("etcd")),
        "{:?}",
        o.not_observed
    );
    assert_eq!(
        s.health
            .iter()
            .find(|v| v.check == "etcd_wal_fsync_p99")
            .unwrap()
            .level,
        Level::NotObserved
    );
}
