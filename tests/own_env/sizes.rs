//! `capi-loadgen sizes profiles/quickstart.yaml --clusters 20`, as the README shows it,
//! against a local environment of its own: the quickstart ends with a delete phase, and
//! `sizes` must still measure the fleet as stored in etcd (tens of KB per cluster for its
//! Metal3-shaped clusters of 3 control-plane machines and 3 workers), not the few hundred
//! bytes left after the fleet is gone.

use capi_loadgen_test_support as common;

/// Fewer key + value bytes per cluster than this mean the fleet was not in etcd.
const MIN_BYTES_PER_CLUSTER: f64 = 10_000.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_of_the_quickstart_measure_its_fleet_before_the_delete_phase() {
    let quickstart = common::repo_root().join("profiles/quickstart.yaml");
    let out = common::state_dir("sizes-out");
    let state = common::state_dir("sizes-env");
    common::cli(&[
        "sizes",
        quickstart.to_str().unwrap(),
        "--clusters",
        "20",
        "--run-id",
        "sizes-q",
        "--out",
        out.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .await
    .expect("sizes of the quickstart");
    let path = out.join("sizes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r: serde_json::Value = serde_json::from_str(&text).expect("sizes.json is JSON");
    assert_eq!(r["clusters"], 20, "{r}");
    let per_cluster = r["logical_bytes_per_cluster"].as_f64().expect("a number");
    assert!(
        per_cluster > MIN_BYTES_PER_CLUSTER,
        "{per_cluster:.0} bytes per cluster: the fleet was measured after it was deleted\n{r}"
    );
    // Every machine of the fleet is there: 20 clusters x (3 control-plane + 3 workers).
    assert_eq!(r["kinds"]["machine"]["objects"], 120, "{r}");
}
