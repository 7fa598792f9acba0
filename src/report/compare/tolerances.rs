//! How much worse a metric may get before `compare` calls it regressed, by metric class.
//!
//! Between two healthy runs of the same profile on the same cluster, tail latencies move
//! far more than counts do: a p99 is the slowest 1% of requests, and a garbage collection,
//! a compaction or a neighbour on a shared machine moves it by tens of percent (a steady
//! GET p99 +87% between two identical runs has been seen). So without `--tolerance` the
//! classes get their own defaults ([`Tolerances::class_defaults`]): latency, wait and lag
//! p99s [`TAIL_TOLERANCE`], throughput [`THROUGHPUT_TOLERANCE`], everything else
//! (failure rate, bytes per cluster, breakpoint positions) [`COUNT_TOLERANCE`].

use super::{num, Family};
use std::collections::BTreeMap;

/// Default tolerance of the p99 families (latency, throttle wait, queue wait, lag): a tail
/// must more than double to regress.
pub const TAIL_TOLERANCE: f64 = 100.0;
/// Default tolerance of throughput (ok requests per second).
pub const THROUGHPUT_TOLERANCE: f64 = 20.0;
/// Default tolerance of every other family (failure rate, bytes per cluster, breakpoints).
pub const COUNT_TOLERANCE: f64 = 10.0;

/// Tolerances in percent: one for every family, overridable per family.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerances {
    /// `--tolerance`.
    pub default: f64,
    /// `--tolerance-for FAMILY=PERCENT`.
    pub by_family: BTreeMap<Family, f64>,
}

impl Tolerances {
    /// One tolerance for every family (`--tolerance`).
    pub fn uniform(default: f64) -> Tolerances {
        Tolerances {
            default,
            by_family: BTreeMap::new(),
        }
    }

    /// The per-class defaults (see the module's text).
    pub fn class_defaults() -> Tolerances {
        let mut t = Tolerances::uniform(COUNT_TOLERANCE);
        for f in [
            Family::LatencyP99,
            Family::ThrottleWaitP99,
            Family::QueueWaitP99,
            Family::LagP99,
        ] {
            t.by_family.insert(f, TAIL_TOLERANCE);
        }
        t.by_family.insert(Family::Throughput, THROUGHPUT_TOLERANCE);
        t
    }

    /// The tolerance of one family.
    pub fn of(&self, f: Family) -> f64 {
        self.by_family.get(&f).copied().unwrap_or(self.default)
    }

    /// Parses `FAMILY=PERCENT`.
    pub fn parse_override(s: &str) -> Result<(Family, f64), ToleranceError> {
        let names = || {
            Family::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, pct) = s
            .split_once('=')
            .ok_or_else(|| ToleranceError::Shape(s.into()))?;
        let family = Family::parse(name.trim()).ok_or_else(|| ToleranceError::Unknown {
            given: s.into(),
            name: name.into(),
            known: names(),
        })?;
        let pct = percent(pct.trim()).map_err(|source| ToleranceError::Percent {
            given: s.into(),
            source,
        })?;
        Ok((family, pct))
    }

    /// "10%", or "10% (latency_p99 25%)": the default and the overrides of the families
    /// given (those of the metrics compared).
    pub fn describe_for(&self, families: impl IntoIterator<Item = Family>) -> String {
        let present: std::collections::BTreeSet<Family> = families.into_iter().collect();
        let over: Vec<String> = self
            .by_family
            .iter()
            .filter(|(f, t)| present.contains(f) && **t != self.default)
            .map(|(f, t)| format!("{} {}%", f.name(), num(*t)))
            .collect();
        if over.is_empty() {
            format!("{}%", num(self.default))
        } else {
            format!("{}% ({})", num(self.default), over.join(", "))
        }
    }
}

/// A tolerance that is not a finite, non-negative percentage.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0:?} is not a percentage (a number >= 0)")]
pub struct NotAPercent(pub String);

/// A `--tolerance-for` that cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    /// Not `METRIC=PERCENT`.
    #[error("--tolerance-for {0:?}: expected METRIC=PERCENT")]
    Shape(String),
    /// A metric family the tool does not compare.
    #[error("--tolerance-for {given:?}: unknown metric {name:?} (one of {known})")]
    Unknown {
        /// The flag's value.
        given: String,
        /// The metric named.
        name: String,
        /// The families there are.
        known: String,
    },
    /// A percentage that is not one.
    #[error("--tolerance-for {given:?}: {source}")]
    Percent {
        /// The flag's value.
        given: String,
        /// What is wrong with the percentage.
        source: NotAPercent,
    },
}

/// Parses a tolerance: a finite, non-negative percentage (a trailing `%` is allowed).
pub fn percent(s: &str) -> Result<f64, NotAPercent> {
    match s.strip_suffix('%').unwrap_or(s).trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(NotAPercent(s.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{judge, Metric, Value, Verdict};
    use super::*;

    fn m(family: Family, b: Value, c: Value) -> Metric {
        Metric {
            name: "x".into(),
            family,
            unit: "u".into(),
            baseline: b,
            candidate: c,
        }
    }

    #[test]
    fn tails_are_wider_than_counts_by_default() {
        let t = Tolerances::class_defaults();
        let at =
            |f: Family, b: f64, c: f64| judge(&m(f, Value::Exact(b), Value::Exact(c)), t.of(f));
        // Two healthy identical runs: a p99 +87% is noise.
        assert_eq!(at(Family::LatencyP99, 15.0, 28.0), Verdict::Ok);
        // Tripled is not.
        assert_eq!(at(Family::LatencyP99, 15.0, 45.0), Verdict::Regressed);
        assert_eq!(at(Family::Throughput, 400.0, 200.0), Verdict::Regressed);
        assert_eq!(at(Family::Throughput, 400.0, 350.0), Verdict::Ok);
        assert_eq!(at(Family::Breakpoint, 600.0, 500.0), Verdict::Regressed);
        assert_eq!(t.describe_for([Family::Breakpoint]), "10%");
        assert_eq!(
            t.describe_for([Family::LatencyP99, Family::Throughput]),
            "10% (latency_p99 100%, throughput 20%)"
        );
    }

    #[test]
    fn tolerance_overrides_apply_by_family() {
        let (f, t) = Tolerances::parse_override("latency_p99=25").unwrap();
        assert_eq!((f, t), (Family::LatencyP99, 25.0));
        let tol = Tolerances {
            default: 10.0,
            by_family: [(f, t)].into(),
        };
        assert_eq!(tol.of(Family::LatencyP99), 25.0);
        assert_eq!(tol.of(Family::LagP99), 10.0);
        assert_eq!(
            judge(
                &m(Family::LatencyP99, Value::Exact(100.0), Value::Exact(120.0)),
                tol.of(f)
            ),
            Verdict::Ok
        );
        assert_eq!(
            judge(
                &m(Family::LagP99, Value::Exact(100.0), Value::Exact(120.0)),
                tol.of(Family::LagP99)
            ),
            Verdict::Regressed
        );
        assert_eq!(tol.describe_for(Family::ALL), "10% (latency_p99 25%)");
        assert_eq!(tol.describe_for([Family::LagP99]), "10%");
        assert!(Tolerances::parse_override("latency=5")
            .unwrap_err()
            .to_string()
            .contains("throttle_wait_p99"));
        assert!(Tolerances::parse_override("latency_p99").is_err());
        assert!(Tolerances::parse_override("latency_p99=-1").is_err());
        assert!(Tolerances::parse_override("latency_p99=NaN").is_err());
        assert_eq!(percent("12.5%"), Ok(12.5));
    }
}
