//! One run: connect to the plan's target, run its phases, write the results folder
//! (`summary.json`, `report.md`, `timeseries.csv`, histograms, `observed.csv`).

use super::connect::{connect, Connected, Load};
use crate::backend::Target;
use crate::engine::request::Progress;
use crate::engine::{stop_signal, Stop, StopHandle, StopReason};
use crate::error::{Error, UsageError};
use crate::measure::{self, scrape};
use crate::model::{self, FleetSpec};
use crate::profile::RunPlan;
use crate::report::health;
use crate::report::summary::{
    self, ClientInfo, FleetInfo, ProfileInfo, RunStatus, ShardInfo, Summary, TargetInfo, ToolInfo,
};
use crate::report::table;
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
        provider_api_version: Some(f.provider_api_version.as_str().into()),
        control_plane_replicas: f.control_plane_replicas,
        machine_deployments: f.machine_deployments,
        workers_per_machine_deployment: f.workers_per_machine_deployment,
        crd_schemas: f.crd_schemas.as_str().into(),
        upstream_schema_kinds: model::upstream_kinds(f)
            .into_iter()
            .map(|k| k.label().to_string())
            .collect(),
        topology: f.topology,
        objects_per_namespace: if f.topology {
            f.objects_per_namespace()
                .into_iter()
                .map(|(k, n)| (k.label().to_string(), n))
                .collect()
        } else {
            Default::default()
        },
    }
}

