//! Simulated admission webhooks against a real kube-apiserver: the tool serves HTTPS
//! webhooks with its own CA, installs Mutating/ValidatingWebhookConfigurations for its
//! kinds, and kube-apiserver calls them on every create. What kube-apiserver counted
//! (`apiserver_admission_webhook_*`) must equal what the tool's server counted, call for
//! call, and rejections and failed calls must reach the client as failed creates.

use capi_loadgen_test_support as common;

use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::report::Summary;

const FLEET: &str =
    "fleet: {clusters: 6, control_plane_replicas: 1, workers_per_machine_deployment: 2}
client: {pool_size: 2, qps: -1}
phases:
  create: {concurrency: 4}
observe: {interval_seconds: 1}
";

/// The run's webhook configurations still installed, as the admin sees them.
async fn configurations(kubeconfig: &std::path::Path, run_id: &str) -> usize {
    let mut n = 0;
    for kind in [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    ] {
        n += common::names_with_label(
            kubeconfig,
            &format!("/apis/admissionregistration.k8s.io/v1/{kind}"),
            run_id,
        )
        .await
        .len();
    }
    n
}

async fn run(
    env: &LocalEnv,
    dir: &std::path::Path,
    name: &str,
    webhooks: &str,
) -> (Summary, serde_json::Value) {
    let p = common::profile_file(name, &format!("{FLEET}webhooks: {webhooks}\n"));
    let out = dir.join(name);
    let r = common::run_profile_to(&p, Some(&env.info.kubeconfig), name, &out).await;
    match r {
        Ok(()) => {}
        // More than the default 1% of requests failed: the run fails, saying so, and its
        // results are written all the same.
        Err(e @ capi_loadgen::Error::TooManyFailures { .. }) => {
            assert_eq!(e.exit_code(), capi_loadgen::exit::TOO_MANY_FAILURES);
            let s = Summary::read(&out).unwrap();
            assert_eq!(s.status, capi_loadgen::report::summary::RunStatus::Failed);
            let why = s.stop_reason.clone().unwrap_or_default();
            assert!(why.contains("more than --max-failure-ratio 1%"), "{why}");
            assert!(
                s.totals.failed * 100 > s.totals.sent,
                "{:?} with {e}",
                s.totals
            );
        }
        Err(e) => panic!("{name}: {e}"),
    }
    let json = common::assert_valid_summary(&out.join("summary.json"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Webhooks"), "{report}");
    (Summary::read(&out).unwrap(), json)
}

#[tokio::test]
async fn apiserver_counts_every_webhook_call_the_tool_served() {
    let dir = common::state_dir("webhooks");
    let env = LocalEnv::start(&LocalOptions {
        state_dir: dir.join("env"),
        ..Default::default()
    })
    .await
    .unwrap();
    let kc = env.info.kubeconfig.clone();

    // Accepting webhooks with a defaulting patch, 10 calls in flight at 20 ms each.
    let (s, _) = run(
        &env,
        &dir,
        "wh-accept",
        "{latency: {ms: 20}, concurrency: 10, patch: true}",
    )
    .await;
    let w = s.webhooks.as_ref().expect("webhooks in the summary");
    let creates_with: u64 = s
        .operations
        .iter()
        .filter(|o| o.verb == "create" && w.setup.kinds.contains(&o.kind))
        .map(|o| o.counts.ok)
        .sum();
    eprintln!(
        "accepting: tool {} calls, apiserver {:?}, {creates_with} creates through webhooks",
        w.calls_tool, w.calls_apiserver
    );
    assert!(creates_with > 50, "{creates_with}");
    assert_eq!(s.totals.failed, 0, "{:?}", s.totals);
    // Every create of a kind with webhooks called its defaulting and its validating
    // webhook once; the apiserver counted exactly those calls.
    assert_eq!(w.calls_tool, 2 * creates_with);
    assert_eq!(w.calls_apiserver, Some(w.calls_tool as f64));
    for h in &w.served.webhooks {
        let a = w
            .apiserver
            .iter()
            .find(|a| a.name == h.name && a.kind == h.kind_of_webhook)
            .unwrap_or_else(|| panic!("{} not in the apiserver's metrics", h.name));
        assert_eq!(a.calls, h.calls as f64, "{}", h.name);
        assert_eq!(a.rejected, 0.0);
        // The apiserver's mean includes TLS and the network: at least the webhook's 20 ms.
        assert!(a.mean_ms.unwrap() >= 19.0, "{a:?}");
        if h.kind_of_webhook == "admit" {
            assert_eq!(h.patched, h.calls, "{h:?}");
        }
        assert!(h.p50_ms >= 19.9, "{h:?}");
        // Below capacity every call got a slot and was answered.
        assert_eq!(h.completed, h.calls, "{h:?}");
    }
    assert!(w.served.busy_seconds > 0.0);
    let answered = w.served.webhooks.iter().map(|h| h.completed).sum::<u64>() as f64;
    assert!(
        (w.completed_per_second - answered / w.served.busy_seconds).abs() < 1e-6,
        "{} vs {answered} / {}",
        w.completed_per_second,
        w.served.busy_seconds
    );
    assert!(w.served.max_in_flight <= 10, "{}", w.served.max_in_flight);
    assert!(w.served.probe_calls >= 1);
    assert!(w.served.cpu_seconds.is_some());
    // The defaulting patch is stored, and the configurations are gone after the run.
    let client = capi_loadgen::env::local::client_for(&kc, "capi-loadgen-admin")
        .await
        .unwrap();
    let req = http::Request::get(
        "/apis/loadtest.cluster.x-k8s.io/v1beta1/machines?labelSelector=capi-loadgen.io%2Frun-id%3Dwh-accept",
    )
    .body(Vec::new())
    .unwrap();
    let list: serde_json::Value = client.request(req).await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 6 * 3, "machines of the run");
    for m in items {
        assert_eq!(
            m["metadata"]["annotations"]["capi-loadgen.io/defaulted"], "true",
            "{}",
            m["metadata"]
        );
    }
    assert_eq!(configurations(&kc, "wh-accept").await, 0);

    // Rejections and failed calls under failurePolicy Fail: each one is a failed create.
    let (s, _) = run(
        &env,
        &dir,
        "wh-fail",
        "{latency: {distribution: normal, ms: 5, stddev_ms: 2}, reject_rate: 0.1, error_rate: 0.05, failure_policy: Fail}",
    )
    .await;
    assert_eq!(
        s.status,
        capi_loadgen::report::summary::RunStatus::Failed,
        "15% failed creates fail the run"
    );
    let w = s.webhooks.as_ref().unwrap();
    let rejected: u64 = w.served.webhooks.iter().map(|h| h.rejected).sum();
    let errors: u64 = w.served.webhooks.iter().map(|h| h.errors).sum();
    let by = |e: &str| -> f64 { w.apiserver.iter().filter_map(|a| a.rejections.get(e)).sum() };
    eprintln!(
        "failing: tool {} calls ({rejected} rejected, {errors} errors), apiserver {:?}, no_error {}, calling_webhook_error {}, creates failed {}",
        w.calls_tool,
        w.calls_apiserver,
        by("no_error"),
        by("calling_webhook_error"),
        w.creates_failed_with
    );
    assert!(rejected > 0 && errors > 0, "{rejected} {errors}");
    assert_eq!(w.calls_apiserver, Some(w.calls_tool as f64));
    assert_eq!(by("no_error"), rejected as f64);
    assert_eq!(by("calling_webhook_error"), errors as f64);
    assert_eq!(w.creates_failed_with, rejected + errors);
    assert_eq!(configurations(&kc, "wh-fail").await, 0);

    // failurePolicy Ignore: the same failures let every create through, counted as
    // failing open (v1.23+).
    let (s, _) = run(
        &env,
        &dir,
        "wh-ignore",
        "{validating: false, error_rate: 0.2, failure_policy: Ignore}",
    )
    .await;
    let w = s.webhooks.as_ref().unwrap();
    let errors: u64 = w.served.webhooks.iter().map(|h| h.errors).sum();
    let fail_open: f64 = w.apiserver.iter().filter_map(|a| a.fail_open).sum();
    assert!(errors > 0);
    assert_eq!(w.creates_failed_with, 0);
    assert_eq!(fail_open, errors as f64);
    assert_eq!(w.calls_apiserver, Some(w.calls_tool as f64));
}
