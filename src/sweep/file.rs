//! A sweep's files: `sweep.json` ([`SweepReport`], written after every point and read back
//! by `report` and `compare`) and `sweep.md` ([`markdown`]).

use super::points::{Curve, SweepPoint};
use super::SweepState;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

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
    /// Whether the sweep ran to its last value (true when the field is missing).
    #[serde(default = "complete_by_default")]
    pub complete: bool,
    /// What bound each curve's knee (by metric), for the curves that have one
    /// ([`super::bound`]).
    #[serde(default)]
    pub knee_bounds: std::collections::BTreeMap<String, super::bound::KneeBound>,
}

impl SweepReport {
    /// Derives the curves and their knees' bounds from the points.
    pub fn derive(&mut self) {
        self.curves = super::points::curves(&self.points);
        self.knee_bounds = self
            .curves
            .iter()
            .filter_map(|c| {
                let b = super::bound::bound_of(&self.points, c.knee.x()?)?;
                Some((c.metric.clone(), b))
            })
            .collect();
    }

    /// What bound the knee of `metric`, when it has one.
    pub fn knee_bound(&self, metric: &str) -> Option<&super::bound::KneeBound> {
        self.knee_bounds.get(metric)
    }
}

fn complete_by_default() -> bool {
    true
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
    o += "| x | status | throttle wait p99 ms | queue wait p99 ms | queue backlog | missed periods | write p99 ms | writes/s | 429 % | etcd db MiB | req/s | tool CPU % |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    let f = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
    for p in &r.points {
        let _ = writeln!(
            o,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.2} | {} | {:.0} | {} |",
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
            p.achieved_rps,
            match (p.tool_cpu_percent, p.tool_saturated) {
                (Some(c), Some(true)) => format!("{c:.0} (saturated)"),
                (c, _) => f(c, 0),
            }
        );
    }
    o += "\n";
    o += &constraints_markdown(r);
    o += "## Breakpoints\n\n| metric | threshold | first crossing | knee | knee bound by | model prediction |\n|---|---:|---:|---:|---|---:|\n";
    for c in &r.curves {
        let x = |b: &super::knee::Breakpoint| {
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
        let bound = match r.knee_bound(&c.metric) {
            Some(b) if b.generator_saturated => {
                format!(
                    "**{}**: {}; not the target's knee",
                    b.bound.describe(),
                    b.evidence
                )
            }
            Some(b) => format!("{} ({})", b.bound.describe(), b.evidence),
            None => "-".into(),
        };
        let _ = writeln!(
            o,
            "| {} | {t} | {} | {knee} | {bound} | {model} |",
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

fn cell(v: Option<f64>, d: usize) -> String {
    v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into())
}

/// The constraints table of `sweep.md` ([`super::constraints`]), for sweeps of its fields or points that ran under
/// a memory limit (empty otherwise).
pub fn constraints_markdown(r: &SweepReport) -> String {
    let points: Vec<_> = r
        .points
        .iter()
        .filter_map(|p| p.constraints.as_ref().map(|c| (p, c)))
        .collect();
    let memory = points.iter().any(|(_, c)| c.apiserver_outcome.is_some());
    if points.is_empty() || !(memory || super::constraints::FIELDS.contains(&r.field.as_str())) {
        return String::new();
    }
    let mut o = String::from("## etcd disk and kube-apiserver memory\n\n");
    if memory {
        o += "| x | status | apiserver | clusters at death (or end) | fitted line predicts | measured / predicted | died after s | peak MiB | WAL fsync p99 ms | verdict | load avg |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n";
        for (p, c) in &points {
            let ratio = match (c.apiserver_clusters, c.apiserver_predicted_clusters) {
                (Some(n), Some(pr)) if pr > 0.0 => format!("{:.2}", n as f64 / pr),
                _ => "-".into(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {ratio} | {} | {} | {} | {} | {} |",
                p.x,
                p.status,
                c.apiserver_outcome.as_deref().unwrap_or("-"),
                c.apiserver_clusters
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                cell(c.apiserver_predicted_clusters, 0),
                cell(c.apiserver_died_after_seconds, 1),
                cell(c.apiserver_peak_bytes.map(|b| b as f64 / 1048576.0), 0),
                cell(c.wal_fsync_p99_ms, 1),
                c.wal_fsync_verdict.as_deref().unwrap_or("-"),
                cell(c.machine_load_average, 2),
            );
        }
    } else {
        o += "| x | status | writes/s | write p99 ms | WAL fsync p99 ms | WAL fsync verdict | load avg |\n|---:|---|---:|---:|---:|---|---:|\n";
        for (p, c) in &points {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.x,
                p.status,
                cell(p.writes_per_second, 0),
                cell(p.write_p99_ms, 1),
                cell(c.wal_fsync_p99_ms, 1),
                c.wal_fsync_verdict.as_deref().unwrap_or("-"),
                cell(c.machine_load_average, 2),
            );
        }
    }
    o += "\n";
    o
}
