//! What every row of the breakpoints suite shares: where the suite points, the sweep a
//! row runs from its built-in profile, and the small helpers rows use to word their
//! results (the swept range, the plots that show a curve, the tool's CPU per point).

use super::sweep::SweepSpec;
use super::Experiment;
use crate::error::Error;
use crate::profile::{self, Overrides};
use crate::report::breakpoints::{group, Row};
use crate::sweep::points::Curve;
use crate::sweep::SweepReport;
use std::path::PathBuf;

/// Where the suite points, and its folders.
pub struct Suite {
    /// The suite's run id.
    pub run_id: String,
    /// The suite's results folder (each row writes into `<dir>/<row id>`).
    pub dir: PathBuf,
    /// Connection overrides (kubeconfig, context, etcd endpoints, safety guard).
    pub overrides: Overrides,
    /// No target named: every experiment on its own local environment.
    pub local: bool,
    /// A kubeconfig or context was named.
    pub kube: bool,
    /// etcd endpoints were named.
    pub etcd: bool,
}

impl Suite {
    /// The sweep of `e`'s built-in profile: over the profile's own values, or `values`.
    pub fn spec(&self, e: &dyn Experiment, values: Option<&[&str]>) -> Result<SweepSpec, Error> {
        let (path, text) = e.profile();
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
            sweep_id: format!("{}-{}", self.run_id, e.short()),
            dir: self.dir.join(e.id().id()),
            overrides: self.overrides.clone(),
            controller: None,
        })
    }
}

/// `e`'s row, skipped for the reason given.
pub fn skipped(e: &dyn Experiment, why: &str) -> Row {
    Row {
        measured_note: format!("Skipped: {why}."),
        ..e.row()
    }
}

/// The curve of `metric` in a sweep.
pub fn curve<'a>(r: &'a SweepReport, metric: &str) -> Option<&'a Curve> {
    r.curves.iter().find(|c| c.metric == metric)
}

/// The plots (`<id>/<metric>.svg`) of the metrics the sweep has curves for.
pub fn evidence(id: &str, r: &SweepReport, metrics: &[&str]) -> Vec<String> {
    metrics
        .iter()
        .filter(|m| curve(r, m).is_some())
        .map(|m| format!("{id}/{m}.svg"))
        .collect()
}

/// The swept range, "first-last".
pub fn range_of(r: &SweepReport) -> String {
    match (r.points.first(), r.points.last()) {
        (Some(a), Some(b)) => format!("{}-{}", group(a.x), group(b.x)),
        _ => "-".into(),
    }
}

/// The tool's CPU at each point, for a row's note.
pub fn tool_cpu_note(r: &SweepReport) -> String {
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
