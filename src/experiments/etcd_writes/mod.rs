//! Row 3, etcd's write throughput: the offered write rate into a bare etcd (byte-for-byte
//! what kube-apiserver stores) raised until the achieved writes/s flattens.

use super::context::{curve, evidence, tool_cpu_note, Suite};
use super::sweep::sweep;
use super::{Experiment, Needs, RowFacts, RowFuture};
use crate::error::Error;
use crate::report::breakpoints::{group, hold_to_bound, Bottleneck, Documented, Row, RowStatus};
use crate::sweep::bound::Bound;
use crate::sweep::knee::Breakpoint;

/// Writes per cluster per second at the high end of the 100-500 writes/s at 1,000 clusters
/// practitioners' write-ups commonly assume: what converts an etcd write ceiling into
/// clusters.
pub const WRITES_PER_CLUSTER_PER_SECOND: f64 = 0.5;

/// Puts per second etcd's own `benchmark` tool (etcd repository, `tools/benchmark`)
/// measured on a 2-core machine of the class the suite runs on, 2 KiB values.
pub const ETCD_BENCHMARK_PUTS_PER_SECOND: f64 = 8950.0;

/// The etcd-writes row.
pub struct EtcdWrites;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::EtcdWrites,
    short: "wr",
    documented: Documented {
        bottleneck: "etcd write throughput",
        value: "2,500 clusters",
        clusters: Some(2500.0),
        unit: "writes/s",
    },
    profile: (
        "profiles/breakpoints/etcd-writes.yaml",
        include_str!("../../../profiles/breakpoints/etcd-writes.yaml"),
    ),
    needs: Needs::Etcd,
};

impl Experiment for EtcdWrites {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(run(s, self))
    }
}

/// The offered write rate into a bare etcd until achieved writes/s flattens.
async fn run(s: &Suite, e: &EtcdWrites) -> Result<Row, Error> {
    let id = e.id().id();
    let spec = s.spec(e, None)?;
    let r = sweep(&spec).await?;
    let mut out = e.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(id, &r, &["write_throughput", "write_p99"]);
    out.model = Some(ETCD_BENCHMARK_PUTS_PER_SECOND);
    out.model_note = format!(
        "etcd's own benchmark tool on a 2-core machine of this class: {} puts/s (64-byte keys, 2 KiB values); at the 0.1-0.5 writes/s per cluster practitioners' write-ups commonly assume (100-500 writes/s at 1,000 clusters) that ceiling is {}-{} clusters.",
        group(ETCD_BENCHMARK_PUTS_PER_SECOND),
        group(ETCD_BENCHMARK_PUTS_PER_SECOND / WRITES_PER_CLUSTER_PER_SECOND),
        group(ETCD_BENCHMARK_PUTS_PER_SECOND / 0.1)
    );
    let c = curve(&r, "write_throughput");
    let top = r
        .points
        .iter()
        .filter_map(|p| p.writes_per_second)
        .fold(0.0, f64::max);
    match c.map(|c| (c.knee, c.ceiling)) {
        Some((Breakpoint::At { x }, Some(ceiling))) => {
            out.status = RowStatus::Measured;
            out.measured = Some(ceiling);
            out.measured_clusters = Some(ceiling / WRITES_PER_CLUSTER_PER_SECOND);
            out.measured_note = format!(
                "Achieved writes stop following the offered rate at about {} offered writes/s and flatten at {} writes/s of real CAPI objects (p99 from the intended start in write_p99.svg). At 0.5 writes/s per cluster that is ~{} clusters (at 0.1: ~{}).",
                group(x),
                group(ceiling),
                group(ceiling / WRITES_PER_CLUSTER_PER_SECOND),
                group(ceiling / 0.1)
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "Achieved writes kept following the offered rate up to {} offered writes/s (best {} writes/s): not reached in range.",
                r.points.last().map(|p| group(p.x)).unwrap_or_default(),
                group(top)
            );
        }
    }
    hold_to_bound(&mut out, r.knee_bound("write_throughput"), Bound::Target);
    out.measured_note += &tool_cpu_note(&r);
    out.scaling = "Nothing is scaled but time: 6 s per rate on a fresh etcd. Writing etcd directly (byte-for-byte what kube-apiserver stores) keeps the apiserver's CPU out of a row that is about etcd; the tool shares the 2 cores with etcd, as etcd's own benchmark client did.".into();
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}
