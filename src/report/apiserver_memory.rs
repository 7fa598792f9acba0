//! The `apiserver-memory` row's numbers: kube-apiserver's settled memory at each point of
//! an accumulating fleet sweep, the least-squares lines of resident set and live heap
//! against clusters (and of the resident set against the fleet's stored objects), the
//! clusters that fit each memory limit, and how the bytes compare with what etcd stores.
//! Every value in bytes unless its name says otherwise.

use crate::measure::memory::ControllerCacheMemory;
use crate::sweep::knee::line;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// One point of the sweep, settled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryPoint {
    /// Clusters in the fleet.
    pub clusters: f64,
    /// Objects of the fleet stored (its clusters' objects and namespaces).
    pub objects: Option<f64>,
    /// Resident set (bytes).
    pub resident_bytes: f64,
    /// Allocated heap after the forced collection: the live heap (bytes).
    pub heap_alloc_bytes: Option<f64>,
    /// Heap spans in use (bytes).
    pub heap_inuse_bytes: Option<f64>,
    /// Whether the point's settle forced a garbage collection.
    pub forced_gc: bool,
}

/// A least-squares line of memory against a count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fit {
    /// Slope: bytes per unit of x (per cluster, or per object).
    pub bytes_per_unit: f64,
    /// Intercept: bytes at x = 0 (the apiserver without the fleet).
    pub base_bytes: f64,
    /// Coefficient of determination of the fit (1 = every point on the line).
    pub r_squared: f64,
    /// Points fitted.
    pub points: usize,
}

/// Clusters that fit one memory limit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLimit {
    /// The limit (bytes).
    pub limit_bytes: f64,
    /// Measured: (limit - base) / resident bytes per cluster.
    pub clusters: f64,
    /// Model: limit / resident bytes per cluster (the fleet's memory alone, no base).
    pub model_clusters: f64,
}

/// The `apiserver-memory` row's fit (`breakpoints.json` `rows[].memory`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryFit {
    /// Where the resident set was read: `VmRSS` or `process_resident_memory_bytes`.
    pub resident_source: String,
    /// Resident set against clusters: bytes per cluster.
    pub resident_per_cluster: Fit,
    /// Live heap (allocated heap after a forced collection) against clusters, when every
    /// point had one.
    pub heap_per_cluster: Option<Fit>,
    /// Resident set against the fleet's stored objects: bytes per stored object.
    pub resident_per_object: Option<Fit>,
    /// What etcd stores per cluster of the same fleet (keys + values, the fleet model).
    pub etcd_bytes_per_cluster: f64,
    /// Resident bytes per cluster / etcd bytes per cluster.
    pub resident_to_etcd_ratio: f64,
    /// Live heap bytes per cluster / etcd bytes per cluster.
    pub heap_to_etcd_ratio: Option<f64>,
    /// Resident bytes per cluster by kind, apportioned by each kind's share of the stored
    /// bytes: every kind grows with the fleet in a fixed proportion, so a per-kind slope
    /// cannot be separated by this sweep.
    pub by_kind_bytes_per_cluster: BTreeMap<String, f64>,
    /// Clusters at each limit of the profile.
    pub limits: Vec<MemoryLimit>,
    /// The settled points fitted.
    pub points: Vec<MemoryPoint>,
    /// A controller manager's informer-cache memory.
    pub controller_cache: ControllerCacheMemory,
}

/// Why a fit cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// Fewer than 3 points with a resident set.
    #[error("{0} settled points with a resident set: at least 3 are needed for a fit")]
    TooFewPoints(usize),
    /// The resident set did not grow with the fleet.
    #[error("the resident set did not grow with the fleet (slope {0:.0} bytes per cluster)")]
    NoGrowth(f64),
}

