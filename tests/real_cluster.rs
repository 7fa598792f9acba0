//! The real-cluster path as its users run it, against the local environment reached only
//! through a kubeconfig (a kube target, as a kind cluster is): kubectl's `$KUBECONFIG`
//! convention, etcd observed through its metrics URL and its client endpoint, JSON on
//! stdout, JUnit verdicts, and progress logged when stderr is not a terminal.

use capi_loadgen_test_support as common;

use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;
use std::process::Command;
use std::time::Duration;

/// The longest gap allowed between two log lines of a run whose stderr is not a terminal.
const MAX_LOG_GAP: Duration = Duration::from_secs(10);
/// How long the whole quickstart subprocess may take on a loaded 2-core machine.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// Between two looks at the subprocess.
const POLL: Duration = Duration::from_millis(200);

/// Seconds since midnight of a tracing line's RFC 3339 timestamp (`2026-11-29T21:27:32.123456Z`).
fn log_second(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?;
    let time = ts.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

#[test]
fn kubeconfig_env_selects_the_target_and_a_ci_run_prints_json_junit_and_progress() {
    let env = common::shared_env();
    let dir = common::state_dir("kubeconfig-env");
    std::fs::create_dir_all(&dir).unwrap();
    let (out, junit) = (dir.join("out"), dir.join("junit.xml"));
    // A list like kubectl's: a missing file is skipped, the rest merged.
    let list =
        std::env::join_paths([dir.join("missing.kubeconfig"), env.kubeconfig.clone()]).unwrap();
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/quickstart.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .args(["run", profile, "--clusters", "3", "--run-id", "kcenv"])
        .arg("--out")
        .arg(&out)
        .args(["--output", "json", "--junit"])
        .arg(&junit)
        .args(["--etcd-metrics-url", &env.etcd_metrics_url])
        .env("KUBECONFIG", &list)
        .env_remove("CAPI_LOADGEN_KUBECONFIG")
        .env("RUST_LOG", "warn,kube_client=off,capi_loadgen=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < RUN_DEADLINE,
            "run still going after {RUN_DEADLINE:?}"
        );
        std::thread::sleep(POLL);
    }
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");

    // kubectl's order chose $KUBECONFIG over the profile's local target, and said so first.
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("target: $KUBECONFIG (")
            && first.contains("instead of the profile's local environment"),
        "{first}"
    );

    // stdout is the summary, nothing else, valid against the schema.
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let copy = dir.join("stdout.json");
    std::fs::write(&copy, stdout.as_bytes()).unwrap();
    common::assert_valid_summary(&copy);
    let s = Summary::read(&out).unwrap();
    assert_eq!(printed["run_id"], "kcenv");
    assert_eq!(s.target.kind, "kube");
    assert_eq!(
        s.target.endpoint.trim_end_matches('/'),
        env.apiserver_url.trim_end_matches('/')
    );
    assert_eq!(printed["totals"]["sent"], s.totals.sent);

    // etcd, reached only through --etcd-metrics-url: real readings behind its verdicts.
    for check in [
        "etcd_wal_fsync_p99",
        "etcd_backend_commit_p99",
        "etcd_leader_changes_per_10min",
    ] {
        let v = s.health.iter().find(|v| v.check == check).unwrap();
        assert_ne!(v.level, Level::NotObserved, "{v:?}");
    }
    let obs = s.observed.as_ref().unwrap();
    assert!(obs.points.iter().any(|p| p.wal_fsync_p99_ms.is_some()));
    assert!(obs.etcd_db_size_end.is_some_and(|b| b > 0.0));

    // The JUnit file: well-formed, one case per verdict plus the run's status, counts right.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), s.health.len() + 1);
    let count = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
            .count()
            .to_string()
    };
    for (attr, want) in [
        ("tests", cases.len().to_string()),
        ("failures", count("failure")),
        ("skipped", count("skipped")),
        ("errors", "0".into()),
    ] {
        assert_eq!(
            suite.attribute(attr),
            Some(want.as_str()),
            "{attr} in {xml}"
        );
        assert_eq!(root.attribute(attr), Some(want.as_str()), "{attr} in {xml}");
    }
    for c in &cases {
        assert!(
            c.attribute("name").is_some()
                && c.attribute("classname").is_some()
                && c.attribute("time").is_some()
        );
    }
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    let want: Vec<&str> = s
        .health
        .iter()
        .filter(|v| v.level != Level::NotObserved && v.level >= Level::Degraded)
        .map(|v| v.check.as_str())
        .collect();
    assert_eq!(failed, want, "{xml}");

    // No terminal: progress is logged, never more than MAX_LOG_GAP apart while phases run.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("progress") || l.contains("phase started"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("progress")
            && l.contains("phase=\"steady\"")
            && l.contains("p99_ms")
            && l.contains("responses_429")
            && l.contains("queue_depth")),
        "{stderr}"
    );
    let seconds: Vec<f64> = lines.iter().filter_map(|l| log_second(l)).collect();
    assert_eq!(seconds.len(), lines.len(), "{lines:?}");
    let gap = seconds.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        gap <= MAX_LOG_GAP.as_secs_f64(),
        "{gap} s between progress lines: {lines:#?}"
    );
}

