//! `capi-loadgen sweep <profile> --field F --values a,b,c | --range lo:hi:step`: one run per
//! value, then each metric's curve with its threshold crossing, its knee and (where the
//! profile's model gives one) the analytic prediction; `sweep.json`, `sweep.md` and one
//! SVG per curve in the sweep's folder.

use super::run::{execute, with_target};
use crate::cli::SweepArgs;
use crate::error::Error;
use crate::profile::{self, Overrides};
use crate::sweep::points::{curves, point_from, Curve, SweepPoint};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// `sweep.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepReport {
    /// The sweep's id (each point's run id is `<id>-p<n>`).
    pub sweep_id: String,
    /// The profile.
    pub profile: String,
    /// The swept field.
    pub field: String,
    /// One entry per value, in order.
    pub points: Vec<SweepPoint>,
    /// The curves with their breakpoints.
    pub curves: Vec<Curve>,
    /// Whether the sweep ran to its last value.
    pub complete: bool,
}

/// Parses `--values` or `--range` into the values to sweep (as written, for YAML).
pub fn values(list: Option<&str>, range: Option<&str>) -> Result<Vec<String>, Error> {
    match (list, range) {
        (Some(l), None) => {
            let v: Vec<String> = l
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if v.is_empty() {
                return Err(Error::Usage("--values: give at least one value".into()));
            }
            Ok(v)
        }
        (None, Some(r)) => {
            let parts: Vec<f64> = r
                .split(':')
                .map(|p| p.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| Error::Usage(format!("--range {r}: expected lo:hi:step numbers")))?;
            let [lo, hi, step] = parts[..] else {
                return Err(Error::Usage(format!("--range {r}: expected lo:hi:step")));
            };
            if !(step > 0.0 && hi >= lo) || (hi - lo) / step > 1000.0 {
                return Err(Error::Usage(format!(
                    "--range {r}: need step > 0, hi >= lo and at most 1000 points"
                )));
            }
            let n = ((hi - lo) / step + 1e-9).floor() as usize;
            let integral = [lo, hi, step].iter().all(|x| x.fract() == 0.0);
            Ok((0..=n)
                .map(|i| lo + step * i as f64)
                .map(|x| {
                    if integral {
                        format!("{}", x as i64)
                    } else {
                        format!("{x}")
                    }
                })
                .collect())
        }
        _ => Err(Error::Usage(
            "sweep: give exactly one of --values a,b,c or --range lo:hi:step".into(),
        )),
    }
}

/// Renders `sweep.md`.
pub fn markdown(r: &SweepReport) -> String {
    let mut o = format!(
        "# Sweep {} of `{}` over `{}`\n\n",
        r.sweep_id, r.field, r.profile
    );
    if !r.complete {
        o += "**Incomplete**: the sweep stopped before its last value.\n\n";
    }
    o += "| x | status | throttle wait p99 ms | queue wait p99 ms | missed periods | write p99 ms | 429 % | etcd db MiB | req/s |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
    let f = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
    for p in &r.points {
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {} | {} | {} | {:.2} | {} | {:.0} |",
            p.x,
            p.status,
            p.throttle_wait_p99_ms,
            f(p.queue_wait_p99_ms, 1),
            p.missed_periods
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            f(p.write_p99_ms, 1),
            p.rate_429_percent,
            f(p.db_size_bytes.map(|b| b / 1048576.0), 1),
            p.achieved_rps
        );
    }
    let predicted = r
        .points
        .iter()
        .filter_map(|p| p.predicted_breakpoint)
        .next();
    o += "\n## Breakpoints\n\n| metric | threshold | first crossing | knee | model prediction |\n|---|---:|---:|---:|---:|\n";
    for c in &r.curves {
        let x = |b: &crate::sweep::knee::Breakpoint| {
            b.x()
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "not reached in range".into())
        };
        let model = if c.metric == "queue_wait_p99"
            || c.metric == "missed_periods"
            || c.metric == "throttle_wait_p99"
        {
            predicted
                .map(|p| format!("{p:.0} (N* = QPS x period / calls)"))
                .unwrap_or_else(|| "-".into())
        } else {
            "-".into()
        };
        let t = if c.threshold.is_finite() {
            format!("{:.0} {}", c.threshold, c.unit)
        } else {
            "-".into()
        };
        let _ = writeln!(
            o,
            "| {} | {t} | {} | {} | {model} |",
            c.metric,
            x(&c.crossing),
            x(&c.knee)
        );
    }
    o += "\n";
    for c in &r.curves {
        let _ = writeln!(o, "![{}]({}.svg)\n", c.metric, c.metric);
    }
    o
}

