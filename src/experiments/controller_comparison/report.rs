//! Simulated vs reference controller: the same sweep run with each steady-phase controller,
//! compared curve by curve (a Markdown table of knees and threshold crossings, with the
//! relative difference of the knees against a tolerance) and one SVG per metric with both
//! curves.

use crate::sweep::knee::Breakpoint;
use crate::sweep::points::Curve;
use crate::sweep::SweepReport;
use std::fmt::Write;

/// How far apart the two knees may be, relative to the simulation's.
pub const KNEE_TOLERANCE: f64 = 0.05;

/// One metric's comparison.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// Metric name.
    pub metric: String,
    /// Knee of the simulation's curve.
    pub simulated_knee: Option<f64>,
    /// Knee of the reference controller's curve.
    pub reference_knee: Option<f64>,
    /// (reference - simulated) / simulated, when both knees exist.
    pub difference: Option<f64>,
    /// Threshold crossing of each.
    pub simulated_crossing: Option<f64>,
    /// Threshold crossing of the reference.
    pub reference_crossing: Option<f64>,
    /// The model's N*, when the profile gives one.
    pub prediction: Option<f64>,
}

impl Row {
    /// Within [`KNEE_TOLERANCE`] (None when a knee is missing).
    pub fn agrees(&self) -> Option<bool> {
        self.difference.map(|d| d.abs() <= KNEE_TOLERANCE)
    }
}

/// The rows, for every metric both sweeps have.
pub fn rows(sim: &SweepReport, reference: &SweepReport) -> Vec<Row> {
    sim.curves
        .iter()
        .filter_map(|a| {
            let b = reference.curves.iter().find(|b| b.metric == a.metric)?;
            let (ka, kb) = (a.knee.x(), b.knee.x());
            Some(Row {
                metric: a.metric.clone(),
                simulated_knee: ka,
                reference_knee: kb,
                difference: match (ka, kb) {
                    (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x),
                    _ => None,
                },
                simulated_crossing: a.crossing.x(),
                reference_crossing: b.crossing.x(),
                prediction: a.prediction.or(b.prediction),
            })
        })
        .collect()
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}"))
        .unwrap_or_else(|| "not reached".into())
}

/// The Markdown table of knees, and every point of both sweeps side by side.
pub fn markdown(sim: &SweepReport, reference: &SweepReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Simulated vs reference controller: {}\n\nSwept: `{}`. Knee: two-segment linear fit; crossing: first point over the metric's threshold (interpolated). Agreement: knees within ±{:.0}%.\n",
        sim.profile, sim.field, KNEE_TOLERANCE * 100.0
    );
    let _ = writeln!(
        s,
        "| metric | model N* | simulated knee | reference knee | difference | agree | simulated crossing | reference crossing |\n|---|---:|---:|---:|---:|---|---:|---:|"
    );
    for r in rows(sim, reference) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.metric,
            r.prediction
                .map(|p| format!("{p:.0}"))
                .unwrap_or_else(|| "-".into()),
            cell(r.simulated_knee),
            cell(r.reference_knee),
            r.difference
                .map(|d| format!("{:+.1}%", d * 100.0))
                .unwrap_or_else(|| "-".into()),
            match r.agrees() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            },
            cell(r.simulated_crossing),
            cell(r.reference_crossing),
        );
    }
    let _ = writeln!(
        s,
        "\n## Points\n\n| {} | curve | simulated | reference |\n|---:|---|---:|---:|",
        sim.field
    );
    for a in &sim.curves {
        let Some(b) = reference.curves.iter().find(|b| b.metric == a.metric) else {
            continue;
        };
        for (x, y) in &a.points {
            let other = b
                .points
                .iter()
                .find(|p| p.0 == *x)
                .map(|p| format!("{:.1}", p.1))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(s, "| {x} | {} ({}) | {y:.1} | {other} |", a.metric, a.unit);
        }
    }
    s
}

/// One SVG with both curves of `metric`, their knees and the model's N*.
pub fn svg(
    sim: &Curve,
    reference: &Curve,
    x_label: &str,
) -> Result<String, crate::report::plot::PlotError> {
    let line = |label, c: &'_ Curve| {
        let knee = match c.knee {
            Breakpoint::At { x } => Some(x),
            _ => None,
        };
        (label, c.points.clone(), knee)
    };
    let parts = [line("simulated", sim), line("reference", reference)];
    let lines: Vec<crate::report::plot::Line> = parts
        .iter()
        .map(|(label, points, knee)| crate::report::plot::Line {
            label,
            points,
            knee: *knee,
        })
        .collect();
    crate::report::plot::svg_lines(
        &format!("{} ({}): simulated vs reference", sim.metric, sim.unit),
        &sim.unit,
        x_label,
        &lines,
        sim.prediction,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(knee: f64) -> Curve {
        Curve {
            metric: "queue_backlog".into(),
            unit: "reconciles".into(),
            threshold: f64::INFINITY,
            points: vec![(100.0, 0.0), (knee, 1.0), (1000.0, 500.0)],
            crossing: Breakpoint::NotReached,
            knee: Breakpoint::At { x: knee },
            ceiling: None,
            prediction: Some(600.0),
            prediction_formula: None,
        }
    }

    #[test]
    fn knees_within_five_percent_agree_and_beyond_do_not() {
        let report = |k| SweepReport {
            sweep_id: "s".into(),
            profile: "p".into(),
            field: "fleet.clusters".into(),
            state: Default::default(),
            points: vec![],
            curves: vec![curve(k)],
            complete: true,
            knee_bounds: Default::default(),
        };
        let close = rows(&report(600.0), &report(620.0));
        assert_eq!(close[0].agrees(), Some(true));
        let far = rows(&report(600.0), &report(660.0));
        assert_eq!(far[0].agrees(), Some(false));
        assert!((far[0].difference.unwrap() - 0.1).abs() < 1e-9);
        let md = markdown(&report(600.0), &report(660.0));
        assert!(
            md.contains("| queue_backlog | 600 | 600 | 660 | +10.0% | no |"),
            "{md}"
        );
        let s = svg(&curve(600.0), &curve(660.0), "clusters").unwrap();
        assert!(s.contains("simulated knee 600") && s.contains("reference knee 660"));
    }
}
