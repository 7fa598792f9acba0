//! Running a sweep: one run per value of one profile field, then each metric's curve with
//! its threshold crossing, its knee and (where the profile's model gives one) the analytic
//! prediction; `sweep.json`, `sweep.md` and one SVG per curve in the sweep's folder, written
//! after every point.

use crate::engine::{Stop, StopHandle};
use crate::error::{Error, UsageError};
use crate::profile::{self, Overrides, RunPlan};
use crate::report::Summary;
use crate::runner::Connected;
use crate::runner::{execute, with_target};
use crate::sweep::file::markdown;
use crate::sweep::points::SweepPoint;
use crate::sweep::{SweepReport, SweepState};
use std::path::{Path, PathBuf};

fn write_all(dir: &Path, r: &SweepReport) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::io(p, e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let json = crate::error::to_json(r)?;
    std::fs::write(dir.join("sweep.json"), json + "\n").map_err(|e| io(dir, e))?;
    std::fs::write(dir.join("sweep.md"), markdown(r)).map_err(|e| io(dir, e))?;
    for c in &r.curves {
        let x_label = if c.metric == "write_throughput" {
            "offered writes/s"
        } else {
            r.field.as_str()
        };
        let svg = crate::report::plot::svg(c, x_label, c.prediction)?;
        let p = dir.join(format!("{}.svg", c.metric));
        std::fs::write(&p, svg).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// One sweep to run: a profile (a file or a built-in text), a field and its values.
pub struct SweepSpec {
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
    /// The steady phase's controller at every point (None: the profile's).
    pub controller: Option<crate::profile::ControllerKind>,
}

impl SweepSpec {
    /// The results folder of point `i` (`p00-<value>`, …).
    pub fn point_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("p{i:02}-{}", self.values[i]))
    }

    fn plan(&self, i: usize, prev: Option<&str>) -> Result<RunPlan, Error> {
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
            out: Some(self.point_dir(i)),
            ..self.overrides.clone()
        };
        let mut plan = profile::parse_with(&self.source, &self.text, &self.field, v, &overrides)?;
        if let (Some(c), Some(s)) = (self.controller, plan.phases.steady.as_mut()) {
            s.controller = c;
        }
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
        use crate::sweep::values::ValuesError;
        let bad = |e: ValuesError| Error::Usage(UsageError::Sweep(e));
        if self.state == SweepState::Accumulate {
            if self.field != "fleet.clusters" {
                return Err(bad(ValuesError::AccumulateField(self.field.clone())));
            }
            crate::sweep::values::ascending(&self.values).map_err(bad)?;
        }
        for v in &self.values {
            v.parse::<f64>()
                .map_err(|_| bad(ValuesError::NotANumber(v.clone())))?;
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

async fn point(plan: &RunPlan, c: &Connected, h: StopHandle, s: Stop) -> Result<Point, Error> {
    match execute(plan, c, h, s).await {
        Ok(s) => Ok(Point::Next(s)),
        // A point whose target failed still wrote its results: they are a data point.
        Err(
            Error::TargetFailed { .. }
            | Error::QuotaFull { .. }
            | Error::Unhealthy { .. }
            | Error::ApiserverOomKilled { .. },
        ) => {
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
pub async fn sweep(spec: &SweepSpec) -> Result<SweepReport, Error> {
    spec.check()?;
    let mut report = SweepReport {
        sweep_id: spec.sweep_id.clone(),
        profile: spec.source.display().to_string(),
        field: spec.field.clone(),
        state: spec.state,
        points: Vec::new(),
        curves: Vec::new(),
        complete: false,
        knee_bounds: Default::default(),
    };
    let n = spec.values.len();
    let record = |report: &mut SweepReport, i: usize, s: &Summary| -> Result<(), Error> {
        let x: f64 = spec.values[i].parse().unwrap_or(f64::NAN);
        report.points.push(point_from(x, s));
        report.derive();
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

/// The sweep already in `spec.dir` when it ran to its end over the same profile, field and
/// number of values, with its points taken again from their summaries (so the curves and
/// model lines are this version's); `None` when there is none to reuse.
pub fn rederive(spec: &SweepSpec) -> Option<SweepReport> {
    let text = std::fs::read_to_string(spec.dir.join("sweep.json")).ok()?;
    let mut r: SweepReport = serde_json::from_str(&text).ok()?;
    let same = r.complete
        && r.profile == spec.source.display().to_string()
        && r.field == spec.field
        && r.points.len() == spec.values.len()
        && r.points.iter().all(|p| p.status == "completed");
    if !same {
        return None;
    }
    for (i, p) in r.points.iter_mut().enumerate() {
        let mut s = Summary::read(&spec.point_dir(i)).ok()?;
        crate::runner::execute::discount_client_wait(&mut s.controllers, &s.operations);
        *p = point_from(p.x, &s);
    }
    r.derive();
    write_all(&spec.dir, &r).ok()?;
    Some(r)
}

/// Takes a point's metrics from its summary.
pub fn point_from(x: f64, s: &Summary) -> SweepPoint {
    let ctrl = s.controllers.first();
    let sent = s.totals.sent.max(1) as f64;
    SweepPoint {
        x,
        run_id: s.run_id.clone(),
        status: format!("{:?}", s.status).to_lowercase(),
        throttle_wait_p99_ms: s
            .operations
            .iter()
            .map(|o| o.throttle_wait_ms.p99)
            // The reference controller's requests are not the tool's: its rate limiter's wait.
            .chain(
                ctrl.and_then(|c| c.reference.as_ref())
                    .map(|r| r.client_wait_ms.p99),
            )
            .fold(0.0, f64::max),
        queue_wait_p99_ms: ctrl.map(|c| c.queue_wait_ms.p99),
        missed_periods: ctrl.map(|c| c.missed_periods),
        write_p99_ms: s
            .operations
            .iter()
            .filter(|o| o.phase == "create")
            .map(|o| o.latency_ms.p99)
            .reduce(f64::max),
        rate_429_percent: s.operations.iter().map(|o| o.responses_429).sum::<u64>() as f64 / sent
            * 100.0,
        db_size_bytes: s.observed.as_ref().and_then(|o| o.etcd_db_size_end),
        achieved_rps: if s.duration_seconds > 0.0 {
            s.totals.sent as f64 / s.duration_seconds
        } else {
            0.0
        },
        predicted_breakpoint: ctrl.and_then(|c| c.predicted_breakpoint_clusters),
        predicted_concurrency_breakpoint: ctrl
            .and_then(|c| c.predicted_concurrency_breakpoint_clusters),
        queue_backlog: ctrl.map(|c| c.unserved_reconciles),
        lag_p99_ms: ctrl.map(|c| c.lag_ms.p99),
        writes_per_second: s.phases.iter().find(|p| p.name == "create").and_then(|p| {
            let ok: u64 = s
                .operations
                .iter()
                .filter(|o| o.phase == "create")
                .map(|o| o.counts.ok)
                .sum();
            (p.duration_seconds > 0.0).then(|| ok as f64 / p.duration_seconds)
        }),
        offered_writes_per_second: s
            .phases
            .iter()
            .find(|p| p.name == "create" && p.rate_unit.as_deref() == Some("objects/s"))
            .and_then(|p| p.target_rate),
        wall_period_ms: ctrl.map(|c| c.wall_period_seconds * 1000.0),
        constraints: Some(constraints_of(s)),
        ..load_of(s)
    }
}

/// The tool's CPU and the main phase's rates and server latency at one point (what decides
/// a knee's bound, `crate::sweep::bound`). The main phase is steady when it ran, else create.
fn load_of(s: &Summary) -> SweepPoint {
    let gen = s.generator.as_ref();
    let judged = gen.map(|g| {
        std::iter::once(&g.usage.whole)
            .chain(
                g.usage
                    .phases
                    .iter()
                    .filter(|p| p.wall_seconds >= crate::report::generator::MIN_PHASE_SECONDS),
            )
            .map(|u| u.cpu_percent_of_budget)
            .fold(0.0, f64::max)
    });
    let phase = s
        .phases
        .iter()
        .find(|p| p.name == "steady")
        .or_else(|| s.phases.iter().find(|p| p.name == "create"));
    let server = phase.and_then(|p| {
        s.operations
            .iter()
            .filter(|o| o.phase == p.name && o.server_ms.count > 0)
            .map(|o| o.server_ms.p99)
            .reduce(f64::max)
    });
    SweepPoint {
        x: 0.0,
        run_id: String::new(),
        status: String::new(),
        throttle_wait_p99_ms: 0.0,
        queue_wait_p99_ms: None,
        missed_periods: None,
        write_p99_ms: None,
        rate_429_percent: 0.0,
        db_size_bytes: None,
        achieved_rps: 0.0,
        predicted_breakpoint: None,
        predicted_concurrency_breakpoint: None,
        queue_backlog: None,
        lag_p99_ms: None,
        writes_per_second: None,
        offered_writes_per_second: None,
        wall_period_ms: None,
        tool_cpu_percent: judged,
        tool_saturated: gen
            .map(|g| g.verdict == crate::report::generator::GeneratorVerdict::Saturated),
        client_limit_rps: phase
            .and_then(|p| p.client_qps)
            .map(|q| q * s.client.pool_size as f64),
        phase_rps: phase
            .filter(|p| p.duration_seconds > 0.0)
            .map(|p| p.sent as f64 / p.duration_seconds),
        server_p99_ms: server,
        constraints: None,
    }
}

/// The WAL fsync verdict, the machine's load and the apiserver's memory limit outcome.
fn constraints_of(s: &Summary) -> crate::sweep::constraints::ConstraintsPoint {
    let wal = s.health.iter().find(|v| v.check == "etcd_wal_fsync_p99");
    let m = s.apiserver_memory_limit.as_ref();
    crate::sweep::constraints::ConstraintsPoint {
        wal_fsync_p99_ms: wal.and_then(|v| v.value),
        wal_fsync_verdict: wal.map(|v| {
            serde_json::to_value(v.level)
                .ok()
                .and_then(|l| l.as_str().map(String::from))
                .unwrap_or_default()
        }),
        machine_load_average: s.generator.as_ref().and_then(|g| g.machine_load_average),
        apiserver_limit_bytes: m.map(|m| m.limit_bytes),
        apiserver_outcome: m.map(|m| {
            serde_json::to_value(m.outcome)
                .ok()
                .and_then(|l| l.as_str().map(String::from))
                .unwrap_or_default()
        }),
        apiserver_clusters: m.map(|m| m.clusters),
        apiserver_predicted_clusters: m.and_then(|m| m.predicted_clusters),
        apiserver_peak_bytes: m.and_then(|m| m.peak_bytes),
        apiserver_died_after_seconds: m.and_then(|m| m.died_after_seconds),
    }
}
