//! The planner on hand-computed fleets, and the documented rows out of the formulas.

use super::*;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn fleet(clusters: u64) -> FleetInput {
    FleetInput::new(clusters, 10, PRESETS[0])
}

fn by_id<'a>(p: &'a CapacityPlan, id: &str) -> &'a Breakpoint {
    p.progression.iter().find(|b| b.id == id).unwrap()
}

/// A calibration whose db factor stores exactly `bytes` per cluster of `f`'s shape.
fn storing(f: &FleetInput, bytes: f64) -> Calibration {
    let mut c = Calibration::default();
    c.etcd_bytes_factor.value = bytes / crate::stored::sizing::model_bytes_per_cluster(&f.spec());
    c
}

#[test]
fn the_documented_600_and_1000_rows_come_out_of_the_formulas() {
    // QPS 20, sync period 600 s, 20 calls per reconcile: N* = 20 x 600 / 20.
    let p = plan(&fleet(1000), &Calibration::default(), "defaults");
    assert_eq!(by_id(&p, "client-qps").clusters, 600.0);
    // Concurrency 10, 6 s per reconcile: N* = 10 x 600 / 6.
    assert_eq!(by_id(&p, "concurrency").clusters, 1000.0);
    assert_eq!(p.first.id, "client-qps");
    assert_eq!(p.progression[1].id, "concurrency");
    assert!(
        p.claim_checks[0].finding.contains("20 x 600 / 20 = 600"),
        "{:?}",
        p.claim_checks[0]
    );
}

#[test]
fn the_documented_5000_row_is_8_gib_over_its_bytes_per_cluster() {
    let f = fleet(5000);
    let c = storing(&f, 8.0 * GIB / 5000.0);
    let p = plan(&f, &c, "test");
    let size = by_id(&p, "etcd-size-max").clusters;
    assert!((size - 5000.0).abs() < 1e-6, "{size}");
    assert!((by_id(&p, "etcd-size-2GiB").clusters - 1250.0).abs() < 1e-6);
    assert!(
        p.claim_checks[3]
            .finding
            .contains("1717987 bytes per cluster"),
        "{}",
        p.claim_checks[3].finding
    );
}

#[test]
fn management_clusters_and_quota_for_a_hand_computed_fleet() {
    let f = fleet(100_000);
    // 8 GiB holds 50,000 clusters; writes: 8 per 600 s per cluster against 2,000/s = 150,000;
    // APF: 315 / (20 / 600 x 0.02) = 472,500. The db size limits: 50,000 / 1.2 = 41,667 per
    // management cluster -> 3 of at most 33,334, each needing 33,334 x 171,799 x 1.2 bytes =
    // 6.40 GiB -> a 6.5 GiB quota.
    let mut c = storing(&f, 8.0 * GIB / 50_000.0);
    c.etcd_write_ceiling.value = 2000.0;
    let p = plan(&f, &c, "test");
    assert!((by_id(&p, "etcd-writes").clusters - 150_000.0).abs() < 1e-6);
    assert!((by_id(&p, "apf").clusters - 472_500.0).abs() < 1e-6);
    let s = &p.sizing;
    assert_eq!(s.limited_by, "etcd-size-max");
    assert!((s.clusters_per_management_cluster_max - 50_000.0 / 1.2).abs() < 1e-6);
    assert_eq!((s.management_clusters, s.clusters_per_shard), (3, 33_334));
    assert_eq!(s.etcd_quota_bytes_per_shard, 6.5 * GIB);
    // The shard's flags: QPS ceil(33,334 x 20 / 600 x 1.2) = 1,334, burst x 1.5, workers
    // ceil(33,334 x 6 / 600 x 1.2) = 401.
    assert_eq!(
        (
            s.shard_flags.kube_api_qps,
            s.shard_flags.kube_api_burst,
            s.shard_flags.cluster_concurrency
        ),
        (1334, 2001, 401)
    );
}

#[test]
fn flags_for_a_fleet_that_fits() {
    let p = plan(&fleet(2000), &Calibration::default(), "defaults");
    // QPS ceil(2,000 x 20 / 600 x 1.2) = 80, burst 80 x 30 / 20 = 120, workers
    // ceil(2,000 x 6 / 600 x 1.2) = 24.
    assert_eq!(
        (
            p.flags.kube_api_qps,
            p.flags.kube_api_burst,
            p.flags.cluster_concurrency
        ),
        (80, 120, 24)
    );
    assert_eq!(p.sizing.management_clusters, 1);
    // Small fleets keep the preset's flags.
    let p = plan(&fleet(50), &Calibration::default(), "defaults");
    assert_eq!(
        (p.flags.kube_api_qps, p.flags.cluster_concurrency),
        (20, 10)
    );
}

#[test]
fn churn_adds_writes() {
    let mut f = fleet(1000);
    f.churn_machines_per_hour = 3.6;
    // 1,000 x (8 / 600 + 3.6 / 3600 x 12) = 13.33 + 12 writes/s.
    let p = plan(&f, &Calibration::default(), "defaults");
    assert!((p.demand.etcd_writes_per_second - (1000.0 * 8.0 / 600.0 + 12.0)).abs() < 1e-9);
}

