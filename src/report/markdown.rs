//! `report.md`: the human report, rendered from result files only (summary.json and
//! timeseries.csv), so `capi-loadgen report <dir>` renders a folder from anywhere the same.

use super::summary::Summary;
use crate::measure::timeseries::Point;
use std::fmt::Write;

/// Renders the report.
pub fn render(s: &Summary, series: &[Point]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# capi-loadgen run {}\n", s.run_id);
    let _ = writeln!(
        o,
        "- profile: **{}** (`{}`){}",
        s.profile.name,
        s.profile.path,
        s.profile
            .description
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "- target: {} `{}` ({})",
        s.target.kind, s.target.endpoint, s.target.server_version
    );
    let _ = writeln!(
        o,
        "- status: **{:?}**{}",
        s.status,
        s.stop_reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "- started {}, finished {}, load phases {:.1} s",
        s.started_at, s.finished_at, s.duration_seconds
    );
    let f = &s.fleet;
    let _ = writeln!(
        o,
        "- fleet: {} clusters in {} namespaces, {} objects planned; {} control-plane + {} x {} workers per cluster; provider {}; {} {}",
        f.clusters, f.namespaces, f.objects_planned, f.control_plane_replicas, f.machine_deployments, f.workers_per_machine_deployment, f.provider, f.api_group, f.capi_version
    );
    let c = &s.client;
    let qps = c
        .qps
        .map(|q| format!("{q}"))
        .unwrap_or_else(|| "unlimited".into());
    let _ = writeln!(
        o,
        "- client pool: {} x (qps {qps}, burst {}){}, up to {} retries on 429/Retry-After\n",
        c.pool_size,
        c.burst,
        c.preset
            .as_ref()
            .map(|p| format!(", preset {p}"))
            .unwrap_or_default(),
        c.max_retries
    );
    if !s.phases.is_empty() {
        let _ = writeln!(o, "## Phases\n\n| phase | mode | rate | workers | client qps | duration s | requests |\n|---|---|---:|---:|---:|---:|---:|");
        for p in &s.phases {
            let rate = p
                .target_rate
                .map(|r| format!("{r} {}", p.rate_unit.clone().unwrap_or_default()))
                .unwrap_or_else(|| "-".into());
            let qps = p
                .client_qps
                .map(|q| format!("{q}"))
                .unwrap_or_else(|| "unlimited".into());
            let _ = writeln!(
                o,
                "| {} | {} | {rate} | {} | {qps} | {:.1} | {} |",
                p.name, p.mode, p.concurrency, p.duration_seconds, p.sent
            );
        }
        let _ = writeln!(o);
    }
    for c in &s.controllers {
        let _ = writeln!(
            o,
            "## Controller simulation: {} controller (steady phase)\n",
            c.name
        );
        let _ = writeln!(o, "Sync period {} s compressed by a time scale of {} to {:.2} s of wall time (client QPS scaled by the same factor, so N* is unchanged); {} enqueue; {} workers; {} calls per reconcile ({} get, {} list, {} status patch); {} event-driven reconciles per model second.\n",
            c.sync_period_seconds, c.time_scale, c.wall_period_seconds, c.enqueue, c.concurrency, c.calls_per_reconcile, c.get_calls, c.list_calls, c.patch_status_calls, c.events_per_second);
        let cap = c
            .capacity_calls_per_second
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "unlimited".into());
        let nstar = c
            .predicted_breakpoint_clusters
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "none (no client limit)".into());
        let _ = writeln!(o, "| | value |\n|---|---:|\n| items ({}s) | {} |\n| demand, calls per model second | {:.1} |\n| client capacity, calls per model second | {cap} |\n| predicted breakpoint N* = QPS x period / calls | {nstar} |\n| reconciles | {} |\n| periodic / event enqueues | {} / {} |\n| missed periods | {} |\n| queue wait p50 / p99 / max (wall ms) | {:.1} / {:.1} / {:.1} |\n| reconcile p50 / p99 (wall ms) | {:.1} / {:.1} |\n| queue depth at end / max | {} / {} |\n",
            c.name, c.items, c.demand_calls_per_second, c.reconciles, c.periodic_enqueues, c.event_enqueues, c.missed_periods,
            c.queue_wait_ms.p50, c.queue_wait_ms.p99, c.queue_wait_ms.max, c.reconcile_ms.p50, c.reconcile_ms.p99, c.final_queue_depth, c.max_queue_depth);
    }
    if let Some(w) = &s.watch {
        let _ = writeln!(o, "## Watches\n\n{} watches ({} scope) on {} held for the whole run: {} events, {} matched to this run's writes ({} delivered before the write's answer). Delivery lag (write acknowledged → event received): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms. Streams opened {}, resumed {}, restarted as too old {}, errors {}.\n",
            w.watchers, w.scope, w.kinds.join(", "), w.events, w.matched, w.before_ack, w.lag_ms.p50, w.lag_ms.p99, w.lag_ms.max, w.opened, w.reconnects, w.too_old_restarts, w.errors);
    }
    let t = &s.totals;
    let _ = writeln!(
        o,
        "## Accounting\n\n{} sent = {} ok + {} failed + {} throttled (429 after retries).\n",
        t.sent, t.ok, t.failed, t.throttled
    );
    let _ = writeln!(o, "## Latency by operation (ms)\n");
    let _ = writeln!(o, "Latency runs from each request's *intended* start (before the client token), so a slow server or a throttled client cannot hide delay. Server time starts when the request left the client.\n");
    let _ = writeln!(o, "| phase | verb | kind | sent | ok | failed | 429 final | 429 answers | retries | p50 | p90 | p99 | max | server p99 | throttle wait p99 |");
    let _ = writeln!(
        o,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for op in &s.operations {
        let l = &op.latency_ms;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            op.phase, op.verb, op.kind, op.counts.sent, op.counts.ok, op.counts.failed, op.counts.throttled, op.responses_429, op.retries,
            l.p50, l.p90, l.p99, l.max, op.server_ms.p99, op.throttle_wait_ms.p99
        );
    }
    let failures: Vec<String> = s
        .operations
        .iter()
        .flat_map(|op| {
            op.failed_by
                .iter()
                .map(move |(k, n)| format!("{} {} {}: {n} x {k}", op.phase, op.verb, op.kind))
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(o, "\n## Failures\n");
        for f in failures {
            let _ = writeln!(o, "- {f}");
        }
    }
    if !series.is_empty() {
        let peak = series.iter().map(|p| p.ok).max().unwrap_or(0);
        let active: Vec<&Point> = series.iter().filter(|p| p.completed > 0).collect();
        let mean = active.iter().map(|p| p.ok).sum::<u64>() as f64 / active.len().max(1) as f64;
        let _ = writeln!(o, "\n## Over time\n");
        let _ = writeln!(o, "{} seconds; throughput mean {mean:.0} ok/s over active seconds, peak {peak} ok/s; max in flight {}; max queue depth {}. Per-second data: `timeseries.csv`.\n",
            series.len(), series.iter().map(|p| p.in_flight).max().unwrap_or(0), series.iter().map(|p| p.queue_depth).max().unwrap_or(0));
        let _ = writeln!(o, "| second | completed | ok/s | failed | 429 answers | p99 ms | throttle wait p99 ms | in flight | queue |");
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let step = series.len().div_ceil(30).max(1);
        for p in series.iter().step_by(step) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} |",
                p.second,
                p.completed,
                p.ok,
                p.failed,
                p.responses_429,
                p.p99_ms,
                p.throttle_wait_p99_ms,
                p.in_flight,
                p.queue_depth
            );
        }
        if step > 1 {
            let _ = writeln!(o, "\n(every {step}th second shown)");
        }
    }
    o
}
