//! `local.management_clusters: M`: the fleet split by namespace over M independent local
//! etcd + kube-apiserver pairs, run at the same time, each with its own client pool,
//! metrics and verdicts (results in `<out>/mc-<i>`), then merged into `<out>` with a
//! per-management-cluster table: the experiment that validates a `plan` of M management
//! clusters.

use super::execute::{execute, with_target};
use crate::error::{Error, UsageError};
use crate::model::Shard;
use crate::profile::{Output, RunPlan, TargetPlan};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `plan` over its management clusters; the merged summary is in `plan.out_dir`.
pub async fn run(plan: &RunPlan) -> Result<(), Error> {
    let m = plan.management_clusters;
    let TargetPlan::Local(opts) = &plan.target else {
        return Err(Error::Usage(UsageError::Combination(
            "local.management_clusters applies to the local environment only",
        )));
    };
    let plans: Vec<RunPlan> = (0..m)
        .map(|i| {
            let mut p = plan.clone();
            crate::profile::shard::apply(&mut p, Shard { index: i, count: m }, true, true)?;
            p.out_dir = plan.out_dir.join(format!("mc-{i}"));
            let mut o = opts.clone();
            if !o.state_dir.as_os_str().is_empty() {
                o.state_dir = o.state_dir.join(format!("mc-{i}"));
            }
            p.target = TargetPlan::Local(o);
            // Each management cluster's table is printed; JSON is the merged summary only.
            match p.output {
                Output::Json => p.output = Output::Nothing,
                Output::Archive => p.output = Output::Markdown,
                _ => {}
            }
            p.junit = None;
            Ok(p)
        })
        .collect::<Result<_, Error>>()?;
    say(
        plan,
        format!("{m} management clusters: one local etcd + kube-apiserver each, the fleet split by namespace; results in {}/mc-<i>",
        plan.out_dir.display()
    ));
    // The loads start together once every environment is up: no management cluster's load
    // runs beside another's apiserver start-up, and none is skipped if one fails to start.
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(m as usize));
    let start_failed = std::sync::Arc::new(AtomicBool::new(false));
    let runs = plans.iter().map(|p| {
        let (gate, start_failed) = (gate.clone(), start_failed.clone());
        async move {
            let mut started = false;
            let result = with_target(p, async |c, handle, mut stop| {
                started = true;
                tokio::select! {
                    _ = gate.wait() => {}
                    _ = stop.stopped() => {}
                }
                if start_failed.load(Ordering::SeqCst) {
                    // The failing environment's error is the one reported.
                    return Ok(());
                }
                execute(p, c, handle, stop).await.map(|_| ())
            })
            .await;
            if !started {
                start_failed.store(true, Ordering::SeqCst);
                gate.wait().await;
            }
            result
        }
    });
    let results = futures::future::join_all(runs).await;
    let dirs: Vec<PathBuf> = plans
        .iter()
        .map(|p| p.out_dir.clone())
        .filter(|d| d.join("summary.json").exists())
        .collect();
    if !dirs.is_empty() {
        let (s, out) = crate::report::merge::merge_dirs(&dirs, Some(&plan.out_dir), true, true)?;
        say(plan, format!(
            "all {m} management clusters: {} clusters, {} sent, {} ok, {} failed, {} throttled; merged results: {} (per management cluster: report.md, mc-<i>/)",
            s.fleet.clusters, s.totals.sent, s.totals.ok, s.totals.failed, s.totals.throttled, out.display()
        ));
        if plan.output == Output::Json {
            let json = crate::error::to_json(&s)?;
            println!("{json}");
        }
        if plan.output == Output::Archive {
            print!("{}", super::execute::archive_lines(plan)?);
        }
        if let Some(path) = &plan.junit {
            std::fs::write(path, crate::report::junit::render(&s, plan.fail_on))
                .map_err(|e| Error::io(path, e))?;
        }
    }
    // The first failure decides the exit code; the others were printed by their runs.
    results
        .into_iter()
        .collect::<Result<Vec<()>, Error>>()
        .map(|_| ())
}

/// A line for the reader: stdout, or stderr when stdout carries JSON.
fn say(plan: &RunPlan, line: String) {
    match plan.output {
        Output::Json | Output::Nothing => eprintln!("{line}"),
        Output::Markdown | Output::Archive => println!("{line}"),
    }
}
