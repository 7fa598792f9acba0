//! `capi-loadgen run` against a real kube-apiserver (the shared local environment reached
//! through its kubeconfig, as a user would reach a kind cluster).

use capi_loadgen_test_support as common;

use std::path::Path;

async fn count_with_label(kubeconfig: &Path, path: &str, run_id: &str) -> usize {
    common::names_with_label(kubeconfig, path, run_id)
        .await
        .len()
}

const SMALL: &str = "
fleet:
  clusters: 3
  clusters_per_namespace: 2
  control_plane_replicas: 1
  machine_deployments: 1
  workers_per_machine_deployment: 2
  provider: metal3
client:
  pool_size: 2
  qps: -1
phases:
  create:
    concurrency: 3
";

#[tokio::test]
async fn creates_the_fleet_and_accounts_for_every_request() {
    let env = common::shared_env();
    let profile = common::profile_file("small", SMALL);
    let out = common::state_dir("out-small");
    let kc = env.kubeconfig.to_str().unwrap();
    common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc,
        "--run-id",
        "it-small",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect("run succeeds");

    let doc = common::assert_valid_summary(&out.join("summary.json"));
    let s = capi_loadgen::report::Summary::read(&out).unwrap();
    assert_eq!(doc["status"], "completed");
    assert_eq!(s.target.kind, "kube");
    assert_eq!(s.fleet.namespaces, 2);
    // 3 clusters: 1 Cluster, 1 Metal3Cluster, 1 KCP, 5 cluster secrets, 1 MD, 1 MS,
    // 3 machines x (Machine, KubeadmConfig, Metal3Machine, bootstrap Secret) = 22 each.
    let per_cluster: u64 = s.fleet.objects_per_cluster.values().sum();
    assert_eq!(per_cluster, 22, "{:?}", s.fleet.objects_per_cluster);
    assert_eq!(s.fleet.objects_planned, 3 * 22 + 2);
    assert_eq!(s.totals.sent, s.fleet.objects_planned);
    assert_eq!(s.totals.ok, s.totals.sent, "{:?}", s.operations);
    assert_eq!(
        s.totals.sent,
        s.totals.ok + s.totals.failed + s.totals.throttled
    );
    for op in &s.operations {
        assert_eq!(op.latency_ms.count, op.counts.sent, "{op:?}");
        assert_eq!(op.server_ms.count, op.counts.sent, "{op:?}");
        assert_eq!(op.throttle_wait_ms.count, op.counts.sent, "{op:?}");
        assert!(op.latency_ms.p50 > 0.0 && op.latency_ms.max >= op.latency_ms.p99);
    }

    // The other result files: per-second series, histograms (text and lossless), report.
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let series = capi_loadgen::measure::timeseries::read_csv(&csv).unwrap();
    assert_eq!(
        series.iter().map(|p| p.completed).sum::<u64>(),
        s.totals.sent,
        "every request is in the series once"
    );
    let hists = capi_loadgen::report::files::read_histograms(&out).unwrap();
    assert_eq!(hists.len(), s.operations.len() * 3);
    for op in &s.operations {
        let tag = format!("{}/{}/{}/latency", op.phase, op.verb, op.kind);
        let (_, h) = hists.iter().find(|(t, _)| *t == tag).unwrap();
        assert_eq!(h.len(), op.counts.sent, "{tag}");
        assert!(out
            .join("histograms")
            .join(format!("{}.{}.{}.latency.hgrm", op.phase, op.verb, op.kind))
            .exists());
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("# capi-loadgen run it-small") && md.contains("| create | create | machine |"),
        "{md}"
    );
    std::fs::remove_file(out.join("report.md")).unwrap();
    common::cli(&["report", out.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        md,
        "report re-renders the same from files"
    );

    // The objects are really there, each labelled with the run id.
    let g = "loadtest.cluster.x-k8s.io/v1beta1";
    assert_eq!(
        count_with_label(&env.kubeconfig, &format!("/apis/{g}/clusters"), "it-small").await,
        3
    );
    assert_eq!(
        count_with_label(&env.kubeconfig, &format!("/apis/{g}/machines"), "it-small").await,
        9
    );
    assert_eq!(
        count_with_label(
            &env.kubeconfig,
            "/apis/infrastructure.loadtest.cluster.x-k8s.io/v1beta1/metal3machines",
            "it-small"
        )
        .await,
        9
    );
    assert_eq!(
        count_with_label(&env.kubeconfig, "/api/v1/secrets", "it-small").await,
        3 * (5 + 3)
    );
    assert_eq!(
        count_with_label(&env.kubeconfig, "/api/v1/namespaces", "it-small").await,
        2
    );
}

#[tokio::test]
async fn client_side_throttling_is_measured_as_wait() {
    let env = common::shared_env();
    // One client at 20 QPS with a burst of 5: the 1 + 22 = 23 creates cannot finish
    // before (23 - 5) / 20 = 0.9 s, and most of that time is throttle wait.
    let profile = common::profile_file(
        "throttled",
        "fleet: {clusters: 1, control_plane_replicas: 1, workers_per_machine_deployment: 2}\nclient: {pool_size: 1, qps: 20, burst: 5}\nphases: {create: {concurrency: 1}}\n",
    );
    let out = common::state_dir("out-throttled");
    common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--run-id",
        "it-throttle",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let s = capi_loadgen::report::Summary::read(&out).unwrap();
    assert_eq!(s.totals.sent, 23);
    assert_eq!(s.totals.ok, 23);
    assert!(
        s.duration_seconds >= (23.0 - 5.0) / 20.0 * 0.95,
        "{}",
        s.duration_seconds
    );
    let worst_wait = s
        .operations
        .iter()
        .map(|o| o.throttle_wait_ms.max)
        .fold(0.0, f64::max);
    assert!(
        worst_wait >= 30.0,
        "a request waited for a token: {worst_wait} ms"
    );
    assert_eq!(s.client.qps, Some(20.0));
}

#[tokio::test]
async fn unreachable_target_and_bad_token_are_distinct_errors() {
    let env = common::shared_env();
    // A kubeconfig pointing at a closed loopback port.
    let dead = common::profile_file(
        "dead-kubeconfig",
        &std::fs::read_to_string(&env.kubeconfig)
            .unwrap()
            .replace(&env.apiserver_url, "https://127.0.0.1:1"),
    );
    let profile = common::profile_file("tiny", "fleet: {clusters: 1}\n");
    let e = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        dead.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::UNREACHABLE, "{e}");
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");

    // A wrong token.
    let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let bad: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token: ") {
                "    token: not-a-valid-token".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bad = common::profile_file("bad-token-kubeconfig", &bad);
    let e = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        bad.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::AUTH, "{e}");
    assert!(
        !e.to_string().contains("not-a-valid-token"),
        "credentials never printed: {e}"
    );

    // A kubeconfig that trusts another CA: the TLS handshake fails.
    use base64::Engine;
    let other_ca = capi_loadgen::env::pki::generate().unwrap().ca_cert_pem;
    let other_ca = base64::engine::general_purpose::STANDARD.encode(other_ca);
    let wrong_ca: String = text
        .lines()
        .map(|l| match l.split_once("certificate-authority-data: ") {
            Some((indent, _)) => format!("{indent}certificate-authority-data: {other_ca}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(wrong_ca, text);
    let wrong_ca = common::profile_file("wrong-ca-kubeconfig", &wrong_ca);
    let e = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        wrong_ca.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    let msg = e.to_string();
    println!("wrong CA: exit {}: {msg}", e.exit_code());
    assert_eq!(e.exit_code(), capi_loadgen::exit::UNREACHABLE, "{msg}");
    assert!(
        msg.contains("127.0.0.1") && (msg.contains("certificate") || msg.contains("TLS")),
        "the message says the TLS handshake failed: {msg}"
    );
}
