//! The same experiments on several Kubernetes versions, side by side (`sweep --versions`,
//! `breakpoints --versions`): `versions.json` ([`VersionsReport`], schema
//! `results/versions.schema.json`), `versions.md` ([`markdown`]) and one SVG per curve with
//! one line per version ([`crate::report::plot::svg_versions`]).
//!
//! Each version's own results stay in `<dir>/<version>/` (a sweep folder or a breakpoints
//! folder), so every number here can be traced to its run.

use crate::report::breakpoints::{group, BreakpointsReport, Row as BreakpointsRow};
use crate::sweep::file::SweepReport;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// `versions.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsReport {
    /// `sweep` or `breakpoints`.
    pub kind: String,
    /// What ran on each version (the profile and field of a sweep, or the suite's run id).
    pub experiment: String,
    /// The versions, in the order they ran; the first is the baseline of `change_percent`.
    pub versions: Vec<ServerVersions>,
    /// One row per compared value.
    pub rows: Vec<VersionRow>,
    /// Plots with one curve per version, relative to the folder.
    pub plots: Vec<String>,
}

/// The servers of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerVersions {
    /// kube-apiserver version, e.g. `v1.37.2`.
    pub kubernetes: String,
    /// etcd version the local environment ran with it.
    pub etcd: String,
    /// That version's own results folder, relative to this one.
    pub results: String,
}

/// One compared value across versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRow {
    /// What is compared, e.g. `client-qps: measured` or `queue_backlog: knee`.
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// One value per version, in [`VersionsReport::versions`]' order (null: not reached,
    /// skipped or failed on that version).
    pub values: Vec<Option<f64>>,
    /// Change of the last version against the first, in percent (null when either is
    /// missing or the first is 0).
    pub change_percent: Option<f64>,
}

fn change(values: &[Option<f64>]) -> Option<f64> {
    match (
        values.first().copied().flatten(),
        values.last().copied().flatten(),
    ) {
        (Some(a), Some(b)) if values.len() > 1 && a != 0.0 => Some((b - a) / a * 100.0),
        _ => None,
    }
}

fn row(name: String, unit: &str, values: Vec<Option<f64>>) -> VersionRow {
    VersionRow {
        change_percent: change(&values),
        name,
        unit: unit.to_string(),
        values,
    }
}

/// The rows of sweeps of one profile on several versions: per curve its knee and threshold
/// crossing (and a throughput curve's ceiling), in the order the first version's curves
/// come.
pub fn sweep_rows(runs: &[&SweepReport]) -> Vec<VersionRow> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for c in &first.curves {
        let of = |f: &dyn Fn(&crate::sweep::points::Curve) -> Option<f64>| -> Vec<Option<f64>> {
            runs.iter()
                .map(|r| r.curves.iter().find(|x| x.metric == c.metric).and_then(f))
                .collect()
        };
        rows.push(row(format!("{}: knee", c.metric), "x", of(&|x| x.knee.x())));
        if c.threshold.is_finite() {
            rows.push(row(
                format!("{}: crosses {}", c.metric, c.threshold),
                "x",
                of(&|x| x.crossing.x()),
            ));
        }
        if c.ceiling.is_some() {
            rows.push(row(
                format!("{}: ceiling", c.metric),
                &c.unit,
                of(&|x| x.ceiling),
            ));
        }
    }
    rows
}

/// The rows of breakpoints suites on several versions: per row the measured breakpoint,
/// the model's prediction and, where the row converts to clusters, the clusters.
pub fn suite_rows(runs: &[&BreakpointsReport]) -> Vec<VersionRow> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for r in &first.rows {
        let of = |f: &dyn Fn(&BreakpointsRow) -> Option<f64>| -> Vec<Option<f64>> {
            runs.iter()
                .map(|s| s.rows.iter().find(|x| x.id == r.id).and_then(f))
                .collect()
        };
        rows.push(row(
            format!("{}: measured", r.id),
            &r.unit,
            of(&|x| x.measured),
        ));
        rows.push(row(format!("{}: model", r.id), &r.unit, of(&|x| x.model)));
        let clusters = of(&|x| x.measured_clusters);
        if clusters.iter().any(Option::is_some) {
            rows.push(row(format!("{}: clusters", r.id), "clusters", clusters));
        }
    }
    rows
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.abs() >= 100.0 => group(x),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

