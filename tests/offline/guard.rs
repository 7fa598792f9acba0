//! The safety guard refuses, before any connection, a kube context that is neither kind nor
//! the local environment and an etcd off loopback, unless named with `--allow-context` /
//! `--allow-endpoint`. Refused targets use the reserved `.invalid` domain, so even a broken
//! guard could not reach anything; allowed ones point at a closed loopback port.

use capi_loadgen_test_support as common;

fn kubeconfig(name: &str, context: &str, server: &str) -> std::path::PathBuf {
    let dir = common::state_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: {context}\n  context:\n    cluster: c\n    user: u\ncurrent-context: {context}\nusers:\n- name: u\n  user:\n    token: not-a-real-token\n"
        ),
    )
    .unwrap();
    p
}

/// `run <profile> --kubeconfig <kc> <extra…>`, which must fail; its error.
async fn run_err(
    profile: &std::path::Path,
    kc: &std::path::Path,
    extra: &[&str],
) -> capi_loadgen::Error {
    let mut args = vec![
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::cli(&args).await.unwrap_err()
}

const PROFILE: &str = "fleet: {clusters: 1, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: []}\nclient: {timeout_seconds: 2}\nobserve: {enabled: false}\n";

#[tokio::test]
async fn a_foreign_context_is_refused_before_any_request() {
    let p = common::profile_file("guard", PROFILE);
    let kc = kubeconfig("guard-prod", "prod-eu", "https://prod.invalid:6443");
    for cmd in [
        vec!["run", p.to_str().unwrap()],
        vec!["cleanup", "--run-id", "x"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--kubeconfig", kc.to_str().unwrap()]);
        let e = common::cli(&args).await.unwrap_err();
        assert_eq!(e.exit_code(), capi_loadgen::exit::REFUSED, "{cmd:?}: {e}");
        let m = e.to_string();
        assert!(!m.contains('\n'), "{m}");
        assert!(
            m.contains("prod-eu") && m.contains("--allow-context prod-eu"),
            "{m}"
        );
    }
    // A local environment's context name on a foreign server is still foreign.
    let kc = kubeconfig(
        "guard-lookalike",
        "capi-loadgen-load",
        "https://prod.invalid:6443",
    );
    let e = run_err(&p, &kc, &[]).await;
    assert_eq!(e.exit_code(), capi_loadgen::exit::REFUSED, "{e}");
}

#[tokio::test]
async fn allowed_or_local_targets_pass_the_guard() {
    let p = common::profile_file("guard-ok", PROFILE);
    // Allowed by name: the guard lets it through and the closed port answers nothing.
    let kc = kubeconfig("guard-staging", "staging", "https://127.0.0.1:1");
    let e = run_err(&p, &kc, &[]).await;
    assert_eq!(e.exit_code(), capi_loadgen::exit::REFUSED, "{e}");
    let e = run_err(&p, &kc, &["--allow-context", "staging"]).await;
    assert_eq!(e.exit_code(), capi_loadgen::exit::UNREACHABLE, "{e}");
    // kind-* contexts on loopback need no flag.
    let kc = kubeconfig("guard-kind", "kind-capi", "https://127.0.0.1:1");
    let e = run_err(&p, &kc, &[]).await;
    assert_eq!(e.exit_code(), capi_loadgen::exit::UNREACHABLE, "{e}");
}

#[tokio::test]
async fn an_etcd_off_loopback_is_refused() {
    let p = common::profile_file("guard-etcd", PROFILE);
    let e = common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--etcd-endpoint",
        "http://etcd.invalid:2379",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::REFUSED, "{e}");
    assert!(
        e.to_string()
            .contains("--allow-endpoint http://etcd.invalid:2379"),
        "{e}"
    );
    let e = common::cli(&[
        "cleanup",
        "--run-id",
        "x",
        "--etcd-endpoint",
        "http://etcd.invalid:2379",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::REFUSED, "{e}");
}