/// Fits the points. `etcd_by_kind` is the fleet model's stored bytes per cluster by kind.
pub fn fit(
    points: Vec<MemoryPoint>,
    resident_source: &str,
    limits_bytes: &[u64],
    etcd_by_kind: &BTreeMap<String, f64>,
    controller_cache: ControllerCacheMemory,
) -> Result<MemoryFit, FitError> {
    let to_fit = |xy: Vec<(f64, f64)>| {
        line(&xy).map(|l| Fit {
            bytes_per_unit: l.slope,
            base_bytes: l.intercept,
            r_squared: l.r_squared,
            points: xy.len(),
        })
    };
    let resident = to_fit(
        points
            .iter()
            .map(|p| (p.clusters, p.resident_bytes))
            .collect(),
    )
    .ok_or(FitError::TooFewPoints(points.len()))?;
    if resident.bytes_per_unit <= 0.0 {
        return Err(FitError::NoGrowth(resident.bytes_per_unit));
    }
    let all =
        |f: fn(&MemoryPoint) -> Option<f64>| -> Option<Vec<f64>> { points.iter().map(f).collect() };
    let heap = all(|p| p.heap_alloc_bytes)
        .and_then(|h| to_fit(points.iter().map(|p| p.clusters).zip(h).collect()));
    let per_object = all(|p| p.objects).and_then(|o| {
        to_fit(
            o.into_iter()
                .zip(points.iter().map(|p| p.resident_bytes))
                .collect(),
        )
    });
    let etcd: f64 = etcd_by_kind.values().sum();
    let per_cluster = resident.bytes_per_unit;
    Ok(MemoryFit {
        resident_source: resident_source.to_string(),
        resident_per_cluster: resident,
        heap_per_cluster: heap,
        resident_per_object: per_object,
        etcd_bytes_per_cluster: etcd,
        resident_to_etcd_ratio: per_cluster / etcd,
        heap_to_etcd_ratio: heap.map(|h| h.bytes_per_unit / etcd),
        by_kind_bytes_per_cluster: etcd_by_kind
            .iter()
            .map(|(k, b)| (k.clone(), per_cluster * b / etcd))
            .collect(),
        limits: limits_bytes
            .iter()
            .map(|&l| MemoryLimit {
                limit_bytes: l as f64,
                clusters: ((l as f64 - resident.base_bytes) / per_cluster).max(0.0),
                model_clusters: l as f64 / per_cluster,
            })
            .collect(),
        points,
        controller_cache,
    })
}

