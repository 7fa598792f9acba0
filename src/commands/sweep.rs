//! `capi-loadgen sweep <profile> --field F --values a,b,c | --range lo:hi:step`: one run per
//! value (see [`crate::experiments::sweep`]); prints `sweep.md`.

use crate::cli::SweepArgs;
use crate::error::{Error, UsageError};
use crate::experiments::sweep::{sweep, SweepSpec};
use crate::profile;
use crate::sweep::file::markdown;
use std::path::PathBuf;

/// Runs `sweep`.
pub async fn run(args: SweepArgs) -> Result<(), Error> {
    let text = std::fs::read_to_string(&args.profile).map_err(|source| UsageError::Read {
        command: "sweep",
        path: args.profile.clone(),
        source,
    })?;
    let overrides = profile::Overrides {
        kubeconfig_env: super::kubeconfig_env(),
        ..super::connection_overrides(&args.conn)
    };
    // The profile as written: its own mistakes, and its `sweep:` defaults.
    let base = profile::parse_str(&args.profile, &text, &overrides)?;
    if let profile::TargetPlan::Kube {
        chosen: Some(why), ..
    } = &base.target
    {
        eprintln!("{why}");
    }
    let field = args
        .field
        .clone()
        .or(base.sweep.field.clone())
        .ok_or_else(|| UsageError::SweepMissing {
            what: "--field, or sweep.field",
            profile: args.profile.clone(),
        })?;
    let values = match (&args.values, &args.range, &base.sweep.values) {
        (None, None, Some(v)) => v.clone(),
        (None, None, None) => {
            return Err(UsageError::SweepMissing {
                what: "--values or --range, or sweep.values / sweep.range",
                profile: args.profile.clone(),
            }
            .into())
        }
        (l, r, _) => crate::sweep::values::parse(l.as_deref(), r.as_deref())?,
    };
    let sweep_id = args
        .sweep_id
        .clone()
        .unwrap_or_else(|| format!("sw-{}", &crate::profile::new_run_id()[9..]));
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("sweep-{sweep_id}")));
    if base.capi_controllers.is_some() {
        crate::real_controllers::sweep(&args.profile, &text, &field, &values, &dir, &overrides)
            .await?;
        return Ok(());
    }
    let spec = SweepSpec {
        source: args.profile.clone(),
        text,
        field,
        values,
        state: args.state.unwrap_or(base.sweep.state),
        sweep_id,
        dir,
        overrides,
        controller: None,
    };
    if let Some(list) = &args.versions {
        let versions = crate::experiments::versions::parse_versions(list)?;
        let r = crate::experiments::versions::sweep_versions(&spec, &versions).await?;
        print!("{}", crate::experiments::versions::report::markdown(&r));
        println!("sweep results: {}", spec.dir.display());
        return Ok(());
    }
    if let Some(c) = args.controller {
        return crate::experiments::controller_comparison::run(spec, c, args.reuse_complete).await;
    }
    let report = sweep(&spec).await?;
    print!("{}", markdown(&report));
    println!("sweep results: {}", spec.dir.display());
    Ok(())
}
