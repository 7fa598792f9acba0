//! `capi-loadgen run <profile>`: set up the target, create the fleet, write the results.

use super::connect::{connect, Connected, Load};
use crate::cli::RunArgs;
use crate::engine::request::Progress;
use crate::engine::{stop_signal, Stop, StopHandle, StopReason};
use crate::error::Error;
use crate::measure::{self, scrape};
use crate::model::{self, FleetSpec};
use crate::profile::{self, Overrides, Plan, TargetPlan};
use crate::report::health;
use crate::report::summary::{
    self, ClientInfo, FleetInfo, ProfileInfo, RunStatus, ShardInfo, Summary, TargetInfo, ToolInfo,
};
use crate::report::table;
use crate::target::Target;
use std::sync::Arc;
use std::time::Instant;

fn fleet_info(f: &FleetSpec) -> FleetInfo {
    let ns = f.namespace_range();
    FleetInfo {
        clusters: f.shard_clusters(),
        namespaces: ns.end - ns.start,
        objects_planned: f.shard_objects(),
        objects_per_cluster: f
            .objects_per_cluster()
            .into_iter()
            .map(|(k, n)| (k.label().to_string(), n))
            .collect(),
        provider: f.provider.as_str().into(),
        api_group: f.api_group.clone(),
        capi_version: f.capi_version.as_str().into(),
        control_plane_replicas: f.control_plane_replicas,
        machine_deployments: f.machine_deployments,
        workers_per_machine_deployment: f.workers_per_machine_deployment,
    }
}

fn print_plan(plan: &Plan) {
    let f = &plan.fleet;
    println!(
        "profile {} ({}): run id {}",
        plan.name,
        plan.source.display(),
        plan.run_id
    );
    if !f.shard.is_whole() {
        let (c, n) = (f.cluster_range(), f.namespace_range());
        println!(
            "shard {}/{}: clusters {}..{} in namespaces {}..{} of the fleet below; results in {}",
            f.shard.index,
            f.shard.count,
            c.start,
            c.end,
            n.start,
            n.end,
            plan.out_dir.display()
        );
    }
    println!(
        "fleet: {} clusters in {} namespaces, {} objects ({} per cluster), provider {}, {} {}",
        f.clusters,
        f.namespace_count(),
        f.total_objects(),
        f.objects_in_cluster(),
        f.provider.as_str(),
        f.api_group,
        f.capi_version.as_str()
    );
    for (k, n) in f.objects_per_cluster() {
        println!("  {:<22} {n} per cluster", k.label());
    }
    let p = &plan.phases;
    if let Some(c) = &p.create {
        println!(
            "phase create: {} cluster workers, {}",
            c.concurrency,
            c.rate
                .map(|r| format!("open loop at {r:?}"))
                .unwrap_or_else(|| "closed loop".into())
        );
    }
    if let Some(s) = &p.steady {
        let q = s.client_qps.map(|q| q * plan.client.pool_size as f64);
        let k = f64::from(s.mix.total());
        println!(
            "phase steady: {:?} wall, sync period {:?} / time scale {} = {:?} wall, {} workers ({} run), {} calls per reconcile, {:?} think; capacity N* = QPS x period / calls = {}",
            s.duration, s.sync_period, s.time_scale, s.wall_period(), s.concurrency, s.wall_workers(s.concurrency), s.mix.total(), s.think,
            q.map(|q| format!("{:.0} clusters", q * s.sync_period.as_secs_f64() / k)).unwrap_or_else(|| "unlimited".into())
        );
    }
    if let Some(c) = &p.churn {
        println!(
            "phase churn: {:?} wall, {:.0}% of workers every {:?} ({:?})",
            c.duration,
            c.fraction * 100.0,
            c.interval,
            c.mode
        );
    }
    if let Some(d) = &p.delete {
        println!(
            "phase delete: {} cluster workers, {}",
            d.concurrency,
            d.rate
                .map(|r| format!("open loop at {r} objects/s"))
                .unwrap_or_else(|| "closed loop".into())
        );
    }
    let qps = plan
        .client
        .qps
        .map(|q| format!("{q}"))
        .unwrap_or_else(|| "unlimited".into());
    println!(
        "client: {} x (qps {qps}, burst {}), up to {} retries; target: {}",
        plan.client.pool_size,
        plan.client.burst,
        plan.client.max_retries,
        match &plan.target {
            TargetPlan::Local(_) =>
                "local (etcd + kube-apiserver started on 127.0.0.1)".to_string(),
            TargetPlan::Etcd { endpoints, .. } if endpoints.is_empty() =>
                "the local environment's etcd, written as kube-apiserver would".to_string(),
            TargetPlan::Etcd { endpoints, .. } => format!("etcd {}", endpoints.join(",")),
            TargetPlan::Kube {
                kubeconfig,
                context,
                ..
            } => format!(
                "kube ({}, context {})",
                kubeconfig
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "default kubeconfig".into()),
                context.clone().unwrap_or_else(|| "current".into())
            ),
        }
    );
}

