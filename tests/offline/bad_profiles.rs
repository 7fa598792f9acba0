//! Malformed profiles: every file under `tests/fixtures/bad-profiles/` goes through
//! `capi-loadgen run <file> --dry-run` in-process and must be refused with exit code 2
//! (usage) and a single line `path:LINE: FIELD: message` naming the file, the line and the
//! field, as profiles/README.md promises. The shipped profiles under `profiles/` are the
//! positive control. Nothing is started: `--dry-run` only validates and prints the plan.
//!
//! To add a case, drop a file into the directory and a row into [`CASES`]; a file without
//! a row fails [`every_fixture_has_a_row`].

use capi_loadgen_test_support as common;

use capi_loadgen::exit;
use std::path::{Path, PathBuf};

/// (fixture, line, field, words): the message must start with `<path>:<line>: <field>: `
/// (without `:<line>` when None) and contain `words`. `-` means the problem is the document
/// itself: no field, `words` right after the line. An empty field is not checked (whole-file
/// problems such as an empty file or invalid UTF-8).
#[rustfmt::skip]
const CASES: &[(&str, Option<u64>, &str, &str)] = &[
    // unknown fields, at every nesting level
    ("unknown-top-level-field.yaml", Some(4), "verbose", "unknown field `verbose`"),
    ("unknown-fleet-field.yaml", Some(4), "fleet.clustrs", "unknown field `clustrs`"),
    ("unknown-payload-field.yaml", Some(5), "fleet.payload_bytes.machines", "unknown field `machines`"),
    ("unknown-machine-controller-field.yaml", Some(9), "phases.steady.machine_controller.workers", "unknown field `workers`"),
    ("unknown-call-mix-field.yaml", Some(8), "phases.steady.calls_per_reconcile", "unknown field `delete`"),
    ("unknown-target-field.yaml", Some(6), "target.namespace", "unknown field `namespace`"),
    ("unknown-local-etcd-field.yaml", Some(6), "local.etcd.data_dir", "unknown field `data_dir`"),
    // the local environment's constraints
    ("gomemlimit-above-limit.yaml", Some(6), "local.apiserver_gomemlimit", "above local.apiserver_memory_limit"),
    ("bad-memory-limit.yaml", Some(5), "local.apiserver_memory_limit", "a quantity like 512Mi"),
    ("fsync-backing-without-delay.yaml", Some(5), "local.etcd_fsync_backing", "only applies with local.etcd_fsync_delay_ms"),
    ("fsync-delay-too-large.yaml", Some(5), "local.etcd_fsync_delay_ms", "at most 1000"),
    ("unknown-observe-field.yaml", Some(5), "observe.scrape_interval", "unknown field `scrape_interval`"),
    ("https-etcd-metrics-url.yaml", Some(5), "observe.etcd_metrics_url", "plain-HTTP URL"),
    ("observe-etcd-without-endpoints.yaml", Some(5), "observe.etcd.endpoints", "is required"),
    ("observe-etcd-cert-without-key.yaml", Some(5), "observe.etcd.key_file", "needs both"),
    ("unknown-sweep-field.yaml", Some(6), "sweep.step", "unknown field `step`"),
    ("unknown-watchers-field.yaml", Some(6), "watchers.namespace", "unknown field `namespace`"),
    ("unknown-phase.yaml", Some(6), "phases.upgrade", "unknown field `upgrade`"),
    ("capi-controllers-unknown-manager-flag.yaml", Some(6), "capi_controllers.managers.kube_api_qsp", "unknown field `kube_api_qsp`"),
    ("capi-controllers-kube-target.yaml", Some(7), "capi_controllers", "only on the local environment"),
    ("capi-controllers-even-control-plane.yaml", Some(5), "capi_controllers.control_plane_machines", "is even"),
    ("capi-controllers-bad-feature-gates.yaml", Some(6), "capi_controllers.managers.feature_gates", "Gate=true"),
    // the local etcd cluster and its faults
    ("even-etcd-members.yaml", Some(5), "local.etcd_members", "must be 1, 3 or 5"),
    ("zero-etcd-rtt.yaml", Some(5), "local.etcd_rtt_ms", "above 0"),
    ("fault-without-trigger.yaml", Some(6), "faults[0].at_seconds", "at_seconds or at_objects"),
    ("kill-follower-of-one-member.yaml", Some(7), "faults[0].action", "3 or 5"),
    ("stop-member-without-duration.yaml", Some(6), "faults[0].for_seconds", "needs for_seconds"),
    ("faults-on-kube-target.yaml", Some(6), "faults", "local environment"),
    ("unknown-fault-action.yaml", Some(7), "faults.action", "unknown variant `partition_leader`"),
    // wrong types
    ("string-for-clusters.yaml", Some(3), "fleet.clusters", "whole number"),
    ("string-for-qps.yaml", Some(5), "client.qps", "expected a number"),
    ("bool-for-pool-size.yaml", Some(5), "client.pool_size", "whole number"),
    ("float-for-concurrency.yaml", Some(6), "phases.create.concurrency", "whole number"),
    ("list-for-client.yaml", Some(4), "client", "expected a map"),
    ("list-for-fleet.yaml", Some(3), "fleet", "expected a map"),
    ("map-for-watch-kinds.yaml", Some(7), "watchers.kinds", "expected a list"),
    ("map-for-duration.yaml", Some(7), "phases.steady.duration_seconds", "a single value"),
    ("string-for-install-crds.yaml", Some(4), "fleet.install_crds", "true or false"),
    ("string-for-sweep-values.yaml", Some(6), "sweep.values", "expected a list"),
    // negative and zero
    ("negative-create-rate.yaml", Some(6), "phases.create.objects_per_second", "must be > 0"),
    ("zero-cluster-rate.yaml", Some(6), "phases.create.clusters_per_second", "must be > 0"),
    ("negative-delete-rate.yaml", Some(7), "phases.delete.objects_per_second", "must be > 0"),
    ("zero-qps.yaml", Some(5), "client.qps", "-1 for unlimited"),
    ("negative-qps.yaml", Some(5), "client.qps", "-1 for unlimited"),
    ("zero-pool-size.yaml", Some(5), "client.pool_size", "must be > 0"),
    ("pool-size-too-large.yaml", Some(5), "client.pool_size", "at most 1024"),
    ("zero-burst.yaml", Some(5), "client.burst", "must be > 0"),
    ("zero-timeout.yaml", Some(5), "client.timeout_seconds", "must be > 0"),
    ("zero-clusters.yaml", Some(3), "fleet.clusters", "must be > 0"),
    ("negative-clusters.yaml", Some(3), "fleet.clusters", "whole number"),
    ("zero-steady-duration.yaml", Some(7), "phases.steady.duration_seconds", "must be > 0"),
    ("negative-events-per-second.yaml", Some(8), "phases.steady.events_per_second", "between 0 and"),
    ("zero-watchers-count.yaml", Some(5), "watchers.count", "between 1 and"),
    ("zero-apiserver-inflight.yaml", Some(6), "local.apiserver.max_requests_inflight", "must be > 0"),
    // phases that do not fit together
    ("steady-without-create.yaml", Some(5), "phases.steady", "needs phases.create"),
    ("churn-without-create.yaml", Some(5), "phases.churn", "needs phases.create"),
    ("delete-without-create.yaml", Some(5), "phases.delete", "needs phases.create"),
    ("both-create-rates.yaml", Some(7), "phases.create.clusters_per_second", "not both"),
    ("steady-without-duration.yaml", Some(6), "phases.steady.duration_seconds", "is required"),
    ("zero-calls-per-reconcile.yaml", Some(8), "phases.steady.calls_per_reconcile", "at least one call"),
    ("workers-without-machine-deployments.yaml", Some(5), "fleet.workers_per_machine_deployment", "at least one MachineDeployment"),
    ("even-control-plane-replicas.yaml", Some(4), "fleet.control_plane_replicas", "odd"),
    // sweep sections
    ("sweep-accumulate-falling-values.yaml", Some(6), "sweep.values", "must rise"),
    ("sweep-accumulate-other-field.yaml", Some(7), "sweep.state", "only applies to a fleet.clusters sweep"),
    ("sweep-values-and-range.yaml", Some(7), "sweep.range", "not both"),
    ("sweep-bad-range.yaml", Some(6), "sweep.range", "lo:hi:step"),
    ("sweep-falling-range.yaml", Some(6), "sweep.range", "hi >= lo"),
    ("sweep-empty-values.yaml", Some(6), "sweep.values", "at least one"),
    ("sweep-bad-state.yaml", Some(7), "sweep.state", "unknown variant `grow`"),
    // bad enum values
    ("unknown-provider.yaml", Some(4), "fleet.provider", "unknown variant `aws`"),
    ("bad-on-target-failure.yaml", Some(4), "on_target_failure", "unknown variant `retry`"),
    ("unknown-preset.yaml", Some(5), "client.preset", "unknown variant `capi-2.0`"),
    ("unknown-watch-kind.yaml", Some(6), "watchers.kinds", "unknown kind `pod`"),
    ("bad-enqueue-mode.yaml", Some(8), "phases.steady.enqueue", "unknown variant `random`"),
    ("bad-steady-controller.yaml", Some(8), "phases.steady.controller", "unknown variant `real`"),
    ("per-kind-rate-limiter-simulated.yaml", Some(8), "phases.steady.rate_limiter", "per-kind needs controller: reference"),
    ("bad-churn-mode.yaml", Some(8), "phases.churn.mode", "unknown variant `shuffle`"),
    ("unknown-target-type.yaml", Some(5), "target.type", "unknown variant `kind`"),
    ("unknown-capi-version.yaml", Some(4), "fleet.capi_version", "unknown variant `v1alpha4`"),
    ("unknown-cluster-secret.yaml", Some(4), "fleet.cluster_secrets", "unknown variant `tls`"),
    ("bad-watch-scope.yaml", Some(6), "watchers.scope", "unknown variant `node`"),
    // out-of-range numbers
    ("jitter-too-large.yaml", Some(8), "phases.steady.jitter", "between 0 and 0.5"),
    ("nan-jitter.yaml", Some(8), "phases.steady.jitter", "between 0 and 0.5"),
    ("huge-create-rate.yaml", Some(6), "phases.create.objects_per_second", "at most 1000000"),
    ("huge-clusters.yaml", Some(3), "fleet.clusters", "whole number"),
    ("clusters-overflow-u64.yaml", Some(3), "fleet.clusters", "whole number"),
    ("clusters-over-limit.yaml", Some(3), "fleet.clusters", "at most 10000000"),
    ("time-scale-wall-period-too-short.yaml", Some(9), "phases.steady.time_scale", "under 100 ms"),
    ("time-scale-too-large.yaml", Some(8), "phases.steady.time_scale", "at most 10000"),
    ("negative-think-ms.yaml", Some(8), "phases.steady.think_ms", "between 0 and 600000"),
    ("churn-fraction-too-large.yaml", Some(8), "phases.churn.fraction", "at most 1"),
    ("observe-interval-too-small.yaml", Some(5), "observe.interval_seconds", "between 0.2 and 3600"),
    ("etcd-quota-too-small.yaml", Some(6), "local.etcd.quota_backend_bytes", "16 MiB"),
    ("max-retries-too-large.yaml", Some(5), "client.max_retries", "at most 100"),
    ("too-many-machine-deployments.yaml", Some(4), "fleet.machine_deployments", "at most 100"),
    ("thresholds-not-ascending.yaml", Some(6), "observe.thresholds.etcd_wal_fsync_p99", "ascending"),
    ("unknown-threshold-check.yaml", Some(6), "observe.thresholds.etcd_latency", "unknown check"),
    // YAML syntax and whole-file problems
    ("bad-indentation.yaml", Some(4), "fleet.provider", ""),
    ("unclosed-bracket.yaml", Some(6), "watchers.kinds", ""),
    ("tab-indentation.yaml", Some(3), "fleet.clusters", "tab"),
    ("empty.yaml", Some(1), "", "the profile is empty"),
    ("only-comment.yaml", Some(1), "", "the profile is empty"),
    ("not-utf8.yaml", Some(4), "", "not valid UTF-8"),
    ("document-is-list.yaml", Some(2), "-", "expected a map"),
    ("document-is-scalar.yaml", Some(2), "", "expected a map"),
    ("duplicate-key.yaml", Some(5), "fleet.clusters", "duplicate key `clusters`"),
    ("two-documents.yaml", Some(5), "", "single YAML document"), // names fleet
    ("missing-fleet.yaml", Some(2), "-", "missing field `fleet`"),
    ("fleet-without-clusters.yaml", Some(3), "fleet", "missing field `clusters`"),
    // targets
    ("bad-etcd-endpoint.yaml", Some(6), "target.endpoints", "must be a URL"),
    ("empty-etcd-endpoints.yaml", Some(6), "target.endpoints", "is empty"),
    ("kubeconfig-with-local-target.yaml", Some(6), "target.kubeconfig", "only applies when target.type is kube"),
    ("endpoints-with-kube-target.yaml", Some(6), "target.endpoints", "only applies when target.type is etcd"),
    ("context-with-etcd-target.yaml", Some(6), "target.context", "only applies when target.type is kube"),
    ("ca-file-with-local-target.yaml", Some(5), "target.ca_file", "only applies when target.type is etcd"),
    ("etcd-cert-without-key.yaml", Some(4), "target.key_file", "needs both cert_file and key_file"),
    ("local-with-kube-target.yaml", Some(6), "local", "only applies to the local environment"),
    ("local-with-etcd-endpoints.yaml", Some(7), "local", "only applies to the local environment"),
    // payloads over etcd's 1.5 MiB request limit
    ("payload-bootstrap-over-etcd-limit.yaml", Some(5), "fleet.payload_bytes.bootstrap_data", "1.5 MiB"),
    ("payload-machine-over-etcd-limit.yaml", Some(5), "fleet.payload_bytes.machine", "1.5 MiB"),
    ("payload-secret-over-etcd-limit.yaml", Some(6), "fleet.payload_bytes.secret", "1.5 MiB"),
    // other fleet fields
    ("bad-api-group.yaml", Some(4), "fleet.api_group", "DNS subdomain"),
    ("install-crds-into-capi-group.yaml", Some(5), "fleet.install_crds", "refusing"),
    ("bad-kubernetes-version.yaml", Some(4), "fleet.kubernetes_version", "v1.30.4"),
    ("kubernetes-version-with-suffix.yaml", Some(4), "fleet.kubernetes_version", "must look like v1.30.4"),
    // the sweep section: every point's plan is checked at --dry-run
    ("sweep-unknown-field.yaml", Some(2), "fleet.clustrs", "unknown field `clustrs`"),
    ("sweep-invalid-value.yaml", Some(4), "fleet.control_plane_replicas", "2 is even"),
    ("bad-extra-args.yaml", Some(6), "local.apiserver.extra_args", "--flag=value"),
    ("bad-local-kubernetes-version.yaml", Some(5), "local.kubernetes_version", "must be a version like v1.37.2"),
    ("bad-local-etcd-version.yaml", Some(5), "local.etcd_version", "must be a version like v3.6.16"),
    // repeated entries and values that cannot mean anything
    ("duplicate-cluster-secret.yaml", Some(4), "fleet.cluster_secrets", "`ca` is listed twice"),
    ("webhook-kind-not-in-fleet.yaml", Some(5), "webhooks.kinds", "`machine_pool` is not in the fleet"),
    ("machine-pools-on-metal3.yaml", Some(4), "fleet.machine_pools", "provider metal3 has no MachinePool kind"),
    ("pool-replicas-without-pools.yaml", Some(5), "fleet.machine_pool_replicas", "only used with `machine_pools`"),
    ("duplicate-watch-kind.yaml", Some(6), "watchers.kinds", "`machine` is listed twice"),
    ("zero-etcd-quota.yaml", Some(5), "observe.etcd_quota_bytes", "must be > 0"),
    ("infinite-threshold.yaml", Some(6), "observe.thresholds.etcd_wal_fsync_p99", "finite"),
    ("negative-threshold.yaml", Some(6), "observe.thresholds.etcd_wal_fsync_p99", ">= 0"),
    // webhooks
    ("webhooks-unknown-field.yaml", Some(5), "webhooks.latency_ms", "unknown field `latency_ms`"),
    ("webhooks-rate-above-one.yaml", Some(5), "webhooks.error_rate", "fraction between 0 and 1"),
    ("webhooks-histogram-without-buckets.yaml", Some(5), "webhooks.latency.buckets", "buckets are required"),
    ("webhooks-buckets-not-ascending.yaml", Some(7), "webhooks.latency.buckets", "not above the previous bound"),
    ("webhooks-for-secrets.yaml", Some(5), "webhooks.kinds", "has no webhook"),
    ("webhooks-on-bare-etcd.yaml", Some(6), "webhooks", "no kube-apiserver"),
    ("webhooks-timeout-too-long.yaml", Some(5), "webhooks.timeout_seconds", "between 1 and 30"),
    ("webhooks-bad-failure-policy.yaml", Some(5), "webhooks.failure_policy", "Retry"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-profiles")
}

/// `capi-loadgen run <path> --dry-run` on its own thread and runtime, so that a panic in
/// the tool is reported against the fixture. Ok(None): accepted; Ok(Some((code, msg))):
/// refused; Err: the tool panicked.
fn dry_run(path: &Path) -> Result<Option<(i32, String)>, String> {
    let p = path.to_str().expect("UTF-8 path").to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(common::cli(&["run", &p, "--dry-run", "--plan-only"]))
            .err()
            .map(|e| (e.exit_code(), e.to_string()))
    })
    .join()
    .map_err(|e| {
        let what = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
        format!("panicked: {}", what.unwrap_or_default())
    })
}