/// Renders `versions.md`.
pub fn markdown(r: &VersionsReport) -> String {
    let mut o = format!(
        "# {} on {} versions: {}\n\n",
        r.kind,
        r.versions.len(),
        r.experiment
    );
    o += "Each column is one local environment (kube-apiserver and etcd as named), the same \
          experiment, run one after the other on the same machine; change is the last column \
          against the first.\n\n| | unit |";
    for v in &r.versions {
        let _ = write!(o, " {} (etcd {}) |", v.kubernetes, v.etcd);
    }
    o += " change |\n|---|---|";
    o += &"---:|".repeat(r.versions.len() + 1);
    o += "\n";
    for row in &r.rows {
        let _ = write!(o, "| {} | {} |", row.name, row.unit);
        for v in &row.values {
            let _ = write!(o, " {} |", cell(*v));
        }
        let _ = writeln!(
            o,
            " {} |",
            row.change_percent
                .map(|c| format!("{c:+.1}%"))
                .unwrap_or_else(|| "-".into())
        );
    }
    if !r.plots.is_empty() {
        o += "\nPlots (one curve per version):\n\n";
        for p in &r.plots {
            let _ = writeln!(o, "- [{p}]({p})");
        }
    }
    o += "\nPer-version results: ";
    o += &r
        .versions
        .iter()
        .map(|v| format!("[{}]({}/)", v.kubernetes, v.results))
        .collect::<Vec<_>>()
        .join(", ");
    o += "\n";
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::knee::Breakpoint;
    use crate::sweep::points::Curve;

    fn sweep(knee: f64) -> SweepReport {
        SweepReport {
            sweep_id: "s".into(),
            profile: "p.yaml".into(),
            field: "fleet.clusters".into(),
            state: Default::default(),
            points: Vec::new(),
            curves: vec![Curve {
                metric: "queue_backlog".into(),
                unit: "reconciles".into(),
                threshold: 10.0,
                points: vec![(100.0, 0.0), (200.0, 20.0)],
                crossing: Breakpoint::At { x: 150.0 },
                knee: Breakpoint::At { x: knee },
                ceiling: None,
                prediction: None,
                prediction_formula: None,
            }],
            complete: true,
            knee_bounds: Default::default(),
        }
    }

    #[test]
    fn rows_compare_the_last_version_with_the_first() {
        let (a, b) = (sweep(600.0), sweep(660.0));
        let rows = sweep_rows(&[&a, &b]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].values, vec![Some(600.0), Some(660.0)]);
        assert!((rows[0].change_percent.unwrap() - 10.0).abs() < 1e-9);
        let r = VersionsReport {
            kind: "sweep".into(),
            experiment: "p.yaml over fleet.clusters".into(),
            versions: vec![
                ServerVersions {
                    kubernetes: "v1.20.2".into(),
                    etcd: "v3.6.16".into(),
                    results: "v1.20.2".into(),
                },
                ServerVersions {
                    kubernetes: "v1.37.2".into(),
                    etcd: "v3.6.16".into(),
                    results: "v1.37.2".into(),
                },
            ],
            rows,
            plots: vec!["queue_backlog.svg".into()],
        };
        let md = markdown(&r);
        assert!(
            md.contains("| queue_backlog: knee | x | 600 | 660 | +10.0% |"),
            "{md}"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<VersionsReport>(&json).unwrap(), r);
        assert_eq!(change(&[None, Some(1.0)]), None);
        assert_eq!(change(&[Some(1.0)]), None);
    }
}
