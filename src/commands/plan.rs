//! `capi-loadgen plan`: a sizing answer for a fleet from a calibration (see [`crate::plan`]).

use crate::cli::PlanArgs;
use crate::error::{Error, UsageError};
use crate::plan::{self, Calibration, FleetInput, PRESETS};

/// A flag's value `plan` cannot use.
fn bad(flag: &'static str, value: impl std::fmt::Display, expected: String) -> Error {
    UsageError::Value {
        flag,
        value: value.to_string(),
        expected,
    }
    .into()
}

/// Runs `plan`: prints the Markdown answer and writes `plan.md` + `plan.json` to `--out`.
pub fn run(args: PlanArgs) -> Result<(), Error> {
    let preset = PRESETS
        .into_iter()
        .find(|p| p.name == args.capi_version)
        .ok_or_else(|| {
            bad(
                "--capi-version",
                &args.capi_version,
                format!("one of {}", PRESETS.map(|p| p.name).join(", ")),
            )
        })?;
    let positive = |flag: &'static str, v: f64| -> Result<f64, Error> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(bad(flag, v, "must be a number > 0".into()))
        }
    };
    if args.clusters == 0 {
        return Err(bad("--clusters", 0, "plan at least one cluster".into()));
    }
    if args.machines_per_cluster == 0 || args.machines_per_cluster > 100_000 {
        return Err(bad(
            "--machines-per-cluster",
            args.machines_per_cluster,
            "between 1 and 100000".into(),
        ));
    }
    if !["namespace", "hash", "region"].contains(&args.sharding.as_str()) {
        return Err(bad(
            "--sharding",
            &args.sharding,
            "one of namespace, hash, region".into(),
        ));
    }
    if !(0.0..=1.0).contains(&args.margin) {
        return Err(bad("--margin", args.margin, "between 0 and 1".into()));
    }
    if !(args.churn_machines_per_hour.is_finite() && args.churn_machines_per_hour >= 0.0) {
        return Err(bad(
            "--churn-machines-per-hour",
            args.churn_machines_per_hour,
            "a number >= 0".into(),
        ));
    }
    let mut preset = preset;
    if let Some(q) = args.kube_api_qps {
        let q = positive("--kube-api-qps", q)?;
        preset.burst *= q / preset.qps;
        preset.qps = q;
    }
    if let Some(c) = args.cluster_concurrency {
        preset.cluster_concurrency = positive("--cluster-concurrency", c)?;
    }
    if let Some(t) = args.sync_period_seconds {
        preset.sync_period_seconds = positive("--sync-period-seconds", t)?;
    }
    let mut f = FleetInput::new(args.clusters, args.machines_per_cluster, preset);
    f.keep_flags = args.keep_flags;
    f.machine_deployments = args.machine_deployments;
    f.provider = args.provider.clone();
    f.churn_machines_per_hour = args.churn_machines_per_hour;
    f.calls_per_reconcile = positive("--calls-per-reconcile", args.calls_per_reconcile)?;
    f.writes_per_reconcile = positive("--writes-per-reconcile", args.writes_per_reconcile)?;
    f.reconcile_seconds = positive("--reconcile-seconds", args.reconcile_seconds)?;
    f.margin = args.margin;
    f.sharding = args.sharding.clone();
    let (c, from) = match &args.calibration {
        Some(dir) => (
            Calibration::from_dir(dir)?,
            format!("measured, from {}", dir.display()),
        ),
        None => (
            Calibration::reference(),
            format!(
                "measured, the reference shipped with capi-loadgen ({}; give --calibration <breakpoints results> for your own)",
                crate::plan::calibration::REFERENCE_PATH
            ),
        ),
    };
    let p = plan::plan(&f, &c, &from);
    let md = plan::render::markdown(&p);
    print!("{md}");
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let json = crate::error::to_json(&p)?;
        let pj = out.join("plan.json");
        std::fs::write(&pj, json + "\n").map_err(|e| Error::io(&pj, e))?;
        let pm = out.join("plan.md");
        std::fs::write(&pm, &md).map_err(|e| Error::io(&pm, e))?;
        println!("\nwritten: {} and {}", pm.display(), pj.display());
    }
    Ok(())
}
