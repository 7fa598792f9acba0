//! The API server memory experiment of the breakpoints suite: an accumulating fleet sweep
//! (one apiserver, each point adding clusters), kube-apiserver's memory taken after each
//! point's settle (a forced garbage collection, an idle period, the median of several
//! samples), then the least-squares line of memory against clusters, its R², the clusters
//! that fit each memory limit of the profile and the comparison with etcd's stored bytes.

mod oom;

use super::sweep::{sweep, SweepSpec};
use super::{Experiment, Needs, RowFacts, RowFuture, Suite};
use crate::error::Error;
use crate::measure::memory::{ControllerCacheMemory, NO_REFERENCE_CONTROLLER};
use crate::profile::{self, Overrides};
use crate::report::apiserver_memory::{fit, size, MemoryFit, MemoryPoint};
use crate::report::breakpoints::{group, Bottleneck, Documented, Row, RowStatus};
use crate::report::Summary;
use crate::sweep::knee::Breakpoint;
use crate::sweep::points::Curve;

/// The settled points of a finished sweep, and where their resident set came from.
fn points(spec: &SweepSpec, n: usize) -> (Vec<MemoryPoint>, Option<&'static str>) {
    let mut out = Vec::new();
    let mut source = None;
    for i in 0..n {
        let Ok(s) = Summary::read(&spec.point_dir(i)) else {
            continue;
        };
        let Some(m) = s.observed.and_then(|o| o.apiserver_memory) else {
            continue;
        };
        let (Some(resident), true) = (m.end.resident(), m.settled) else {
            continue;
        };
        source.get_or_insert(if m.end.rss_bytes.is_some() {
            "VmRSS"
        } else {
            "process_resident_memory_bytes"
        });
        out.push(MemoryPoint {
            clusters: s.fleet.clusters as f64,
            // The fleet's objects, exactly: the apiserver's own count is refreshed
            // periodically and lags a short point.
            objects: Some(s.fleet.objects_planned as f64),
            resident_bytes: resident,
            heap_alloc_bytes: m.end.heap_alloc_bytes.filter(|_| m.forced_gc),
            heap_inuse_bytes: m.end.heap_inuse_bytes,
            forced_gc: m.forced_gc,
        });
    }
    (out, source)
}

fn evidence(dir: &std::path::Path, id: &str, m: &MemoryFit) -> Result<Option<String>, Error> {
    let c = Curve {
        metric: "apiserver_resident".into(),
        unit: "MiB".into(),
        threshold: f64::INFINITY,
        points: m
            .points
            .iter()
            .map(|p| (p.clusters, p.resident_bytes / 1048576.0))
            .collect(),
        crossing: Breakpoint::NotReached,
        knee: Breakpoint::NotReached,
        ceiling: None,
        prediction: None,
        prediction_formula: None,
    };
    let svg = crate::report::plot::svg(&c, "fleet.clusters", None)?;
    let p = dir.join("apiserver_resident.svg");
    std::fs::write(&p, svg).map_err(|e| Error::io(&p, e))?;
    Ok(Some(format!("{id}/apiserver_resident.svg")))
}

/// The apiserver-memory row.
pub struct ApiserverMemory;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::ApiserverMemory,
    short: "mem",
    documented: Documented {
        bottleneck: "API server memory (watch cache)",
        value: "no cluster count in the table; the watch cache keeps every stored object in memory, so memory grows with the fleet (Kubernetes blog, API streaming)",
        clusters: None,
        unit: "clusters at 8 GiB",
    },
    profile: (
        "profiles/breakpoints/apiserver-memory.yaml",
        include_str!("../../../profiles/breakpoints/apiserver-memory.yaml"),
    ),
    needs: Needs::Apiserver,
};

impl Experiment for ApiserverMemory {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(async move {
            let mut row = apiserver_memory_row(s.spec(self, None)?).await?;
            if row.status != RowStatus::Failed {
                row.measured_note += &oom::measure(s, row.memory.as_ref()).await?;
            }
            Ok(row)
        })
    }
}

