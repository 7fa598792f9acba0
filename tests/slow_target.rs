//! A slow target must not make the tool under-report latency or grow its memory: the real
//! local kube-apiserver is reached through a loopback TCP proxy that holds every chunk the
//! client sends for 50 ms (latency a real apiserver cannot be told to add; the proxy only
//! forwards bytes, TLS included, to the real server). The create phase is open loop at twice
//! what the slowed path can serve, so a backlog builds: latency counted from each request's
//! intended start must show it (no coordinated omission), and the tool's peak RSS must not
//! grow with the number of requests that were ever behind schedule.

use capi_loadgen_test_support as common;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the run through the slow proxy may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(120);
/// The delay the proxy adds to every chunk of bytes.
const PROXY_DELAY: Duration = Duration::from_millis(50);

/// Forwards 127.0.0.1:<returned port> to `upstream`, delaying client → server chunks.
async fn delay_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = cr.read(&mut buf).await {
                        tokio::time::sleep(delay).await;
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    addr
}

/// Runs the binary to the end and returns its peak RSS in KiB (from wait4's rusage).
// The child is reaped by wait4, which `Child::wait` cannot replace: it also gives rusage.
#[allow(clippy::zombie_processes)]
fn run_measuring_rss(args: &[&str]) -> u64 {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let killer = std::thread::spawn(move || {
        // Bounded: the run is killed if it is still going after RUN_DEADLINE.
        std::thread::sleep(RUN_DEADLINE);
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut status = 0;
    // SAFETY: plain wait4 on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    drop(killer);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run failed: status {status}"
    );
    usage.ru_maxrss as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_shows_in_latency_not_in_memory() {
    let env = common::shared_env();
    // The local apiserver's URL is always https://127.0.0.1:<port>.
    let api: SocketAddr = env
        .apiserver_url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = delay_proxy(api, PROXY_DELAY).await;
    let kc = std::fs::read_to_string(&env.kubeconfig)
        .unwrap()
        .replace(&env.apiserver_url, &format!("https://{proxy}"));
    let kubeconfig = common::profile_file("slow-kubeconfig", &kc);
    let profile = |clusters: u32| {
        common::profile_file(
            &format!("slow-{clusters}"),
            &format!(
                "fleet: {{clusters: {clusters}, clusters_per_namespace: 1000, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}}
client: {{qps: -1}}
observe: {{enabled: false}}
phases:
  create: {{concurrency: 4, objects_per_second: 160}}
"
            ),
        )
    };
    let mut results = Vec::new();
    for (clusters, run_id) in [(20u32, "slow-small"), (80, "slow-large")] {
        let p = profile(clusters);
        let out = common::state_dir(run_id);
        let args = [
            "run",
            p.to_str().unwrap(),
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--run-id",
            run_id,
            "--out",
            out.to_str().unwrap(),
        ]
        .map(str::to_string);
        let rss = tokio::task::spawn_blocking(move || {
            run_measuring_rss(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        let s = capi_loadgen::report::Summary::read(&out).unwrap();
        assert_eq!(s.totals.ok, s.totals.sent, "{:?}", s.totals);
        results.push((clusters, rss, s));
    }
    for (clusters, rss, s) in &results {
        let create = s.phases.iter().find(|p| p.name == "create").unwrap();
        let offered_span = create.sent as f64 / 160.0;
        let behind = create.duration_seconds - offered_span;
        let worst = common::max_over_ops(s, |o| o.latency_ms.max);
        let server_p99 = common::max_over_ops(s, |o| o.server_ms.p99);
        let latency_p99 = common::max_over_ops(s, |o| o.latency_ms.p99);
        println!(
            "{clusters} clusters: {} requests offered over {offered_span:.1} s, served in {:.1} s; latency p99 {latency_p99:.0} ms, max {worst:.0} ms; server p99 {server_p99:.0} ms; peak RSS {} KiB",
            create.sent, create.duration_seconds, rss
        );
        assert!(
            behind > 1.0,
            "the target was not slow enough to fall behind"
        );
        // The last request was scheduled `offered_span` in and finished at the end: its
        // latency from the schedule is about `behind`; a tool timing from the send would
        // report about the server's time instead.
        assert!(
            worst >= 0.7 * behind * 1000.0,
            "max latency {worst:.0} ms hides a {behind:.1} s backlog"
        );
        // The p99 from the schedule carries the backlog (the slowest percent of requests
        // waited most of it), whatever the server's own time was: through the slow proxy
        // that is seconds on a loaded machine, and a tool timing from the send would report
        // it instead.
        assert!(
            latency_p99 >= 0.7 * behind * 1000.0 && latency_p99 >= server_p99,
            "p99 {latency_p99} ms vs server {server_p99} ms: a {behind:.1} s backlog is hidden"
        );
    }
    let (small, large) = (results[0].1, results[1].1);
    assert!(
        large <= small + small / 4 + 8 * 1024,
        "peak RSS grew from {small} KiB to {large} KiB with 4x the requests"
    );
    for run in ["slow-small", "slow-large"] {
        common::cli(&[
            "cleanup",
            "--kubeconfig",
            env.kubeconfig.to_str().unwrap(),
            "--run-id",
            run,
        ])
        .await
        .unwrap();
    }
}
