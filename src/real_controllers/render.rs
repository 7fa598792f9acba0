//! The Markdown report of a run with the real managers.

use super::provision::Latency;
use super::result::CapiRunResult;
use std::fmt::Write;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn latency_row(out: &mut String, step: &str, l: &Latency) {
    let _ = writeln!(
        out,
        "| {step} | {} | {} | {} | {} | {} |",
        l.count,
        opt(l.p50, 1),
        opt(l.p90, 1),
        opt(l.p99, 1),
        opt(l.max, 1)
    );
}

/// The report (also what `run` prints).
pub(crate) fn markdown(r: &CapiRunResult) -> String {
    let mut o = String::new();
    let f = &r.fleet;
    let _ = writeln!(
        o,
        "# Real Cluster API {} managers: {} clusters ({} + {} machines each) in {} namespaces\n",
        r.capi_version, f.clusters, f.control_plane_machines, f.worker_machines, f.namespaces
    );
    let _ = writeln!(
        o,
        "kube-apiserver {}, etcd {}; managers with --kube-api-qps {} --kube-api-burst {}, concurrency {}, sync period {} s, identity {}; clusters created {}; status {:?}\n",
        r.server_version,
        r.etcd_version.as_deref().unwrap_or("?"),
        r.flags.kube_api_qps,
        r.flags.kube_api_burst,
        r.flags.concurrency.map_or_else(|| "release defaults".into(), |c| c.to_string()),
        r.flags.sync_period_seconds,
        r.flags.identity,
        f.clusters_per_minute.map_or_else(|| "all at once".into(), |c| format!("{c} per minute")),
        r.status
    );
    let _ = writeln!(
        o,
        "## Provisioning latency (s, from the objects' timestamps)\n"
    );
    let _ = writeln!(
        o,
        "| step | count | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|"
    );
    let p = &r.provisioned;
    latency_row(
        &mut o,
        "Cluster created → ControlPlaneInitialized",
        &p.to_control_plane_initialized,
    );
    latency_row(&mut o, "Cluster created → Available", &p.to_available);
    latency_row(&mut o, "Machine created → Running", &p.machine_to_running);
    if let Some(s) = &r.scaled {
        latency_row(
            &mut o,
            "Machine created → Running (after scale-up)",
            &s.machine_to_running,
        );
    }
    if let Some(s) = &r.upgraded {
        latency_row(
            &mut o,
            "Machine created → Running (after the upgrade)",
            &s.machine_to_running,
        );
    }
    let _ = writeln!(
        o,
        "\n{}/{} clusters Available, {}/{} machines Running.\n",
        p.available, p.clusters, p.running, p.machines
    );
    let _ = writeln!(o, "## Management-cluster calls by manager and step\n");
    let _ = writeln!(o, "| step | manager | calls | GET | POST | PATCH | PUT | DELETE | 404 | 429 | reconciles | calls/reconcile | errors | requeues | queue wait p99 s | waited > 1 ms in the client limiter | limiter wait s | CPU s |");
    let _ = writeln!(
        o,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for s in &r.steps {
        for (m, c) in &s.managers {
            let v = |k: &str| c.calls.get(k).copied().unwrap_or(0);
            let code = |k: &str| c.codes.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "| {} | {m} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
                s.name,
                c.total_calls,
                v("GET"),
                v("POST"),
                v("PATCH"),
                v("PUT"),
                v("DELETE"),
                code("404"),
                code("429"),
                c.total_reconciles,
                opt(c.calls_per_reconcile, 2),
                c.reconcile_errors,
                c.requeues,
                opt(c.queue_wait_p99_seconds, 3),
                c.throttled_requests.map_or_else(|| "–".into(), |t| t.to_string()),
                opt(c.throttle_wait_seconds, 2),
                c.cpu_seconds
            );
        }
    }
    let _ = writeln!(o, "\n## Per cluster and per reconcile\n");
    let _ = writeln!(o, "| manager | calls per cluster provisioned | calls per added worker | calls per upgraded machine | calls per reconcile (provisioning) | idle calls | peak RSS MiB | client count / apiserver count |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (m, per) in &r.calls_per_cluster {
        let added = r
            .calls_per_added_machine
            .as_ref()
            .and_then(|a| a.get(m).copied());
        let upgraded = r
            .calls_per_upgraded_machine
            .as_ref()
            .and_then(|a| a.get(m).copied());
        let check = r
            .call_check
            .get(m)
            .map_or_else(|| "–".into(), |c| format!("{} / {}", c.client, c.apiserver));
        let _ = writeln!(
            o,
            "| {m} | {per:.1} | {} | {} | {} | {} | {} | {check} |",
            opt(added, 1),
            opt(upgraded, 1),
            opt(r.calls_per_reconcile.get(m).copied().flatten(), 2),
            r.idle_calls
                .get(m)
                .map_or_else(|| "–".into(), |n| n.to_string()),
            r.manager_peak_rss_bytes
                .get(m)
                .map_or_else(|| "–".into(), |b| format!("{:.0}", *b as f64 / 1048576.0))
        );
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(
            o,
            "\n## What the managers asked for while provisioning (audit log, top 8 per manager)\n"
        );
        let _ = writeln!(o, "| manager | verb resource | requests |\n|---|---|---:|");
        for (user, steps) in &a.users {
            let Some(c) = steps.get("provision") else {
                continue;
            };
            let mut top: Vec<(&String, &u64)> = c.resources.iter().collect();
            top.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
            let short = user
                .rsplit(':')
                .next()
                .unwrap_or(user)
                .trim_start_matches("capi-loadgen-");
            for (res, n) in top.into_iter().take(8) {
                let _ = writeln!(o, "| {short} | {res} | {n} |");
            }
        }
    }
    if let Some(b) = r.etcd_bytes_per_cluster {
        let _ = writeln!(o, "\netcd keys + values per cluster (the managers' status, managedFields, Secrets, events included): {b:.0} bytes.");
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(
            o,
            "\nAudit log (Metadata level): {} requests recorded, {:.1} MiB ({:.0} bytes per request).",
            a.events,
            a.bytes as f64 / 1048576.0,
            a.bytes as f64 / a.events.max(1) as f64
        );
    }
    for n in &r.notes {
        let _ = writeln!(o, "\nNote: {n}");
    }
    o
}
