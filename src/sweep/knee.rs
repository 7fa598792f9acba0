//! Finding a breakpoint on a measured curve, two ways:
//! (a) the first point where a threshold is crossed (SLO-like), interpolated between the
//!     two points around it;
//! (b) the knee: the best two-segment linear fit (least squares over every split), whose
//!     segments meet at the knee; accepted only when the right segment rises clearly
//!     faster than the left one. Otherwise the answer is "not reached in range".

use serde::{Deserialize, Serialize};

/// A breakpoint found on a curve, or why none was.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum Breakpoint {
    /// At this x (interpolated).
    At {
        /// The x value.
        x: f64,
    },
    /// Not within the swept range.
    NotReached,
}

impl Breakpoint {
    /// The x value, if found.
    pub fn x(&self) -> Option<f64> {
        match self {
            Breakpoint::At { x } => Some(*x),
            Breakpoint::NotReached => None,
        }
    }
}

/// First crossing of `threshold` (y >= threshold), linearly interpolated.
pub fn threshold_crossing(points: &[(f64, f64)], threshold: f64) -> Breakpoint {
    let mut prev: Option<(f64, f64)> = None;
    for &(x, y) in points {
        if y >= threshold {
            return match prev {
                Some((px, py)) if py < threshold && y > py => Breakpoint::At {
                    x: px + (x - px) * (threshold - py) / (y - py),
                },
                _ => Breakpoint::At { x },
            };
        }
        prev = Some((x, y));
    }
    Breakpoint::NotReached
}

/// Least-squares line through points: (slope, intercept, sum of squared errors).
fn fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    let sse = points
        .iter()
        .map(|(x, y)| (y - (slope * x + intercept)).powi(2))
        .sum();
    (slope, intercept, sse)
}

/// A least-squares line and how well it fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// dy / dx.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// Coefficient of determination: 1 - SSE / total sum of squares (1 = every point on
    /// the line).
    pub r_squared: f64,
}

/// The least-squares line through at least 3 points with distinct x; None otherwise.
pub fn line(points: &[(f64, f64)]) -> Option<Line> {
    let xs: std::collections::BTreeSet<u64> = points.iter().map(|p| p.0.to_bits()).collect();
    if points.len() < 3
        || xs.len() < 2
        || points
            .iter()
            .any(|(x, y)| !(x.is_finite() && y.is_finite()))
    {
        return None;
    }
    let (slope, intercept, sse) = fit(points);
    let my = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let sst: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    Some(Line {
        slope,
        intercept,
        r_squared: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
    })
}

/// The knee of a curve that is flat-ish and then rises: the meeting point of the best
/// two-segment fit. Needs at least 2 points per segment; the right slope must exceed
/// `min_ratio` times the left slope and the rise over the right segment must be at least
/// `min_rise` (in y units), else the curve has no knee in range.
pub fn knee(points: &[(f64, f64)], min_ratio: f64, min_rise: f64) -> Breakpoint {
    if points.len() < 4 {
        return Breakpoint::NotReached;
    }
    // Among the splits whose right segment rises clearly faster than the left one, the one
    // that fits best.
    struct Split {
        sse: f64,
        k: usize,
        left: (f64, f64),
        right: (f64, f64),
    }
    let mut best: Option<Split> = None;
    for k in 2..=points.len() - 2 {
        let (l, r) = points.split_at(k);
        let (ls, li, le) = fit(l);
        let (rs, ri, re) = fit(r);
        let rise = r.last().map(|p| p.1).unwrap_or(0.0) - l.last().map(|p| p.1).unwrap_or(0.0);
        let steeper = rs > 0.0 && rs > min_ratio * ls.max(0.0);
        if !steeper || rise < min_rise {
            continue;
        }
        if best.as_ref().is_none_or(|b| le + re < b.sse) {
            best = Some(Split {
                sse: le + re,
                k,
                left: (ls, li),
                right: (rs, ri),
            });
        }
    }
    let Some(Split {
        k,
        left: (ls, li),
        right: (rs, ri),
        ..
    }) = best
    else {
        return Breakpoint::NotReached;
    };
    // Where the two lines meet, kept within the gap between the two segments.
    let x = if (rs - ls).abs() > f64::EPSILON {
        (li - ri) / (rs - ls)
    } else {
        points[k].0
    };
    let lo = points[k - 1].0;
    let hi = points[k].0;
    Breakpoint::At { x: x.clamp(lo, hi) }
}

