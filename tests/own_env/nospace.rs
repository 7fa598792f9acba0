//! etcd NOSPACE end to end: a local etcd with a 16 MiB quota is filled (bare-etcd writes,
//! byte-faithful), the run stops with exit code 6 and its partial results, and
//! `--recover` makes etcd writable again (objects deleted by label, compact, defragment,
//! disarm, a write through the apiserver), recorded in recovery.json.

use capi_loadgen_test_support as common;

#[tokio::test]
async fn a_full_etcd_stops_the_run_and_recover_makes_it_writable() {
    let p = common::profile_file(
        "nospace",
        "target: {type: etcd}\nlocal: {etcd: {quota_backend_bytes: 16777216}}\nfleet: {clusters: 3000, clusters_per_namespace: 100}\nclient: {pool_size: 4, qps: -1}\nobserve: {interval_seconds: 1}\nphases:\n  create: {concurrency: 32}\n",
    );
    let out = common::state_dir("nospace-out");
    let e = common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--recover",
        "--run-id",
        "nospace-1",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::QUOTA, "{e}");
    let s = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(s["status"], "aborted");
    assert!(
        s["stop_reason"].as_str().unwrap().contains("NOSPACE"),
        "{}",
        s["stop_reason"]
    );
    let (_, ok, failed, _) = common::accounted(&s);
    assert!(ok > 1000 && failed >= 1, "{}", s["totals"]);
    let nospace: u64 = s["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["failed_by"]["etcd_nospace"].as_u64())
        .sum();
    assert!(nospace >= 1, "failures classified as etcd_nospace");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("recovery.json")).unwrap()).unwrap();
    assert_eq!(r["armed"], true, "{r}");
    assert_eq!(r["deleted_ok"], true, "{r}");
    assert_eq!(r["write_ok"], true, "{r}");
    let (full, after) = (
        r["db_full"].as_f64().unwrap(),
        r["db_after"].as_f64().unwrap(),
    );
    assert!(full > 12.0 * 1048576.0 && after < full / 2.0, "{r}");
}
