//! What one webhook call does: how long it takes (fixed, normal or a recorded histogram)
//! and how it ends (accepted, rejected, an HTTP 500, or no answer before the timeout).

use crate::profile::{LatencyPlan, WebhookPlan};
use rand::Rng;
use std::time::Duration;

/// How a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `allowed: true` (with the defaulting patch where configured).
    Allow,
    /// `allowed: false`, HTTP 200 (validating webhooks only): the write is refused with 403.
    Reject,
    /// HTTP 500: a failed call, which `failurePolicy` turns into a refused or ignored write.
    Error,
    /// No answer until after kube-apiserver's `timeoutSeconds`: the call times out.
    Timeout,
}

/// The behaviour drawn for one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// How it ends.
    pub outcome: Outcome,
    /// How long it takes once it has a slot.
    pub latency: Duration,
}

/// Samples the latency model.
pub fn sample(l: &LatencyPlan, rng: &mut impl Rng) -> Duration {
    match l {
        LatencyPlan::Fixed(d) => *d,
        LatencyPlan::Normal { mean, stddev } => {
            // Box-Muller: one standard normal from two uniforms.
            let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let v = mean.as_secs_f64() + z * stddev.as_secs_f64();
            Duration::from_secs_f64(v.max(0.0))
        }
        LatencyPlan::Histogram(b) => {
            let total: f64 = b.iter().map(|x| x.1).sum();
            let mut pick = rng.random::<f64>() * total;
            let mut lo = Duration::ZERO;
            for (le, c) in b {
                if pick < *c {
                    let width = le.saturating_sub(lo).as_secs_f64();
                    return lo + Duration::from_secs_f64(rng.random::<f64>() * width);
                }
                pick -= c;
                lo = *le;
            }
            lo
        }
    }
}

/// Draws one call's behaviour; `validating` says which webhook type is called (only those
/// reject).
pub fn draw(p: &WebhookPlan, validating: bool, rng: &mut impl Rng) -> Draw {
    let u: f64 = rng.random();
    let reject = if validating { p.reject_rate } else { 0.0 };
    let outcome = if u < reject {
        Outcome::Reject
    } else if u < reject + p.error_rate {
        Outcome::Error
    } else if u < reject + p.error_rate + p.timeout_rate {
        Outcome::Timeout
    } else {
        Outcome::Allow
    };
    let latency = match outcome {
        // Past kube-apiserver's deadline, so it gives up first.
        Outcome::Timeout => p.timeout + Duration::from_secs(1),
        _ => sample(&p.latency, rng),
    };
    Draw { outcome, latency }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn stats(l: &LatencyPlan) -> (f64, f64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let v: Vec<f64> = (0..20_000)
            .map(|_| sample(l, &mut rng).as_secs_f64() * 1e3)
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        (mean, var.sqrt())
    }

    #[test]
    fn latency_models_have_their_moments() {
        let ms = |x: f64| Duration::from_secs_f64(x / 1e3);
        assert_eq!(stats(&LatencyPlan::Fixed(ms(20.0))), (20.0, 0.0));
        let (m, sd) = stats(&LatencyPlan::Normal {
            mean: ms(50.0),
            stddev: ms(10.0),
        });
        assert!(
            (m - 50.0).abs() < 0.5 && (sd - 10.0).abs() < 0.5,
            "{m} {sd}"
        );
        // 90% in (0, 10] ms, 10% in (10, 110] ms: mean 0.9 x 5 + 0.1 x 60 = 10.5 ms.
        let h = LatencyPlan::Histogram(vec![(ms(10.0), 90.0), (ms(110.0), 10.0)]);
        let (m, _) = stats(&h);
        assert!((m - 10.5).abs() < 0.6, "{m}");
        assert!((h.mean().as_secs_f64() * 1e3 - 10.5).abs() < 1e-9);
    }
}