#[tokio::test]
async fn observe_etcd_endpoints_give_status_and_db_verdicts_on_a_kube_target() {
    let env = common::shared_env();
    let p = common::profile_file(
        "observe-etcd",
        &format!(
            "fleet: {{clusters: 2, control_plane_replicas: 1, workers_per_machine_deployment: 1}}\nclient: {{qps: -1}}\nobserve:\n  interval_seconds: 1\n  etcd_quota_bytes: 2147483648\n  etcd_metrics_url: {}\n  etcd: {{endpoints: [\"{}\"]}}\n",
            env.etcd_metrics_url, env.etcd_endpoint
        ),
    );
    let out = common::state_dir("observe-etcd-out");
    common::run_profile_to(&p, Some(&env.kubeconfig), "obsetcd", &out)
        .await
        .unwrap();
    let s = Summary::read(&out).unwrap();
    assert_eq!(s.target.kind, "kube");
    let o = s.observed.as_ref().unwrap();
    assert!(
        o.not_observed.iter().all(|n| !n.contains("etcd")),
        "{:?}",
        o.not_observed
    );
    assert!(o.points.iter().any(|p| p.etcd_db_in_use.is_some()));
    assert!(
        s.health.iter().all(|v| v.level != Level::NotObserved),
        "{:?}",
        s.health
    );

    // An etcd that is not there: said, and the run goes on.
    let bad = common::profile_file(
        "observe-etcd-gone",
        "fleet: {clusters: 1, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nobserve: {interval_seconds: 1, etcd: {endpoints: [\"http://127.0.0.1:9\"]}}\n",
    );
    let out = common::state_dir("observe-etcd-gone-out");
    common::run_profile_to(&bad, Some(&env.kubeconfig), "obsgone", &out)
        .await
        .unwrap();
    let s = Summary::read(&out).unwrap();
    let o = s.observed.unwrap();
    assert!(
        o.not_observed
            .iter()
            .any(|n| n.contains("etcd Status (http://127.0.0.1:9)")),
        "{:?}",
        o.not_observed
    );
}

#[test]
fn shards_logs_carry_their_results_and_merge_reads_them() {
    let env = common::shared_env();
    let dir = common::state_dir("archive");
    std::fs::create_dir_all(&dir).unwrap();
    let p = common::profile_file(
        "archive",
        "fleet: {clusters: 4, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nclient: {qps: -1}\nphases: {create: {concurrency: 2}, delete: {concurrency: 2}}\n",
    );
    // Two shards as two pods: each one's stdout is all that is left of it.
    let mut log = String::new();
    let mut sent = 0;
    for i in 0..2 {
        let out = dir.join(format!("pod-{i}"));
        let o = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
            .args([
                "run",
                p.to_str().unwrap(),
                "--run-id",
                "arch",
                "--shard",
                &format!("{i}/2"),
            ])
            .arg("--out")
            .arg(&out)
            .arg("--kubeconfig")
            .arg(&env.kubeconfig)
            .args(["--output", "archive"])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        sent += Summary::read(&out).unwrap().totals.sent;
        // As `kubectl logs --prefix -l job-name=…` prints them.
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            log.push_str(&format!("[pod/arch-{i}-x/capi-loadgen] {l}\n"));
        }
        std::fs::remove_dir_all(&out).unwrap(); // the pod's emptyDir is gone
    }
    let log_file = dir.join("job.log");
    std::fs::write(&log_file, &log).unwrap();
    let merged = dir.join("merged");
    let o = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .arg("merge")
        .arg(&log_file)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = Summary::read(&merged).unwrap();
    common::assert_valid_summary(&merged.join("summary.json"));
    assert_eq!(s.merged_from.len(), 2);
    assert_eq!(s.totals.sent, sent);
    assert_eq!(s.fleet.clusters, 4);
}
