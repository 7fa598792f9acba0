//! `capi-loadgen breakpoints`: one experiment per row of the seed's "Bottlenecks That
//! Emerge" table, each a sweep (or a fill) of a built-in profile from
//! `profiles/breakpoints/`, then `breakpoints.json` + `breakpoints.md` with the documented
//! value, the model's prediction, the measurement and its plots.

use super::connect::Connected;
use super::run::with_target;
use super::sweep::{sweep, SweepReport, SweepSpec};
use crate::cli::BreakpointsArgs;
use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::profile::{self, Overrides, TargetPlan};
use crate::report::breakpoints::{group, markdown, BreakpointsReport, Row, RowStatus};
use crate::sweep::knee::Breakpoint;
use std::path::{Path, PathBuf};
use std::time::Instant;

const CLIENT_QPS: &str = include_str!("../../profiles/throttle-600.yaml");
const CONCURRENCY: &str = include_str!("../../profiles/breakpoints/concurrency.yaml");
const ETCD_WRITES: &str = include_str!("../../profiles/breakpoints/etcd-writes.yaml");
const ETCD_SIZE: &str = include_str!("../../profiles/breakpoints/etcd-size.yaml");
const APF: &str = include_str!("../../profiles/breakpoints/apf.yaml");

/// Longest suite run id: each experiment's run ids add a suffix of up to 7 characters.
const MAX_RUN_ID: usize = 17;

/// An experiment's short name in run ids (which are at most 24 characters).
fn short(id: &str) -> &'static str {
    match id {
        "client-qps" => "qps",
        "concurrency" => "conc",
        "etcd-writes" => "wr",
        "etcd-size" => "size",
        _ => "apf",
    }
}

/// The experiments, in the seed's order.
pub const ROWS: [&str; 5] = [
    "client-qps",
    "concurrency",
    "etcd-writes",
    "etcd-size",
    "apf",
];

/// The client-QPS sweep the suite runs (the reference sweep in `results/reference/` runs
/// the profile's own 100..1000).
const CLIENT_QPS_VALUES: [&str; 5] = ["300", "450", "600", "750", "900"];

/// Writes per cluster per second at the high end of the seed's "100-500 writes/s at 1,000
/// clusters": what converts an etcd write ceiling into clusters.
pub const WRITES_PER_CLUSTER_PER_SECOND: f64 = 0.5;

/// etcd's own benchmark on this machine class (FACTS §3: 8,950 puts/s, 2 KiB values, 2 cores).
pub const ETCD_BENCHMARK_PUTS_PER_SECOND: f64 = 8950.0;

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
    fn spec(&self, id: &str, text: &str, values: Option<&[&str]>) -> Result<SweepSpec, Error> {
        let source = PathBuf::from(match id {
            "client-qps" => "profiles/throttle-600.yaml".to_string(),
            _ => format!("profiles/breakpoints/{id}.yaml"),
        });
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
            sweep_id: format!("{}-{}", self.run_id, short(id)),
            dir: self.dir.join(id),
            overrides: self.overrides.clone(),
        })
    }
}

/// A row's fixed facts (bottleneck, documented value, unit), nothing measured yet.
pub(super) fn row(id: &str) -> Row {
    let (bottleneck, documented, clusters, unit) = match id {
        "client-qps" => (
            "Controller QPS limits",
            "500 clusters (table); ~600 with QPS 20 / burst 30 and a 10-minute sync (Metal3)",
            600.0,
            "clusters",
        ),
        "concurrency" => (
            "Controller concurrency",
            "1,000 clusters with concurrency 10",
            1000.0,
            "clusters",
        ),
        "etcd-writes" => (
            "etcd write throughput",
            "2,500 clusters",
            2500.0,
            "writes/s",
        ),
        "etcd-size" => (
            "etcd database size",
            "5,000 clusters",
            5000.0,
            "clusters at 8 GiB",
        ),
        _ => (
            "API server in-flight requests (APF)",
            "5,000 clusters (secondary)",
            5000.0,
            "requests in flight",
        ),
    };
    Row {
        id: id.into(),
        bottleneck: bottleneck.into(),
        documented: documented.into(),
        documented_clusters: clusters,
        model: None,
        model_note: String::new(),
        measured: None,
        unit: unit.into(),
        measured_clusters: None,
        measured_note: String::new(),
        status: RowStatus::Skipped,
        scaling: String::new(),
        evidence: Vec::new(),
        results: None,
        seconds: 0.0,
    }
}