#[test]
fn every_bad_profile_is_refused_with_file_line_and_field() {
    let mut failures = Vec::new();
    for &(name, line, field, words) in CASES {
        let path = fixtures().join(name);
        let msg = match dry_run(&path) {
            Err(panic) => {
                failures.push(format!("{name}: {panic}"));
                continue;
            }
            Ok(None) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Ok(Some((code, msg))) if code != exit::USAGE => {
                failures.push(format!(
                    "{name}: exit code {code}, want {}: {msg}",
                    exit::USAGE
                ));
                continue;
            }
            Ok(Some((_, msg))) => msg,
        };
        let mut prefix = path.display().to_string();
        if let Some(l) = line {
            prefix += &format!(":{l}");
        }
        if !field.is_empty() && field != "-" {
            prefix += &format!(": {field}");
        }
        prefix += ": ";
        let ok = msg.starts_with(&prefix)
            && msg.contains(words)
            && !msg.contains('\n')
            && (field != "-" || msg[prefix.len()..].starts_with(words));
        if !ok {
            failures.push(format!(
                "{name}: want `{prefix}...{words}...` on one line, got `{msg}`"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad profiles:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_has_a_row() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "a fixture appears twice in CASES");
    assert!(n >= 55, "only {n} bad profiles");
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        on_disk.push(name);
    }
    on_disk.sort();
    let missing: Vec<&String> = on_disk
        .iter()
        .filter(|f| !names.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures without a row in CASES: {missing:?}"
    );
    let absent: Vec<&&str> = names
        .iter()
        .filter(|f| !on_disk.contains(&f.to_string()))
        .collect();
    assert!(
        absent.is_empty(),
        "rows in CASES without a fixture: {absent:?}"
    );
}

#[test]
fn a_missing_profile_is_a_usage_error_naming_the_path() {
    let path = fixtures().join("no-such-dir/no-such-profile.yaml");
    let (code, msg) = dry_run(&path)
        .expect("no panic")
        .expect("a missing file is refused");
    assert_eq!(code, exit::USAGE, "{msg}");
    assert!(
        msg.starts_with(&format!("{}: cannot read", path.display())),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn shipped_profiles_pass_dry_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut n = 0;
    for dir in [
        root.clone(),
        root.join("breakpoints"),
        root.join("comparison"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                let r = dry_run(&p).unwrap_or_else(|panic| panic!("{}: {panic}", p.display()));
                assert_eq!(r, None, "{} is refused", p.display());
                n += 1;
            }
        }
    }
    assert!(n >= 8, "only {n} shipped profiles found");
}