#[test]
fn calibration_from_the_reference_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference");
    let c = Calibration::from_dir(&dir).unwrap();
    // The figures are the reference rows' own numbers.
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("breakpoints/breakpoints.json")).unwrap(),
    )
    .unwrap();
    let row = |id: &str| {
        let row = r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap();
        (
            row["measured"].as_f64().unwrap(),
            row["model"].as_f64().unwrap(),
        )
    };
    let (m, model) = row("client-qps");
    assert!((c.client_qps_factor.value - m / model).abs() < 1e-9);
    assert!((c.etcd_write_ceiling.value - row("etcd-writes").0).abs() < 1e-9);
    let (m, model) = row("etcd-size");
    assert!((c.etcd_bytes_factor.value - model / m).abs() < 1e-9);
    let run_id = r["run_id"].as_str().unwrap();
    assert!(c.etcd_write_ceiling.measured && c.etcd_write_ceiling.source.contains(run_id));
    assert!(!Calibration::default().etcd_write_ceiling.measured);
    assert!(Calibration::from_dir(std::path::Path::new("/nonexistent")).is_err());
    // What `plan` uses without --calibration is this same reference, embedded.
    let embedded = Calibration::reference();
    assert_eq!(embedded.client_qps_factor.value, c.client_qps_factor.value);
    assert_eq!(
        embedded.etcd_write_ceiling.value,
        c.etcd_write_ceiling.value
    );
    assert!(embedded.etcd_write_ceiling.measured);
}

#[test]
fn kept_flags_size_by_the_client_limit() {
    // QPS 5, period 2 s, 1 call per reconcile: N* = 10 clusters; 20 clusters with a 20%
    // margin need ceil(20 / (10 / 1.2)) = 3 management clusters of at most 7.
    let mut f = FleetInput::new(20, 1, PRESETS[0]);
    f.preset.qps = 5.0;
    f.preset.burst = 7.5;
    f.preset.sync_period_seconds = 2.0;
    f.calls_per_reconcile = 1.0;
    f.reconcile_seconds = 0.01;
    f.keep_flags = true;
    let p = plan(&f, &Calibration::default(), "test");
    assert_eq!(p.first.id, "client-qps");
    assert_eq!(p.first.clusters, 10.0);
    assert_eq!(p.sizing.limited_by, "client-qps");
    assert_eq!(
        (p.sizing.management_clusters, p.sizing.clusters_per_shard),
        (3, 7)
    );
    assert_eq!(p.sizing.shard_flags.kube_api_qps, 5);
    f.keep_flags = false;
    assert_eq!(
        plan(&f, &Calibration::default(), "test")
            .sizing
            .management_clusters,
        1
    );
}

#[test]
fn apiserver_memory_rows_and_the_request_per_shard() {
    use super::calibration::ApiserverMemoryCalibration;
    let f = fleet(10_000);
    let stored = crate::stored::sizing::model_bytes_per_cluster(&f.spec());
    let mut c = storing(&f, 8.0 * GIB / 50_000.0);
    // 1 MiB of resident memory per cluster of this shape, 256 MiB without the fleet.
    let fig = |value: f64| Figure {
        value,
        source: "test".into(),
        measured: true,
    };
    c.apiserver_memory = Some(ApiserverMemoryCalibration {
        bytes_per_stored_byte: fig(1048576.0 / stored),
        base_bytes: fig(256.0 * 1048576.0),
        limits_bytes: vec![8.0 * GIB, 16.0 * GIB],
    });
    let p = plan(&f, &c, "test");
    // (8 GiB - 256 MiB) / 1 MiB = 7,936 clusters; (16 GiB - 256 MiB) / 1 MiB = 16,128.
    let at8 = by_id(&p, "apiserver-memory-8GiB");
    assert!((at8.clusters - 7936.0).abs() < 1e-6, "{at8:?}");
    assert!(at8.tunable, "a bigger node moves the smaller limit");
    let at16 = by_id(&p, "apiserver-memory-16GiB");
    assert!((at16.clusters - 16_128.0).abs() < 1e-6 && !at16.tunable);
    // 10,000 clusters: 16,128 / 1.2 = 13,440 per management cluster, so one, whose
    // apiserver needs (256 MiB + 10,000 MiB) x 1.2 = 12,307 MiB -> a 12.5 GiB request.
    let s = &p.sizing;
    assert_eq!(
        (s.management_clusters, s.limited_by.as_str()),
        (1, "apiserver-memory-16GiB")
    );
    assert_eq!(s.apiserver_memory_request_bytes_per_shard, Some(12.5 * GIB));
    let whole = p.demand.apiserver_memory_bytes.unwrap();
    assert!(
        (whole - (256.0 + 10_000.0) * 1048576.0).abs() < 1.0,
        "{whole}"
    );
    // Without the row: no memory figures, and the plan says why.
    let p = plan(&f, &Calibration::default(), "defaults");
    assert!(p
        .progression
        .iter()
        .all(|b| !b.id.starts_with("apiserver-memory")));
    assert_eq!(p.sizing.apiserver_memory_request_bytes_per_shard, None);
    assert!(p.sizing.apiserver_memory_note.contains("not measured"));
    assert!(render::markdown(&p).contains("| controller cache memory | - | not measured"));
}
