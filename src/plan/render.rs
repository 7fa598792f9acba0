//! `plan.md`: the planner's answer for people, every figure with its source.

use super::{CapacityPlan, Demand, Flags};
use std::fmt::Write;

fn n(x: f64) -> String {
    if x.is_finite() {
        crate::report::breakpoints::group(x)
    } else {
        "unbounded".into()
    }
}

fn gib(b: f64) -> String {
    format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
}

fn demand_rows(o: &mut String, d: &Demand, f: &super::FleetInput) {
    let t = f.preset.sync_period_seconds;
    let _ = writeln!(o, "| figure | value | how |\n|---|---:|---|");
    let _ = writeln!(
        o,
        "| steady API requests/s | {:.1} | clusters x {} calls per reconcile / {t} s sync period |",
        d.api_qps, f.calls_per_reconcile
    );
    let _ = writeln!(o, "| etcd writes/s | {:.1} | clusters x {} status writes / {t} s + {} machines churned per cluster-hour x {} writes |", d.etcd_writes_per_second, f.writes_per_reconcile, f.churn_machines_per_hour, f.writes_per_churned_machine);
    let _ = writeln!(o, "| etcd bytes | {} | clusters x {} bytes per cluster (the fleet model's stored bytes x the calibration's db factor) |", gib(d.etcd_bytes), n(d.etcd_bytes_per_cluster));
    let _ = writeln!(o, "| objects | {} | the fleet model: {} machines, {} MachineDeployment(s), {} per cluster, + its namespace |", n(d.objects as f64), f.machines_per_cluster, f.machine_deployments, f.provider);
    let _ = writeln!(
        o,
        "| watches | {} | one informer per watched kind per controller manager |",
        d.watches
    );
    let _ = writeln!(
        o,
        "| requests in flight | {:.2} | Little's law: requests/s x {} s server time |",
        d.in_flight, f.request_seconds
    );
    let _ = writeln!(
        o,
        "| kube-apiserver memory | {} | {} |",
        d.apiserver_memory_bytes
            .map(gib)
            .unwrap_or("not measured".into()),
        if d.apiserver_memory_bytes.is_some() {
            "base + clusters x resident bytes per cluster (the calibration's apiserver-memory row, scaled by stored bytes)"
        } else {
            "no apiserver-memory row in the calibration"
        }
    );
}

fn flags_line(f: &Flags) -> String {
    format!(
        "`--kube-api-qps={} --kube-api-burst={} --cluster-concurrency={} --sync-period={}s`",
        f.kube_api_qps, f.kube_api_burst, f.cluster_concurrency, f.sync_period_seconds
    )
}

/// Renders the plan.
pub fn markdown(p: &CapacityPlan) -> String {
    let f = &p.fleet;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# capi-loadgen plan: {} clusters x {} machines\n\nCalibration: {}. Margin kept below every breakpoint: {:.0}%. Controller defaults: Cluster API {} (QPS {} / burst {}, concurrency {}, sync period {} s).\n",
        n(f.clusters as f64), f.machines_per_cluster, p.calibration_from, f.margin * 100.0,
        f.preset.name, f.preset.qps, f.preset.burst, f.preset.cluster_concurrency, f.preset.sync_period_seconds
    );
    let _ = writeln!(o, "## Demand of the whole fleet\n");
    demand_rows(&mut o, &p.demand, f);
    let _ = writeln!(
        o,
        "\n## One management cluster with the {} defaults\n\n| # | breakpoint | clusters | formula | source |\n|---|---|---:|---|---|",
        f.preset.name
    );
    for (i, b) in p.progression.iter().enumerate() {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            i + 1,
            b.bottleneck,
            n(b.clusters),
            b.formula,
            b.source
        );
    }
    let _ = writeln!(
        o,
        "\nFirst breakpoint: **{} at {} clusters**{}.\n",
        p.first.bottleneck,
        n(p.first.clusters),
        if (f.clusters as f64) < p.first.clusters {
            format!(" ({} clusters stay below it)", n(f.clusters as f64))
        } else {
            format!(" (the fleet of {} is past it)", n(f.clusters as f64))
        }
    );
    let _ = writeln!(
        o,
        "## Controller flags\n\nFor the whole fleet on one management cluster: {}. {}.\n",
        flags_line(&p.flags),
        p.flags.formula
    );
    let s = &p.sizing;
    let _ = writeln!(
        o,
        "## Management clusters\n\nWith {}, one management cluster holds at most **{} clusters** ({} / (1 + margin)): the fleet needs **{} management cluster{}** of at most {} clusters, sharded by {}: {}.\n\nPer shard: etcd quota {} (the shard's bytes x (1 + margin), rounded up to 0.5 GiB, at least the 2 GiB default), flags {}.\n",
        if f.keep_flags { "the flags kept as given" } else { "tuned flags" },
        n(s.clusters_per_management_cluster_max),
        s.limited_by,
        s.management_clusters,
        if s.management_clusters == 1 { "" } else { "s" },
        n(s.clusters_per_shard as f64),
        s.sharding,
        s.sharding_note,
        gib(s.etcd_quota_bytes_per_shard),
        flags_line(&s.shard_flags)
    );
    let _ = writeln!(
        o,
        "kube-apiserver memory request per shard: {} ({}).\n",
        s.apiserver_memory_request_bytes_per_shard
            .map(|b| format!("**{}**", gib(b)))
            .unwrap_or("not measured".into()),
        s.apiserver_memory_note
    );
    demand_rows(&mut o, &s.shard_demand, f);
    let _ = writeln!(o, "\n## Where commonly quoted numbers do not add up\n");
    for c in &p.claim_checks {
        let _ = writeln!(o, "- **{}**: {}", c.claim, c.finding);
    }
    let _ = writeln!(
        o,
        "\n## Calibration\n\n| figure | value | source |\n|---|---:|---|"
    );
    let c = &p.calibration;
    for (name, fig) in [
        (
            "client-QPS breakpoint, measured / model",
            &c.client_qps_factor,
        ),
        (
            "concurrency breakpoint, measured / model",
            &c.concurrency_factor,
        ),
        ("etcd write ceiling (writes/s)", &c.etcd_write_ceiling),
        ("etcd db bytes per model byte", &c.etcd_bytes_factor),
        ("429 onset (requests in flight)", &c.apf_onset_in_flight),
    ] {
        let _ = writeln!(o, "| {name} | {:.3} | {} |", fig.value, fig.source);
    }
    match &c.apiserver_memory {
        Some(m) => {
            let _ = writeln!(
                o,
                "| apiserver resident bytes per stored byte | {:.3} | {} |\n| apiserver base memory (bytes) | {:.0} | {} |",
                m.bytes_per_stored_byte.value,
                m.bytes_per_stored_byte.source,
                m.base_bytes.value,
                m.base_bytes.source
            );
        }
        None => {
            let _ = writeln!(o, "| apiserver memory | - | not measured: no apiserver-memory row in the calibration (no default) |");
        }
    }
    let _ = writeln!(
        o,
        "| controller cache memory | - | {} |",
        crate::measure::memory::NO_REFERENCE_CONTROLLER
    );
    let _ = writeln!(
        o,
        "\nAssumptions (flags of `plan`): {} calls and {} writes per reconcile, {} s per reconcile, {} s per request, {} writes per churned machine.",
        f.calls_per_reconcile, f.writes_per_reconcile, f.reconcile_seconds, f.request_seconds, f.writes_per_churned_machine
    );
    o
}