fn write_all(dir: &Path, r: &SweepReport) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::io(p, e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(dir.join("sweep.json"), json + "\n").map_err(|e| io(dir, e))?;
    std::fs::write(dir.join("sweep.md"), markdown(r)).map_err(|e| io(dir, e))?;
    let predicted = r
        .points
        .iter()
        .filter_map(|p| p.predicted_breakpoint)
        .next();
    for c in &r.curves {
        let svg = crate::report::plot::svg(c, &r.field, predicted).map_err(Error::Internal)?;
        let p = dir.join(format!("{}.svg", c.metric));
        std::fs::write(&p, svg).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// Runs `sweep`.
pub async fn run(args: SweepArgs) -> Result<(), Error> {
    let vals = values(args.values.as_deref(), args.range.as_deref())?;
    let sweep_id = args
        .sweep_id
        .clone()
        .unwrap_or_else(|| format!("sw-{}", &crate::profile::new_run_id()[9..]));
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("sweep-{sweep_id}")));
    let mut report = SweepReport {
        sweep_id: sweep_id.clone(),
        profile: args.profile.display().to_string(),
        field: args.field.clone(),
        points: Vec::new(),
        curves: Vec::new(),
        complete: false,
    };
    for (i, v) in vals.iter().enumerate() {
        let x: f64 = v
            .parse()
            .map_err(|_| Error::Usage(format!("sweep value `{v}` is not a number")))?;
        let point_dir = dir.join(format!("p{i:02}-{v}"));
        let overrides = Overrides {
            run_id: Some(format!("{sweep_id}-p{i}")),
            out: Some(point_dir.clone()),
            kubeconfig: args.conn.kubeconfig.clone(),
            context: args.conn.context.clone(),
            etcd_endpoints: args.conn.etcd_endpoint.clone(),
            ..Default::default()
        };
        let plan = profile::load_with(&args.profile, &args.field, v, &overrides)?;
        println!(
            "sweep {sweep_id}: {} = {v} ({}/{})",
            args.field,
            i + 1,
            vals.len()
        );
        let result = with_target(&plan, async |c, h, s| execute(&plan, c, h, s).await).await;
        let summary = match result {
            Ok(s) => s,
            Err(Error::Interrupted { .. }) => {
                write_all(&dir, &report)?;
                return Err(Error::Interrupted { dir });
            }
            // A point whose target failed still wrote its results: they are a data point.
            Err(Error::TargetFailed { .. } | Error::QuotaFull { .. } | Error::Unhealthy { .. }) => {
                crate::report::Summary::read(&point_dir).map_err(|e| Error::io(&point_dir, e))?
            }
            Err(e) => return Err(e),
        };
        report.points.push(point_from(x, &summary));
        report.curves = curves(&report.points);
        write_all(&dir, &report)?;
    }
    report.complete = true;
    write_all(&dir, &report)?;
    print!("{}", markdown(&report));
    println!("sweep results: {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lists_and_ranges() {
        assert_eq!(values(Some("1, 2,3"), None).unwrap(), ["1", "2", "3"]);
        assert_eq!(
            values(None, Some("100:500:100")).unwrap(),
            ["100", "200", "300", "400", "500"]
        );
        assert_eq!(
            values(None, Some("0.5:1.5:0.5")).unwrap(),
            ["0.5", "1", "1.5"]
        );
        assert!(values(None, Some("5:1:1")).is_err());
        assert!(values(None, Some("1:2")).is_err());
        assert!(values(None, None).is_err());
        assert!(values(Some(""), None).is_err());
    }
}
