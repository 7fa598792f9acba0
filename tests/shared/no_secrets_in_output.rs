//! Credentials never reach result files or logs: a run through a kubeconfig with two bearer
//! tokens (the admin's and the ServiceAccount's) writes summary.json, report.md, the time
//! series, histograms and observed metrics, and logs at trace level for every crate; none of
//! them contains either token, nor any of the fake Secrets' data the run created.

use capi_loadgen_test_support as common;

/// How long the traced run may take.
const RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn tokens_and_secret_data_never_appear_in_results() {
    let env = common::shared_env();
    let kc = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let tokens: Vec<String> = kc
        .lines()
        .filter_map(|l| l.trim().strip_prefix("token: "))
        .map(str::to_string)
        .collect();
    assert_eq!(tokens.len(), 2, "admin and load tokens in the kubeconfig");
    let p = common::profile_file(
        "secrets-scan",
        "fleet: {clusters: 2, control_plane_replicas: 1, machine_deployments: 0, workers_per_machine_deployment: 0, cluster_secrets: [kubeconfig, ca]}\nclient: {qps: -1}\nobserve: {interval_seconds: 0.5}\nphases:\n  create: {}\n  delete: {}\n",
    );
    let out = common::state_dir("secrets-scan-out");
    // The binary, with every log line of every crate on (RUST_LOG=trace): its stdout and
    // stderr are scanned too.
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_capi-loadgen"))
        .args(["run", p.to_str().unwrap(), "--kubeconfig"])
        .arg(&env.kubeconfig)
        .args(["--run-id", "scan-1", "--out", out.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .kill_on_drop(true)
        .output();
    let run = tokio::time::timeout(RUN_DEADLINE, run)
        .await
        .expect("the run ends within 120 s")
        .unwrap();
    let logs = [run.stdout, run.stderr].concat();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&logs));
    assert!(
        logs.len() > 10_000 && String::from_utf8_lossy(&logs).contains("TRACE"),
        "trace logging was on"
    );
    let log_file = out.join("captured-logs.txt");
    std::fs::write(&log_file, &logs).unwrap();
    // The fake Secrets' data: what the model puts in them for this run.
    let fleet = common::fleet(
        "secrets-scan-fleet",
        &std::fs::read_to_string(&p).unwrap(),
        "scan-1",
    );
    let mut secret_values: Vec<String> = Vec::new();
    for o in capi_loadgen::model::cluster_objects(&fleet, 0) {
        if o.kind == capi_loadgen::model::Kind::Secret {
            for v in o.body["data"].as_object().unwrap().values() {
                let v = v.as_str().unwrap();
                // Long enough to be a secret, not a coincidence.
                if v.len() >= 24 {
                    secret_values.push(v[..24].to_string());
                }
            }
        }
    }
    assert!(!secret_values.is_empty());
    let mut all = Vec::new();
    files(&out, &mut all);
    assert!(all.len() >= 4, "{all:?}");
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for t in &tokens {
            assert!(
                !text.contains(t.as_str()),
                "{} contains a bearer token",
                f.display()
            );
        }
        for v in &secret_values {
            assert!(
                !text.contains(v.as_str()),
                "{} contains Secret data",
                f.display()
            );
        }
    }
}
