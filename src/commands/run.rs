//! `capi-loadgen run <profile>`: flags into a plan, then [`crate::runner`] runs it (or
//! streams it without sending for `--dry-run`).

use crate::cli::RunArgs;
use crate::error::{Error, UsageError};
use crate::profile::{self, Overrides, RunPlan, TargetPlan};
use crate::runner;
use crate::thresholds::Level;

fn print_plan(plan: &RunPlan) {
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
        "fleet: {} clusters in {} namespaces, {} objects ({} per cluster), provider {} {}{}, {} {}",
        f.clusters,
        f.namespace_count(),
        f.total_objects(),
        f.objects_in_cluster(),
        f.provider.as_str(),
        f.provider_api_version.as_str(),
        if plan.discover_provider_version && !plan.install_crds {
            " (or what the target serves)"
        } else {
            ""
        },
        f.api_group,
        f.capi_version.as_str()
    );
    for (k, n) in f.objects_per_cluster() {
        println!("  {:<30} {n} per cluster", k.label());
    }
    if f.topology {
        for (k, n) in f.objects_per_namespace() {
            println!("  {:<30} {n} per namespace", k.label());
        }
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
        etcd_metrics_url: args.conn.etcd_metrics_url.clone(),
        prometheus_url: args.conn.prometheus_url.clone(),
        webhook_host: args.conn.webhook_host.clone(),
        kubeconfig_env: super::kubeconfig_env(),
        output: match args.output {
            crate::cli::OutputFormat::Markdown => profile::Output::Markdown,
            crate::cli::OutputFormat::Json => profile::Output::Json,
            crate::cli::OutputFormat::Archive => profile::Output::Archive,
        },
        junit: args.junit.clone(),
        log_progress: Some(std::time::Duration::from_secs_f64(
            args.log_progress_seconds,
        )),
        out: args.out,
        metrics: args.metrics_addr.map(|a| {
            (
                a,
                std::time::Duration::from_secs_f64(args.metrics_linger_seconds.clamp(0.0, 3600.0)),
            )
        }),
        max_failure_ratio: Some(args.max_failure_ratio),
        fail_on: args.fail_on.map(|f| match f {
            crate::cli::FailOn::Warning => Level::Warning,
            crate::cli::FailOn::Degraded => Level::Degraded,
            crate::cli::FailOn::Critical => Level::Critical,
        }),
    };
    if !(0.0..=100.0).contains(&args.max_failure_ratio) {
        return Err(UsageError::Value {
            flag: "--max-failure-ratio",
            value: args.max_failure_ratio.to_string(),
            expected: "a percentage from 0 to 100".into(),
        }
        .into());
    }
    let mut plan = profile::load(&args.profile, &overrides)?;
    if let Some(shard) = args.shard {
        profile::shard::apply(&mut plan, shard, run_id_given, out_given)?;
    }
    let plan = plan;
    // kubectl's convention chose the target: the first line says so (stderr, so that
    // stdout stays machine-readable with --output json).
    if let TargetPlan::Kube {
        chosen: Some(why), ..
    } = &plan.target
    {
        eprintln!("{why}");
    }
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
        if let Some(c) = &plan.capi_controllers {
            println!("{}", crate::real_controllers::describe(&plan, c));
            println!("dry run: nothing started or sent");
            return Ok(());
        }
        print_plan(&plan);
        if args.plan_only {
            println!("dry run: plan only, nothing generated or sent");
            return Ok(());
        }
        let streamed = runner::dry_run::run(&plan.fleet, args.objects_out.as_deref()).await?;
        print!("{streamed}");
        if let Some(p) = &args.objects_out {
            println!("create bodies: {}", p.display());
        }
        return Ok(());
    }
    refuse_existing_results(&plan.out_dir)?;
    if plan.capi_controllers.is_some() {
        return crate::real_controllers::run(&plan).await.map(|_| ());
    }
    runner::run_plan(&plan, args.recover).await
}

/// A results folder that already holds a run's summary is never written over: two runs
/// with the same run id (the default folder is `results/<run id>`) or `--out` would mix
/// their files and their objects' labels.
fn refuse_existing_results(dir: &std::path::Path) -> Result<(), Error> {
    let held = ["summary.json", "capi-controllers.json"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists());
    if let Some(summary) = held {
        return Err(UsageError::Folder {
            command: "run",
            path: summary,
            why: "already holds a run's results; give another --run-id or --out (a run id is also the label of its objects, so it must be new)",
        }
        .into());
    }
    Ok(())
}
