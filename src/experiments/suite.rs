//! The breakpoints suite: the selected rows of [`REGISTRY`] in the table's
//! order, each an experiment of its own folder, then `breakpoints.json` + `breakpoints.md`
//! with the documented value, the model's prediction, the measurement and its plots.

use super::context::{skipped, Suite};
use super::{Experiment, REGISTRY};
use crate::error::Error;
use crate::profile::{self, Overrides};
use crate::report::breakpoints::{
    markdown, Bottleneck, BreakpointsReport, Row, RowStatus, SCHEMA_VERSION,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Longest suite run id: each experiment's run ids add a suffix of up to 8 characters
/// ("-conc-p6") to the 24 characters a run id may have.
pub const MAX_RUN_ID: usize = 16;

/// What the suite runs, and where.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The suite's run id (at most [`MAX_RUN_ID`] characters).
    pub run_id: String,
    /// Results folder.
    pub dir: PathBuf,
    /// Connection overrides (kubeconfig, context, etcd endpoints, safety guard).
    pub overrides: Overrides,
    /// A kubeconfig or context was named.
    pub kube: bool,
    /// etcd endpoints were named.
    pub etcd: bool,
    /// The experiments to run; the others are reported as skipped.
    pub only: Vec<Bottleneck>,
}

fn write_all(dir: &Path, r: &BreakpointsReport) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::io(p, e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let json = crate::error::to_json(r)?;
    let p = dir.join("breakpoints.json");
    std::fs::write(&p, json + "\n").map_err(|e| io(&p, e))?;
    let p = dir.join("breakpoints.md");
    std::fs::write(&p, markdown(r)).map_err(|e| io(&p, e))
}

/// On a named target, deletes what the row's runs left (by their run-id labels) and says
/// so; a cleanup that fails is said in the row's note and on stderr, since the next row
/// would measure on top of it.
async fn clean_after_row(suite: &Suite, e: &dyn Experiment, r: &mut Row) {
    let b = e.id();
    let (path, text) = e.profile();
    let result = match profile::parse_str(std::path::Path::new(path), text, &suite.overrides) {
        Ok(plan) => {
            super::row_cleanup::clean_suite_runs(&plan.target, &plan.fleet.api_group, &suite.run_id)
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(line) => println!("breakpoints {}: {b}: {line}", suite.run_id),
        Err(e) => {
            eprintln!(
                "breakpoints {}: {b}: cleanup after the row failed ({e}): the next rows measure on top of its objects; run `capi-loadgen cleanup --all-runs` on the target",
                suite.run_id
            );
            r.measured_note = format!("{} Cleanup after the row failed: {e}.", r.measured_note)
                .trim()
                .to_string();
        }
    }
}

/// Runs the suite: the selected experiments in [`REGISTRY`]'s order, writing
/// `breakpoints.json` and `breakpoints.md` after each; an interrupted suite is written
/// before [`Error::Interrupted`] is returned.
pub async fn run_suite(o: SuiteOptions) -> Result<BreakpointsReport, Error> {
    let (run_id, dir, kube, etcd) = (o.run_id.clone(), o.dir.clone(), o.kube, o.etcd);
    let suite = Suite {
        run_id: run_id.clone(),
        dir: dir.clone(),
        overrides: o.overrides,
        local: !kube && !etcd,
        kube,
        etcd,
    };
    let t0 = Instant::now();
    let mut report = BreakpointsReport {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        started_at: chrono::Utc::now().to_rfc3339(),
        duration_seconds: 0.0,
        target: match (kube, etcd) {
            (false, false) => "the local environment (one per experiment)".into(),
            (true, false) => "the named kubeconfig".into(),
            (false, true) => "the named etcd".into(),
            (true, true) => "the named kubeconfig and etcd".into(),
        },
        rows: Vec::new(),
        complete: true,
    };
    for e in REGISTRY {
        let b = e.id();
        if !o.only.contains(&b) {
            report.rows.push(skipped(e, "not selected (--only)"));
            continue;
        }
        println!("breakpoints {run_id}: {b}");
        let started = Instant::now();
        let result = match e.needs().unmet(&suite) {
            Some(why) => Ok(skipped(e, why)),
            None => e.run(&suite).await,
        };
        let mut r = match result {
            Ok(r) => r,
            Err(Error::Interrupted { .. }) => {
                let mut r = e.row();
                r.status = RowStatus::Failed;
                r.measured_note = "Interrupted.".into();
                report.rows.push(r);
                report.complete = false;
                report.duration_seconds = t0.elapsed().as_secs_f64();
                write_all(&dir, &report)?;
                return Err(Error::Interrupted { dir });
            }
            // The target itself is wrong: every other row would fail the same way.
            Err(e @ (Error::Usage(_) | Error::Profile(_) | Error::Target(_) | Error::Env(_))) => {
                report.duration_seconds = t0.elapsed().as_secs_f64();
                write_all(&dir, &report)?;
                return Err(e);
            }
            Err(err) => {
                let mut r = e.row();
                r.status = RowStatus::Failed;
                r.measured_note = format!("Failed: {err}.");
                r
            }
        };
        if !suite.local && r.status != RowStatus::Skipped {
            clean_after_row(&suite, e, &mut r).await;
        }
        r.seconds = started.elapsed().as_secs_f64();
        if r.status == RowStatus::Failed {
            report.complete = false;
        }
        report.rows.push(r);
        report.duration_seconds = t0.elapsed().as_secs_f64();
        write_all(&dir, &report)?;
    }
    report.duration_seconds = t0.elapsed().as_secs_f64();
    write_all(&dir, &report)?;
    Ok(report)
}
