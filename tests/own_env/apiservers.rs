//! Several kube-apiservers behind one address, as a highly available control plane runs
//! them: the local environment with `local.apiservers: 2` (two apiservers on one etcd),
//! reached through a loopback round-robin TCP proxy standing in for the load
//! balancer (a new upstream per connection; idle connections closed, as load balancers do),
//! and etcd reached only through its metrics URL. Scraped through the proxy, consecutive
//! snapshots come from different instances and the mutating requests the apiservers report
//! stop adding up to what the tool sent; scraped per instance, they add up again. The
//! instances are named in `observe.apiserver_urls`: the API refuses loopback addresses in
//! the `default/kubernetes` EndpointSlices that discovery reads on a real control plane
//! (that parsing is unit-tested in `measure::instances`).

use capi_loadgen_test_support as common;

use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A connection idle this long is closed by the proxy (a load balancer's idle timeout,
/// shorter than the scrape interval, so every scrape opens a new connection). Idle means
/// answered and quiet: a connection whose last bytes were a request is waiting for a slow
/// server, not idle, and is left open (closing it then broke set-up requests that took the
/// apiserver longer than this on a loaded machine).
const PROXY_IDLE: Duration = Duration::from_millis(300);

/// When a connection last carried bytes, and whether they went to the server.
type LastChunk = Arc<std::sync::Mutex<(tokio::time::Instant, bool)>>;

/// Copies one direction, stamping `last` on every chunk; ends on EOF or error.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    last: LastChunk,
    to_server: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                *last.lock().unwrap() = (tokio::time::Instant::now(), to_server);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A TCP proxy on 127.0.0.1 sending each new connection to the next upstream in turn,
/// closing connections idle for [`PROXY_IDLE`].
pub(crate) async fn round_robin(upstreams: Vec<SocketAddr>) -> SocketAddr {
    round_robin_idle(upstreams, PROXY_IDLE).await
}

/// [`round_robin`] with another idle timeout.
pub(crate) async fn round_robin_idle(upstreams: Vec<SocketAddr>, idle: Duration) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = l.accept().await {
            let up = upstreams[next.fetch_add(1, Ordering::Relaxed) % upstreams.len()];
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(up).await else {
                    return;
                };
                let last: LastChunk =
                    Arc::new(std::sync::Mutex::new((tokio::time::Instant::now(), false)));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let a = tokio::spawn(pump(cr, sw, last.clone(), true));
                let b = tokio::spawn(pump(sr, cw, last.clone(), false));
                loop {
                    tokio::time::sleep(idle / 3).await;
                    let (at, request_pending) = *last.lock().unwrap();
                    if a.is_finished()
                        || b.is_finished()
                        || (!request_pending && at.elapsed() > idle)
                    {
                        a.abort();
                        b.abort();
                        return;
                    }
                }
            });
        }
    });
    addr
}

pub(crate) const PROFILE: &str = "fleet: {clusters: 8, control_plane_replicas: 1, workers_per_machine_deployment: 1}
client: {pool_size: 2, qps: -1}
phases:
  create: {concurrency: 4}
  steady: {duration_seconds: 8, sync_period_seconds: 2, concurrency: 4, calls_per_reconcile: {get: 1, patch_status: 2}, client_qps: 100}
  delete: {concurrency: 4}
";

/// Mutating requests the tool sent (retries aside).
pub(crate) fn tool_mutating(s: &Summary) -> f64 {
    s.operations
        .iter()
        .filter(|o| ["create", "patch", "delete"].contains(&o.verb.as_str()))
        .map(|o| o.counts.sent as f64)
        .sum()
}

/// Mutating requests the apiservers counted over the run (all instances).
pub(crate) fn observed_mutating(s: &Summary) -> f64 {
    s.observed
        .as_ref()
        .unwrap()
        .points
        .iter()
        .filter_map(|p| p.apiserver_mutating_requests)
        .sum()
}

