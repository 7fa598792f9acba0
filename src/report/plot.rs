//! SVG line charts for sweeps (plotters' SVG backend: no system fonts needed): the metric
//! against the swept value, with the threshold, the detected knee and the analytic
//! prediction marked.

use crate::sweep::points::Curve;
use plotters::prelude::*;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The drawing backend failed (its error, which is generic over the backend, as text).
    #[error("drawing a plot: {0}")]
    Draw(String),
    /// A plot with nothing to draw.
    #[error("{0}: no points")]
    NoPoints(String),
}

impl PlotError {
    fn draw(e: impl std::fmt::Display) -> PlotError {
        PlotError::Draw(e.to_string())
    }
}

/// Renders one curve as an SVG document.
pub fn svg(curve: &Curve, x_label: &str, predicted: Option<f64>) -> Result<String, PlotError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (820, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(PlotError::draw)?;
        let xs: Vec<f64> = curve.points.iter().map(|p| p.0).collect();
        let (x0, x1) = (
            xs.iter().cloned().fold(f64::INFINITY, f64::min),
            xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        );
        let pad = ((x1 - x0) * 0.05).max(1.0);
        let mut ymax = curve.points.iter().map(|p| p.1).fold(0.0, f64::max);
        if curve.threshold.is_finite() {
            ymax = ymax.max(curve.threshold * 1.1);
        }
        let ymax = if ymax > 0.0 { ymax * 1.05 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} ({})", curve.metric, curve.unit),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..ymax)
            .map_err(PlotError::draw)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(curve.unit.as_str())
            .draw()
            .map_err(PlotError::draw)?;
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().cloned(),
                BLUE.stroke_width(2),
            ))
            .map_err(PlotError::draw)?
            .label("measured")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_series(
                curve
                    .points
                    .iter()
                    .map(|p| Circle::new(*p, 4, BLUE.filled())),
            )
            .map_err(PlotError::draw)?;
        if curve.threshold.is_finite() {
            let t = curve.threshold;
            chart
                .draw_series(LineSeries::new(
                    vec![(x0 - pad, t), (x1 + pad, t)],
                    RED.stroke_width(1),
                ))
                .map_err(PlotError::draw)?
                .label(format!("threshold {t:.0}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        }
        if let Some(k) = curve.knee.x() {
            chart
                .draw_series(LineSeries::new(
                    vec![(k, 0.0), (k, ymax)],
                    GREEN.stroke_width(2),
                ))
                .map_err(PlotError::draw)?
                .label(format!("knee {k:.0}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
        }
        if let Some(p) = predicted.filter(|p| *p >= x0 - pad && *p <= x1 + pad) {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(p, 0.0), (p, ymax)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(PlotError::draw)?
                .label(format!("model N* {p:.0}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(PlotError::draw)?;
        root.present().map_err(PlotError::draw)?;
    }
    Ok(out)
}

/// One line of a multi-line chart: its label, points and (optionally) its knee, drawn as a
/// dashed vertical line in the line's colour.
pub struct Line<'a> {
    /// Legend label.
    pub label: &'a str,
    /// (x, y) points.
    pub points: &'a [(f64, f64)],
    /// The line's knee, if it has one.
    pub knee: Option<f64>,
}

/// Several lines of one metric on one chart (versions side by side, simulated vs reference
/// controller), with the model's prediction when given.
pub fn svg_lines(
    title: &str,
    unit: &str,
    x_label: &str,
    lines: &[Line],
    predicted: Option<f64>,
) -> Result<String, PlotError> {
    const PALETTE: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    if !x0.is_finite() {
        return Err(PlotError::NoPoints(title.to_string()));
    }
    let pad = ((x1 - x0) * 0.05).max(1.0);
    let ymax = all().map(|p| p.1).fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.05 } else { 1.0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (820, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(PlotError::draw)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..ymax)
            .map_err(PlotError::draw)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(unit)
            .draw()
            .map_err(PlotError::draw)?;
        for (i, line) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().cloned(),
                    color.stroke_width(2),
                ))
                .map_err(PlotError::draw)?
                .label(line.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|p| Circle::new(*p, 4, color.filled())),
                )
                .map_err(PlotError::draw)?;
            if let Some(k) = line.knee {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(k, 0.0), (k, ymax)],
                        8,
                        4,
                        color.stroke_width(1),
                    ))
                    .map_err(PlotError::draw)?
                    .label(format!("{} knee {k:.0}", line.label))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if let Some(p) = predicted.filter(|p| *p >= x0 - pad && *p <= x1 + pad) {
            chart
                .draw_series(LineSeries::new(
                    vec![(p, 0.0), (p, ymax)],
                    BLACK.stroke_width(1),
                ))
                .map_err(PlotError::draw)?
                .label(format!("model N* {p:.0}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(PlotError::draw)?;
        root.present().map_err(PlotError::draw)?;
    }
    Ok(out)
}

/// One metric of the same sweep on several versions: one line per (label, points).
pub fn svg_versions(
    metric: &str,
    unit: &str,
    x_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<String, PlotError> {
    let lines: Vec<Line> = series
        .iter()
        .map(|(label, points)| Line {
            label,
            points,
            knee: None,
        })
        .collect();
    svg_lines(
        &format!("{metric} ({unit}) by version"),
        unit,
        x_label,
        &lines,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::knee::Breakpoint;

    #[test]
    fn draws_an_svg_with_markers() {
        let c = Curve {
            metric: "queue_wait_p99".into(),
            unit: "ms".into(),
            threshold: 1000.0,
            points: (1..=10)
                .map(|i| {
                    (
                        100.0 * i as f64,
                        if i <= 6 { 1.0 } else { 500.0 * (i - 6) as f64 },
                    )
                })
                .collect(),
            crossing: Breakpoint::At { x: 800.0 },
            knee: Breakpoint::At { x: 600.0 },
            ceiling: None,
            prediction: Some(600.0),
            prediction_formula: Some("N* = QPS x period / calls".into()),
        };
        let s = svg(&c, "clusters", Some(600.0)).unwrap();
        assert!(s.starts_with("<svg") && s.contains("</svg>"));
        assert!(
            s.contains("knee 600") && s.contains("model N* 600") && s.contains("threshold 1000"),
            "{}",
            &s[..400.min(s.len())]
        );
    }

    #[test]
    fn draws_one_line_per_version() {
        let s = svg_versions(
            "queue_backlog",
            "reconciles",
            "clusters",
            &[
                ("v1.20.2".into(), vec![(100.0, 0.0), (200.0, 5.0)]),
                ("v1.37.2".into(), vec![(100.0, 0.0), (200.0, 9.0)]),
            ],
        )
        .unwrap();
        assert!(s.contains("v1.20.2") && s.contains("v1.37.2"));
        assert!(svg_versions("m", "u", "x", &[]).is_err());
    }
}
