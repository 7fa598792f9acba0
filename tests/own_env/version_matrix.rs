//! The version matrix: the quickstart-sized core of a run (create, steady, watch, delete,
//! scrape, cleanup) against every kube-apiserver version `scripts/setup.sh` has built, each
//! in its own local environment with the newest etcd built.
//!
//! What differs between versions and is checked here: the flags the local environment
//! passes (removed and renamed ones), the object-count metrics (`etcd_object_counts`,
//! `apiserver_storage_objects`, `apiserver_resource_objects{group,resource}`: counted once),
//! the db-size metric names, APF's API version, and watch behaviour.

use capi_loadgen_test_support as common;

use capi_loadgen::env::assets::{self, Version};
use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::model::Kind;
use capi_loadgen::report::Summary;

/// Create, steady (both controllers), two watches, delete: the quickstart's core, smaller.
const CORE: &str = "
fleet: {clusters: 4, clusters_per_namespace: 2, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 2, provider: metal3}
client: {pool_size: 2, qps: -1}
watchers: {count: 2, kinds: [cluster, machine]}
observe: {interval_seconds: 1}
phases:
  create: {concurrency: 4}
  steady:
    duration_seconds: 6
    sync_period_seconds: 2
    concurrency: 2
    calls_per_reconcile: {get: 2, list: 1, patch_status: 1}
    machine_controller: {concurrency: 2}
  delete: {concurrency: 4}
";

/// The same fleet created and left in place for `cleanup`, with a steady phase long enough
/// for the apiserver's object counts (polled every 2 s) to catch up.
const KEEP: &str = "
fleet: {clusters: 4, clusters_per_namespace: 2, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 2, provider: metal3}
client: {pool_size: 2, qps: -1}
observe: {interval_seconds: 1}
phases:
  create: {concurrency: 4}
  steady: {duration_seconds: 6, sync_period_seconds: 3, concurrency: 1, calls_per_reconcile: {get: 1}}
";

fn built_apiservers() -> Vec<Version> {
    let mut v: Vec<Version> = assets::available("kube-apiserver")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    v.sort();
    v
}

