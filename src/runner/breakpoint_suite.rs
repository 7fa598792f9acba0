//! The breakpoints suite: one experiment per documented bottleneck ([`Bottleneck`]), each
//! a sweep (or, for the etcd size, a fill) of a built-in profile from
//! `profiles/breakpoints/`, then `breakpoints.json` + `breakpoints.md` with the documented
//! value, the model's prediction, the measurement and its plots.

use super::connect::Connected;
use super::execute::with_target;
use super::sweep_run::{sweep, SweepSpec};
use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::profile::{self, Overrides, TargetPlan};
use crate::report::breakpoints::{
    group, hold_to_bound, markdown, Bottleneck, BreakpointsReport, Row, RowStatus, SCHEMA_VERSION,
};
use crate::sweep::bound::Bound;
use crate::sweep::knee::Breakpoint;
use crate::sweep::SweepReport;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The built-in profile an experiment runs: its path (named in reports) and its text.
pub fn profile_of(b: Bottleneck) -> (&'static str, &'static str) {
    match b {
        Bottleneck::ClientQps => (
            "profiles/throttle-600.yaml",
            include_str!("../../profiles/throttle-600.yaml"),
        ),
        Bottleneck::Concurrency => (
            "profiles/breakpoints/concurrency.yaml",
            include_str!("../../profiles/breakpoints/concurrency.yaml"),
        ),
        Bottleneck::EtcdWrites => (
            "profiles/breakpoints/etcd-writes.yaml",
            include_str!("../../profiles/breakpoints/etcd-writes.yaml"),
        ),
        Bottleneck::EtcdSize => (
            "profiles/breakpoints/etcd-size.yaml",
            include_str!("../../profiles/breakpoints/etcd-size.yaml"),
        ),
        Bottleneck::Apf => (
            "profiles/breakpoints/apf.yaml",
            include_str!("../../profiles/breakpoints/apf.yaml"),
        ),
        Bottleneck::ApiserverMemory => (
            "profiles/breakpoints/apiserver-memory.yaml",
            include_str!("../../profiles/breakpoints/apiserver-memory.yaml"),
        ),
        Bottleneck::Webhooks => (
            "profiles/breakpoints/webhooks.yaml",
            include_str!("../../profiles/breakpoints/webhooks.yaml"),
        ),
    }
}

/// Longest suite run id: each experiment's run ids add a suffix of up to 7 characters
/// ("-apf-p6") to the 24 characters a run id may have.
pub const MAX_RUN_ID: usize = 17;

/// The client-QPS sweep the suite runs (the reference sweep in `results/reference/` runs
/// the profile's own 100..1000).
const CLIENT_QPS_VALUES: [&str; 5] = ["300", "450", "600", "750", "900"];

/// Writes per cluster per second at the high end of the 100-500 writes/s at 1,000 clusters
/// practitioners' write-ups commonly assume: what converts an etcd write ceiling into
/// clusters.
pub const WRITES_PER_CLUSTER_PER_SECOND: f64 = 0.5;

/// Puts per second etcd's own `benchmark` tool (etcd repository, `tools/benchmark`)
/// measured on a 2-core machine of the class the suite runs on, 2 KiB values.
pub const ETCD_BENCHMARK_PUTS_PER_SECOND: f64 = 8950.0;

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

/// Where the suite points, and its folders.
struct Suite {
    run_id: String,
    dir: PathBuf,
    overrides: Overrides,
    /// No target named: every experiment on its own local environment.
    local: bool,
    /// A kubeconfig or context was named.
    kube: bool,
    /// etcd endpoints were named.
    etcd: bool,
}

impl Suite {
    fn spec(&self, b: Bottleneck, values: Option<&[&str]>) -> Result<SweepSpec, Error> {
        let (path, text) = profile_of(b);
        let source = PathBuf::from(path);
        let plan = profile::parse_str(&source, text, &self.overrides)?;
        let field = plan.sweep.field.clone().unwrap_or_default();
        let values = match values {
            Some(v) => v.iter().map(|s| s.to_string()).collect(),
            None => plan.sweep.values.clone().unwrap_or_default(),
        };
        Ok(SweepSpec {
            source,
            text: text.to_string(),
            field,
            values,
            state: plan.sweep.state,
            sweep_id: format!("{}-{}", self.run_id, b.short()),
            dir: self.dir.join(b.id()),
            overrides: self.overrides.clone(),
            controller: None,
        })
    }
}

