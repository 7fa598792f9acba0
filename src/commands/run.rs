//! `capi-loadgen run <profile>`: set up the target, create the fleet, write the results.

use crate::cli::RunArgs;
use crate::engine::create::{self, PhaseContext, Progress};
use crate::engine::pool::ClientPool;
use crate::engine::{stop_signal, StopReason};
use crate::env::{LocalEnv, LocalOptions};
use crate::error::Error;
use crate::measure;
use crate::model::{self, FleetSpec};
use crate::profile::{self, Overrides, Plan, TargetPlan};
use crate::report::summary::{
    self, ClientInfo, FleetInfo, ProfileInfo, RunStatus, Summary, TargetInfo, ToolInfo,
};
use crate::report::table;
use crate::target::kube::KubeTarget;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connected target: the load clients, an admin client for set-up, and what to report.
struct Connected {
    load: Vec<KubeTarget>,
    admin: KubeTarget,
    info: TargetInfo,
    env: Option<LocalEnv>,
    /// The state directory was made for this run only (removed afterwards).
    ephemeral_state: bool,
}

async fn connect(plan: &Plan) -> Result<Connected, Error> {
    let timeout = plan.client.timeout;
    match &plan.target {
        TargetPlan::Local(opts) => {
            let mut opts: LocalOptions = opts.clone();
            let ephemeral_state = opts.state_dir.as_os_str().is_empty();
            if ephemeral_state {
                opts.state_dir = std::env::temp_dir().join(format!("capi-loadgen-{}", plan.run_id));
            }
            tracing::info!(state_dir = %opts.state_dir.display(), "starting the local environment");
            let env = LocalEnv::start(&opts).await?;
            let kc = env.info.kubeconfig.clone();
            let admin = KubeTarget::from_kubeconfig(
                Some(&kc),
                Some(crate::env::local::ADMIN_CONTEXT),
                timeout,
            )
            .await?;
            let mut load = Vec::with_capacity(plan.client.pool_size);
            for _ in 0..plan.client.pool_size {
                load.push(
                    KubeTarget::from_kubeconfig(
                        Some(&kc),
                        Some(crate::env::local::LOAD_CONTEXT),
                        timeout,
                    )
                    .await?,
                );
            }
            let info = TargetInfo {
                kind: "local".into(),
                endpoint: env.info.apiserver_url.clone(),
                server_version: env.info.apiserver_version.to_string(),
            };
            Ok(Connected {
                load,
                admin,
                info,
                env: Some(env),
                ephemeral_state,
            })
        }
        TargetPlan::Kube {
            kubeconfig,
            context,
        } => {
            let mk =
                || KubeTarget::from_kubeconfig(kubeconfig.as_deref(), context.as_deref(), timeout);
            let admin = mk().await?;
            let server_version = admin.check().await?;
            let mut load = Vec::with_capacity(plan.client.pool_size);
            for _ in 0..plan.client.pool_size {
                load.push(mk().await?);
            }
            let info = TargetInfo {
                kind: "kube".into(),
                endpoint: crate::target::Target::endpoint(&admin),
                server_version,
            };
            Ok(Connected {
                load,
                admin,
                info,
                env: None,
                ephemeral_state: false,
            })
        }
    }
}

