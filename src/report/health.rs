//! Health verdicts from what was observed, judged by the thresholds in
//! [`crate::thresholds`] (WAL fsync p99 below 10 ms healthy, 10–25 warning, 25–50
//! degraded, above 50 critical; more than 3 leader changes in 10 minutes; mutating p99 over
//! 1 s; db size against the quota; 429s). Every threshold can be overridden in the profile
//! (`observe.thresholds`).

use crate::measure::scrape::Observed;
pub use crate::thresholds::{Level, Thresholds, DEFAULTS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The check's name (a key of [`DEFAULTS`]).
    pub check: String,
    /// The worst value seen (None: not observed).
    pub value: Option<f64>,
    /// Unit of `value`.
    pub unit: String,
    /// Thresholds applied: warning, degraded, critical.
    pub thresholds: Thresholds,
    /// The verdict.
    pub level: Level,
}

fn level(value: Option<f64>, t: Thresholds) -> Level {
    match value {
        None => Level::NotObserved,
        Some(v) if v >= t[2] => Level::Critical,
        Some(v) if v >= t[1] => Level::Degraded,
        Some(v) if v >= t[0] => Level::Warning,
        Some(_) => Level::Healthy,
    }
}

fn max_of(
    o: &Observed,
    f: impl Fn(&crate::measure::scrape::ObservedPoint) -> Option<f64>,
) -> Option<f64> {
    o.points.iter().filter_map(f).reduce(f64::max)
}

/// Judges a run. `quota` is etcd's quota in bytes when known; `requests` and `responses_429`
/// come from the tool's own counts.
pub fn verdicts(
    o: &Observed,
    quota: Option<u64>,
    requests: u64,
    responses_429: u64,
    overrides: &BTreeMap<String, Thresholds>,
) -> Vec<Verdict> {
    let minutes = o
        .points
        .last()
        .map(|p| p.second / 60.0)
        .unwrap_or(0.0)
        .max(1.0 / 60.0);
    let sum = |f: &dyn Fn(&crate::measure::scrape::ObservedPoint) -> Option<f64>| {
        let v: Vec<f64> = o.points.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>())
    };
    let db = max_of(o, |p| p.etcd_db_size).or(o.etcd_db_size_end);
    let values: BTreeMap<&str, Option<f64>> = [
        ("etcd_wal_fsync_p99", max_of(o, |p| p.wal_fsync_p99_ms)),
        (
            "etcd_backend_commit_p99",
            max_of(o, |p| p.backend_commit_p99_ms),
        ),
        (
            "etcd_leader_changes_per_10min",
            sum(&|p| p.leader_changes).map(|c| c / minutes * 10.0),
        ),
        ("etcd_proposals_failed", sum(&|p| p.proposals_failed)),
        (
            "etcd_db_size_of_quota",
            db.zip(quota).map(|(d, q)| d / q as f64 * 100.0),
        ),
        (
            "apiserver_mutating_p99",
            max_of(o, |p| p.apiserver_mutating_p99_ms),
        ),
        (
            "rejected_429_rate",
            (requests > 0).then(|| responses_429 as f64 / requests as f64 * 100.0),
        ),
    ]
    .into_iter()
    .collect();
    DEFAULTS
        .iter()
        .map(|(check, unit, t)| {
            let t = overrides.get(*check).copied().unwrap_or(*t);
            let value = values.get(check).copied().flatten();
            Verdict {
                check: check.to_string(),
                value,
                unit: unit.to_string(),
                thresholds: t,
                level: level(value, t),
            }
        })
        .collect()
}

/// The worst judged level (not-observed checks do not count).
pub fn worst(v: &[Verdict]) -> Level {
    v.iter()
        .map(|x| x.level)
        .filter(|l| *l != Level::NotObserved)
        .max()
        .unwrap_or(Level::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::scrape::ObservedPoint;

    fn observed(fsync: &[f64]) -> Observed {
        Observed {
            interval_seconds: 5.0,
            points: fsync
                .iter()
                .enumerate()
                .map(|(i, f)| ObservedPoint {
                    second: 5.0 * (i + 1) as f64,
                    wal_fsync_p99_ms: Some(*f),
                    leader_changes: Some(0.0),
                    etcd_db_size: Some(1e9),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn seed_thresholds_and_overrides() {
        let v = verdicts(
            &observed(&[3.0, 12.0, 4.0]),
            Some(2 << 30),
            1000,
            0,
            &BTreeMap::new(),
        );
        let get = |v: &[Verdict], c: &str| v.iter().find(|x| x.check == c).unwrap().clone();
        assert_eq!(get(&v, "etcd_wal_fsync_p99").level, Level::Warning);
        assert_eq!(get(&v, "etcd_wal_fsync_p99").value, Some(12.0));
        assert_eq!(
            get(&v, "etcd_leader_changes_per_10min").level,
            Level::Healthy
        );
        assert_eq!(
            get(&v, "etcd_db_size_of_quota").level,
            Level::Healthy,
            "1 GB of 2 GiB is 46.6%"
        );
        assert_eq!(get(&v, "apiserver_mutating_p99").level, Level::NotObserved);
        assert_eq!(get(&v, "rejected_429_rate").level, Level::Healthy);
        assert_eq!(worst(&v), Level::Warning);
        let v = verdicts(&observed(&[60.0]), None, 100, 20, &BTreeMap::new());
        assert_eq!(get(&v, "etcd_wal_fsync_p99").level, Level::Critical);
        assert_eq!(get(&v, "rejected_429_rate").level, Level::Critical);
        assert_eq!(
            get(&v, "etcd_db_size_of_quota").level,
            Level::NotObserved,
            "quota unknown"
        );
        let mut o = BTreeMap::new();
        o.insert("etcd_wal_fsync_p99".to_string(), [100.0, 200.0, 300.0]);
        let v = verdicts(&observed(&[60.0]), None, 0, 0, &o);
        assert_eq!(get(&v, "etcd_wal_fsync_p99").level, Level::Healthy);
        assert!(Level::Critical > Level::Degraded && Level::Degraded > Level::Warning);
    }
}
