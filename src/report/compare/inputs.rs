//! What `compare` reads from two results folders of the same kind: the folders' kind, the
//! files (through the same types the writers use: [`Summary`], [`SweepReport`],
//! [`BreakpointsReport`]) and the metrics taken from them.
//!
//! What is compared (verdict rules in [`super::judge`]):
//! - a run (`summary.json`): per operation (phase/verb/kind) latency p99 and throttle wait
//!   p99, skipping operations with fewer than [`MIN_SAMPLES`] requests on either side; ok
//!   requests per second; the failure rate (failed + throttled) / sent in percent; each
//!   controller's queue wait p99 and lag p99; etcd db growth per cluster created, when
//!   observed;
//! - a sweep (`sweep.json`): per curve the knee and, for curves with a threshold, its first
//!   crossing (positions on the swept axis); the best create writes/s of any point;
//! - a breakpoints suite (`breakpoints.json`): each row's `measured`, rows matched by `id`.
//!   A row (or curve) "not reached in range" lies beyond the end of its swept range, read
//!   from the experiment's `sweep.json`: it is better than a breakpoint below that end, and
//!   never a regression when the range went (within tolerance) as far as the other side's
//!   breakpoint.

use super::{render, Comparison, Family, Metric, Sides, Tolerances, Value};
use crate::report::breakpoints::{BreakpointsReport, Row, RowStatus};
use crate::report::summary::{Distribution, Operation, RunStatus, Summary};
use crate::sweep::knee::Breakpoint;
use crate::sweep::points::Curve;
use crate::sweep::SweepReport;
use std::path::{Path, PathBuf};

/// Operations and controllers with fewer samples than this on either side are left out: a
/// p99 of a handful of requests is the slowest one, noise rather than a trend.
pub const MIN_SAMPLES: u64 = 20;

/// What a results folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One run (`summary.json`).
    Run,
    /// A sweep (`sweep.json`).
    Sweep,
    /// A breakpoints suite (`breakpoints.json`).
    Breakpoints,
}

impl Kind {
    /// Looked for in this order (a suite's folder also holds sweeps and runs below it).
    const ALL: [Kind; 3] = [Kind::Breakpoints, Kind::Sweep, Kind::Run];

    fn file(self) -> &'static str {
        match self {
            Kind::Run => "summary.json",
            Kind::Sweep => "sweep.json",
            Kind::Breakpoints => "breakpoints.json",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Sweep => "sweep",
            Kind::Breakpoints => "breakpoints suite",
        }
    }
}

/// Why `compare`'s inputs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A named input does not exist or cannot be read.
    #[error("{role} {}: {source}", path.display())]
    Missing {
        /// `baseline` or `candidate`.
        role: &'static str,
        /// What was named.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A named folder holds no results.
    #[error("{role} {}: not a results directory (no summary.json, sweep.json or breakpoints.json)", path.display())]
    NotResults {
        /// `baseline` or `candidate`.
        role: &'static str,
        /// What was named.
        path: PathBuf,
    },
    /// A results file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A results file does not parse.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Two kinds of results.
    #[error("baseline {} is a {} ({}) but candidate {} is a {} ({}): compare results of the same kind", baseline.display(), kinds[0].name(), kinds[0].file(), candidate.display(), kinds[1].name(), kinds[1].file())]
    Kinds {
        /// The baseline named.
        baseline: PathBuf,
        /// The candidate named.
        candidate: PathBuf,
        /// Their kinds.
        kinds: [Kind; 2],
    },
    /// Two runs that are not alike (a different profile, fleet, target kind or versions).
    #[error("baseline {} and candidate {} are not alike ({difference}): compare runs of the same profile, fleet, target kind and versions", baseline.display(), candidate.display())]
    Unlike {
        /// The baseline named.
        baseline: PathBuf,
        /// The candidate named.
        candidate: PathBuf,
        /// The first difference found.
        difference: String,
    },
    /// Two sweeps of different fields.
    #[error("baseline {} sweeps {} but candidate {} sweeps {}: their breakpoints are not comparable", baseline.display(), fields[0], candidate.display(), fields[1])]
    Fields {
        /// The baseline named.
        baseline: PathBuf,
        /// The candidate named.
        candidate: PathBuf,
        /// Their swept fields.
        fields: [String; 2],
    },
}