async fn one_version(v: Version) {
    let tag = format!("{}-{}-{}", v.major, v.minor, v.patch);
    let env = LocalEnv::start(&LocalOptions {
        state_dir: common::state_dir(&format!("matrix-{tag}")),
        versions: assets::Wanted {
            kubernetes: Some(v),
            etcd: None,
        },
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{v}: local environment starts: {e}"));
    assert_eq!(env.info.apiserver_version, v);
    let kc = env.info.kubeconfig.clone();

    // GET /version agrees with the binary the environment chose.
    let admin = capi_loadgen::env::local::client_for(&kc, "capi-loadgen-admin")
        .await
        .unwrap();
    let info = admin.apiserver_version().await.expect("GET /version");
    assert_eq!(info.git_version, v.to_string(), "{v}: /version");

    // 1. The core: create, steady, watch, delete.
    let p = common::profile_file(&format!("matrix-core-{tag}"), CORE);
    let out = common::state_dir(&format!("matrix-core-out-{tag}"));
    let run_id = format!("vm-core-{}-{}", v.minor, v.patch);
    common::run_profile_to(&p, Some(&kc), &run_id, &out)
        .await
        .unwrap_or_else(|e| panic!("{v}: core run: {e}"));
    let doc = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(doc["status"], "completed", "{v}");
    let (sent, ok, _, _) = common::accounted(&doc);
    assert_eq!(ok, sent, "{v}: every request succeeds");
    let s = Summary::read(&out).unwrap();
    assert_eq!(s.target.server_version, v.to_string(), "{v}");
    let phases: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(phases, ["create", "steady", "delete"], "{v}");
    assert!(
        s.controllers.iter().all(|c| c.reconciles > 0),
        "{v}: both controllers reconciled"
    );
    let w = s.watch.as_ref().expect("watch summary");
    assert!(w.events > 0 && w.matched > 0, "{v}: watch events {w:?}");
    assert_eq!(w.errors, 0, "{v}: watch errors");
    let o = s.observed.as_ref().expect("observed");
    // Reached through its kubeconfig, etcd itself is not scraped; the apiserver's own
    // metrics (object counts, db size, request durations) must all be read. (Instance
    // discovery finds nothing on loopback, and v1.20 has no discovery.k8s.io/v1.)
    for missing in &o.not_observed {
        if missing.starts_with("per-instance kube-apiserver series") {
            continue;
        }
        assert!(
            !missing.contains("object counts") && !missing.contains("kube-apiserver"),
            "{v}: not observed: {missing}"
        );
    }
    assert!(o.etcd_db_size_end.unwrap_or(0.0) > 0.0, "{v}: etcd db size");
    assert!(
        o.points
            .iter()
            .any(|p| p.apiserver_mutating_p99_ms.is_some()),
        "{v}: apiserver request durations"
    );
    let spec = common::fleet("matrix", CORE, &run_id);
    // The kinds the fleet wrote (the ClusterClass-era kinds have no CRD here).
    for kind in spec.custom_kinds().into_iter().chain([Kind::Secret]) {
        let left =
            common::names_with_label(&kc, &spec.api_ref(kind).collection_path(None), &run_id).await;
        assert!(left.is_empty(), "{v}: {kind:?} left after delete: {left:?}");
    }

    // 2. Object counts read once per resource, then cleanup by label.
    let p = common::profile_file(&format!("matrix-keep-{tag}"), KEEP);
    let out = common::state_dir(&format!("matrix-keep-out-{tag}"));
    let run_id = format!("vm-keep-{}-{}", v.minor, v.patch);
    common::run_profile_to(&p, Some(&kc), &run_id, &out)
        .await
        .unwrap_or_else(|e| panic!("{v}: keep run: {e}"));
    let s = Summary::read(&out).unwrap();
    let spec = common::fleet("matrix", KEEP, &run_id);
    let counts = &s.observed.as_ref().expect("observed").objects_by_resource;
    for kind in Kind::ALL {
        let api = spec.api_ref(kind);
        if api.group.is_empty() {
            continue; // namespaces and secrets: the environment holds others too
        }
        let key = format!("{}.{}", api.plural, api.group);
        let want = spec.objects_per_cluster().get(&kind).copied().unwrap_or(0) * s.fleet.clusters;
        if want == 0 {
            continue;
        }
        assert_eq!(
            counts.get(&key).copied(),
            Some(want as f64),
            "{v}: {key} counted once: {counts:?}"
        );
        assert!(
            !counts.contains_key(&api.plural),
            "{v}: {} also counted without its group: {counts:?}",
            api.plural
        );
    }
    common::cli(&[
        "cleanup",
        "--run-id",
        &run_id,
        "--kubeconfig",
        kc.to_str().unwrap(),
    ])
    .await
    .unwrap_or_else(|e| panic!("{v}: cleanup: {e}"));
    // The kinds the fleet wrote (the ClusterClass-era kinds have no CRD here).
    for kind in spec.custom_kinds().into_iter().chain([Kind::Secret]) {
        let left =
            common::names_with_label(&kc, &spec.api_ref(kind).collection_path(None), &run_id).await;
        assert!(
            left.is_empty(),
            "{v}: {kind:?} left after cleanup: {left:?}"
        );
    }
    let mut env = env;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_runs_on_every_built_kubernetes_version() {
    let versions = built_apiservers();
    assert!(
        !versions.is_empty(),
        "no kube-apiserver built: run scripts/setup.sh"
    );
    eprintln!(
        "version matrix: {}",
        versions
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // One at a time: each start-up is CPU-heavy on 2 cores.
    for v in versions {
        one_version(v).await;
    }
}

/// Two accumulating points of a small fleet: enough for a curve per metric.
const SWEPT: &str = "
fleet: {clusters: 2, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 1}
client: {pool_size: 2, qps: -1}
phases:
  create: {concurrency: 2}
  steady: {duration_seconds: 3, sync_period_seconds: 2, concurrency: 1, calls_per_reconcile: {get: 1, patch_status: 1}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_versions_puts_the_same_sweep_on_two_versions_side_by_side() {
    let versions = built_apiservers();
    assert!(
        versions.len() >= 2,
        "sweep --versions needs two kube-apiservers built (scripts/setup.sh --kubernetes A,B); found {versions:?}"
    );
    // The newest two: the default and the one before it.
    let pair = &versions[versions.len() - 2..];
    let list = format!("{},{}", pair[0], pair[1]);
    let p = common::profile_file("versions-sweep", SWEPT);
    let out = common::state_dir("versions-sweep-out");
    common::cli(&[
        "sweep",
        p.to_str().unwrap(),
        "--field",
        "fleet.clusters",
        "--values",
        "2,4",
        "--state",
        "accumulate",
        "--versions",
        &list,
        "--sweep-id",
        "vsw",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect("sweep --versions succeeds");
    let doc = common::assert_valid(&out.join("versions.json"), "versions.schema.json");
    let r: capi_loadgen::experiments::versions::report::VersionsReport =
        serde_json::from_value(doc).unwrap();
    let names: Vec<&str> = r.versions.iter().map(|v| v.kubernetes.as_str()).collect();
    assert_eq!(names, [pair[0].to_string(), pair[1].to_string()]);
    for v in &r.versions {
        let s: capi_loadgen::sweep::file::SweepReport = serde_json::from_str(
            &std::fs::read_to_string(out.join(&v.results).join("sweep.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s.points.len(), 2, "{}: both points ran", v.kubernetes);
        assert!(s.complete);
        // Each point's run names the version it ran on.
        let p0 = std::fs::read_dir(out.join(&v.results))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("p00"))
            .expect("first point folder");
        let sum = Summary::read(&p0.path()).unwrap();
        assert_eq!(sum.target.server_version, v.kubernetes);
    }
    assert!(!r.rows.is_empty() && r.rows.iter().all(|row| row.values.len() == 2));
    assert!(!r.plots.is_empty());
    for p in &r.plots {
        let svg = std::fs::read_to_string(out.join(p)).unwrap();
        assert!(
            svg.contains(&pair[0].to_string()) && svg.contains(&pair[1].to_string()),
            "{p}"
        );
    }
    let md = std::fs::read_to_string(out.join("versions.md")).unwrap();
    assert!(md.contains("| change |"), "{md}");

    // Bad lists are refused before anything starts.
    for bad in ["v1.37.2", "v1.37.2,v9.9.9", "latest,v1.37.2"] {
        let e = common::cli(&[
            "sweep",
            p.to_str().unwrap(),
            "--field",
            "fleet.clusters",
            "--values",
            "2",
            "--versions",
            bad,
        ])
        .await
        .expect_err(bad);
        assert!(
            matches!(e.exit_code(), 2 | 3),
            "{bad}: {e} ({})",
            e.exit_code()
        );
    }
}