/// A byte size for people: GiB from 1 GiB, else MiB.
pub fn size(b: f64) -> String {
    if b.abs() >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// The fit for `breakpoints.md`.
pub fn markdown(m: &MemoryFit) -> String {
    let g = super::numbers::group;
    let mut o = String::new();
    let r = &m.resident_per_cluster;
    let _ = writeln!(
        o,
        "| clusters | fleet objects stored | resident MiB ({}) | live heap MiB | heap in use MiB |\n|---:|---:|---:|---:|---:|",
        m.resident_source
    );
    let mib = |x: Option<f64>| x.map(|b| format!("{:.1}", b / MIB)).unwrap_or("-".into());
    for p in &m.points {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            g(p.clusters),
            p.objects.map(g).unwrap_or("-".into()),
            mib(Some(p.resident_bytes)),
            mib(p.heap_alloc_bytes),
            mib(p.heap_inuse_bytes)
        );
    }
    let _ = writeln!(
        o,
        "\n| fit | bytes per unit | base | R² |\n|---|---:|---:|---:|"
    );
    let row = |o: &mut String, what: &str, f: &Fit| {
        let _ = writeln!(
            o,
            "| {what} | {} | {} | {:.3} |",
            g(f.bytes_per_unit),
            size(f.base_bytes),
            f.r_squared
        );
    };
    row(&mut o, "resident set per cluster", r);
    if let Some(h) = &m.heap_per_cluster {
        row(&mut o, "live heap per cluster", h);
    }
    if let Some(p) = &m.resident_per_object {
        row(&mut o, "resident set per stored object", p);
    }
    let _ = writeln!(
        o,
        "\netcd stores {} bytes per cluster of this fleet (keys + values): the apiserver's resident set grows {:.1}x that{}.\n",
        g(m.etcd_bytes_per_cluster),
        m.resident_to_etcd_ratio,
        m.heap_to_etcd_ratio
            .map(|h| format!(", its live heap {h:.1}x"))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "| memory limit | clusters (measured: (limit - base) / bytes per cluster) | model: limit / bytes per cluster |\n|---|---:|---:|");
    for l in &m.limits {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            size(l.limit_bytes),
            g(l.clusters),
            g(l.model_clusters)
        );
    }
    let kinds: Vec<String> = m
        .by_kind_bytes_per_cluster
        .iter()
        .map(|(k, b)| format!("{k} {}", g(*b)))
        .collect();
    let _ = writeln!(
        o,
        "\nResident bytes per cluster by kind, apportioned by stored bytes (not separable in this sweep): {}.\n\nController cache memory: {}.\n",
        kinds.join(", "),
        match m.controller_cache.heap_bytes_per_object {
            Some(b) => format!("{} heap bytes per cached object ({})", g(b), m.controller_cache.note),
            None => m.controller_cache.note.clone(),
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(clusters: f64, resident: f64) -> MemoryPoint {
        MemoryPoint {
            clusters,
            objects: Some(clusters * 35.0 + 400.0),
            resident_bytes: resident,
            heap_alloc_bytes: Some(resident / 2.0),
            heap_inuse_bytes: None,
            forced_gc: true,
        }
    }

    #[test]
    fn bytes_per_cluster_and_clusters_at_each_limit() {
        // 300 MiB base, 1 MiB per cluster, exactly.
        let pts: Vec<MemoryPoint> = [100.0, 200.0, 300.0, 400.0]
            .iter()
            .map(|&c| point(c, 300.0 * MIB + c * MIB))
            .collect();
        let mut kinds = BTreeMap::new();
        kinds.insert("machine".to_string(), 30_000.0);
        kinds.insert("secret".to_string(), 10_000.0);
        let m = fit(
            pts,
            "VmRSS",
            &[8 << 30, 16 << 30],
            &kinds,
            ControllerCacheMemory::not_measured("not measured: test"),
        )
        .unwrap();
        let r = m.resident_per_cluster;
        assert!((r.bytes_per_unit - MIB).abs() < 1e-3, "{r:?}");
        assert!((r.base_bytes - 300.0 * MIB).abs() < 1.0);
        assert!((r.r_squared - 1.0).abs() < 1e-9);
        // (8 GiB - 300 MiB) / 1 MiB = 7,892 clusters; the model without the base 8,192.
        assert!(
            (m.limits[0].clusters - 7892.0).abs() < 1e-6,
            "{:?}",
            m.limits
        );
        assert!((m.limits[0].model_clusters - 8192.0).abs() < 1e-6);
        assert!((m.limits[1].clusters - 16084.0).abs() < 1e-6);
        assert!((m.heap_per_cluster.unwrap().bytes_per_unit - MIB / 2.0).abs() < 1e-3);
        assert!((m.resident_per_object.unwrap().bytes_per_unit - MIB / 35.0).abs() < 1e-3);
        assert!((m.resident_to_etcd_ratio - MIB / 40_000.0).abs() < 1e-9);
        assert!((m.by_kind_bytes_per_cluster["machine"] - MIB * 0.75).abs() < 1e-6);
        let md = markdown(&m);
        assert!(md.contains("| 8.0 GiB | 7,892 | 8,192 |"), "{md}");
        assert!(
            md.contains("Controller cache memory: not measured: test."),
            "{md}"
        );
    }

    #[test]
    fn no_fit_from_too_few_points_or_no_growth() {
        let none = ControllerCacheMemory::not_measured("x");
        let k = BTreeMap::from([("machine".to_string(), 1.0)]);
        let two = vec![point(1.0, 2.0), point(2.0, 3.0)];
        assert_eq!(
            fit(two, "VmRSS", &[1 << 30], &k, none.clone()),
            Err(FitError::TooFewPoints(2))
        );
        let flat = vec![point(1.0, 5.0), point(2.0, 4.0), point(3.0, 3.0)];
        assert!(matches!(
            fit(flat, "VmRSS", &[1 << 30], &k, none),
            Err(FitError::NoGrowth(_))
        ));
    }
}
