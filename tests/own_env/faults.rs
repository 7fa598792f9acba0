//! Faults a run must survive on the real local environment: kube-apiserver restarted
//! mid-run (`on_target_failure: continue`: requests fail, back off, recover, the run
//! completes) and etcd killed mid-run (default `abort`: partial results, exit 8, every
//! request accounted for). Each test starts its own environment, since it breaks it.

use capi_loadgen_test_support as common;

use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::report::Summary;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

/// How long into the run kube-apiserver is killed (and then restarted).
const APISERVER_KILL_AFTER: Duration = Duration::from_secs(5);
/// How long kube-apiserver stays down, as a restart by a supervisor takes.
const APISERVER_DOWN_FOR: Duration = Duration::from_secs(2);
/// The warm-up run's client timeout: long enough for a fresh apiserver's first creates.
const WARM_UP_TIMEOUT_SECONDS: u64 = 60;
/// How many seconds at the end of the restart run must be free of failures: by then the
/// restarted apiserver has long answered again (it is back within seconds), and every
/// request must succeed on either client stack.
const CLEAN_TAIL_SECONDS: u64 = 5;
/// How long into the run etcd is killed.
const ETCD_KILL_AFTER: Duration = Duration::from_secs(4);
/// Between two looks at whether a killed process is gone.
const EXIT_POLL: Duration = Duration::from_millis(20);