fn skipped(id: &str, why: &str) -> Row {
    Row {
        measured_note: format!("Skipped: {why}."),
        ..row(id)
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
async fn controller_row(s: &Suite, id: &str) -> Result<Row, Error> {
    if s.etcd && !s.kube {
        return Ok(skipped(
            id,
            "needs an apiserver (the named target is a bare etcd)",
        ));
    }
    let (text, values) = match id {
        "client-qps" => (CLIENT_QPS, Some(&CLIENT_QPS_VALUES[..])),
        _ => (CONCURRENCY, None),
    };
    let spec = s.spec(id, text, values)?;
    let r = sweep(&spec).await?;
    let mut out = row(id);
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
    out.scaling = match id {
        "client-qps" => "Sync period 600 s compressed 20x (30 s wall); the controller's QPS 20 becomes 400 wall requests/s and its 10 workers 200, so both the client's N* = QPS x period / calls and the workers' N* are those of the uncompressed model; 1 control-plane machine per cluster and no Secrets, because the breakpoint depends on calls per reconcile, not object sizes. Each point adds clusters to the previous points' fleet.".into(),
        _ => "Sync period 600 s compressed 40x (15 s wall) with the 10 workers run as 400: a reconcile's think time and API latency are real time in both, so N* = concurrency x period / duration is unchanged. The client limit is raised (QPS 200) so only the workers bind. Each point adds clusters to the previous points' fleet.".into(),
    };
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

/// Row 3: the offered write rate into a bare etcd until achieved writes/s flattens.
async fn etcd_writes_row(s: &Suite) -> Result<Row, Error> {
    let id = "etcd-writes";
    if s.kube && !s.etcd {
        return Ok(skipped(
            id,
            "writes a bare etcd: name the target's etcd with --etcd-endpoint",
        ));
    }
    let spec = s.spec(id, ETCD_WRITES, None)?;
    let r = sweep(&spec).await?;
    let mut out = row(id);
    out.results = Some(format!("{id}/sweep.md"));
    out.evidence = evidence(id, &r, &["write_throughput", "write_p99"]);
    out.model = Some(ETCD_BENCHMARK_PUTS_PER_SECOND);
    out.model_note = format!(
        "etcd's own benchmark on this machine class (FACTS §3): {} puts/s (64-byte keys, 2 KiB values); at the seed's 0.1-0.5 writes/s per cluster (100-500 writes/s at 1,000 clusters) that ceiling is {}-{} clusters.",
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
    out.scaling = "Nothing is scaled but time: 6 s per rate on a fresh etcd. Writing etcd directly (byte-for-byte what kube-apiserver stores) keeps the apiserver's CPU out of a row that is about etcd; the tool shares the 2 cores with etcd, as etcd's own benchmark client did.".into();
    if !r.complete {
        out.status = RowStatus::Failed;
    }
    Ok(out)
}

/// Row 5: concurrent creates against small apiserver limits until 429s start.
async fn apf_row(s: &Suite) -> Result<Row, Error> {
    let id = "apf";
    if s.etcd && !s.kube {
        return Ok(skipped(
            id,
            "needs an apiserver (the named target is a bare etcd)",
        ));
    }
    let spec = s.spec(id, APF, None)?;
    let plan0 = profile::parse_with(
        &spec.source,
        APF,
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
    let mut out = row(id);
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
    out.scaling = "The apiserver's limits are 20 + 10 instead of 400 + 200: APF's seats shrink in proportion while the per-flow queue stays the same, so the 429 onset moves to a concurrency 2 cores can offer; the model row shows the default-limit equivalent. Converting in-flight requests to clusters needs a per-cluster request rate and latency the seed does not give, so this row stays in requests.".into();
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

/// Runs `breakpoints`.
pub async fn run(args: BreakpointsArgs) -> Result<(), Error> {
    let only: Vec<String> = match &args.only {
        None => ROWS.iter().map(|s| s.to_string()).collect(),
        Some(list) => {
            let v: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            if let Some(bad) = v.iter().find(|r| !ROWS.contains(&r.as_str())) {
                return Err(Error::Usage(format!(
                    "--only: `{bad}` is not one of {}",
                    ROWS.join(", ")
                )));
            }
            v
        }
    };
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("bp-{}", &profile::new_run_id()[9..]));
    // Experiments' run ids add up to 7 characters ("-apf-p6") to the 24 a run id may have.
    if run_id.len() > MAX_RUN_ID {
        return Err(Error::Usage(format!(
            "--run-id {run_id}: at most {MAX_RUN_ID} characters (the experiments' run ids add a suffix)"
        )));
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&run_id));
    let kube = args.conn.kubeconfig.is_some() || args.conn.context.is_some();
    let etcd = !args.conn.etcd_endpoint.is_empty();
    let suite = Suite {
        run_id: run_id.clone(),
        dir: dir.clone(),
        overrides: super::connection_overrides(&args.conn),
        local: !kube && !etcd,
        kube,
        etcd,
    };
    let t0 = Instant::now();
    let mut report = BreakpointsReport {
        schema_version: crate::report::breakpoints::SCHEMA_VERSION,
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
    for id in ROWS {
        if !only.iter().any(|o| o == id) {
            report.rows.push(skipped(id, "not selected (--only)"));
            continue;
        }
        println!("breakpoints {run_id}: {id}");
        let started = Instant::now();
        let result = match id {
            "client-qps" | "concurrency" => controller_row(&suite, id).await,
            "etcd-writes" => etcd_writes_row(&suite).await,
            "etcd-size" => {
                super::fill::etcd_size_row(&suite.run_id, &suite.dir, suite.local, ETCD_SIZE).await
            }
            _ => apf_row(&suite).await,
        };
        let mut r = match result {
            Ok(r) => r,
            Err(Error::Interrupted { .. }) => {
                let mut r = row(id);
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
                let mut r = row(id);
                r.status = RowStatus::Failed;
                r.measured_note = format!("Failed: {e}.");
                r
            }
        };
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
    print!("{}", markdown(&report).split("\n## ").next().unwrap_or(""));
    println!(
        "breakpoints results: {} ({:.0} s)",
        dir.display(),
        report.duration_seconds
    );
    Ok(())
}