fn fleet_info(f: &FleetSpec) -> FleetInfo {
    FleetInfo {
        clusters: f.clusters,
        namespaces: f.namespace_count(),
        objects_planned: f.total_objects(),
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
    let qps = plan
        .client
        .qps
        .map(|q| format!("{q}"))
        .unwrap_or_else(|| "unlimited".into());
    println!(
        "client: {} x (qps {qps}, burst {}), create concurrency {}; target: {}",
        plan.client.pool_size,
        plan.client.burst,
        plan.create_concurrency,
        match &plan.target {
            TargetPlan::Local(_) =>
                "local (etcd + kube-apiserver started on 127.0.0.1)".to_string(),
            TargetPlan::Kube {
                kubeconfig,
                context,
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
    let overrides = Overrides {
        run_id: args.run_id,
        clusters: args.clusters,
        kubeconfig: args.conn.kubeconfig,
        context: args.conn.context,
        state_dir: args.state_dir,
        out: args.out,
    };
    let plan = profile::load(&args.profile, &overrides)?;
    if args.dry_run {
        print_plan(&plan);
        println!("dry run: nothing sent");
        return Ok(());
    }
    let (handle, mut stop) = stop_signal();
    let signals = super::watch_signals(handle.clone());
    let started_at = chrono::Utc::now();
    let connected = tokio::select! {
        c = connect(&plan) => c,
        _ = stop.stopped() => Err(Error::Interrupted { dir: plan.out_dir.clone() }),
    };
    let mut connected = match connected {
        Ok(c) => c,
        Err(e) => {
            signals.abort();
            return Err(e);
        }
    };
    let result = load_phases(&plan, &connected, handle, stop, started_at).await;
    signals.abort();
    if let Some(env) = connected.env.as_mut() {
        env.stop().await;
        if connected.ephemeral_state {
            let _ = std::fs::remove_dir_all(&env.info.state_dir);
        }
    }
    result
}

async fn load_phases(
    plan: &Plan,
    c: &Connected,
    handle: crate::engine::StopHandle,
    stop: crate::engine::Stop,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    if plan.install_crds {
        c.admin
            .install_crds(&model::crds(&plan.fleet))
            .await
            .map_err(Error::from)?;
    }
    let fleet = Arc::new(plan.fleet.clone());
    let pool = Arc::new(ClientPool::new(c.load.clone(), &plan.client));
    let (tx, collector) = measure::channel(4096);
    let collector = tokio::spawn(collector.run());
    let progress = Arc::new(Progress::default());
    let ctx = PhaseContext {
        pool,
        samples: tx,
        stop: stop.clone(),
        progress: progress.clone(),
        max_retries: plan.client.max_retries,
    };

    let bar =
        ProgressBar::with_draw_target(Some(fleet.total_objects()), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {pos}/{len} objects {per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("create");
    let ticker = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.done.load(Ordering::Relaxed));
                let failed = progress.failed.load(Ordering::Relaxed);
                if failed > 0 {
                    bar.set_message(format!("{failed} failed"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let t0 = Instant::now();
    create::create_namespaces(&fleet, &ctx, plan.create_concurrency).await;
    create::create_clusters(&fleet, &ctx, plan.create_concurrency).await;
    let duration = t0.elapsed();
    drop(ctx);
    ticker.abort();
    bar.set_position(progress.done.load(Ordering::Relaxed));
    bar.finish_and_clear();
    drop(handle);
    let measurements = collector
        .await
        .map_err(|e| Error::Internal(format!("collector: {e}")))?;

    let (operations, totals) = summary::operations(&measurements);
    let reason = stop.reason();
    let status = match reason {
        None => RunStatus::Completed,
        Some(StopReason::Interrupted) => RunStatus::Interrupted,
        Some(StopReason::TargetFailed(_)) => RunStatus::Aborted,
    };
    let s = Summary {
        status,
        stop_reason: reason.as_ref().map(|r| format!("{r:?}")),
        finished_at: chrono::Utc::now().to_rfc3339(),
        started_at: started_at.to_rfc3339(),
        duration_seconds: duration.as_secs_f64(),
        target: c.info.clone(),
        totals,
        operations,
        ..empty_summary(plan)
    };
    s.write(&plan.out_dir)
        .map_err(|e| Error::io(&plan.out_dir, e))?;
    print!("{}", table::render(&s));
    println!("results: {}", plan.out_dir.join("summary.json").display());
    match reason {
        None => Ok(()),
        Some(StopReason::Interrupted) => Err(Error::Interrupted {
            dir: plan.out_dir.clone(),
        }),
        Some(StopReason::TargetFailed(r)) => Err(Error::TargetFailed {
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
            create_concurrency: plan.create_concurrency,
        },
        totals: Default::default(),
        operations: Vec::new(),
    }
}