/// Connects to the plan's target (starting the local environment if needed), runs `body`,
/// and always stops what was started, also on Ctrl-C and on errors.
pub async fn with_target<R>(
    plan: &RunPlan,
    body: impl AsyncFnOnce(&Connected, StopHandle, Stop) -> Result<R, Error>,
) -> Result<R, Error> {
    let (handle, mut stop) = stop_signal();
    let signals = watch_signals(handle.clone());
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
pub async fn execute(
    plan: &RunPlan,
    c: &Connected,
    handle: StopHandle,
    stop: Stop,
) -> Result<Summary, Error> {
    let started_at = chrono::Utc::now();
    // On the heap: the phases' state machine is large, and callers (a test's block_on, a
    // sweep's loop) hold this future on their own stack.
    match &c.load {
        Load::Kube(t) => Box::pin(load_phases(plan, c, t.clone(), handle, stop, started_at)).await,
        Load::Etcd(t) => Box::pin(load_phases(plan, c, t.clone(), handle, stop, started_at)).await,
    }
}

async fn load_phases<T: Target>(
    plan: &RunPlan,
    c: &Connected,
    load: Vec<T>,
    handle: StopHandle,
    stop: Stop,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<Summary, Error> {
    // The provider version the target's CRDs serve, when the profile leaves it open.
    let discovered = super::provider_discovery::resolve(plan, c).await;
    let plan = discovered.as_ref().unwrap_or(plan);
    let observer = measure::self_observe::SelfObserver::start();
    // Before anything is written: a Prometheus that cannot be used ends the run here.
    let prometheus = match (&plan.observe.prometheus, plan.observe.interval) {
        (Some(p), Some(_)) => Some(super::observed_sources::prometheus_source(p).await?),
        _ => None,
    };
    let crds = model::crds(&plan.fleet);
    match (&c.admin, plan.install_crds) {
        (Some(admin), true) => admin.install_crds(&crds).await?,
        (None, true) => tracing::info!("bare etcd without an apiserver: CRDs not installed"),
        _ => {}
    }
    let warm_up = match (&c.admin, plan.warm_up) {
        (Some(admin), true) => {
            let installed = if plan.install_crds { &crds[..] } else { &[] };
            Some(
                super::warm_up::warm_up(admin, &plan.fleet, installed)
                    .await
                    .map_err(|m| {
                        Error::Env(crate::env::EnvError::Start(format!("warm-up: {m}")))
                    })?,
            )
        }
        _ => None,
    };
    let reference = super::reference::conn_for(plan, c)?;
    let (tx, collector) = measure::channel(4096);
    let progress = Arc::new(Progress::default());
    let exposed = match plan.metrics {
        Some((addr, _)) => {
            let shard = &plan.fleet.shard;
            let m = Arc::new(measure::expose::ToolMetrics::for_run(
                &plan.run_id,
                &format!("{}/{}", shard.index, shard.count),
            ));
            let server = measure::expose::serve(addr, m.clone(), progress.clone())
                .await
                .map_err(|e| {
                    Error::Usage(UsageError::Value {
                        flag: "--metrics-addr",
                        value: addr.to_string(),
                        expected: e.to_string(),
                    })
                })?;
            tracing::info!("serving the tool's metrics on http://{addr}/metrics");
            Some((m, server))
        }
        None => None,
    };
    // Before the first scrape: kube-apiserver's webhook counters start after the probes.
    let webhooks = match (&plan.webhooks, &c.admin) {
        (Some(w), Some(admin)) => Some(crate::webhook::start(w, &plan.fleet, admin).await?),
        _ => None,
    };
    let (observe_done, observe_rx) = tokio::sync::watch::channel(scrape::Finish::Running);
    let (baseline_taken, baseline) = tokio::sync::oneshot::channel();
    let etcd_version = super::run_checks::etcd_metrics_check(plan, c).await;
    let scraper = match plan.observe.interval {
        None => None,
        Some(interval) => Some((
            interval,
            Box::pin(super::observed_sources::observed_sources(
                plan, c, prometheus,
            ))
            .await,
        )),
    };
    let scraper = scraper.map(|(interval, sources)| {
        tokio::spawn(scrape::run(
            sources,
            interval,
            plan.observe.memory_settle,
            baseline_taken,
            observe_rx,
        ))
    });
    // The load starts after the first snapshot, so that it is a baseline without any of
    // the load in it (a Prometheus snapshot waits for a fresh sample first).
    if scraper.is_some() {
        let _ = baseline.await;
    }
    let collector = tokio::spawn(collector.run_exposed(
        progress.clone(),
        tokio::time::Instant::now(),
        exposed.as_ref().map(|e| e.0.clone()),
    ));
    if let Some((m, _)) = &exposed {
        observer.set_sink(m.clone());
    }
    observer.restart_phase();
    let memory_watch = c
        .apiserver_watch()
        .map(|w| super::apiserver_oom::MemoryWatcher::start(w, handle.clone()));
    let (t0, load_started_at) = (Instant::now(), chrono::Utc::now());
    let (cluster_progress, reader) = (progress.clone(), load.first().cloned());
    let cluster_run = c.etcd_control().map(|ctl| {
        super::etcd_faults::start(ctl, plan.faults.clone(), c.etcd_rtt_ms(), progress.clone())
    });
    let mut outcome = super::driver::run(
        plan,
        load,
        tx,
        stop.clone(),
        handle.clone(),
        progress,
        reference,
        &observer,
    )
    .await;
    let memory_watched = match memory_watch {
        Some(w) => Some((
            super::apiserver_oom::limit_of(&w.watch, &plan.fleet),
            w.finish().await,
        )),
        None => None,
    };
    if let Some(r) = &cluster_run {
        r.end_load();
    }
    let generator = crate::report::generator::summarize(observer.finish());
    let load_seconds = t0.elapsed().as_secs_f64();
    let webhooks = match (webhooks, &c.admin) {
        (Some(w), Some(admin)) => Some(w.finish(admin).await),
        _ => None,
    };
    let outcome_histograms = std::mem::take(&mut outcome.histograms);
    if let Some(e) = outcome.reference_error.take() {
        let _ = observe_done.send(scrape::Finish::Now);
        return Err(Error::Env(crate::env::EnvError::Start(e.to_string())));
    }
    // A load that ended normally settles before the apiserver's end memory is taken.
    let _ = observe_done.send(match stop.reason() {
        None => scrape::Finish::Settle,
        Some(_) => scrape::Finish::Now,
    });
    let observed = match scraper {
        Some(s) => Some(s.await.map_err(crate::error::task("scraper"))?),
        None => None,
    };
    let duration = t0.elapsed();
    drop(handle);
    let measurements = collector.await.map_err(crate::error::task("collector"))?;

    if let (Some((_, server)), Some((_, linger))) = (exposed, plan.metrics) {
        tokio::time::sleep(linger).await;
        server.abort();
    }
    let read =
        stop.reason().is_none() && plan.phases.delete.is_none() && plan.phases.churn.is_none();
    let etcd_cluster = match cluster_run {
        Some(r) => Some(
            r.finish_reading_back(reader.as_ref(), &plan.fleet, &cluster_progress, read)
                .await,
        ),
        None => None,
    };
    let (operations, totals) = summary::operations(&measurements);
    let mut controllers = outcome.controllers;
    discount_client_wait(&mut controllers, &operations);
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
    let webhooks = match (webhooks, &plan.webhooks) {
        (Some((served, removal)), Some(p)) => Some(crate::report::webhooks::summarize(
            p,
            served,
            removal.map(|e| e.to_string()),
            observed.as_ref().map(|o| o.admission_webhooks.as_slice()),
            &operations
                .iter()
                .filter(|o| o.verb == "create")
                .map(|o| crate::report::webhooks::KindCreates {
                    kind: &o.kind,
                    sent: o.counts.sent,
                    failed: o.counts.failed,
                    p99_ms: o.latency_ms.p99,
                })
                .collect::<Vec<_>>(),
            load_seconds,
        )),
        _ => None,
    };
    let reason = stop.reason();
    let status = match reason {
        None => RunStatus::Completed,
        Some(StopReason::Interrupted) => RunStatus::Interrupted,
        Some(StopReason::TargetFailed(_) | StopReason::QuotaFull(_)) => RunStatus::Aborted,
    };
    let too_many = super::run_checks::too_many_failures(status, &totals, plan.max_failure_ratio);
    let apiserver_memory_limit = memory_watched.map(|(limit, w)| {
        crate::report::memory_limit::summarize(
            &limit,
            &w,
            &plan.fleet,
            super::apiserver_oom::acknowledged(&operations),
            status == RunStatus::Aborted,
        )
    });
    // An apiserver that died under its memory limit is why the target failed, whichever
    // symptom (its watcher, or the failed requests) stopped the run first.
    let reason = match (reason, apiserver_memory_limit.as_ref()) {
        (Some(StopReason::TargetFailed(_)), Some(m))
            if m.apiserver_exit.is_some()
                || m.outcome == crate::report::memory_limit::MemoryOutcome::OomKilled =>
        {
            Some(StopReason::TargetFailed(
                crate::report::memory_limit::stop_reason(m),
            ))
        }
        (r, _) => r,
    };
    let s = Summary {
        status: if too_many.is_some() {
            RunStatus::Failed
        } else {
            status
        },
        stop_reason: reason
            .as_ref()
            .map(|r| match r {
                StopReason::Interrupted => "interrupted by SIGINT/SIGTERM".to_string(),
                StopReason::TargetFailed(m) => format!("target failed: {m}"),
                StopReason::QuotaFull(m) => format!("quota full: {m}"),
            })
            .or_else(|| {
                too_many.map(|(ratio, max)| {
                    format!(
                        "{} of {} requests failed ({ratio:.1}%), more than --max-failure-ratio {max}%",
                        totals.failed, totals.sent
                    )
                })
            }),
        finished_at: chrono::Utc::now().to_rfc3339(),
        started_at: started_at.to_rfc3339(),
        duration_seconds: duration.as_secs_f64(),
        load_started_at: Some(load_started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        target: super::run_checks::with_etcd_version(c.info.clone(), etcd_version),
        phases: outcome.phases,
        controllers,
        watch: outcome.watch,
        observed,
        health,
        totals,
        operations,
        webhooks,
        generator: Some(generator),
        warm_up,
        apiserver_memory_limit,
        etcd_cluster,
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
    if let Some(path) = &plan.junit {
        let xml = crate::report::junit::render(&s, plan.fail_on);
        std::fs::write(path, xml).map_err(|e| Error::io(path, e))?;
    }
    match plan.output {
        crate::profile::Output::Markdown | crate::profile::Output::Archive => {
            print!("{}", table::render(&s));
            println!(
                "results: {} (summary.json, report.md, timeseries.csv, histograms)",
                plan.out_dir.display()
            );
            if plan.output == crate::profile::Output::Archive {
                print!("{}", archive_lines(plan)?);
            }
        }
        crate::profile::Output::Json => {
            let json = crate::error::to_json(&s)?;
            println!("{json}");
            tracing::info!("results: {}", plan.out_dir.display());
        }
        crate::profile::Output::Nothing => {}
    }
    if let Some((ratio, max)) = too_many {
        return Err(Error::TooManyFailures {
            failed: s.totals.failed,
            sent: s.totals.sent,
            ratio,
            max,
            dir: plan.out_dir.clone(),
        });
    }
    let worst = health::worst(&s.health);
    match (reason, plan.fail_on) {
        (None, Some(limit)) if worst >= limit => Err(Error::Unhealthy {
            level: format!("{worst:?}").to_lowercase(),
            dir: plan.out_dir.clone(),
        }),
        (reason, _) => finish(reason, s, plan),
    }
}

/// The results folder as archive lines, labelled by shard.
pub fn archive_lines(plan: &RunPlan) -> Result<String, Error> {
    let sh = &plan.fleet.shard;
    let label = if sh.is_whole() {
        plan.run_id.clone()
    } else {
        format!("{}-shard-{}-of-{}", plan.run_id, sh.index, sh.count)
    };
    crate::report::archive::encode(&plan.out_dir, &label).map_err(|e| Error::io(&plan.out_dir, e))
}

fn finish(reason: Option<StopReason>, s: Summary, plan: &RunPlan) -> Result<Summary, Error> {
    match reason {
        None => Ok(s),
        Some(StopReason::Interrupted) => Err(Error::Interrupted {
            dir: plan.out_dir.clone(),
        }),
        Some(StopReason::TargetFailed(_))
            if s.apiserver_memory_limit.as_ref().is_some_and(|m| {
                m.outcome == crate::report::memory_limit::MemoryOutcome::OomKilled
            }) =>
        {
            let m = s
                .apiserver_memory_limit
                .as_ref()
                .map(|m| (m.limit_bytes, m.clusters));
            let (limit, clusters) = m.unwrap_or_default();
            Err(Error::ApiserverOomKilled {
                limit_mib: limit / 1048576,
                clusters,
                dir: plan.out_dir.clone(),
            })
        }
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

fn empty_summary(plan: &RunPlan) -> Summary {
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
            etcd_version: None,
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
        webhooks: None,
        generator: None,
        warm_up: None,
        apiserver_memory_limit: None,
        etcd_cluster: None,
    }
}

/// Turns SIGINT/SIGTERM into a stop signal for as long as the returned task runs.
pub fn watch_signals(handle: StopHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        tracing::warn!(
            "interrupted: stopping; in-flight requests finish, then results are written"
        );
        handle.stop(StopReason::Interrupted);
    })
}

/// The concurrency breakpoint, N* = workers x period / reconcile duration, counts the time a
/// reconcile's calls spend in the worker's own client. That wait is what the client-QPS
/// breakpoint is made of: above N* (QPS) every worker waits on the token bucket, which
/// would make the concurrency bound look tighter than the client bound it only echoes.
/// Each controller's duration is taken without its calls' mean client wait (the pool's
/// steady-phase requests for the simulation, the reference controller's rate limiter).
/// Computed from the summary's own fields, so applying it again changes nothing.
pub(crate) fn discount_client_wait(
    controllers: &mut [summary::ControllerSummary],
    operations: &[summary::Operation],
) {
    let (n, total) =
        operations
            .iter()
            .filter(|o| o.phase == "steady")
            .fold((0u64, 0.0), |(n, t), o| {
                let c = o.throttle_wait_ms.count;
                (n + c, t + o.throttle_wait_ms.mean * c as f64)
            });
    let pool_wait_ms = if n > 0 { total / n as f64 } else { 0.0 };
    for c in controllers.iter_mut() {
        let wait_ms = c
            .reference
            .as_ref()
            .map(|r| r.client_wait_ms.mean)
            .unwrap_or(pool_wait_ms);
        // Seconds a reconcile holds its worker besides the client's wait.
        let service =
            (c.reconcile_ms.mean - f64::from(c.calls_per_reconcile) * wait_ms).max(0.0) / 1000.0;
        // Per item: a Machine controller covers machines, not clusters.
        let per_cluster_items = (c.items as f64 / c.clusters.max(1) as f64).max(1.0);
        c.predicted_concurrency_breakpoint_clusters = (c.reconciles > 0 && service > 0.0)
            .then(|| c.concurrency as f64 * c.sync_period_seconds / service / per_cluster_items);
    }
}