/// Runs the row: the sweep `spec` (a `fleet.clusters` accumulate sweep of the built-in
/// profile), then the fit.
pub async fn apiserver_memory_row(spec: SweepSpec) -> Result<Row, Error> {
    let b = ApiserverMemory;
    let id = b.id().id();
    let last = spec.values.last().cloned().unwrap_or_default();
    let plan = profile::parse_with(
        &spec.source,
        &spec.text,
        &spec.field,
        &last,
        &Overrides {
            run_id: Some(spec.sweep_id.clone()),
            ..spec.overrides.clone()
        },
    )?;
    let limits = plan.observe.apiserver_memory_limits_bytes.clone();
    let etcd_by_kind = crate::stored::sizing::model_bytes_per_cluster_by_kind(&plan.fleet);
    let r = sweep(&spec).await?;
    let mut row = b.row();
    row.results = Some(format!("{id}/sweep.md"));
    row.unit = format!("clusters at {}", size(limits[0] as f64));
    row.scaling = format!(
        "Nothing is scaled: the fleet is the default shape ({} objects per cluster), built once point by point on one apiserver ({} clusters), and each point's memory is taken after a forced garbage collection, {:.0} s idle and the median of 3 samples. The limits are extrapolated along the fitted line, as the etcd-size row extrapolates to its quota.",
        plan.fleet.objects_in_cluster() + 1,
        spec.values.join(", "),
        plan.observe.memory_settle.as_secs_f64()
    );
    let (pts, source) = points(&spec, r.points.len());
    let m = match fit(
        pts,
        source.unwrap_or("VmRSS"),
        &limits,
        &etcd_by_kind,
        ControllerCacheMemory::not_measured(NO_REFERENCE_CONTROLLER),
    ) {
        Ok(m) => m,
        Err(e) => {
            row.status = if r.complete {
                RowStatus::NotReached
            } else {
                RowStatus::Failed
            };
            row.measured_note = format!("No fit over {} clusters: {e}.", spec.values.join(", "));
            return Ok(row);
        }
    };
    let res = m.resident_per_cluster;
    let l0 = m.limits[0];
    row.model = Some(l0.model_clusters);
    row.model_note = format!(
        "N* = limit / bytes per cluster = {} / {} bytes = {} clusters: the fleet's own memory, without the apiserver's {} base.",
        size(l0.limit_bytes),
        group(res.bytes_per_unit),
        group(l0.model_clusters),
        size(res.base_bytes)
    );
    row.status = RowStatus::Measured;
    row.measured = Some(l0.clusters);
    row.measured_clusters = Some(l0.clusters);
    row.measured_note = format!(
        "kube-apiserver's settled resident set ({}) grows {} bytes per cluster (least-squares over {} points, {}-{} clusters, R² = {:.3}; base {}){}{}: {:.1}x the {} bytes etcd stores per cluster. At that rate the apiserver reaches {}. Controller cache memory: {}.",
        m.resident_source,
        group(res.bytes_per_unit),
        res.points,
        group(m.points.first().map(|p| p.clusters).unwrap_or(0.0)),
        group(m.points.last().map(|p| p.clusters).unwrap_or(0.0)),
        res.r_squared,
        size(res.base_bytes),
        m.heap_per_cluster
            .map(|h| format!("; its live heap after a forced collection grows {} bytes per cluster (R² = {:.3}), {:.1}x less: Go's collector lets the heap grow to 1 + GOGC/100 times the live heap before collecting (GOGC 100 by default)", group(h.bytes_per_unit), h.r_squared, res.bytes_per_unit / h.bytes_per_unit))
            .unwrap_or_default(),
        m.resident_per_object
            .map(|o| format!("; {} resident bytes per stored object (R² = {:.3})", group(o.bytes_per_unit), o.r_squared))
            .unwrap_or_default(),
        m.resident_to_etcd_ratio,
        group(m.etcd_bytes_per_cluster),
        m.limits
            .iter()
            .map(|l| format!("{} at ~{} clusters", size(l.limit_bytes), group(l.clusters)))
            .collect::<Vec<_>>()
            .join(" and "),
        m.controller_cache.note
    );
    if let Some(e) = evidence(&spec.dir, id, &m)? {
        row.evidence.push(e);
    }
    if !r.complete {
        row.status = RowStatus::Failed;
    }
    row.memory = Some(m);
    Ok(row)
}
