//! The local environment: real etcd + kube-apiserver, two identities, no orphans.

use capi_loadgen_test_support as common;

use capi_loadgen::env::{LocalEnv, LocalInfo, LocalOptions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a local environment may take to become ready: etcd and kube-apiserver start
/// in seconds on an idle machine but took over 90 s on a loaded fresh 2-core machine.
const ENV_READY_DEADLINE: Duration = Duration::from_secs(300);
/// How long the environment's processes may take to exit once the tool stopped or died.
const GONE_DEADLINE: Duration = Duration::from_secs(5);
/// How long `env down` of a detached environment may take to stop it.
const DOWN_DEADLINE: Duration = Duration::from_secs(15);
/// How long a run may take to create its first objects once its environment is ready.
const FIRST_OBJECTS_DEADLINE: Duration = Duration::from_secs(60);
/// Between two looks at a condition.
const POLL: Duration = Duration::from_millis(100);

#[tokio::test]
async fn starts_ready_with_two_identities_and_stops_cleanly() {
    let opts = LocalOptions {
        state_dir: common::state_dir("lifecycle"),
        ..Default::default()
    };
    let mut env = LocalEnv::start(&opts).await.expect("start");
    let info = env.info.clone();
    assert!(info.apiserver_url.starts_with("https://127.0.0.1:"));
    assert!(info.etcd_endpoint.starts_with("http://127.0.0.1:"));
    assert!(common::alive(info.etcd_pid, "etcd"));
    assert!(common::alive(info.apiserver_pid, "kube-apiserver"));
    assert_eq!(
        LocalInfo::read(&opts.state_dir).unwrap().apiserver_pid,
        info.apiserver_pid
    );

    // The load identity is a ServiceAccount, not in system:masters (so APF applies to it).
    let admin = env.admin_client().await.unwrap();
    let kc = std::fs::read_to_string(&info.kubeconfig).unwrap();
    assert!(kc.contains("current-context: capi-loadgen-load"));
    let load_token = kc
        .lines()
        .filter_map(|l| l.trim().strip_prefix("token: "))
        .nth(1)
        .expect("load token in kubeconfig")
        .to_string();
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": load_token}
    });
    let req = http::Request::post("/apis/authentication.k8s.io/v1/tokenreviews")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&review).unwrap())
        .unwrap();
    let out: serde_json::Value = admin.request(req).await.unwrap();
    assert_eq!(out["status"]["authenticated"], true, "{out}");
    assert_eq!(
        out["status"]["user"]["username"],
        "system:serviceaccount:capi-loadgen-system:capi-loadgen"
    );
    let groups = out["status"]["user"]["groups"].to_string();
    assert!(!groups.contains("system:masters"), "{groups}");

    // The load identity can create in any namespace (bound to cluster-admin).
    let load = env.load_client().await.unwrap();
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "probe"}});
    let req = http::Request::post("/api/v1/namespaces")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&ns).unwrap())
        .unwrap();
    let created: serde_json::Value = load.request(req).await.unwrap();
    assert_eq!(created["metadata"]["name"], "probe");

    env.stop().await;
    assert!(!common::alive(info.etcd_pid, "etcd"));
    assert!(!common::alive(info.apiserver_pid, "kube-apiserver"));
    assert!(
        LocalInfo::read(&opts.state_dir).is_err(),
        "state.json removed on stop"
    );

    // Started again on the same state directory, it is a fresh environment: the etcd data
    // the stop left behind does not bring the namespace back.
    let mut env = LocalEnv::start(&opts).await.expect("second start");
    let admin = env.admin_client().await.unwrap();
    let req = http::Request::get("/api/v1/namespaces/probe")
        .body(Vec::new())
        .unwrap();
    let again = admin.request::<serde_json::Value>(req).await;
    assert!(
        matches!(&again, Err(kube::Error::Api(e)) if e.code == 404),
        "{again:?}"
    );
    env.stop().await;
}

/// Waits until the environment started by `child` is ready (its state.json is written
/// once etcd and kube-apiserver answer), failing early if `child` exits first.
fn wait_for_state(dir: &std::path::Path, child: &mut std::process::Child) -> LocalInfo {
    let t = Instant::now();
    loop {
        if let Ok(i) = LocalInfo::read(dir) {
            return i;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the tool exited ({status:?}) before its environment in {} was ready",
                dir.display()
            );
        }
        assert!(
            t.elapsed() < ENV_READY_DEADLINE,
            "no state.json in {} after {ENV_READY_DEADLINE:?}",
            dir.display()
        );
        std::thread::sleep(POLL);
    }
}