/// The kind of results at `path` (a results folder, or one of the three files) and its file.
fn detect(path: &Path, role: &'static str) -> Result<(Kind, PathBuf), InputError> {
    let meta = std::fs::metadata(path).map_err(|source| InputError::Missing {
        role,
        path: path.into(),
        source,
    })?;
    let found = if meta.is_dir() {
        Kind::ALL
            .into_iter()
            .map(|k| (k, path.join(k.file())))
            .find(|(_, f)| f.exists())
    } else {
        Kind::ALL
            .into_iter()
            .find(|k| path.file_name() == Some(k.file().as_ref()))
            .map(|k| (k, path.to_path_buf()))
    };
    found.ok_or_else(|| InputError::NotResults {
        role,
        path: path.into(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, InputError> {
    let text = std::fs::read_to_string(file).map_err(|source| InputError::Read {
        path: file.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| InputError::Json {
        path: file.into(),
        source,
    })
}

/// A breakpoint's position on a curve; "not reached" lies beyond the curve's last x.
fn position(c: &Curve, b: &Breakpoint) -> Value {
    match b {
        Breakpoint::At { x } => Value::Exact(*x),
        Breakpoint::NotReached => Value::Beyond(c.points.iter().map(|p| p.0).reduce(f64::max)),
    }
}

/// A curve's threshold, when it has one (none is written as null and read as infinite).
fn threshold(c: &Curve) -> Option<f64> {
    Some(c.threshold).filter(|t| t.is_finite())
}

/// Compares the results at `baseline` and `candidate` (folders, or one of their JSON
/// files); bad input (a missing or invalid file, two kinds, two swept fields) is
/// an [`InputError`] (a usage error, but for two runs that are not alike).
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    tol: &Tolerances,
) -> Result<Comparison, InputError> {
    let (kind, bf) = detect(baseline, "baseline")?;
    let (other, cf) = detect(candidate, "candidate")?;
    if kind != other {
        return Err(InputError::Kinds {
            baseline: baseline.into(),
            candidate: candidate.into(),
            kinds: [kind, other],
        });
    }
    let ((bid, cid), (metrics, notes)) = match kind {
        Kind::Run => {
            let (b, c): (Summary, Summary) = (read_json(&bf)?, read_json(&cf)?);
            if let Some(diff) = super::likeness::unlike(&b, &c) {
                return Err(InputError::Unlike {
                    baseline: baseline.into(),
                    candidate: candidate.into(),
                    difference: diff,
                });
            }
            ((b.run_id.clone(), c.run_id.clone()), run_metrics(&b, &c))
        }
        Kind::Sweep => {
            let (b, c): (SweepReport, SweepReport) = (read_json(&bf)?, read_json(&cf)?);
            if b.field != c.field {
                return Err(InputError::Fields {
                    baseline: baseline.into(),
                    candidate: candidate.into(),
                    fields: [b.field.clone(), c.field.clone()],
                });
            }
            (
                (b.sweep_id.clone(), c.sweep_id.clone()),
                sweep_metrics(&b, &c),
            )
        }
        Kind::Breakpoints => {
            let (b, c): (BreakpointsReport, BreakpointsReport) = (read_json(&bf)?, read_json(&cf)?);
            let dir = |f: &Path| f.parent().map(Path::to_path_buf).unwrap_or_default();
            let m = breakpoint_metrics((&b, &dir(&bf)), (&c, &dir(&cf)));
            ((b.run_id.clone(), c.run_id.clone()), m)
        }
    };
    let sides = Sides {
        kind: kind.name().into(),
        baseline_id: bid,
        baseline_path: baseline.display().to_string(),
        candidate_id: cid,
        candidate_path: candidate.display().to_string(),
    };
    Ok(render(&sides, &metrics, tol, &notes))
}

fn metric(name: String, family: Family, unit: &str, baseline: Value, candidate: Value) -> Metric {
    Metric {
        name,
        family,
        unit: unit.into(),
        baseline,
        candidate,
    }
}

/// Keys of both sides: the baseline's in order, then the candidate's new ones.
fn union<K: PartialEq>(b: impl Iterator<Item = K>, c: impl Iterator<Item = K>) -> Vec<K> {
    let mut keys: Vec<K> = Vec::new();
    for k in b.chain(c) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

fn op_key(o: &Operation) -> String {
    format!("{}/{}/{}", o.phase, o.verb, o.kind)
}

/// OK requests per second over the load phases.
fn ok_per_second(s: &Summary) -> Option<f64> {
    (s.duration_seconds > 0.0).then(|| s.totals.ok as f64 / s.duration_seconds)
}

/// (failed + throttled) / sent, in percent.
fn failure_rate(s: &Summary) -> Option<f64> {
    let t = &s.totals;
    (t.sent > 0).then(|| (t.failed + t.throttled) as f64 / t.sent as f64 * 100.0)
}

/// etcd db growth over the run per cluster created (the fleet's clusters when the summary
/// counts no cluster creates).
fn bytes_per_cluster(s: &Summary) -> Option<f64> {
    let o = s.observed.as_ref()?;
    let growth = o.etcd_db_size_end? - o.etcd_db_size_start?;
    let created: u64 = s
        .operations
        .iter()
        .filter(|o| o.verb == "create" && o.kind == "cluster")
        .map(|o| o.counts.ok)
        .sum();
    let clusters = if created > 0 {
        created
    } else {
        s.fleet.clusters
    };
    (clusters > 0).then(|| growth / clusters as f64)
}

fn samples(d: Option<&Distribution>) -> String {
    d.map(|d| d.count.to_string()).unwrap_or_else(|| "-".into())
}

/// True when either side has the distribution with fewer than [`MIN_SAMPLES`] values.
fn too_few(b: Option<&Distribution>, c: Option<&Distribution>) -> bool {
    [b, c].into_iter().flatten().any(|d| d.count < MIN_SAMPLES)
}

/// Pushes the p99 of both sides' distributions, or notes why not.
fn p99(
    out: &mut Vec<Metric>,
    skipped: &mut Vec<String>,
    (name, family): (String, Family),
    b: Option<&Distribution>,
    c: Option<&Distribution>,
) {
    if too_few(b, c) {
        skipped.push(format!("{name} ({} vs {})", samples(b), samples(c)));
        return;
    }
    let v = |d: Option<&Distribution>| Value::of(d.map(|d| d.p99));
    out.push(metric(name, family, "ms", v(b), v(c)));
}

/// The metrics of two runs, and footnotes.
fn run_metrics(b: &Summary, c: &Summary) -> (Vec<Metric>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let ops = |s: &Summary| s.operations.iter().map(op_key).collect::<Vec<_>>();
    for k in union(ops(b).into_iter(), ops(c).into_iter()) {
        let find = |s: &'_ Summary| s.operations.iter().find(|o| op_key(o) == k).cloned();
        let (bo, co) = (find(b), find(c));
        let lat = |o: &Option<Operation>| o.as_ref().map(|o| o.latency_ms);
        let wait = |o: &Option<Operation>| o.as_ref().map(|o| o.throttle_wait_ms);
        let (bl, cl) = (lat(&bo), lat(&co));
        if too_few(bl.as_ref(), cl.as_ref()) {
            skipped.push(format!(
                "{k} ({} vs {})",
                samples(bl.as_ref()),
                samples(cl.as_ref())
            ));
            continue;
        }
        let name = (format!("latency_p99 {k}"), Family::LatencyP99);
        p99(&mut out, &mut skipped, name, bl.as_ref(), cl.as_ref());
        let (bw, cw) = (wait(&bo), wait(&co));
        let name = (format!("throttle_wait_p99 {k}"), Family::ThrottleWaitP99);
        p99(&mut out, &mut skipped, name, bw.as_ref(), cw.as_ref());
    }
    out.push(metric(
        "throughput (ok requests/s)".into(),
        Family::Throughput,
        "req/s",
        Value::of(ok_per_second(b)),
        Value::of(ok_per_second(c)),
    ));
    out.push(metric(
        "failure_rate ((failed + 429) / sent)".into(),
        Family::FailureRate,
        "%",
        Value::of(failure_rate(b)),
        Value::of(failure_rate(c)),
    ));
    let names = |s: &Summary| {
        s.controllers
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    for name in union(names(b).into_iter(), names(c).into_iter()) {
        let find = |s: &'_ Summary| s.controllers.iter().find(|c| c.name == name).cloned();
        let (bc, cc) = (find(b), find(c));
        let (bq, cq) = (
            bc.as_ref().map(|c| c.queue_wait_ms),
            cc.as_ref().map(|c| c.queue_wait_ms),
        );
        let m = (
            format!("queue_wait_p99 {name} controller"),
            Family::QueueWaitP99,
        );
        p99(&mut out, &mut skipped, m, bq.as_ref(), cq.as_ref());
        let (bl, cl) = (bc.as_ref().map(|c| c.lag_ms), cc.as_ref().map(|c| c.lag_ms));
        let m = (format!("lag_p99 {name} controller"), Family::LagP99);
        p99(&mut out, &mut skipped, m, bl.as_ref(), cl.as_ref());
    }
    let (bb, cb) = (bytes_per_cluster(b), bytes_per_cluster(c));
    if bb.is_some() || cb.is_some() {
        out.push(metric(
            "bytes_per_cluster (etcd db growth / clusters created)".into(),
            Family::BytesPerCluster,
            "bytes",
            Value::of(bb),
            Value::of(cb),
        ));
    }
    let mut notes = Vec::new();
    if !skipped.is_empty() {
        notes.push(format!(
            "Skipped, fewer than {MIN_SAMPLES} samples on a side (baseline vs candidate): {}.",
            skipped.join(", ")
        ));
    }
    for (role, s) in [("baseline", b), ("candidate", c)] {
        if s.status != RunStatus::Completed {
            notes.push(format!(
                "The {role} run ended {}{}.",
                format!("{:?}", s.status).to_lowercase(),
                s.stop_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
    }
    (out, notes)
}

/// The metrics of two sweeps of the same field, and footnotes.
fn sweep_metrics(b: &SweepReport, c: &SweepReport) -> (Vec<Metric>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let names = |s: &SweepReport| {
        s.curves
            .iter()
            .map(|c| c.metric.clone())
            .collect::<Vec<_>>()
    };
    for name in union(names(b).into_iter(), names(c).into_iter()) {
        let (bc, cc) = (
            b.curves.iter().find(|c| c.metric == name),
            c.curves.iter().find(|c| c.metric == name),
        );
        let at = |c: Option<&Curve>, knee: bool| {
            c.map(|c| position(c, if knee { &c.knee } else { &c.crossing }))
                .unwrap_or_else(Value::none)
        };
        let unit = if name == "write_throughput" {
            "offered writes/s"
        } else {
            &b.field
        };
        out.push(metric(
            format!("knee {name}"),
            Family::Breakpoint,
            unit,
            at(bc, true),
            at(cc, true),
        ));
        let (bt, ct) = (bc.and_then(threshold), cc.and_then(threshold));
        if let Some(t) = bt.or(ct) {
            let unit = bc.or(cc).map(|c| c.unit.as_str()).unwrap_or_default();
            if let (Some(x), Some(y)) = (bt, ct) {
                if x != y {
                    notes.push(format!(
                        "{name}: the threshold differs ({x} vs {y} {unit}), so its crossings measure different things."
                    ));
                }
            }
            out.push(metric(
                format!("crossing {name} >= {} {unit}", super::num(t)),
                Family::Breakpoint,
                &b.field,
                at(bc, false),
                at(cc, false),
            ));
        }
    }
    let best = |s: &SweepReport| {
        s.points
            .iter()
            .filter_map(|p| p.writes_per_second)
            .reduce(f64::max)
    };
    if best(b).is_some() || best(c).is_some() {
        out.push(metric(
            "throughput (max create writes/s)".into(),
            Family::Throughput,
            "writes/s",
            Value::of(best(b)),
            Value::of(best(c)),
        ));
    }
    for (role, s) in [("baseline", b), ("candidate", c)] {
        if !s.complete {
            notes.push(format!(
                "The {role} sweep is incomplete: it stopped before its last value."
            ));
        }
    }
    notes.push(
        "Knees and crossings are positions on the swept axis: a breakpoint \"not reached\" \
         lies beyond the curve's last point."
            .into(),
    );
    (out, notes)
}

/// The end of the swept range behind a breakpoints row (its experiment's `sweep.json`).
fn range_end(dir: &Path, row: &Row) -> Option<f64> {
    let results = dir.join(row.results.as_ref()?);
    let folder = if results.extension().is_some() {
        results.parent()?.to_path_buf()
    } else {
        results
    };
    let s: SweepReport = read_json(&folder.join("sweep.json")).ok()?;
    s.curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .reduce(f64::max)
}

fn row_value(dir: &Path, row: Option<&Row>) -> Value {
    let Some(row) = row else {
        return Value::none();
    };
    match row.status {
        RowStatus::Measured => Value::of(row.measured),
        RowStatus::NotReached => Value::Beyond(range_end(dir, row)),
        RowStatus::Skipped => Value::Absent("skipped".into()),
        RowStatus::Failed => Value::Absent("failed".into()),
        RowStatus::BoundElsewhere => Value::Absent("bound elsewhere".into()),
    }
}

/// The metrics of two breakpoints suites (rows matched by id), and footnotes.
fn breakpoint_metrics(
    (b, bdir): (&BreakpointsReport, &Path),
    (c, cdir): (&BreakpointsReport, &Path),
) -> (Vec<Metric>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let ids = |r: &BreakpointsReport| r.rows.iter().map(|r| r.id).collect::<Vec<_>>();
    for id in union(ids(b).into_iter(), ids(c).into_iter()) {
        let (br, cr) = (
            b.rows.iter().find(|r| r.id == id),
            c.rows.iter().find(|r| r.id == id),
        );
        let unit = br.or(cr).map(|r| r.unit.as_str()).unwrap_or_default();
        if let (Some(x), Some(y)) = (br, cr) {
            if x.unit != y.unit {
                notes.push(format!(
                    "{id}: the unit differs ({} vs {}).",
                    x.unit, y.unit
                ));
            }
        }
        out.push(metric(
            format!("breakpoint {id}"),
            Family::Breakpoint,
            unit,
            row_value(bdir, br),
            row_value(cdir, cr),
        ));
    }
    for (role, r) in [("baseline", b), ("candidate", c)] {
        if !r.complete {
            notes.push(format!(
                "The {role} suite is incomplete (rows marked failed)."
            ));
        }
    }
    notes.push(
        "A row \"not reached\" lies beyond the end of its experiment's swept range (from its \
         sweep.json): better than a breakpoint below that end, never a regression when the \
         range went within tolerance of the other side's breakpoint, inconclusive otherwise."
            .into(),
    );
    (out, notes)
}
