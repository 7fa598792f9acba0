//! Profile parsing and validation: every error names file, line and field.

use super::*;
use std::path::Path;

fn err(yaml: &str) -> ProfileError {
    parse_str(Path::new("p.yaml"), yaml, &Overrides::default()).expect_err(yaml)
}

fn ok(yaml: &str) -> RunPlan {
    parse_str(Path::new("p.yaml"), yaml, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn errors_name_line_and_field() {
    let cases: &[(&str, u64, &str, &str)] = &[
        ("fleet:\n  clusters: 0\n", 2, "fleet.clusters", "must be > 0"),
        ("fleet:\n  clusters: 3\n  clustrs: 4\n", 3, "fleet.clustrs", "unknown field"),
        ("fleet:\n  clusters: many\n", 2, "fleet.clusters", "whole number"),
        ("fleet:\n  clusters: -5\n", 2, "fleet.clusters", "whole number"),
        ("fleet:\n  clusters: 3\n  provider: aws\n", 3, "fleet.provider", "unknown variant"),
        ("fleet:\n  clusters: 3\nclient:\n  qps: 0\n", 4, "client.qps", "-1 for unlimited"),
        ("fleet:\n  clusters: 3\nclient:\n  pool_size: 0\n", 4, "client.pool_size", "must be > 0"),
        ("fleet:\n  clusters: 3\n  control_plane_replicas: 2\n", 3, "fleet.control_plane_replicas", "odd"),
        ("fleet:\n  clusters: 3\n  api_group: Not_A_Group\n", 3, "fleet.api_group", "DNS subdomain"),
        ("fleet:\n  clusters: 3\n  api_group: cluster.x-k8s.io\n  install_crds: true\n", 4, "fleet.install_crds", "refusing"),
        ("fleet:\n  clusters: 3\n  payload_bytes:\n    bootstrap_data: 2000000\n", 4, "fleet.payload_bytes.bootstrap_data", "1.5 MiB"),
        ("fleet:\n  clusters: 3\n  payload_bytes:\n    machine: 1600000\n", 4, "fleet.payload_bytes.machine", "1.5 MiB"),
        ("fleet:\n  clusters: 3\n  machine_deployments: 0\n  workers_per_machine_deployment: 2\n", 4, "fleet.workers_per_machine_deployment", "at least one MachineDeployment"),
        ("fleet:\n  clusters: 3\ntarget:\n  type: local\n  context: kind-x\n", 5, "target.context", "only applies"),
        ("fleet:\n  clusters: 3\ntarget:\n  type: kube\nlocal:\n  etcd:\n    quota_backend_bytes: 100000000\n", 5, "local", "only applies"),
        ("fleet:\n  clusters: 3\nlocal:\n  etcd:\n    quota_backend_bytes: 1000\n", 5, "local.etcd.quota_backend_bytes", "16 MiB"),
        ("fleet:\n  clusters: 3\nlocal:\n  apiserver:\n    extra_args: [\"-v\"]\n", 5, "local.apiserver.extra_args", "--flag=value"),
        ("fleet:\n  clusters: 3\nphases:\n  create:\n    concurrency: 0\n", 5, "phases.create.concurrency", "between 1 and"),
        ("fleet:\n  clusters: 3\n  kubernetes_version: latest\n", 3, "fleet.kubernetes_version", "v1.30.4"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  steady:\n    sync_period_seconds: 60\n", 5, "phases.steady.duration_seconds", "required"),
        ("fleet:\n  clusters: 3\nphases:\n  steady:\n    duration_seconds: 60\n", 4, "phases.steady", "needs phases.create"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  steady:\n    duration_seconds: 5\n    jitter: 0.9\n", 7, "phases.steady.jitter", "between 0 and 0.5"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  steady:\n    duration_seconds: 5\n    calls_per_reconcile:\n      get: 0\n", 7, "phases.steady.calls_per_reconcile", "at least one call"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  steady:\n    duration_seconds: 5\n    sync_period_seconds: 1\n    time_scale: 100\n", 8, "phases.steady.time_scale", "100 ms"),
        ("fleet:\n  clusters: 3\nphases:\n  delete: {}\n", 4, "phases.delete", "needs phases.create"),
        ("fleet:\n  clusters: 3\nphases:\n  create:\n    objects_per_second: 5\n    clusters_per_second: 1\n", 6, "phases.create.clusters_per_second", "not both"),
        ("fleet:\n  clusters: 3\nphases:\n  create:\n    objects_per_second: -5\n", 5, "phases.create.objects_per_second", "must be > 0"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  churn:\n    duration_seconds: 5\n    fraction: 2\n", 7, "phases.churn.fraction", "at most 1"),
        ("fleet:\n  clusters: 3\nphases:\n  create: {}\n  churn:\n    duration_seconds: 5\n    mode: shuffle\n", 7, "phases.churn.mode", "unknown variant"),
        ("fleet:\n  clusters: 10000000\n  workers_per_machine_deployment: 100000\n  machine_deployments: 100\n", 2, "fleet.clusters", "objects"),
    ];
    for (yaml, line, field, words) in cases {
        let e = err(yaml);
        assert_eq!(
            (e.line, e.field.as_str()),
            (*line, *field),
            "{yaml}\n=> {e}"
        );
        assert!(e.message.contains(words), "{yaml}\n=> {e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("p.yaml:{line}: {field}: ")),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 1, "one line: {shown}");
    }
}

#[test]
fn empty_and_missing_fleet() {
    assert!(err("").message.contains("empty"));
    assert!(err("# only a comment\n").message.contains("empty"));
    let e = err("client:\n  qps: 5\n");
    assert!(e.message.contains("missing field `fleet`"), "{e}");
}

#[test]
fn defaults_follow_client_go_and_presets() {
    let p = ok("fleet: {clusters: 2}\n");
    assert_eq!(
        (p.client.qps, p.client.burst, p.client.pool_size),
        (Some(5.0), 10, 1)
    );
    assert_eq!(p.phases.create.as_ref().map(|c| c.concurrency), Some(10));
    assert!(p.phases.steady.is_none() && p.phases.delete.is_none());
    assert!(p.install_crds);
    assert!(matches!(p.target, TargetPlan::Local(_)));
    assert_eq!(p.fleet.api_group, "loadtest.cluster.x-k8s.io");
    assert_eq!(
        p.out_dir,
        std::path::PathBuf::from("results").join(&p.run_id)
    );

    let p = ok("fleet: {clusters: 2}\nclient: {preset: capi-1.13}\n");
    assert_eq!(
        (
            p.client.qps,
            p.client.burst,
            p.phases.create.as_ref().unwrap().concurrency
        ),
        (Some(100.0), 200, 50)
    );
    let p = ok("fleet: {clusters: 2}\nclient: {preset: capi-1.5, qps: 40}\n");
    assert_eq!((p.client.qps, p.client.burst), (Some(40.0), 30));
    let p = ok("fleet: {clusters: 2}\nclient: {preset: controller-runtime-0.21}\n");
    assert_eq!(p.client.qps, None);
    let p = ok("fleet: {clusters: 2, api_group: cluster.x-k8s.io}\n");
    assert!(
        !p.install_crds,
        "never installs into the real CAPI group by default"
    );
}

#[test]
fn overrides_win() {
    let o = Overrides {
        clusters: Some(7),
        run_id: Some("abc-1".into()),
        kubeconfig: Some("/tmp/kc".into()),
        ..Default::default()
    };
    let p = parse_str(Path::new("p.yaml"), "fleet: {clusters: 2}\n", &o).unwrap();
    assert_eq!((p.fleet.clusters, p.run_id.as_str()), (7, "abc-1"));
    assert!(matches!(p.target, TargetPlan::Kube { .. }));
    let bad = Overrides {
        run_id: Some("Not Valid".into()),
        ..Default::default()
    };
    let e = parse_str(Path::new("p.yaml"), "fleet: {clusters: 2}\n", &bad).unwrap_err();
    assert_eq!(e.field, "run_id");
}

#[test]
fn shipped_profiles_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            load(&p, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn all_phases_parse_with_defaults() {
    let p = ok("fleet: {clusters: 2}\nclient: {preset: capi-1.5}\nphases:\n  create: {clusters_per_second: 2}\n  steady: {duration_seconds: 30, time_scale: 60}\n  churn: {duration_seconds: 10}\n  delete: {objects_per_second: 100}\n");
    let s = p.phases.steady.as_ref().unwrap();
    assert_eq!(s.sync_period, std::time::Duration::from_secs(600));
    assert_eq!(s.wall_period(), std::time::Duration::from_secs(10));
    assert_eq!((s.mix.get, s.mix.list, s.mix.patch_status), (10, 2, 8));
    assert_eq!(
        (s.concurrency, s.client_qps, s.client_burst),
        (10, Some(20.0), 30)
    );
    assert_eq!(
        p.phases.create.as_ref().unwrap().rate,
        Some(phases::Rate::ClustersPerSecond(2.0))
    );
    assert_eq!(p.phases.churn.as_ref().unwrap().fraction, 0.1);
    assert_eq!(p.phases.delete.as_ref().unwrap().rate, Some(100.0));
    let p = ok("fleet: {clusters: 2}\nphases:\n  create: {}\n  steady: {duration_seconds: 5, client_qps: -1}\n");
    assert_eq!(p.phases.steady.unwrap().client_qps, None);
}

#[test]
fn load_with_sets_one_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(&p, "fleet:\n  clusters: 3\nclient:\n  qps: 5\n").unwrap();
    let plan = load_with(&p, "fleet.clusters", "600", &Overrides::default()).unwrap();
    assert_eq!(plan.fleet.clusters, 600);
    let plan = load_with(&p, "client.qps", "20.5", &Overrides::default()).unwrap();
    assert_eq!(plan.client.qps, Some(20.5));
    // A field the profile did not have yet.
    let plan = load_with(&p, "phases.create.concurrency", "7", &Overrides::default()).unwrap();
    assert_eq!(plan.phases.create.unwrap().concurrency, 7);
    let e = load_with(&p, "fleet.clusters", "0", &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("fleet.clusters = 0"), "{e}");
    let e = load_with(&p, "fleet.clustrs", "5", &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("clustrs"), "{e}");
}

#[test]
fn a_byte_order_mark_does_not_shift_lines_or_fields() {
    let e = parse_str(
        Path::new("bom.yaml"),
        "\u{feff}fleet:\n  clustrs: 3\n",
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bom.yaml:2: fleet.clustrs:"), "{e}");
    let e = parse_str(
        Path::new("bom.yaml"),
        "\u{feff}fleet:\n  clusters: 0\n",
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bom.yaml:2: fleet.clusters:"), "{e}");
}

#[test]
fn no_machine_deployments_means_no_workers_unless_asked() {
    let p = ok("fleet:\n  clusters: 3\n  machine_deployments: 0\n");
    assert_eq!(p.fleet.workers_per_machine_deployment, 0);
    assert_eq!(
        ok("fleet:\n  clusters: 3\n")
            .fleet
            .workers_per_machine_deployment,
        3
    );
    for v in [
        "v1.30.4-rc.1",
        "v1.30",
        "1.30.4",
        "v1.30.4 ",
        "v1..4",
        "v1.30.4.1",
    ] {
        let e = err(&format!(
            "fleet:\n  clusters: 3\n  kubernetes_version: \"{v}\"\n"
        ));
        assert_eq!(e.field, "fleet.kubernetes_version", "{v}");
    }
    assert_eq!(
        ok("fleet:\n  clusters: 3\n  kubernetes_version: v1.33.10\n")
            .fleet
            .kubernetes_version,
        "v1.33.10"
    );
}

#[test]
fn kubectl_order_flag_then_kubeconfig_env_then_the_profile() {
    let env = Overrides {
        kubeconfig_env: Some("/a:/b".into()),
        ..Default::default()
    };
    // $KUBECONFIG over a local profile, and it says so.
    let p = parse_str(
        Path::new("p.yaml"),
        "fleet: {clusters: 1}\nlocal: {etcd: {quota_backend_bytes: 16777216}}\n",
        &env,
    )
    .unwrap();
    match p.target {
        TargetPlan::Kube {
            kubeconfig: None,
            chosen: Some(why),
            ..
        } => assert!(
            why.starts_with(
                "target: $KUBECONFIG (/a:/b) instead of the profile's local environment"
            ),
            "{why}"
        ),
        t => panic!("{t:?}"),
    }
    // ... and over a profile's target.kubeconfig; the profile's context stays.
    let p = parse_str(
        Path::new("p.yaml"),
        "target: {type: kube, kubeconfig: /c, context: kind-x}\nfleet: {clusters: 1}\n",
        &env,
    )
    .unwrap();
    match p.target {
        TargetPlan::Kube {
            kubeconfig: None,
            context: Some(c),
            chosen: Some(why),
            ..
        } => {
            assert_eq!(c, "kind-x");
            assert!(
                why.contains("instead of the profile's target.kubeconfig /c"),
                "{why}"
            );
        }
        t => panic!("{t:?}"),
    }
    // --kubeconfig over $KUBECONFIG.
    let flag = Overrides {
        kubeconfig: Some("/flag".into()),
        ..env.clone()
    };
    let p = parse_str(Path::new("p.yaml"), "fleet: {clusters: 1}\n", &flag).unwrap();
    assert!(
        matches!(p.target, TargetPlan::Kube { kubeconfig: Some(k), chosen: None, .. } if k == Path::new("/flag"))
    );
    // A bare etcd target stays one.
    let p = parse_str(
        Path::new("p.yaml"),
        "target: {type: etcd}\nfleet: {clusters: 1}\n",
        &env,
    )
    .unwrap();
    assert!(matches!(p.target, TargetPlan::Etcd { .. }));
    // Without $KUBECONFIG the profile decides.
    let p = parse_str(
        Path::new("p.yaml"),
        "fleet: {clusters: 1}\n",
        &Overrides::default(),
    )
    .unwrap();
    assert!(matches!(p.target, TargetPlan::Local(_)));
}

#[test]
fn etcd_metrics_url_flag_wins_and_a_bare_address_means_its_metrics() {
    let yaml = "fleet: {clusters: 1}\nobserve: {etcd_metrics_url: 'http://127.0.0.1:2381'}\n";
    let p = parse_str(Path::new("p.yaml"), yaml, &Overrides::default()).unwrap();
    assert_eq!(
        p.observe.etcd_metrics_url.as_deref(),
        Some("http://127.0.0.1:2381/metrics")
    );
    let flag = Overrides {
        etcd_metrics_url: Some("http://10.0.0.1:2381/metrics".into()),
        ..Default::default()
    };
    let p = parse_str(Path::new("p.yaml"), yaml, &flag).unwrap();
    assert_eq!(
        p.observe.etcd_metrics_url.as_deref(),
        Some("http://10.0.0.1:2381/metrics")
    );
    let bad = Overrides {
        etcd_metrics_url: Some("etcd:2381".into()),
        ..Default::default()
    };
    let e = parse_str(Path::new("p.yaml"), yaml, &bad).unwrap_err();
    assert_eq!(e.field, "--etcd-metrics-url");
}

#[test]
fn prometheus_url_token_file_and_selector() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "abc\n").unwrap();
    let yaml = format!(
        "fleet: {{clusters: 1}}\nobserve:\n  prometheus_url: 'http://127.0.0.1:9090/prom/'\n  prometheus_bearer_token_file: {}\n  prometheus_selector: 'cluster=\"mgmt\"'\n",
        token.display()
    );
    let p = ok(&yaml).observe.prometheus.unwrap();
    assert_eq!(p.url, "http://127.0.0.1:9090/prom");
    assert_eq!(p.bearer_token_file.as_deref(), Some(token.as_path()));
    assert_eq!(p.selector, "cluster=\"mgmt\"");
    // The token's content is not in the plan.
    assert!(!format!("{p:?}").contains("abc"));
    let flag = Overrides {
        prometheus_url: Some("https://prometheus.example:9090".into()),
        ..Default::default()
    };
    let p = parse_str(Path::new("p.yaml"), &yaml, &flag).unwrap();
    assert_eq!(
        p.observe.prometheus.unwrap().url,
        "https://prometheus.example:9090"
    );
    assert_eq!(ok("fleet: {clusters: 1}\n").observe.prometheus, None);

    let cases: &[(&str, u64, &str, &str)] = &[
        ("observe:\n  prometheus_url: 127.0.0.1:9090\n", 3, "observe.prometheus_url", "http(s) URL"),
        ("observe:\n  prometheus_url: 'http://user:pw@127.0.0.1:9090'\n", 3, "observe.prometheus_url", "no credentials"),
        ("observe:\n  prometheus_url: 'http://127.0.0.1:9090/?x=1'\n", 3, "observe.prometheus_url", "query"),
        ("observe:\n  prometheus_bearer_token_file: /t\n", 3, "observe.prometheus_bearer_token_file", "only used with"),
        ("observe:\n  prometheus_url: 'http://127.0.0.1:9090'\n  prometheus_bearer_token_file: /nonexistent/token\n", 4, "observe.prometheus_bearer_token_file", "/nonexistent/token"),
        ("observe:\n  prometheus_url: 'http://127.0.0.1:9090'\n  prometheus_selector: '{job=\"x\"}'\n", 4, "observe.prometheus_selector", "without braces"),
    ];
    for (yaml, line, field, needle) in cases {
        let e = err(&format!("fleet: {{clusters: 1}}\n{yaml}"));
        assert_eq!(e.field, *field, "{yaml}: {e}");
        assert_eq!(e.line, *line, "{yaml}: {e}");
        assert!(e.to_string().contains(needle), "{yaml}: {e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
    std::fs::write(&token, "  \n").unwrap();
    let e = err(&format!("fleet: {{clusters: 1}}\nobserve:\n  prometheus_url: 'http://127.0.0.1:9090'\n  prometheus_bearer_token_file: {}\n", token.display()));
    assert!(e.to_string().contains("is empty"), "{e}");
    let e = parse_str(
        Path::new("p.yaml"),
        "fleet: {clusters: 1}\n",
        &Overrides {
            prometheus_url: Some("prometheus:9090".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.field, "--prometheus-url");
}
