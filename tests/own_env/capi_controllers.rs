//! The real Cluster API managers as the load: `scripts/setup.sh --capi` builds v1.14.2's core,
//! kubeadm control-plane and bootstrap managers and CAPD; a run provisions two ClusterClass
//! clusters on CAPD's in-memory backend to Available, and every manager's own count of its
//! management calls must equal what the apiserver's audit log recorded from its
//! ServiceAccount. Also: the managers cost about half a call per reconcile and nothing at
//! idle, the fleet is gone afterwards, and no credential reaches the results.

use capi_loadgen_test_support as common;

const PROFILE: &str = "name: capi-smoke
target:
  type: local
fleet:
  clusters: 2
  clusters_per_namespace: 2
capi_controllers:
  control_plane_machines: 1
  worker_machines: 1
  idle_seconds: 10
  provision_timeout_seconds: 400
  managers:
    kube_api_qps: 20
    kube_api_burst: 30
    concurrency: 10
";

#[tokio::test]
async fn real_managers_provision_two_clusters_and_their_counts_match_the_apiserver() {
    let profile = common::profile_file("capi-controllers-smoke", PROFILE);
    let out = common::state_dir("capi-controllers-smoke-results");
    let _ = std::fs::remove_dir_all(&out);
    let result = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--run-id",
        "capismoke",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    let report = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    assert!(result.is_ok(), "run failed: {result:?}\n{report}");
    let r = common::assert_valid(
        &out.join("capi-controllers.json"),
        "capi-controllers.schema.json",
    );
    assert_eq!(r["status"], "Completed", "{report}");
    let p = &r["provisioned"];
    assert_eq!(p["available"], 2, "{report}");
    assert_eq!(p["machines"], 4, "{report}");
    assert_eq!(p["running"], 4, "{report}");
    assert_eq!(p["to_available"]["count"], 2);
    assert!(p["to_available"]["p50"].as_f64().unwrap() > 0.0);

    // The managers' own counts against the apiserver's, per manager, over the whole run.
    let checks = r["call_check"].as_object().unwrap();
    assert_eq!(checks.len(), 4, "{checks:?}");
    for (m, c) in checks {
        let (client, server) = (
            c["client"].as_u64().unwrap(),
            c["apiserver"].as_u64().unwrap(),
        );
        assert!(client > 0, "{m} made no call");
        // A call in flight when the managers stop is the apiserver's only.
        assert!(
            client <= server && server <= client + 3,
            "{m}: its client counted {client} calls, the apiserver {server}"
        );
    }
    // What the managers cost: about half a management call per reconcile (reads come from
    // informer caches), hundreds of calls per cluster, none once the fleet has settled.
    let core = r["calls_per_reconcile"]["core"].as_f64().unwrap();
    assert!(
        core > 0.05 && core < 5.0,
        "core: {core} calls per reconcile"
    );
    let per_cluster = r["calls_per_cluster"]["all"].as_f64().unwrap();
    assert!(per_cluster > 50.0, "{per_cluster} calls per cluster");
    let idle: u64 = r["idle_calls"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(idle, 0, "calls while idle: {:?}", r["idle_calls"]);
    // The delete step took the fleet down.
    let deleted = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "delete");
    assert!(deleted, "no delete step");
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("still there")),
        "{report}"
    );

    // No token or key reaches the results folder.
    for e in std::fs::read_dir(&out).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains("BEGIN PRIVATE KEY"),
            "{} holds a key",
            path.display()
        );
        assert!(
            !text.contains("token: ey"),
            "{} holds a token",
            path.display()
        );
    }
}
