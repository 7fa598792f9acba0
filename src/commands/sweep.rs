//! `capi-loadgen sweep <profile> --field F --values a,b,c | --range lo:hi:step`: one run per
//! value, then each metric's curve with its threshold crossing, its knee and (where the
//! profile's model gives one) the analytic prediction; `sweep.json`, `sweep.md` and one
//! SVG per curve in the sweep's folder.

use super::connect::Connected;
use super::run::{execute, with_target};
use crate::cli::SweepArgs;
use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::profile::{self, Overrides, Plan, SweepState};
use crate::report::Summary;
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
    /// What the points kept between them.
    #[serde(default)]
    pub state: SweepState,
    /// One entry per value, in order.
    pub points: Vec<SweepPoint>,
    /// The curves with their breakpoints.
    pub curves: Vec<Curve>,
    /// Whether the sweep ran to its last value.
    pub complete: bool,
}

/// Parses `--values` or `--range` into the values to sweep (as written, for YAML).
pub fn values(list: Option<&str>, range: Option<&str>) -> Result<Vec<String>, Error> {
    crate::sweep::values::parse(list, range).map_err(|m| Error::Usage(format!("sweep: {m}")))
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
    if r.state == SweepState::Accumulate {
        o += "State accumulates: one target for every point, each point adding the clusters the previous one did not create.\n\n";
    }
    o += "| x | status | throttle wait p99 ms | queue wait p99 ms | queue backlog | missed periods | write p99 ms | writes/s | 429 % | etcd db MiB | req/s |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    let f = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
    for p in &r.points {
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.2} | {} | {:.0} |",
            p.x,
            p.status,
            p.throttle_wait_p99_ms,
            f(p.queue_wait_p99_ms, 1),
            f(p.queue_backlog, 1),
            p.missed_periods
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            f(p.write_p99_ms, 1),
            f(p.writes_per_second, 0),
            p.rate_429_percent,
            f(p.db_size_bytes.map(|b| b / 1048576.0), 1),
            p.achieved_rps
        );
    }
    o += "\n## Breakpoints\n\n| metric | threshold | first crossing | knee | model prediction |\n|---|---:|---:|---:|---:|\n";
    for c in &r.curves {
        let x = |b: &crate::sweep::knee::Breakpoint| {
            b.x()
                .map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "not reached in range".into())
        };
        let model = match (c.prediction, &c.prediction_formula) {
            (Some(x), Some(f)) => format!("{x:.0} ({f})"),
            _ => "-".into(),
        };
        let t = if c.threshold.is_finite() {
            format!("{:.0} {}", c.threshold, c.unit)
        } else {
            "-".into()
        };
        let knee = match c.ceiling {
            Some(ceiling) if c.knee.x().is_some() => {
                format!("{} (flattens at {ceiling:.0} {})", x(&c.knee), c.unit)
            }
            _ => x(&c.knee),
        };
        let _ = writeln!(
            o,
            "| {} | {t} | {} | {knee} | {model} |",
            c.metric,
            x(&c.crossing),
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
    for c in &r.curves {
        let x_label = if c.metric == "write_throughput" {
            "offered writes/s"
        } else {
            r.field.as_str()
        };
        let svg = crate::report::plot::svg(c, x_label, c.prediction).map_err(Error::Internal)?;
        let p = dir.join(format!("{}.svg", c.metric));
        std::fs::write(&p, svg).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// One sweep to run: a profile (a file or a built-in text), a field and its values.
pub(crate) struct SweepSpec {
    /// The profile's path (named in errors and reports).
    pub source: PathBuf,
    /// The profile's text.
    pub text: String,
    /// Dotted field.
    pub field: String,
    /// Values as YAML scalars.
    pub values: Vec<String>,
    /// Reset or accumulate.
    pub state: SweepState,
    /// Sweep id.
    pub sweep_id: String,
    /// Results folder.
    pub dir: PathBuf,
    /// Connection overrides (kubeconfig, context, etcd endpoints).
    pub overrides: Overrides,
}

impl SweepSpec {
    fn plan(&self, i: usize, prev: Option<&str>) -> Result<Plan, Error> {
        let v = &self.values[i];
        let accumulate = self.state == SweepState::Accumulate;
        let overrides = Overrides {
            // Accumulating points share the run id: the objects the first point created
            // are the fleet of the next one (same names, same label).
            run_id: Some(if accumulate {
                self.sweep_id.clone()
            } else {
                format!("{}-p{i}", self.sweep_id)
            }),
            out: Some(self.dir.join(format!("p{i:02}-{v}"))),
            ..self.overrides.clone()
        };
        let mut plan = profile::parse_with(&self.source, &self.text, &self.field, v, &overrides)?;
        if accumulate {
            if let (Some(c), Some(p)) = (plan.phases.create.as_mut(), prev) {
                c.first_cluster = p.parse().unwrap_or(0);
            }
            if i + 1 < self.values.len() {
                plan.phases.delete = None;
            }
        }
        Ok(plan)
    }

    fn check(&self) -> Result<(), Error> {
        if self.state == SweepState::Accumulate {
            if self.field != "fleet.clusters" {
                return Err(Error::Usage(format!(
                    "sweep: state accumulate only applies to fleet.clusters, not {}",
                    self.field
                )));
            }
            crate::sweep::values::ascending(&self.values)
                .map_err(|m| Error::Usage(format!("sweep: {m}")))?;
        }
        for v in &self.values {
            v.parse::<f64>()
                .map_err(|_| Error::Usage(format!("sweep value `{v}` is not a number")))?;
        }
        Ok(())
    }
}

/// What became of one point.
enum Point {
    /// Measured; go on.
    Next(Summary),
    /// Measured, but the target broke (its summary is a data point): stop accumulating.
    Broken(Summary),
}

async fn point(plan: &Plan, c: &Connected, h: StopHandle, s: Stop) -> Result<Point, Error> {
    match execute(plan, c, h, s).await {
        Ok(s) => Ok(Point::Next(s)),
        // A point whose target failed still wrote its results: they are a data point.
        Err(Error::TargetFailed { .. } | Error::QuotaFull { .. } | Error::Unhealthy { .. }) => {
            let s = Summary::read(&plan.out_dir).map_err(|e| Error::io(&plan.out_dir, e))?;
            Ok(match s.status {
                crate::report::summary::RunStatus::Completed => Point::Next(s),
                _ => Point::Broken(s),
            })
        }
        Err(e) => Err(e),
    }
}

/// Runs a sweep, writing `sweep.json`, `sweep.md` and the plots after every point.
pub(crate) async fn sweep(spec: &SweepSpec) -> Result<SweepReport, Error> {
    spec.check()?;
    let mut report = SweepReport {
        sweep_id: spec.sweep_id.clone(),
        profile: spec.source.display().to_string(),
        field: spec.field.clone(),
        state: spec.state,
        points: Vec::new(),
        curves: Vec::new(),
        complete: false,
    };
    let n = spec.values.len();
    let record = |report: &mut SweepReport, i: usize, s: &Summary| -> Result<(), Error> {
        let x: f64 = spec.values[i].parse().unwrap_or(f64::NAN);
        report.points.push(point_from(x, s));
        report.curves = curves(&report.points);
        write_all(&spec.dir, report)
    };
    let announce = |i: usize| {
        println!(
            "sweep {}: {} = {} ({}/{n})",
            spec.sweep_id,
            spec.field,
            spec.values[i],
            i + 1
        )
    };
    let interrupted = |report: &SweepReport| -> Error {
        let _ = write_all(&spec.dir, report);
        Error::Interrupted {
            dir: spec.dir.clone(),
        }
    };
    if spec.state == SweepState::Accumulate {
        let plans = (0..n)
            .map(|i| spec.plan(i, i.checked_sub(1).map(|p| spec.values[p].as_str())))
            .collect::<Result<Vec<_>, _>>()?;
        let done = with_target(&plans[0], async |c: &Connected, h: StopHandle, s: Stop| {
            for (i, plan) in plans.iter().enumerate() {
                announce(i);
                match point(plan, c, h.clone(), s.clone()).await {
                    Ok(Point::Next(sum)) => record(&mut report, i, &sum)?,
                    Ok(Point::Broken(sum)) => {
                        record(&mut report, i, &sum)?;
                        return Ok(false);
                    }
                    Err(Error::Interrupted { .. }) => return Err(interrupted(&report)),
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        })
        .await?;
        report.complete = done;
    } else {
        // Every point's plan first: a bad value late in the list fails before any point runs.
        let plans = (0..n)
            .map(|i| spec.plan(i, None))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, plan) in plans.into_iter().enumerate() {
            announce(i);
            let r = with_target(&plan, async |c: &Connected, h: StopHandle, s: Stop| {
                point(&plan, c, h, s).await
            })
            .await;
            match r {
                Ok(Point::Next(sum) | Point::Broken(sum)) => record(&mut report, i, &sum)?,
                Err(Error::Interrupted { .. }) => return Err(interrupted(&report)),
                Err(e) => return Err(e),
            }
        }
        report.complete = true;
    }
    write_all(&spec.dir, &report)?;
    Ok(report)
}

/// Runs `sweep`.
pub async fn run(args: SweepArgs) -> Result<(), Error> {
    let text = std::fs::read_to_string(&args.profile)
        .map_err(|e| Error::Usage(format!("{}: cannot read: {e}", args.profile.display())))?;
    let overrides = super::connection_overrides(&args.conn);
    // The profile as written: its own mistakes, and its `sweep:` defaults.
    let base = profile::parse_str(&args.profile, &text, &overrides)?;
    let field = args
        .field
        .clone()
        .or(base.sweep.field.clone())
        .ok_or_else(|| {
            Error::Usage(format!(
                "sweep: give --field, or sweep.field in {}",
                args.profile.display()
            ))
        })?;
    let values = match (&args.values, &args.range, &base.sweep.values) {
        (None, None, Some(v)) => v.clone(),
        (None, None, None) => {
            return Err(Error::Usage(format!(
                "sweep: give --values or --range, or sweep.values / sweep.range in {}",
                args.profile.display()
            )))
        }
        (l, r, _) => values(l.as_deref(), r.as_deref())?,
    };
    let sweep_id = args
        .sweep_id
        .clone()
        .unwrap_or_else(|| format!("sw-{}", &crate::profile::new_run_id()[9..]));
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("sweep-{sweep_id}")));
    let spec = SweepSpec {
        source: args.profile.clone(),
        text,
        field,
        values,
        state: args.state.unwrap_or(base.sweep.state),
        sweep_id,
        dir,
        overrides,
    };
    let report = sweep(&spec).await?;
    print!("{}", markdown(&report));
    println!("sweep results: {}", spec.dir.display());
    Ok(())
}
