//! `capi-loadgen breakpoints`: one experiment per documented bottleneck (see
//! [`crate::experiments::suite`]); prints the summary table.

use crate::cli::BreakpointsArgs;
use crate::error::{Error, UsageError};
use crate::experiments::suite::{run_suite, SuiteOptions, MAX_RUN_ID};
use crate::profile;
use crate::report::breakpoints::{markdown, Bottleneck};
use std::path::PathBuf;

/// Runs `breakpoints`.
pub async fn run(args: BreakpointsArgs) -> Result<(), Error> {
    let only: Vec<Bottleneck> = match &args.only {
        None => Bottleneck::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| {
                Bottleneck::parse(s.trim()).ok_or_else(|| UsageError::Value {
                    flag: "--only",
                    value: format!("`{}`", s.trim()),
                    expected: format!(
                        "not one of {}",
                        Bottleneck::ALL.map(Bottleneck::id).join(", ")
                    ),
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("bp-{}", &profile::new_run_id()[9..]));
    if run_id.len() > MAX_RUN_ID {
        return Err(UsageError::Value {
            flag: "--run-id",
            value: run_id,
            expected: format!(
                "at most {MAX_RUN_ID} characters (the experiments' run ids add a suffix)"
            ),
        }
        .into());
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&run_id));
    let options = SuiteOptions {
        run_id,
        dir: dir.clone(),
        overrides: super::connection_overrides(&args.conn),
        kube: args.conn.kubeconfig.is_some() || args.conn.context.is_some(),
        etcd: !args.conn.etcd_endpoint.is_empty(),
        only,
    };
    if let Some(list) = &args.versions {
        let versions = crate::experiments::versions::parse_versions(list)?;
        let started = std::time::Instant::now();
        let r = crate::experiments::versions::suite_versions(options, &versions).await?;
        print!("{}", crate::experiments::versions::report::markdown(&r));
        println!(
            "breakpoints results: {} ({:.0} s)",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let report = run_suite(options).await?;
    print!("{}", markdown(&report).split("\n## ").next().unwrap_or(""));
    println!(
        "breakpoints results: {} ({:.0} s)",
        dir.display(),
        report.duration_seconds
    );
    Ok(())
}