/// Where a rising curve flattens (throughput reaching a ceiling): the meeting point of the
/// best two-segment fit whose left segment rises and whose right segment rises less than
/// `1 / min_ratio` as steeply. Returns the x and the ceiling (the fitted right segment's
/// mean y), or "not reached in range" when the curve keeps rising.
pub fn plateau(points: &[(f64, f64)], min_ratio: f64) -> (Breakpoint, Option<f64>) {
    if points.len() < 4 {
        return (Breakpoint::NotReached, None);
    }
    /// (sum of squared errors, split, left line, right line)
    type Split = (f64, usize, (f64, f64), (f64, f64));
    let mut best: Option<Split> = None;
    for k in 2..=points.len() - 2 {
        let (l, r) = points.split_at(k);
        let (ls, li, le) = fit(l);
        let (rs, ri, re) = fit(r);
        if !(ls > 0.0 && rs * min_ratio < ls) {
            continue;
        }
        if best.as_ref().is_none_or(|b| le + re < b.0) {
            best = Some((le + re, k, (ls, li), (rs, ri)));
        }
    }
    let Some((_, k, (ls, li), (rs, ri))) = best else {
        return (Breakpoint::NotReached, None);
    };
    let x = if (ls - rs).abs() > f64::EPSILON {
        (ri - li) / (ls - rs)
    } else {
        points[k].0
    };
    let x = x.clamp(points[k - 1].0, points[k].0);
    let right = &points[k..];
    let ceiling = right.iter().map(|p| p.1).sum::<f64>() / right.len() as f64;
    (Breakpoint::At { x }, Some(ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hockey(knee_at: f64, noise: f64) -> Vec<(f64, f64)> {
        (1..=10)
            .map(|i| {
                let x = 100.0 * i as f64;
                let wobble = noise * if i % 2 == 0 { 1.0 } else { -1.0 };
                let y = if x <= knee_at {
                    5.0
                } else {
                    5.0 + (x - knee_at) * 0.5
                };
                (x, y + wobble)
            })
            .collect()
    }

    #[test]
    fn a_line_and_its_fit_quality() {
        let exact: Vec<(f64, f64)> = (0..5)
            .map(|i| (i as f64 * 100.0, 3e8 + 2e5 * i as f64 * 100.0))
            .collect();
        let l = line(&exact).unwrap();
        assert!((l.slope - 2e5).abs() < 1e-6 && (l.intercept - 3e8).abs() < 1e-3);
        assert!((l.r_squared - 1.0).abs() < 1e-12);
        let noisy = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (4.0, 4.0)];
        let l = line(&noisy).unwrap();
        // slope 0.8, SSE 1.8 over SST 5: R² = 0.64.
        assert!(
            (l.slope - 0.8).abs() < 1e-12 && (l.r_squared - 0.64).abs() < 1e-12,
            "{l:?}"
        );
        assert_eq!(line(&noisy[..2]), None, "two points always fit");
        assert_eq!(line(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn finds_a_clean_knee() {
        let k = knee(&hockey(600.0, 0.0), 3.0, 10.0).x().unwrap();
        assert!((k - 600.0).abs() < 1.0, "{k}");
        let k = knee(&hockey(450.0, 0.0), 3.0, 10.0).x().unwrap();
        assert!((k - 450.0).abs() < 30.0, "{k}");
    }

    #[test]
    fn finds_a_noisy_knee() {
        let k = knee(&hockey(600.0, 3.0), 3.0, 10.0).x().unwrap();
        assert!((k - 600.0).abs() <= 60.0, "{k}");
    }

    #[test]
    fn no_knee_in_a_flat_or_linear_curve() {
        let flat: Vec<(f64, f64)> = (1..=10)
            .map(|i| (i as f64, 5.0 + if i % 2 == 0 { 0.5 } else { -0.5 }))
            .collect();
        assert_eq!(knee(&flat, 3.0, 10.0), Breakpoint::NotReached);
        let line: Vec<(f64, f64)> = (1..=10).map(|i| (i as f64, 3.0 * i as f64)).collect();
        assert_eq!(
            knee(&line, 3.0, 1.0),
            Breakpoint::NotReached,
            "a straight line has no knee"
        );
        assert_eq!(
            knee(&line[..3], 3.0, 1.0),
            Breakpoint::NotReached,
            "too few points"
        );
    }

    #[test]
    fn uneven_spacing_from_a_real_sweep() {
        // Queue wait p99 (ms) over clusters from a real run with N* = 20.
        let c = [
            (5.0, 0.09),
            (10.0, 0.09),
            (15.0, 0.09),
            (30.0, 967.0),
            (45.0, 2466.0),
            (60.0, 3125.0),
        ];
        let k = knee(&c, 3.0, 200.0).x().unwrap();
        assert!((15.0..=30.0).contains(&k), "{k}");
    }

    fn saturating(ceiling: f64, noise: f64) -> Vec<(f64, f64)> {
        [250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0]
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let wobble = noise * if i % 2 == 0 { 1.0 } else { -1.0 };
                (x, f64::min(x, ceiling) + wobble)
            })
            .collect()
    }

    #[test]
    fn finds_where_throughput_flattens() {
        let (x, c) = plateau(&saturating(3000.0, 0.0), 3.0);
        let x = x.x().unwrap();
        assert!((2000.0..=4000.0).contains(&x), "{x}");
        assert!((c.unwrap() - 3000.0).abs() < 1.0, "{c:?}");
        let (x, c) = plateau(&saturating(3000.0, 100.0), 3.0);
        assert!((2000.0..=4000.0).contains(&x.x().unwrap()), "{x:?}");
        assert!((c.unwrap() - 3000.0).abs() < 150.0, "{c:?}");
    }

    #[test]
    fn no_plateau_while_throughput_keeps_up() {
        assert_eq!(
            plateau(&saturating(1e9, 0.0), 3.0),
            (Breakpoint::NotReached, None)
        );
        assert_eq!(
            plateau(&saturating(1e9, 0.0)[..3], 3.0).0,
            Breakpoint::NotReached
        );
    }

    #[test]
    fn threshold_crossings_interpolate() {
        let c = hockey(600.0, 0.0);
        // y = 5 + (x - 600) / 2 reaches 55 at x = 700.
        assert_eq!(threshold_crossing(&c, 55.0), Breakpoint::At { x: 700.0 });
        let x = threshold_crossing(&c, 30.0).x().unwrap();
        assert!((x - 650.0).abs() < 1e-9, "{x}");
        assert_eq!(threshold_crossing(&c, 1e9), Breakpoint::NotReached);
        assert_eq!(
            threshold_crossing(&c, 0.0),
            Breakpoint::At { x: 100.0 },
            "already crossed at the first point"
        );
    }
}