/// Runs a profile end to end.
pub async fn run(args: RunArgs) -> Result<(), Error> {
    let (run_id_given, out_given) = (args.run_id.is_some(), args.out.is_some());
    let overrides = Overrides {
        run_id: args.run_id,
        clusters: args.clusters,
        kubeconfig: args.conn.kubeconfig,
        context: args.conn.context,
        state_dir: args.state_dir,
        etcd_endpoints: args.conn.etcd_endpoint,
        allow_contexts: args.conn.allow_context.clone(),
        allow_endpoints: args.conn.allow_endpoint.clone(),
        kubernetes_version: args.conn.kubernetes_version.clone(),
        etcd_version: args.conn.etcd_version.clone(),
        out: args.out,
        metrics: args.metrics_addr.map(|a| {
            (
                a,
                std::time::Duration::from_secs_f64(args.metrics_linger_seconds.clamp(0.0, 3600.0)),
            )
        }),
        fail_on: args.fail_on.map(|f| match f {
            crate::cli::FailOn::Warning => health::Level::Warning,
            crate::cli::FailOn::Degraded => health::Level::Degraded,
            crate::cli::FailOn::Critical => health::Level::Critical,
        }),
    };
    let mut plan = profile::load(&args.profile, &overrides)?;
    if let Some(shard) = args.shard {
        super::shard::apply(&mut plan, shard, run_id_given, out_given)?;
    }
    let plan = plan;
    if args.dry_run {
        // The profile's sweep section: every point must make a valid plan too.
        if let (Some(field), Some(values)) = (&plan.sweep.field, &plan.sweep.values) {
            for v in values {
                profile::load_with(&args.profile, field, v, &overrides)?;
            }
            println!(
                "sweep: {field} over {} values, every point's plan is valid",
                values.len()
            );
        }
        print_plan(&plan);
        if args.plan_only {
            println!("dry run: plan only, nothing generated or sent");
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let fleet = plan.fleet.clone();
        let out = args.objects_out.clone();
        let streamed =
            tokio::task::spawn_blocking(move || super::dry_run::stream(&fleet, out.as_deref()))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        print!(
            "{}",
            super::dry_run::render(&streamed, t0.elapsed().as_secs_f64())
        );
        if let Some(p) = &args.objects_out {
            println!("create bodies: {}", p.display());
        }
        return Ok(());
    }
    if plan.management_clusters > 1 {
        return super::multi::run(&plan).await;
    }
    let recover = args.recover;
    with_target(
        &plan,
        async |c: &Connected, handle: StopHandle, stop: Stop| {
            let result = execute(&plan, c, handle, stop).await.map(|_| ());
            if let (true, Err(Error::QuotaFull { .. })) = (recover, &result) {
                let r = super::recover::recover(c, &plan.run_id, &plan.fleet.api_group).await?;
                let path = plan.out_dir.join("recovery.json");
                let json =
                    serde_json::to_string_pretty(&r).map_err(|e| Error::Internal(e.to_string()))?;
                std::fs::write(&path, json + "\n").map_err(|e| Error::io(&path, e))?;
                println!(
                    "etcd recovered in {:.1} s: this run's objects deleted{}, db {:.1} MiB -> {:.1} MiB after compact + defragment, NOSPACE disarmed, a write then {} ({})",
                    r.seconds,
                    if r.deleted_ok { "" } else { " (partly)" },
                    r.db_full as f64 / 1048576.0,
                    r.db_after as f64 / 1048576.0,
                    if r.write_ok { "succeeded" } else { "FAILED" },
                    path.display()
                );
            }
            result
        },
    )
    .await
}

/// Connects to the plan's target (starting the local environment if needed), runs `body`,
/// and always stops what was started, also on Ctrl-C and on errors.
pub(crate) async fn with_target<R>(
    plan: &Plan,
    body: impl AsyncFnOnce(&Connected, StopHandle, Stop) -> Result<R, Error>,
) -> Result<R, Error> {
    let (handle, mut stop) = stop_signal();
    let signals = super::watch_signals(handle.clone());
    let connected = tokio::select! {
        c = connect(&plan.target, plan.client.pool_size, plan.client.timeout, &plan.run_id) => c,
        _ = stop.stopped() => Err(Error::Interrupted { dir: plan.out_dir.clone() }),
    };
    let mut connected = match connected {
        Ok(c) => c,
        Err(e) => {
            signals.abort();
            return Err(e);
        }
    };
    let result = body(&connected, handle, stop).await;
    signals.abort();
    connected.close().await;
    result
}

/// Installs CRDs, runs the phases on whichever kind of target is connected, writes the
/// results and prints the table.
pub(crate) async fn execute(
    plan: &Plan,
    c: &Connected,
    handle: StopHandle,
    stop: Stop,
) -> Result<Summary, Error> {
    let started_at = chrono::Utc::now();
    match &c.load {
        Load::Kube(t) => load_phases(plan, c, t.clone(), handle, stop, started_at).await,
        Load::Etcd(t) => load_phases(plan, c, t.clone(), handle, stop, started_at).await,
    }
}

async fn load_phases<T: Target>(
    plan: &Plan,
    c: &Connected,
    load: Vec<T>,
    handle: StopHandle,
    stop: Stop,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<Summary, Error> {
    match (&c.admin, plan.install_crds) {
        (Some(admin), true) => admin.install_crds(&model::crds(&plan.fleet)).await?,
        (None, true) => tracing::info!("bare etcd without an apiserver: CRDs not installed"),
        _ => {}
    }
    let (tx, collector) = measure::channel(4096);
    let progress = Arc::new(Progress::default());
    let exposed = match plan.metrics {
        Some((addr, _)) => {
            let m = Arc::new(measure::expose::ToolMetrics::new());
            let server = measure::expose::serve(addr, m.clone(), progress.clone())
                .await
                .map_err(|e| Error::Usage(format!("--metrics-addr {addr}: {e}")))?;
            tracing::info!("serving the tool's metrics on http://{addr}/metrics");
            Some((m, server))
        }
        None => None,
    };
    let collector = tokio::spawn(collector.run_exposed(
        progress.clone(),
        tokio::time::Instant::now(),
        exposed.as_ref().map(|e| e.0.clone()),
    ));
    let (t0, load_started_at) = (Instant::now(), chrono::Utc::now());
    let (observe_done, observe_rx) = tokio::sync::watch::channel(false);
    let scraper = plan.observe.interval.map(|interval| {
        let sources = scrape::Sources {
            apiserver: c.admin.as_ref().map(|a| a.client().clone()),
            etcd_metrics_url: c.etcd_metrics_url.clone(),
            etcd: c.etcd.clone(),
        };
        tokio::spawn(scrape::run(
            sources,
            interval,
            tokio::time::Instant::now(),
            observe_rx,
        ))
    });
    let mut outcome =
        super::phases::run(plan, load, tx, stop.clone(), handle.clone(), progress).await;
    let outcome_histograms = std::mem::take(&mut outcome.histograms);
    let _ = observe_done.send(true);
    let observed = match scraper {
        Some(s) => Some(
            s.await
                .map_err(|e| Error::Internal(format!("scraper: {e}")))?,
        ),
        None => None,
    };
    let duration = t0.elapsed();
    drop(handle);
    let measurements = collector
        .await
        .map_err(|e| Error::Internal(format!("collector: {e}")))?;

    if let (Some((_, server)), Some((_, linger))) = (exposed, plan.metrics) {
        tokio::time::sleep(linger).await;
        server.abort();
    }
    let (operations, totals) = summary::operations(&measurements);
    let responses_429: u64 = operations.iter().map(|o| o.responses_429).sum();
    let health = observed
        .as_ref()
        .map(|o| {
            health::verdicts(
                o,
                plan.observe.etcd_quota_bytes.or(c.etcd_quota_bytes),
                totals.sent,
                responses_429,
                &plan.observe.thresholds,
            )
        })
        .unwrap_or_default();
    let reason = stop.reason();
    let status = match reason {
        None => RunStatus::Completed,
        Some(StopReason::Interrupted) => RunStatus::Interrupted,
        Some(StopReason::TargetFailed(_) | StopReason::QuotaFull(_)) => RunStatus::Aborted,
    };
    let s = Summary {
        status,
        stop_reason: reason.as_ref().map(|r| match r {
            StopReason::Interrupted => "interrupted by SIGINT/SIGTERM".to_string(),
            StopReason::TargetFailed(m) => format!("target failed: {m}"),
            StopReason::QuotaFull(m) => format!("quota full: {m}"),
        }),
        finished_at: chrono::Utc::now().to_rfc3339(),
        started_at: started_at.to_rfc3339(),
        duration_seconds: duration.as_secs_f64(),
        load_started_at: Some(load_started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        target: c.info.clone(),
        phases: outcome.phases,
        controllers: outcome.controllers,
        watch: outcome.watch,
        observed,
        health,
        totals,
        operations,
        ..empty_summary(plan)
    };
    s.write(&plan.out_dir)
        .map_err(|e| Error::io(&plan.out_dir, e))?;
    crate::report::files::write_measurements(&plan.out_dir, &measurements, &outcome_histograms)
        .map_err(|e| Error::io(&plan.out_dir, e))?;
    std::fs::write(
        plan.out_dir.join("report.md"),
        crate::report::markdown::render(&s, &measurements.series),
    )
    .map_err(|e| Error::io(plan.out_dir.join("report.md"), e))?;
    if let Some(o) = &s.observed {
        let path = plan.out_dir.join("observed.csv");
        let mut f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        scrape::write_csv(&o.points, &mut f).map_err(|e| Error::io(&path, e))?;
    }
    print!("{}", table::render(&s));
    println!(
        "results: {} (summary.json, report.md, timeseries.csv, histograms)",
        plan.out_dir.display()
    );
    let worst = health::worst(&s.health);
    match (reason, plan.fail_on) {
        (None, Some(limit)) if worst >= limit => Err(Error::Unhealthy {
            level: format!("{worst:?}").to_lowercase(),
            dir: plan.out_dir.clone(),
        }),
        (reason, _) => finish(reason, s, plan),
    }
}

fn finish(reason: Option<StopReason>, s: Summary, plan: &Plan) -> Result<Summary, Error> {
    match reason {
        None => Ok(s),
        Some(StopReason::Interrupted) => Err(Error::Interrupted {
            dir: plan.out_dir.clone(),
        }),
        Some(StopReason::TargetFailed(r)) => Err(Error::TargetFailed {
            reason: r,
            dir: plan.out_dir.clone(),
        }),
        Some(StopReason::QuotaFull(r)) => Err(Error::QuotaFull {
            reason: r,
            dir: plan.out_dir.clone(),
        }),
    }
}

fn empty_summary(plan: &Plan) -> Summary {
    let now = chrono::Utc::now().to_rfc3339();
    Summary {
        schema_version: summary::SCHEMA_VERSION,
        tool: ToolInfo {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: plan.run_id.clone(),
        profile: ProfileInfo {
            name: plan.name.clone(),
            path: plan.source.display().to_string(),
            description: plan.description.clone(),
        },
        status: RunStatus::Completed,
        stop_reason: None,
        started_at: now.clone(),
        finished_at: now,
        duration_seconds: 0.0,
        load_started_at: None,
        shard: (!plan.fleet.shard.is_whole()).then(|| ShardInfo {
            index: plan.fleet.shard.index,
            count: plan.fleet.shard.count,
            fleet_clusters: plan.fleet.clusters,
            first_cluster: plan.fleet.cluster_range().start,
            first_namespace: plan.fleet.namespace_range().start,
        }),
        merged_from: Vec::new(),
        target: TargetInfo {
            kind: String::new(),
            endpoint: String::new(),
            server_version: String::new(),
        },
        fleet: fleet_info(&plan.fleet),
        client: ClientInfo {
            pool_size: plan.client.pool_size,
            qps: plan.client.qps,
            burst: plan.client.burst,
            preset: plan.client.preset.clone(),
            timeout_seconds: plan.client.timeout.as_secs_f64(),
            max_retries: plan.client.max_retries,
        },
        phases: Vec::new(),
        controllers: Vec::new(),
        watch: None,
        observed: None,
        health: Vec::new(),
        totals: Default::default(),
        operations: Vec::new(),
    }
}
