//! Cumulative histogram buckets as Prometheus exposes them, and the quantile of the
//! observations between two of them (what `histogram_quantile` over a `rate` computes).

/// Cumulative histogram buckets: (upper bound in seconds, cumulative count).
pub type Buckets = Vec<(f64, f64)>;

/// The q-quantile (seconds) of the observations between two cumulative bucket sets, with
/// Prometheus' linear interpolation inside the bucket. None when nothing was observed.
pub fn quantile_of_delta(before: Option<&Buckets>, after: &Buckets, q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, c)| {
            let b = before
                .and_then(|b| b.iter().find(|(l, _)| l == le))
                .map(|x| x.1)
                .unwrap_or(0.0);
            (*le, (c - b).max(0.0))
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (le, c) in &delta {
        if *c >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let width = le - prev.0;
            let inside = (c - prev.1).max(f64::MIN_POSITIVE);
            return Some(prev.0 + width * ((rank - prev.1) / inside));
        }
        prev = (*le, *c);
    }
    Some(prev.0)
}