#[tokio::test]
async fn every_apiserver_behind_a_round_robin_proxy_is_observed_on_its_own() {
    let dir = common::state_dir("apiservers");
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: dir.join("env"),
        apiservers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let urls = env.info.apiserver_urls.clone();
    assert_eq!(urls.len(), 2);
    let upstreams: Vec<SocketAddr> = urls
        .iter()
        .map(|u| u.trim_start_matches("https://").parse().unwrap())
        .collect();
    let proxy = round_robin(upstreams).await;
    // The same kubeconfig, its server the proxy: the load balancer's address.
    let kc = dir.join("proxy.kubeconfig");
    let text = std::fs::read_to_string(&env.info.kubeconfig).unwrap();
    std::fs::write(
        &kc,
        text.replace(&env.info.apiserver_url, &format!("https://{proxy}")),
    )
    .unwrap();

    let instances = format!("[{}]", urls.join(", "));
    let run = |name: &'static str, extra: String| {
        let (kc, dir, etcd) = (kc.clone(), dir.clone(), env.info.etcd_metrics_url.clone());
        async move {
            let p = common::profile_file(
                name,
                &format!("{PROFILE}observe: {{interval_seconds: 1{extra}}}\n"),
            );
            let out = dir.join(name);
            let (ps, os, ks) = (
                p.to_str().unwrap().to_string(),
                out.to_str().unwrap().to_string(),
                kc.to_str().unwrap().to_string(),
            );
            common::cli(&[
                "run",
                &ps,
                "--run-id",
                name,
                "--out",
                &os,
                "--kubeconfig",
                &ks,
                "--etcd-metrics-url",
                &etcd,
            ])
            .await
            .unwrap();
            common::assert_valid_summary(&out.join("summary.json"));
            (Summary::read(&out).unwrap(), out)
        }
    };

    // Per instance (the default): both instances found and scraped, each served part of
    // the load, and together they account for what the tool sent.
    let (s, out) = run("rr-instances", format!(", apiserver_urls: {instances}")).await;
    let o = s.observed.as_ref().unwrap();
    assert!(
        !o.not_observed
            .iter()
            .any(|n| n.contains("per-instance") || n.contains("went backwards")),
        "{:?}",
        o.not_observed
    );
    let mut seen: Vec<String> = o
        .points
        .iter()
        .flat_map(|p| p.apiservers.iter().map(|i| i.instance.clone()))
        .collect();
    seen.sort();
    seen.dedup();
    let mut want = urls.clone();
    want.sort();
    assert_eq!(seen, want);
    for u in &urls {
        let served: f64 = o
            .points
            .iter()
            .flat_map(|p| &p.apiservers)
            .filter(|i| &i.instance == u)
            .filter_map(|i| i.mutating_requests)
            .sum();
        assert!(served > 0.0, "{u} served nothing");
    }
    let (sent, observed) = (tool_mutating(&s), observed_mutating(&s));
    eprintln!("per instance: observed {observed} of {sent} mutating requests");
    assert!(sent > 200.0, "{sent}");
    // The apiservers' own writes (their identity leases) and the tool's set-up add a few.
    assert!(
        (observed - sent).abs() <= sent * 0.10 + 30.0,
        "per instance: the apiservers counted {observed} mutating requests, the tool got {sent} answered"
    );
    let csv = std::fs::read_to_string(out.join("observed.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("apiserver_1_mutating_requests"),
        "{csv}"
    );
    // etcd, reached only through its metrics URL: judged from real readings.
    for check in [
        "etcd_wal_fsync_p99",
        "etcd_backend_commit_p99",
        "etcd_leader_changes_per_10min",
    ] {
        let v = s.health.iter().find(|v| v.check == check).unwrap();
        assert_ne!(v.level, Level::NotObserved, "{v:?}");
    }

    // Through the proxy only: deltas between different instances' counters.
    let (s, _) = run("rr-mixed", ", apiserver_instances: false".into()).await;
    let o = s.observed.as_ref().unwrap();
    assert!(
        o.not_observed
            .iter()
            .any(|n| n.contains("per-instance kube-apiserver series: off")),
        "{:?}",
        o.not_observed
    );
    // The symptom, named in the report: counters that only grow read smaller.
    assert!(
        o.not_observed
            .iter()
            .any(|n| n.contains("kube-apiserver counters went backwards")),
        "{:?}",
        o.not_observed
    );
    let (sent, observed) = (tool_mutating(&s), observed_mutating(&s));
    eprintln!("mixed: observed {observed} of {sent} mutating requests");
    env.stop().await;
}