async fn own_env(name: &str) -> LocalEnv {
    LocalEnv::start(&LocalOptions {
        state_dir: common::state_dir(name),
        ..Default::default()
    })
    .await
    .expect("local environment starts")
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn series(dir: &std::path::Path) -> Vec<capi_loadgen::measure::timeseries::Point> {
    let csv = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    capi_loadgen::measure::timeseries::read_csv(&csv).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_survives_an_apiserver_restart_with_continue() {
    let env = own_env("restart").await;
    let info = env.info.clone();
    let profile = common::profile_file(
        "restart",
        "on_target_failure: continue
fleet: {clusters: 4, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: [], install_crds: false}
client: {qps: -1, timeout_seconds: 2}
observe: {enabled: false}
phases:
  create: {concurrency: 2}
  steady: {duration_seconds: 30, sync_period_seconds: 1, jitter: 0, concurrency: 2, calls_per_reconcile: {get: 2}, client_qps: 40}
",
    );
    let out = common::state_dir("restart-out");
    // A freshly started kube-apiserver answers the first creates of custom resources slowly
    // (the very first about 2 s on a busy 2-core machine, the first ones of other kinds up
    // to about 1 s; a few ms once warm), past the measured run's 2 s timeout. A Cluster
    // whose create timed out before it was stored is never there, and every steady-phase
    // GET of it is a 404 for the rest of the run: it would look like a client that did not
    // recover from the restart. A first run with a generous
    // timeout installs the CRDs and creates one of each kind, so the only failures of the
    // measured run are the restart's (which installs no CRDs: the kill then lands in its
    // steady phase, as set-up is short).
    let warm_profile = common::profile_file(
        "restart-warm",
        &format!(
            "fleet: {{clusters: 1, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}}
client: {{qps: -1, timeout_seconds: {WARM_UP_TIMEOUT_SECONDS}}}
observe: {{enabled: false}}
phases:
  create: {{concurrency: 1}}
"
        ),
    );
    let warm_out = common::state_dir("restart-warm-out");
    common::run_profile_to(
        &warm_profile,
        Some(&env.info.kubeconfig),
        "it-restart-warm",
        &warm_out,
    )
    .await
    .expect("the warm-up run completes");
    let first_creates: Vec<(String, f64)> = Summary::read(&warm_out)
        .unwrap()
        .operations
        .iter()
        .map(|o| (o.kind.clone(), o.latency_ms.max))
        .collect();
    println!("first creates on the fresh apiserver (kind, ms): {first_creates:?}");
    // 5 s into the run, SIGKILL kube-apiserver and, 2 s later, start it again with the same
    // command line (same port, same etcd): what a crashed or upgraded apiserver does.
    let pid = info.apiserver_pid;
    // The thread holds the new apiserver until told the run is over (PR_SET_PDEATHSIG
    // fires when the spawning thread exits), then stops it.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(APISERVER_KILL_AFTER);
        let args = cmdline(pid);
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let killed = Instant::now();
        while common::alive(pid, "kube-apiserver") {
            std::thread::sleep(EXIT_POLL);
        }
        // Down for 2 s before it comes back, as a restart by a supervisor takes.
        std::thread::sleep(APISERVER_DOWN_FOR);
        let log =
            std::fs::File::create(info.state_dir.join("kube-apiserver.restarted.log")).unwrap();
        let mut child = unsafe {
            std::process::Command::new(&args[0])
                .args(&args[1..])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                })
                .spawn()
                .expect("kube-apiserver restarts")
        };
        let _ = finished.recv();
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        (alive, killed)
    });
    let started = Instant::now();
    // The outage fails requests on purpose: no failure ratio limit.
    let r = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        env.info.kubeconfig.to_str().unwrap(),
        "--run-id",
        "it-restart",
        "--out",
        out.to_str().unwrap(),
        "--max-failure-ratio",
        "100",
    ])
    .await;
    drop(done);
    let (alive, killed) = restarter.join().unwrap();
    let log = std::fs::read_to_string(env.info.state_dir.join("kube-apiserver.restarted.log"))
        .unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    assert!(alive, "the restarted kube-apiserver died: {tail:#?}");
    r.expect("the run completes through the restart");
    let s = Summary::read(&out).unwrap();
    assert_eq!(
        s.status,
        capi_loadgen::report::summary::RunStatus::Completed
    );
    common::accounted(&serde_json::to_value(&s).unwrap());
    let steady: Vec<_> = s
        .operations
        .iter()
        .filter(|o| o.phase == "steady")
        .collect();
    let failed: u64 = steady.iter().map(|o| o.counts.failed).sum();
    let ok: u64 = steady.iter().map(|o| o.counts.ok).sum();
    assert!(failed > 0, "the outage failed requests: {steady:?}");
    assert!(ok > failed, "most requests succeeded: {steady:?}");
    // The outage in the time series: failures, then successes again after the last one.
    let points = series(&out);
    let first_fail = points
        .iter()
        .find(|p| p.failed > 0)
        .expect("failures")
        .second;
    let last_fail = points.iter().rev().find(|p| p.failed > 0).unwrap().second;
    let recovered: u64 = points
        .iter()
        .filter(|p| p.second > last_fail)
        .map(|p| p.ok)
        .sum();
    assert!(
        recovered > 0,
        "requests succeed after the outage: {points:?}\nrestarted apiserver log: {tail:#?}"
    );
    // Recovered fully: no request fails at the end of the run (no connection kept from
    // before the restart, no object missing).
    let end = points.iter().map(|p| p.second).max().unwrap();
    let tail_points: Vec<_> = points
        .iter()
        .filter(|p| p.second + CLEAN_TAIL_SECONDS > end)
        .collect();
    let failed_by: Vec<_> = steady.iter().map(|o| (&o.kind, &o.failed_by)).collect();
    assert!(
        tail_points.iter().all(|p| p.failed == 0) && tail_points.iter().any(|p| p.ok > 0),
        "the last {CLEAN_TAIL_SECONDS} s of the run still fail requests: {points:?}\nfailed by: {failed_by:?}"
    );
    let around: Vec<(u64, u64, u64, f64)> = points
        .iter()
        .filter(|p| p.second + 2 >= first_fail && p.second <= last_fail + 3)
        .map(|p| (p.second, p.ok, p.failed, p.p99_ms))
        .collect();
    println!("(second, ok, failed, p99 ms) around the outage: {around:?}");
    // Back-off: a 2-worker controller did not spin through thousands of failures.
    assert!(failed < 400, "{failed} failures: no back-off?");
    println!(
        "apiserver restart: failures from second {first_fail} to {last_fail} ({failed} requests failed, {ok} ok, by {failed_by:?}); killed at {:.1} s into the run",
        (killed - started).as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_etcd_aborts_the_run_with_partial_results() {
    let env = own_env("etcd-kill").await;
    let profile = common::profile_file(
        "etcd-kill",
        "fleet: {clusters: 2000, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}
client: {qps: -1, timeout_seconds: 2}
observe: {enabled: false}
phases:
  create: {concurrency: 4, clusters_per_second: 40}
",
    );
    let out = common::state_dir("etcd-kill-out");
    let pid = env.info.etcd_pid;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(ETCD_KILL_AFTER);
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        Instant::now()
    });
    let r =
        common::run_profile_to(&profile, Some(&env.info.kubeconfig), "it-etcd-kill", &out).await;
    let ended = Instant::now();
    let killed = killer.join().unwrap();
    match r {
        Err(e @ capi_loadgen::Error::TargetFailed { .. }) => {
            assert_eq!(e.exit_code(), 8);
            assert!(e.to_string().contains("partial results"), "{e}");
        }
        other => panic!("expected the run to abort, got {other:?}"),
    }
    let secs = (ended - killed).as_secs_f64();
    // 25 failures in a row at 4 workers with a 2 s timeout, then at most 10 s of drain.
    assert!(secs < 40.0, "took {secs:.1} s from the kill to the exit");
    let s = Summary::read(&out).expect("partial results written");
    common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(s.status, capi_loadgen::report::summary::RunStatus::Aborted);
    common::accounted(&serde_json::to_value(&s).unwrap());
    assert!(s.totals.ok > 0 && s.totals.failed > 0, "{:?}", s.totals);
    let kinds: std::collections::BTreeSet<&String> = s
        .operations
        .iter()
        .flat_map(|o| o.failed_by.keys())
        .collect();
    println!(
        "etcd killed: run aborted {secs:.1} s later, {} ok, {} failed by {kinds:?}, reason {:?}",
        s.totals.ok, s.totals.failed, s.stop_reason
    );
}
