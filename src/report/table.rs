//! The human summary table printed at the end of a run.

use super::summary::{Operation, Summary};
use std::fmt::Write;

fn row(o: &Operation) -> String {
    format!(
        "{:<8} {:<7} {:<30} {:>8} {:>8} {:>6} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1}",
        o.phase,
        o.verb,
        o.kind,
        o.counts.sent,
        o.counts.ok,
        o.counts.failed,
        o.counts.throttled,
        o.latency_ms.p50,
        o.latency_ms.p90,
        o.latency_ms.p99,
        o.latency_ms.max,
        o.throttle_wait_ms.p99,
    )
}

/// Renders the per-kind latency table (latency measured from the intended start, in ms).
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<7} {:<30} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "phase",
        "verb",
        "kind",
        "count",
        "ok",
        "failed",
        "429",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "wait p99"
    );
    for o in &s.operations {
        let _ = writeln!(out, "{}", row(o));
    }
    let t = &s.totals;
    let rate = if s.duration_seconds > 0.0 {
        t.sent as f64 / s.duration_seconds
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "total: {} sent, {} ok, {} failed, {} throttled (429) in {:.1} s ({:.0} req/s); status: {:?}",
        t.sent, t.ok, t.failed, t.throttled, s.duration_seconds, rate, s.status
    );
    if let Some(e) = &s.etcd_cluster {
        let _ = writeln!(out, "{}", super::etcd_cluster::one_line(e));
    }
    out
}
