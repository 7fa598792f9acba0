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
        "- target: {} `{}` ({}{})",
        s.target.kind,
        s.target.endpoint,
        s.target.server_version,
        s.target
            .etcd_version
            .as_ref()
            .map(|e| format!(", etcd {e}"))
            .unwrap_or_default()
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
        "- fleet: {} clusters in {} namespaces, {} objects planned; {} control-plane + {} x {} workers per cluster; provider {}{}; {} {}",
        f.clusters, f.namespaces, f.objects_planned, f.control_plane_replicas, f.machine_deployments, f.workers_per_machine_deployment, f.provider,
        f.provider_api_version.as_deref().map(|v| format!(" ({v})")).unwrap_or_default(),
        f.api_group, f.capi_version
    );
    let per = |k: &str| f.objects_per_cluster.get(k).copied().unwrap_or(0);
    let (checks, pools) = (per("machine_health_check"), per("machine_pool"));
    if f.topology || checks > 0 || pools > 0 {
        let per_ns: u64 = f.objects_per_namespace.values().sum();
        let _ = writeln!(
            o,
            "- ClusterClass era: {}; {checks} MachineHealthCheck(s) and {pools} MachinePool(s) per cluster",
            if f.topology {
                format!("topology-managed clusters, a ClusterClass with its templates per namespace ({per_ns} objects per namespace with the Namespace)")
            } else {
                "no topology".to_string()
            }
        );
    }
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
    // The tool's own use of the machine and the warm-up (src/report/generator.rs).
    o += &super::run_sections::sections(s);
    if let Some(m) = &s.apiserver_memory_limit {
        o += &super::memory_limit::markdown(m);
        o += "\n";
    }
    if let Some(e) = &s.etcd_cluster {
        o += &super::etcd_cluster::markdown(e);
        o += "\n";
    }
    for c in &s.controllers {
        let _ = writeln!(
            o,
            "## Controller simulation: {} controller (steady phase)\n",
            c.name
        );
        let _ = writeln!(o, "Sync period {} s compressed by a time scale of {} to {:.2} s of wall time (client QPS and workers scaled by the same factor, so both N* are unchanged); {} enqueue; {} workers in the model ({} run); {:.0} ms think time per reconcile; {} calls per reconcile ({} get, {} list, {} status patch); {} event-driven reconciles per model second.\n",
            c.sync_period_seconds, c.time_scale, c.wall_period_seconds, c.enqueue, c.concurrency, c.wall_workers, c.think_ms, c.calls_per_reconcile, c.get_calls, c.list_calls, c.patch_status_calls, c.events_per_second);
        let cap = c
            .capacity_calls_per_second
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "unlimited".into());
        let nstar = c
            .predicted_breakpoint_clusters
            .map(|x| format!("{x:.0}"))
            .unwrap_or_else(|| "none (no client limit)".into());
        let _ = writeln!(o, "| | value |\n|---|---:|\n| items ({}s) | {} |\n| demand, calls per model second | {:.1} |\n| client capacity, calls per model second | {cap} |\n| predicted breakpoint N* = QPS x period / calls | {nstar} |\n| predicted breakpoint N* = concurrency x period / reconcile duration | {} |\n| reconciles | {} |\n| periodic / event enqueues | {} / {} |\n| missed periods | {} |\n| queue wait p50 / p99 / max (wall ms) | {:.1} / {:.1} / {:.1} |\n| reconcile p50 / p99 (wall ms) | {:.1} / {:.1} |\n| queue depth at end / max | {} / {} |\n",
            c.name, c.items, c.demand_calls_per_second,
            c.predicted_concurrency_breakpoint_clusters.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into()),
            c.reconciles, c.periodic_enqueues, c.event_enqueues, c.missed_periods,
            c.queue_wait_ms.p50, c.queue_wait_ms.p99, c.queue_wait_ms.max, c.reconcile_ms.p50, c.reconcile_ms.p99, c.final_queue_depth, c.max_queue_depth);
    }
    if let Some(w) = &s.watch {
        let _ = writeln!(o, "## Watches\n\n{} watches ({} scope) on {} held for the whole run: {} events, {} matched to this run's writes ({} delivered before the write's answer). Delivery lag (write acknowledged → event received): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms. Streams opened {}, resumed {}, restarted as too old {}, errors {}.\n",
            w.watchers, w.scope, w.kinds.join(", "), w.events, w.matched, w.before_ack, w.lag_ms.p50, w.lag_ms.p99, w.lag_ms.max, w.opened, w.reconnects, w.too_old_restarts, w.errors);
    }
    observed(&mut o, s);
    if let Some(w) = &s.webhooks {
        super::webhooks::render(&mut o, w);
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
            let _ = writeln!(o, "\n(every {} second shown)", ordinal(step));
        }
    }
    o
}

