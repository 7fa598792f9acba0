//! The per-shard (per management cluster) table of a merged report: each shard's fleet,
//! accounting, latency and controller backlog side by side.

use super::summary::Summary;
use std::fmt::Write;

/// `## Per shard` for (directory, summary) pairs in shard order.
pub fn markdown(parts: &[(String, &Summary)]) -> String {
    let mut o = String::from(
        "\n## Per shard\n\n| shard | results | clusters | sent | ok | failed | 429 | latency p99 ms | controller queue wait p99 ms | reconcile lag p99 ms | reconciles owed at the end | health |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (dir, s) in parts {
        let shard = s
            .shard
            .as_ref()
            .map(|x| format!("{}/{}", x.index, x.count))
            .unwrap_or_else(|| "-".into());
        let p99 = s
            .operations
            .iter()
            .map(|op| op.latency_ms.p99)
            .fold(0.0, f64::max);
        let c = s.controllers.first();
        let worst = super::health::worst(&s.health);
        let _ = writeln!(
            o,
            "| {shard} | {dir} | {} | {} | {} | {} | {} | {p99:.1} | {} | {} | {} | {} |",
            s.fleet.clusters,
            s.totals.sent,
            s.totals.ok,
            s.totals.failed,
            s.totals.throttled,
            c.map(|c| format!("{:.1}", c.queue_wait_ms.p99))
                .unwrap_or_else(|| "-".into()),
            c.map(|c| format!("{:.1}", c.lag_ms.p99))
                .unwrap_or_else(|| "-".into()),
            c.map(|c| format!("{:.1}", c.unserved_reconciles))
                .unwrap_or_else(|| "-".into()),
            format!("{worst:?}").to_lowercase(),
        );
    }
    o
}
