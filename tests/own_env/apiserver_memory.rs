//! kube-apiserver memory against a real local environment: a small fleet grown point by
//! point on one apiserver, its memory series in every run's results, and the
//! `apiserver-memory` row's fit over the settled points.

use capi_loadgen_test_support as common;

use capi_loadgen::experiments::apiserver_memory::apiserver_memory_row;
use capi_loadgen::experiments::sweep::SweepSpec;
use capi_loadgen::plan::{self, Calibration, FleetInput, PRESETS};
use capi_loadgen::profile::Overrides;
use capi_loadgen::report::breakpoints::{
    Bottleneck, BreakpointsReport, Row, RowStatus, SCHEMA_VERSION,
};
use capi_loadgen::report::Summary;
use capi_loadgen::sweep::SweepState;

/// The default fleet shape (3 control-plane and 3 worker Metal3 machines per cluster),
/// small enough for CI: four points of 25 clusters each.
const PROFILE: &str = "name: memory-test
fleet: {clusters: 100}
client: {pool_size: 4, qps: -1}
observe: {interval_seconds: 1, memory_settle_seconds: 1, apiserver_memory_limits_bytes: [8589934592, 17179869184]}
phases:
  create: {concurrency: 16}
";
const VALUES: [u64; 4] = [25, 50, 75, 100];

/// The live heap after a forced collection follows the objects stored closely; the least a
/// fit of it over four points may explain.
const MIN_HEAP_R_SQUARED: f64 = 0.9;

#[tokio::test]
async fn a_growing_fleet_raises_apiserver_memory_and_the_row_fits_bytes_per_cluster() {
    let dir = common::state_dir("memory-sweep");
    let spec = SweepSpec {
        source: "memory-test.yaml".into(),
        text: PROFILE.into(),
        field: "fleet.clusters".into(),
        values: VALUES.iter().map(|v| v.to_string()).collect(),
        state: SweepState::Accumulate,
        sweep_id: "memtest".into(),
        dir: dir.clone(),
        overrides: Overrides::default(),
        controller: None,
    };
    let row = apiserver_memory_row(spec).await.expect("the row runs");

    // Every point's results carry the series (bytes) and the settled start/end.
    let mut ends = Vec::new();
    for (i, v) in VALUES.iter().enumerate() {
        let p = dir.join(format!("p{i:02}-{v}"));
        let s = common::assert_valid_summary(&p.join("summary.json"));
        assert_eq!(
            s["schema_version"],
            capi_loadgen::report::summary::SCHEMA_VERSION
        );
        let o = Summary::read(&p).unwrap().observed.expect("observed");
        let m = o.apiserver_memory.clone().expect("apiserver memory");
        assert!(m.settled && m.forced_gc, "{m:?}");
        assert_eq!(m.settle_samples, 3);
        assert!(m.end.rss_bytes.unwrap() > 50e6, "VmRSS in bytes: {m:?}");
        assert!(m.end.resident_bytes.unwrap() > 50e6);
        // The apiserver's object count is refreshed periodically: it may lag, not stay put.
        assert!(m.growth.objects.unwrap() > 0.0, "{m:?}");
        assert!(
            o.points
                .iter()
                .filter(|p| p.apiserver_rss_bytes.is_some())
                .count()
                >= 3
                && o.points
                    .iter()
                    .all(|p| p.apiserver_heap_inuse_bytes.is_some()),
            "{:?}",
            o.points
        );
        assert!(o
            .controller_cache_memory
            .unwrap()
            .note
            .contains("not measured"));
        let csv = std::fs::read_to_string(p.join("observed.csv")).unwrap();
        assert!(csv.lines().next().unwrap().contains(
            "apiserver_rss_bytes,apiserver_resident_bytes,apiserver_heap_inuse_bytes,apiserver_heap_alloc_bytes"
        ));
        let report = std::fs::read_to_string(p.join("report.md")).unwrap();
        assert!(
            report.contains("kube-apiserver resident set (VmRSS)"),
            "{report}"
        );
        ends.push(m.end);
    }
    // The live heap rises with the fleet, point after point.
    for w in ends.windows(2) {
        assert!(w[1].heap_alloc_bytes > w[0].heap_alloc_bytes, "{ends:?}");
    }

    assert_eq!(row.status, RowStatus::Measured, "{}", row.measured_note);
    let m = row.memory.clone().expect("the fit");
    let heap = m.heap_per_cluster.expect("a heap fit");
    assert!(
        heap.bytes_per_unit > 0.0 && heap.r_squared >= MIN_HEAP_R_SQUARED,
        "{heap:?}"
    );
    assert!(m.resident_per_cluster.bytes_per_unit > 0.0, "{m:?}");
    assert_eq!(m.resident_source, "VmRSS");
    assert_eq!(m.points.len(), VALUES.len());
    // 35 objects per cluster of the default shape (one namespace each included).
    assert_eq!(m.points[0].objects, Some(25.0 * 35.0));
    assert_eq!(m.limits.len(), 2);
    assert!(m.limits[1].clusters > m.limits[0].clusters);
    assert_eq!(row.measured, Some(m.limits[0].clusters));
    assert!(row.measured_note.contains("R² = "), "{}", row.measured_note);
    assert!(row.unit == "clusters at 8.0 GiB", "{}", row.unit);
    assert!(m.etcd_bytes_per_cluster > 50_000.0);
    assert!(dir.join("apiserver_resident.svg").exists());

    // The row in a breakpoints.json: valid, and the planner's calibration reads it.
    let mut rows: Vec<_> = Bottleneck::ALL
        .iter()
        .map(|b| Row {
            measured_note: "Skipped: not selected (--only).".into(),
            ..capi_loadgen::experiments::of(*b).row()
        })
        .collect();
    *rows.last_mut().unwrap() = row;
    let report = BreakpointsReport {
        schema_version: SCHEMA_VERSION,
        run_id: "memtest".into(),
        tool_version: "test".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_seconds: 1.0,
        target: "the local environment".into(),
        rows,
        complete: true,
    };
    let bp = common::state_dir("memory-bp");
    std::fs::create_dir_all(&bp).unwrap();
    std::fs::write(
        bp.join("breakpoints.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    common::assert_valid(&bp.join("breakpoints.json"), "breakpoints.schema.json");
    let c = Calibration::from_dir(&bp).unwrap();
    let cal = c.apiserver_memory.clone().expect("memory calibration");
    assert!(cal.bytes_per_stored_byte.measured && cal.bytes_per_stored_byte.value > 0.0);
    let p = plan::plan(&FleetInput::new(1000, 6, PRESETS[0]), &c, "test");
    assert!(p
        .progression
        .iter()
        .any(|b| b.id == "apiserver-memory-8GiB"));
    assert!(
        p.sizing.apiserver_memory_request_bytes_per_shard.unwrap() >= 2.0 * 1024.0 * 1024.0 * 512.0
    );
}