fn skipped(b: Bottleneck, why: &str) -> Row {
    Row {
        measured_note: format!("Skipped: {why}."),
        ..b.row()
    }
}

fn curve<'a>(r: &'a SweepReport, metric: &str) -> Option<&'a crate::sweep::points::Curve> {
    r.curves.iter().find(|c| c.metric == metric)
}

fn evidence(id: &str, r: &SweepReport, metrics: &[&str]) -> Vec<String> {
    metrics
        .iter()
        .filter(|m| curve(r, m).is_some())
        .map(|m| format!("{id}/{m}.svg"))
        .collect()
}

fn range_of(r: &SweepReport) -> String {
    match (r.points.first(), r.points.last()) {
        (Some(a), Some(b)) => format!("{}-{}", group(a.x), group(b.x)),
        _ => "-".into(),
    }
}

/// Rows 1 and 2: a fleet.clusters sweep whose backlog curve breaks at N*.
async fn controller_row(s: &Suite, b: Bottleneck) -> Result<Row, Error> {
    let id = b.id();
    if s.etcd && !s.kube {
        return Ok(skipped(
            b,
            "needs an apiserver (the named target is a bare etcd)",
        ));
    }
    let values = (b == Bottleneck::ClientQps).then_some(&CLIENT_QPS_VALUES[..]);
    let spec = s.spec(b, values)?;
    let r = sweep(&spec).await?;
    let mut out = b.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(
        id,
        &r,
        &["queue_backlog", "reconcile_lag_p99", "throttle_wait_p99"],
    );
    let backlog = curve(&r, "queue_backlog");
    if let Some(c) = backlog {
        out.model = c.prediction;
        out.model_note = match (&c.prediction_formula, c.prediction) {
            (Some(f), Some(x)) => format!("{f} = {} clusters (from the profile and, for the workers, the reconcile duration measured at the first point).", group(x)),
            _ => "no model applies (no client limit and no reconciles measured)".into(),
        };
    }
    let lag = curve(&r, "reconcile_lag_p99");
    match backlog.map(|c| c.knee) {
        Some(Breakpoint::At { x }) => {
            out.status = RowStatus::Measured;
            out.measured = Some(x);
            out.measured_clusters = Some(x);
            out.measured_note = format!(
                "The work the Cluster controller owes at the end of the steady phase (reconciles asked for minus calls made / calls per reconcile) starts growing at {} clusters (two-segment knee over {} clusters){}{}.",
                group(x),
                range_of(&r),
                out.model
                    .map(|m| format!(", {:+.1}% from the model", (x - m) / m * 100.0))
                    .unwrap_or_default(),
                lag.and_then(|c| c.crossing.x())
                    .map(|l| format!("; reconcile lag p99 passes one wall period at {}", group(l)))
                    .unwrap_or_default()
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "No backlog knee over {} clusters: the controller kept up{}.",
                range_of(&r),
                if r.complete {
                    ""
                } else {
                    " (the sweep stopped early)"
                }
            );
        }
    }
    out.scaling = match b {
        Bottleneck::ClientQps => "Sync period 600 s compressed 20x (30 s wall); the controller's QPS 20 becomes 400 wall requests/s and its 10 workers 200, so both the client's N* = QPS x period / calls and the workers' N* are those of the uncompressed model; 1 control-plane machine per cluster and no Secrets, because the breakpoint depends on calls per reconcile, not object sizes. Each point adds clusters to the previous points' fleet.".into(),
        _ => "Sync period 600 s compressed 40x (15 s wall) with the 10 workers run as 400: a reconcile's think time and API latency are real time in both, so N* = concurrency x period / duration is unchanged. The client limit is raised (QPS 200) so only the workers bind. Each point adds clusters to the previous points' fleet.".into(),
    };
    let expected = match b {
        Bottleneck::ClientQps => Bound::ClientLimit,
        _ => Bound::Workers,
    };
    hold_to_bound(&mut out, r.knee_bound("queue_backlog"), expected);
    out.measured_note += &tool_cpu_note(&r);
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

/// The tool's CPU at each point, for a row's note.
fn tool_cpu_note(r: &SweepReport) -> String {
    let cells: Vec<String> = r
        .points
        .iter()
        .filter_map(|p| {
            let c = p.tool_cpu_percent?;
            let busy = if p.tool_saturated == Some(true) {
                " saturated"
            } else {
                ""
            };
            Some(format!("{}: {c:.0}%{busy}", group(p.x)))
        })
        .collect();
    if cells.is_empty() {
        return String::new();
    }
    format!(
        " Tool CPU (% of its budget) per point: {}.",
        cells.join(", ")
    )
}

/// Row 3: the offered write rate into a bare etcd until achieved writes/s flattens.
async fn etcd_writes_row(s: &Suite) -> Result<Row, Error> {
    let b = Bottleneck::EtcdWrites;
    let id = b.id();
    if s.kube && !s.etcd {
        return Ok(skipped(
            b,
            "writes a bare etcd: name the target's etcd with --etcd-endpoint",
        ));
    }
    let spec = s.spec(b, None)?;
    let r = sweep(&spec).await?;
    let mut out = b.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(id, &r, &["write_throughput", "write_p99"]);
    out.model = Some(ETCD_BENCHMARK_PUTS_PER_SECOND);
    out.model_note = format!(
        "etcd's own benchmark tool on a 2-core machine of this class: {} puts/s (64-byte keys, 2 KiB values); at the 0.1-0.5 writes/s per cluster practitioners' write-ups commonly assume (100-500 writes/s at 1,000 clusters) that ceiling is {}-{} clusters.",
        group(ETCD_BENCHMARK_PUTS_PER_SECOND),
        group(ETCD_BENCHMARK_PUTS_PER_SECOND / WRITES_PER_CLUSTER_PER_SECOND),
        group(ETCD_BENCHMARK_PUTS_PER_SECOND / 0.1)
    );
    let c = curve(&r, "write_throughput");
    let top = r
        .points
        .iter()
        .filter_map(|p| p.writes_per_second)
        .fold(0.0, f64::max);
    match c.map(|c| (c.knee, c.ceiling)) {
        Some((Breakpoint::At { x }, Some(ceiling))) => {
            out.status = RowStatus::Measured;
            out.measured = Some(ceiling);
            out.measured_clusters = Some(ceiling / WRITES_PER_CLUSTER_PER_SECOND);
            out.measured_note = format!(
                "Achieved writes stop following the offered rate at about {} offered writes/s and flatten at {} writes/s of real CAPI objects (p99 from the intended start in write_p99.svg). At 0.5 writes/s per cluster that is ~{} clusters (at 0.1: ~{}).",
                group(x),
                group(ceiling),
                group(ceiling / WRITES_PER_CLUSTER_PER_SECOND),
                group(ceiling / 0.1)
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "Achieved writes kept following the offered rate up to {} offered writes/s (best {} writes/s): not reached in range.",
                r.points.last().map(|p| group(p.x)).unwrap_or_default(),
                group(top)
            );
        }
    }
    hold_to_bound(&mut out, r.knee_bound("write_throughput"), Bound::Target);
    out.measured_note += &tool_cpu_note(&r);
    out.scaling = "Nothing is scaled but time: 6 s per rate on a fresh etcd. Writing etcd directly (byte-for-byte what kube-apiserver stores) keeps the apiserver's CPU out of a row that is about etcd; the tool shares the 2 cores with etcd, as etcd's own benchmark client did.".into();
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

/// Row 5: concurrent creates against small apiserver limits until 429s start.
async fn apf_row(s: &Suite) -> Result<Row, Error> {
    let b = Bottleneck::Apf;
    let id = b.id();
    if s.etcd && !s.kube {
        return Ok(skipped(
            b,
            "needs an apiserver (the named target is a bare etcd)",
        ));
    }
    let spec = s.spec(b, None)?;
    let plan0 = profile::parse_with(
        &spec.source,
        &spec.text,
        &spec.field,
        &spec.values[0],
        &Overrides {
            run_id: Some(format!("{}-apfm", s.run_id)),
            ..s.overrides.clone()
        },
    )?;
    let limits = match &plan0.target {
        TargetPlan::Local(o) => Some(
            u64::from(o.max_requests_inflight.unwrap_or(400))
                + u64::from(o.max_mutating_requests_inflight.unwrap_or(200)),
        ),
        _ => None,
    };
    let model = with_target(&plan0, async |c: &Connected, _h: StopHandle, _s: Stop| {
        Ok(match &c.admin {
            Some(a) => crate::measure::apf::workload_low(a).await,
            None => None,
        })
    })
    .await?;
    let r = sweep(&spec).await?;
    let mut out = b.row();
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(id, &r, &["rate_429", "write_p99"]);
    match model {
        Some(m) => (out.model, out.model_note) = m.onset_model(limits),
        None => {
            out.model_note =
                "No PriorityLevelConfiguration could be read (APF off?): no model.".into()
        }
    }
    let c = curve(&r, "rate_429");
    match c.map(|c| c.crossing) {
        Some(Breakpoint::At { x }) => {
            out.status = RowStatus::Measured;
            out.measured = Some(x);
            // The points around the crossing: the onset lies between them.
            let pts = c.map(|c| c.points.clone()).unwrap_or_default();
            let below = pts
                .iter()
                .filter(|p| p.0 < x || p.1 < 1.0)
                .map(|p| p.0)
                .fold(f64::NAN, f64::max);
            let above = pts
                .iter()
                .filter(|p| p.1 >= 1.0)
                .map(|p| p.0)
                .fold(f64::NAN, f64::min);
            out.measured_note = format!(
                "429s pass 1% of requests at {} concurrent creates (interpolated; none at {}, {:.0}% at {}; swept {}), client retries off so every 429 is seen.",
                group(x),
                group(below),
                pts.iter().find(|p| p.0 == above).map(|p| p.1).unwrap_or(0.0),
                group(above),
                range_of(&r)
            );
        }
        _ => {
            out.status = RowStatus::NotReached;
            out.measured_note = format!(
                "Fewer than 1% of requests were rejected up to {} concurrent creates: not reached in range.",
                r.points.last().map(|p| group(p.x)).unwrap_or_default()
            );
        }
    }
    out.scaling = "The apiserver's limits are 20 + 10 instead of 400 + 200: APF's seats shrink in proportion while the per-flow queue stays the same, so the 429 onset moves to a concurrency 2 cores can offer; the model row shows the default-limit equivalent. Converting in-flight requests to clusters needs a per-cluster request rate and latency the documented figure does not give, so this row stays in requests.".into();
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

fn write_all(dir: &Path, r: &BreakpointsReport) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::io(p, e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::Internal(e.to_string()))?;
    let p = dir.join("breakpoints.json");
    std::fs::write(&p, json + "\n").map_err(|e| io(&p, e))?;
    let p = dir.join("breakpoints.md");
    std::fs::write(&p, markdown(r)).map_err(|e| io(&p, e))
}

/// On a named target, deletes what the row's runs left (by their run-id labels) and says
/// so; a cleanup that fails is said in the row's note and on stderr, since the next row
/// would measure on top of it.
async fn clean_after_row(suite: &Suite, b: Bottleneck, r: &mut Row) {
    let (path, text) = profile_of(b);
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

/// Runs the suite: the selected experiments in [`Bottleneck::ALL`]'s order, writing
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
    for b in Bottleneck::ALL {
        if !o.only.contains(&b) {
            report.rows.push(skipped(b, "not selected (--only)"));
            continue;
        }
        println!("breakpoints {run_id}: {b}");
        let started = Instant::now();
        let result = match b {
            Bottleneck::ClientQps | Bottleneck::Concurrency => controller_row(&suite, b).await,
            Bottleneck::EtcdWrites => etcd_writes_row(&suite).await,
            Bottleneck::EtcdSize => {
                super::etcd_fill::etcd_size_row(
                    &suite.run_id,
                    &suite.dir,
                    suite.local,
                    profile_of(b).1,
                )
                .await
            }
            Bottleneck::Apf => apf_row(&suite).await,
            Bottleneck::ApiserverMemory if suite.etcd && !suite.kube => Ok(skipped(
                b,
                "needs an apiserver (the named target is a bare etcd)",
            )),
            Bottleneck::ApiserverMemory => match suite.spec(b, None) {
                Ok(spec) => super::apiserver_memory::apiserver_memory_row(spec).await,
                Err(e) => Err(e),
            },
            Bottleneck::Webhooks if suite.etcd && !suite.kube => Ok(skipped(
                b,
                "needs an apiserver (the named target is a bare etcd)",
            )),
            Bottleneck::Webhooks => match suite.spec(b, None) {
                Ok(spec) => super::webhook_row::webhook_row(spec).await,
                Err(e) => Err(e),
            },
        };
        let mut r = match result {
            Ok(r) => r,
            Err(Error::Interrupted { .. }) => {
                let mut r = b.row();
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
            Err(e) => {
                let mut r = b.row();
                r.status = RowStatus::Failed;
                r.measured_note = format!("Failed: {e}.");
                r
            }
        };
        if !suite.local && r.status != RowStatus::Skipped {
            clean_after_row(&suite, b, &mut r).await;
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
