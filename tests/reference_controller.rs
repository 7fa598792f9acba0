//! The reference controller (servers/reference-controller, a controller-runtime manager)
//! as the steady phase's controller: its queue, reconciles and client wait land in
//! summary.json, and the calls it says it made are the requests the apiserver counted.

use capi_loadgen_test_support as common;

use capi_loadgen::report::Summary;

/// 12 clusters, a Cluster and a Machine controller, a 4 s resync: the informer's initial
/// list and its first resync fall in the 10 s phase (client-go's first resync comes one to
/// two periods after the list: the handler joins a running informer just after its resync
/// clock started). QPS 20 / burst 5 on one shared bucket: each period's 12 x 4 + 24 x 2 = 96
/// calls need 4.6 s at 20/s, so the client waits.
const PROFILE: &str = "\
fleet: {clusters: 12, clusters_per_namespace: 6, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 1, cluster_secrets: []}
client: {qps: -1, pool_size: 1}
phases:
  create: {concurrency: 4}
  steady:
    duration_seconds: 10
    sync_period_seconds: 4
    concurrency: 2
    calls_per_reconcile: {get: 2, list: 1, patch_status: 1}
    client_qps: 20
    client_burst: 5
    controller: reference
    machine_controller: {concurrency: 2, calls_per_reconcile: {get: 1, patch_status: 1}}
";

#[tokio::test]
async fn reference_controller_counts_match_the_apiservers() {
    let env = common::shared_env();
    let p = common::profile_file("reference", PROFILE);
    let out = common::state_dir("out-reference");
    common::run_profile_to(&p, Some(&env.kubeconfig), "reference", &out)
        .await
        .expect("run with the reference controller completes");
    common::assert_valid_summary(&out.join("summary.json"));
    let s = Summary::read(&out).unwrap();
    assert_eq!(s.controllers.len(), 2, "{:?}", s.controllers);
    let (c, m) = (&s.controllers[0], &s.controllers[1]);
    assert_eq!((c.name.as_str(), m.name.as_str()), ("cluster", "machine"));
    let (rc, rm) = (
        c.reference.as_ref().expect("cluster: reference measures"),
        m.reference.as_ref().expect("machine: reference measures"),
    );
    // Reconciles: at least the initial list of every item, each finished reconcile one
    // sample of its duration.
    assert!(c.reconciles >= 12, "{c:?}");
    assert!(m.reconciles >= 24, "{m:?}");
    assert_eq!(c.reconcile_ms.count, c.reconciles);
    assert_eq!(c.periodic_enqueues, rc.workqueue_adds + c.missed_periods);
    // The first resync: 4 s x controller-runtime's 0.9-1.1 jitter, one or two periods in.
    assert!(
        rc.first_resync_after_seconds
            .is_some_and(|t| (3.5..=9.0).contains(&t)),
        "{rc:?}"
    );
    // The period each informer was built with: controller-runtime's draw, 0.9-1.1 x 4 s.
    for r in [rc, rm] {
        assert!(
            r.resync_period_seconds
                .is_some_and(|p| (3.6..=4.4).contains(&p)),
            "{r:?}"
        );
    }
    // The queue was seen and waited on; the client throttled (96 calls per 4 s at 20/s).
    assert!(c.max_queue_depth >= 1 && c.queue_wait_ms.count > 0, "{c:?}");
    assert!(
        rc.client_wait_ms.count > 0 && rc.client_wait_ms.p99 > 50.0,
        "{rc:?}"
    );
    assert_eq!(rc.call_errors + rm.call_errors, 0);
    // Calls per verb: every finished reconcile made its mix (plus cut-short ones at the end).
    assert!(rc.calls.get >= 2 * c.reconciles && rc.calls.list >= c.reconciles);
    assert!(rm.calls.patch >= m.reconciles);
    // Exact: the apiserver's own request counts over the phase. GETs and Machine LISTs
    // come from both controllers; status PATCHes are per kind.
    let api = rc.apiserver_requests.expect("apiserver metrics read");
    assert_eq!(api.get, rc.calls.get + rm.calls.get, "GETs: {rc:?} {rm:?}");
    assert_eq!(api.list, rc.calls.list + rm.calls.list, "LISTs of Machines");
    assert_eq!(api.patch, rc.calls.patch, "Cluster status PATCHes");
    let api_m = rm.apiserver_requests.expect("apiserver metrics read");
    assert_eq!(api_m.patch, rm.calls.patch, "Machine status PATCHes");
    // The tool's own pool made no steady-phase request: the controller's are its own.
    assert!(s.operations.iter().all(|o| o.phase != "steady"));
}
