//! The local environment's etcd cluster: three members on loopback behind two
//! kube-apiservers, the leader killed mid-run (`faults:`), and an added round-trip time between kube-apiserver and etcd
//! (`local.etcd_rtt_ms`, the tool's own delaying proxy). Each run starts its own
//! environment through `run` without a kubeconfig, and stops it when the run ends.

use capi_loadgen_test_support as common;

use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;

/// Objects acknowledged created before the leader is killed (of 240 in the run).
const KILL_AT_OBJECTS: u64 = 60;
/// The added round trip of the latency test (ms): well above the spread of a loopback
/// create on a busy 2-core machine.
const RTT_MS: f64 = 20.0;

fn summary(dir: &std::path::Path) -> (Summary, serde_json::Value) {
    let path = dir.join("summary.json");
    let json = common::assert_valid_summary(&path);
    let s: Summary = serde_json::from_value(json.clone()).unwrap();
    (s, json)
}

async fn run(name: &str, yaml: &str) -> std::path::PathBuf {
    let profile = common::profile_file(name, yaml);
    let out = common::state_dir(&format!("{name}-out"));
    let (p, o) = (profile.to_str().unwrap(), out.to_str().unwrap());
    let run_id = format!("etcd-cluster-{name}");
    // Requests in flight when the leader dies may fail (etcd answers "leader changed"):
    // they are counted, not a reason to fail the run.
    let args = [
        "run",
        p,
        "--run-id",
        &run_id,
        "--out",
        o,
        "--max-failure-ratio",
        "100",
    ];
    common::cli(&args)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_loses_nothing_acknowledged() {
    let out = run(
        "leader-kill",
        &format!(
            "local: {{etcd_members: 3, apiservers: 2}}
fleet: {{clusters: 30, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}}
client: {{qps: -1, timeout_seconds: 30}}
observe: {{interval_seconds: 1}}
phases:
  create: {{concurrency: 4, objects_per_second: 30}}
faults:
  - {{action: kill_leader, at_objects: {KILL_AT_OBJECTS}}}
"
        ),
    )
    .await;
    let (s, json) = summary(&out);
    let (sent, ok, _, _) = common::accounted(&json);
    assert_eq!(sent, 240, "every planned create was sent");
    let e = s.etcd_cluster.expect("etcd_cluster in the summary");
    assert_eq!(e.members, 3);
    // The fault hit the leader, after the object count, and another member took over.
    let f = &e.faults[0];
    assert_eq!(f.error, None, "{f:?}");
    assert!(f.at_objects >= KILL_AT_OBJECTS, "{f:?}");
    assert_eq!(f.member, f.leader_before, "{f:?}");
    assert!(
        f.leader_after.is_some() && f.leader_after != f.leader_before,
        "{f:?}"
    );
    // Every surviving member saw the change in its own metrics; the killed one answered
    // no scrape after it.
    assert!(e.leader_changes >= 1.0, "{e:?}");
    let killed = e
        .member_stats
        .iter()
        .find(|m| Some(&m.name) == f.member.as_ref())
        .unwrap();
    assert!(killed.failed_reads > 0, "{killed:?}");
    // The verdict fires: one change in a run this short is far above 1 per 10 minutes.
    let v = s
        .health
        .iter()
        .find(|v| v.check == "etcd_leader_changes_per_10min")
        .unwrap();
    assert!(v.level >= Level::Warning, "{v:?}");
    // Nothing acknowledged was lost: every object counted as created reads back.
    let r = e.read_back.expect("a read-back");
    assert_eq!(
        r.acknowledged, ok,
        "the run's creates that succeeded: {r:?}"
    );
    assert!(r.complete() && r.lost == 0 && r.unreadable == 0, "{r:?}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("nothing acknowledged was lost"), "{report}");
}

/// The creates' latency over every kind (ms): (fastest, median of the kinds' medians).
fn create_latency(s: &Summary) -> (f64, f64) {
    let ops: Vec<_> = s
        .operations
        .iter()
        .filter(|o| o.phase == "create")
        .collect();
    assert!(!ops.is_empty());
    let min = ops
        .iter()
        .map(|o| o.latency_ms.min)
        .fold(f64::MAX, f64::min);
    let mut p50: Vec<f64> = ops.iter().map(|o| o.latency_ms.p50).collect();
    p50.sort_by(f64::total_cmp);
    (min, p50[p50.len() / 2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_round_trip_raises_create_latency_by_at_least_itself() {
    let fleet = "fleet: {clusters: 8, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}
client: {qps: -1, timeout_seconds: 30}
observe: {enabled: false}
phases:
  create: {concurrency: 1}
";
    let base = run("rtt-none", &format!("local: {{etcd_members: 1}}\n{fleet}")).await;
    let slow = run(
        "rtt-added",
        &format!("local: {{etcd_rtt_ms: {RTT_MS}}}\n{fleet}"),
    )
    .await;
    let (base, _) = summary(&base);
    let (slow, _) = summary(&slow);
    let e = slow
        .etcd_cluster
        .as_ref()
        .expect("etcd_cluster in the summary");
    assert_eq!(e.rtt_ms, Some(RTT_MS));
    let ((base_min, base_p50), (slow_min, slow_p50)) =
        (create_latency(&base), create_latency(&slow));
    // A create is at least one round trip to etcd: none can be faster than the RTT, and
    // the typical one is the fastest one without it plus the RTT, or slower.
    assert!(
        slow_min >= RTT_MS,
        "fastest create {slow_min} ms with {RTT_MS} ms added"
    );
    assert!(
        slow_p50 >= base_min + RTT_MS,
        "median create {slow_p50} ms with {RTT_MS} ms added, fastest {base_min} ms without (median {base_p50} ms)"
    );
    assert!(e.read_back.as_ref().is_some_and(|r| r.complete()));
}