fn wait_gone(pids: &[(u32, &str)], timeout: Duration) {
    let t = Instant::now();
    while pids.iter().any(|(p, n)| common::alive(*p, n)) {
        assert!(
            t.elapsed() < timeout,
            "processes still alive after {timeout:?}: {pids:?}"
        );
        std::thread::sleep(POLL);
    }
}

fn env_up(dir: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .args(["env", "up", "--state-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigint_and_sigkill_of_the_tool_leave_no_processes() {
    // SIGINT: orderly shutdown, exit 0.
    let dir = common::state_dir("sigint");
    let mut child = env_up(&dir);
    let info = wait_for_state(&dir, &mut child);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "env up exits 0 on SIGINT: {status:?}");
    wait_gone(
        &[
            (info.etcd_pid, "etcd"),
            (info.apiserver_pid, "kube-apiserver"),
        ],
        GONE_DEADLINE,
    );

    // SIGKILL: the kernel kills the children (PR_SET_PDEATHSIG).
    let dir = common::state_dir("sigkill");
    let mut child = env_up(&dir);
    let info = wait_for_state(&dir, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_gone(
        &[
            (info.etcd_pid, "etcd"),
            (info.apiserver_pid, "kube-apiserver"),
        ],
        GONE_DEADLINE,
    );
}

#[test]
fn detached_env_survives_the_tool_and_env_down_stops_it() {
    let dir = common::state_dir("detached");
    let bin = env!("CARGO_BIN_EXE_capi-loadgen");
    let out = Command::new(bin)
        .args(["env", "up", "--detach", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = LocalInfo::read(&dir).unwrap();
    assert!(common::alive(info.apiserver_pid, "kube-apiserver"));
    let status = Command::new(bin)
        .args(["env", "status", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("ready: true"));
    let down = Command::new(bin)
        .args(["env", "down", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    wait_gone(
        &[
            (info.etcd_pid, "etcd"),
            (info.apiserver_pid, "kube-apiserver"),
        ],
        DOWN_DEADLINE,
    );
    // Nothing left to stop: a clear error, not a panic.
    let again = Command::new(bin)
        .args(["env", "down", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(capi_loadgen::exit::ENVIRONMENT));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no local environment"));
}

#[tokio::test]
async fn sigint_during_a_run_writes_partial_results_and_leaves_no_processes() {
    let state = common::state_dir("run-sigint");
    let out = common::state_dir("run-sigint-out");
    // 500 clusters at 20 QPS would take minutes: the run is certainly mid-way when interrupted.
    let profile = common::profile_file(
        "long",
        "fleet: {clusters: 500}\nclient: {pool_size: 1, qps: 20, burst: 5}\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .arg("run")
        .arg(&profile)
        .arg("--state-dir")
        .arg(&state)
        .arg("--out")
        .arg(&out)
        .args(["--run-id", "it-sigint"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (info, mut child) = tokio::task::spawn_blocking({
        let state = state.clone();
        move || (wait_for_state(&state, &mut child), child)
    })
    .await
    .unwrap();
    // Wait until objects are being created.
    let admin = capi_loadgen::env::local::client_for(&info.kubeconfig, "capi-loadgen-admin")
        .await
        .unwrap();
    let t = Instant::now();
    loop {
        let req = http::Request::get(
            "/api/v1/namespaces?labelSelector=capi-loadgen.io%2Frun-id%3Dit-sigint",
        )
        .body(Vec::new())
        .unwrap();
        let n = admin
            .request::<serde_json::Value>(req)
            .await
            .map(|l| l["items"].as_array().map(|a| a.len()).unwrap_or(0))
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(t.elapsed() < FIRST_OBJECTS_DEADLINE, "no objects created");
        tokio::time::sleep(POLL).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(capi_loadgen::exit::INTERRUPTED));
    wait_gone(
        &[
            (info.etcd_pid, "etcd"),
            (info.apiserver_pid, "kube-apiserver"),
        ],
        GONE_DEADLINE,
    );

    let doc = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(doc["status"], "interrupted");
    let t = &doc["totals"];
    let sent = t["sent"].as_u64().unwrap();
    assert!(sent >= 2, "{t}");
    assert!(sent < doc["fleet"]["objects_planned"].as_u64().unwrap());
    assert_eq!(
        sent,
        t["ok"].as_u64().unwrap()
            + t["failed"].as_u64().unwrap()
            + t["throttled"].as_u64().unwrap()
    );
}
