//! Run ids and results folders are never reused: a second run with the same run id (its
//! default folder is `results/<run id>`) or `--out` is refused before anything is sent.

use capi_loadgen_test_support as common;

#[tokio::test]
async fn a_results_folder_with_a_summary_is_never_reused() {
    let p = common::profile_file("run-ids", "fleet: {clusters: 1}\n");
    let out = common::state_dir("run-ids-out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.json"), "{}").unwrap();
    // An endpoint nothing listens on: a run that got past the check would fail to connect.
    let e = common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--etcd-endpoint",
        "http://127.0.0.1:1",
        "--run-id",
        "run-ids-1",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("already holds a run's results"), "{msg}");
    assert!(
        msg.contains(out.to_str().unwrap()) && !msg.contains('\n'),
        "{msg}"
    );
}

#[tokio::test]
async fn max_failure_ratio_is_a_percentage() {
    let p = common::profile_file("run-ids-ratio", "fleet: {clusters: 1}\n");
    let e = common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--etcd-endpoint",
        "http://127.0.0.1:1",
        "--max-failure-ratio",
        "150",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE, "{e}");
    assert!(e.to_string().contains("--max-failure-ratio 150"), "{e}");
}

#[test]
fn generated_run_ids_carry_seconds_and_a_random_suffix() {
    // YYYYmmdd-HHMMSS-xxxx: two runs started in one minute (or second) get different ids.
    let a = capi_loadgen::profile::new_run_id();
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 6, 4],
        "{a}"
    );
}