/// 1st, 2nd, 3rd, 4th, … 11th, 12th, 13th, … 21st, 22nd.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "n/o".into())
}

/// The "Observed" section: verdicts, what was not observed, and the scraped series.
fn observed(o: &mut String, s: &Summary) {
    let Some(obs) = &s.observed else {
        let _ = writeln!(
            o,
            "## Observed\n\nScraping was off for this run (`observe.enabled: false`).\n"
        );
        return;
    };
    let how = match obs.source.as_ref().and_then(|s| Some((s.prometheus_url.as_ref()?, s.prometheus_freshness.as_ref()?))) {
        Some((url, f)) => format!(
            "read from the Prometheus at {url} every {} s or its next scrape, whichever is later (waiting for samples newer than each snapshot: {:.1} s at most, {:.1} s on average over {} snapshots)",
            obs.interval_seconds, f.wait_max_seconds, f.wait_mean_seconds, f.snapshots
        ),
        None => format!("scraped every {} s", obs.interval_seconds),
    };
    let _ = writeln!(o, "## Observed\n\nThe apiserver's and etcd's own metrics, {how} (per-interval values in `observed.csv`).\n");
    let _ = writeln!(o, "| check | worst value | unit | warning / degraded / critical at | verdict |\n|---|---:|---|---|---|");
    for v in &s.health {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} / {} / {} | **{:?}** |",
            v.check,
            cell(v.value, 2),
            v.unit,
            v.thresholds[0],
            v.thresholds[1],
            v.thresholds[2],
            v.level
        );
    }
    let _ = writeln!(o);
    if let (Some(a), Some(b)) = (obs.etcd_db_size_start, obs.etcd_db_size_end) {
        let _ = writeln!(
            o,
            "- etcd db size: {:.1} MiB → {:.1} MiB",
            a / 1048576.0,
            b / 1048576.0
        );
    }
    if let Some(m) = &obs.apiserver_memory {
        apiserver_memory(o, m);
    }
    if let Some(cpu) = obs.apiserver_cpu_seconds {
        let writes: u64 = s
            .operations
            .iter()
            .filter(|op| ["create", "update", "patch", "delete"].contains(&op.verb.as_str()))
            .map(|op| op.counts.sent)
            .sum();
        let per = if writes > 0 {
            format!(
                ", {:.2} ms per write ({writes} writes sent)",
                cpu * 1e3 / writes as f64
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "- kube-apiserver CPU over the load (`process_cpu_seconds_total`): {cpu:.2} s{per}"
        );
    }
    if !obs.rejected_by_priority_level.is_empty() {
        let r: Vec<String> = obs
            .rejected_by_priority_level
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            o,
            "- APF rejections by priority level/reason: {}",
            r.join(", ")
        );
    }
    let mut p99: Vec<(&String, &f64)> = obs.mutating_p99_ms_by_resource.iter().collect();
    p99.sort_by(|a, b| b.1.total_cmp(a.1));
    if !p99.is_empty() {
        let r: Vec<String> = p99
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k} {v:.1} ms"))
            .collect();
        let _ = writeln!(
            o,
            "- mutating request p99 by resource (whole run): {}",
            r.join(", ")
        );
    }
    let ours: Vec<String> = obs
        .objects_by_resource
        .iter()
        .filter(|(k, v)| {
            **v > 0.0 && (k.contains("x-k8s.io") || *k == "secrets" || *k == "namespaces")
        })
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !ours.is_empty() {
        let _ = writeln!(o, "- objects stored at the end: {}", ours.join(", "));
    }
    for n in &obs.not_observed {
        let _ = writeln!(o, "- not observed: {n}");
    }
    if !obs.points.is_empty() {
        let _ = writeln!(o, "\n| second | db MiB | db in use MiB | WAL fsync p99 ms | commit p99 ms | leader changes | mutating p99 ms | 429 | APF rejected | in flight | watchers | objects | apiserver resident MiB | apiserver heap in use MiB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let step = obs.points.len().div_ceil(20).max(1);
        for p in obs.points.iter().step_by(step) {
            let _ = writeln!(
                o,
                "| {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.second,
                cell(p.etcd_db_size.map(|b| b / 1048576.0), 1),
                cell(p.etcd_db_in_use.map(|b| b / 1048576.0), 1),
                cell(p.wal_fsync_p99_ms, 2),
                cell(p.backend_commit_p99_ms, 2),
                cell(p.leader_changes, 0),
                cell(p.apiserver_mutating_p99_ms, 1),
                cell(p.apiserver_429, 0),
                cell(p.flowcontrol_rejected, 0),
                cell(p.apiserver_inflight, 0),
                cell(p.apiserver_watchers, 0),
                cell(p.objects_total, 0),
                cell(
                    p.apiserver_rss_bytes
                        .or(p.apiserver_resident_bytes)
                        .map(|b| b / 1048576.0),
                    1
                ),
                cell(p.apiserver_heap_inuse_bytes.map(|b| b / 1048576.0), 1)
            );
        }
    }
    let _ = writeln!(o);
}

/// The apiserver's memory before and after the load, in MiB, with how the end was taken.
fn apiserver_memory(o: &mut String, m: &crate::measure::memory::ApiserverMemory) {
    let mib = |x: Option<f64>| cell(x.map(|b| b / 1048576.0), 1);
    let how = if !m.settled {
        "last scrape, not settled: the run stopped early".to_string()
    } else {
        format!(
            "after {}a {:.0} s idle settle, median of {} samples",
            if m.forced_gc {
                "a forced garbage collection and "
            } else {
                ""
            },
            m.settle_seconds,
            m.settle_samples
        )
    };
    for (what, f) in [
        (
            if m.end.rss_bytes.is_some() {
                "resident set (VmRSS)"
            } else {
                "resident set (process_resident_memory_bytes)"
            },
            (|s| s.resident()) as fn(&crate::measure::memory::MemorySample) -> Option<f64>,
        ),
        ("Go heap in use (go_memstats_heap_inuse_bytes)", |s| {
            s.heap_inuse_bytes
        }),
        ("Go heap allocated (go_memstats_alloc_bytes)", |s| {
            s.heap_alloc_bytes
        }),
    ] {
        if f(&m.start).is_some() || f(&m.end).is_some() {
            let _ = writeln!(
                o,
                "- kube-apiserver {what}: {} MiB → {} MiB ({} MiB; end {how})",
                mib(f(&m.start)),
                mib(f(&m.end)),
                match (f(&m.start), f(&m.end)) {
                    (Some(a), Some(b)) => format!("{:+.1}", (b - a) / 1048576.0),
                    _ => "-".into(),
                }
            );
        }
    }
    if let (Some(a), Some(b)) = (m.start.objects, m.end.objects) {
        let _ = writeln!(o, "- objects stored: {a:.0} → {b:.0} ({:+.0})", b - a);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ordinals_read_as_english() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th", "112th"
            ]
        );
    }
}
