//! Checks around one run: whether too many of its requests failed
//! (`--max-failure-ratio`), and whether the etcd metrics URL the user named answers (said
//! on stderr before the load, not only in report.md), with etcd's version read from it.

use super::connect::Connected;
use crate::profile::RunPlan;
use crate::report::summary::{self, RunStatus, TargetInfo};

/// (failed percentage, limit) when a completed run's failed requests exceed the limit.
pub fn too_many_failures(
    status: RunStatus,
    totals: &summary::Counts,
    max: Option<f64>,
) -> Option<(f64, f64)> {
    let max = max?;
    if status != RunStatus::Completed || totals.sent == 0 {
        return None;
    }
    let ratio = totals.failed as f64 / totals.sent as f64 * 100.0;
    (ratio > max).then_some((ratio, max))
}

/// etcd's version from its `/metrics` (`etcd_server_version{server_version="3.5.21"} 1`),
/// as `v3.5.21`.
pub fn etcd_server_version(metrics: &str) -> Option<String> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix("etcd_server_version{")?;
        let v = rest.split("server_version=\"").nth(1)?.split('"').next()?;
        (!v.is_empty()).then(|| format!("v{}", v.trim_start_matches('v')))
    })
}

/// Scrapes the etcd metrics URL the user named (`--etcd-metrics-url`,
/// `observe.etcd_metrics_url`) once before the load, for a kube target whose etcd the tool
/// does not know otherwise: etcd's version when it answers, else a line on stderr saying
/// etcd will not be observed (and why).
pub async fn etcd_metrics_check(plan: &RunPlan, c: &Connected) -> Option<String> {
    if c.info.etcd_version.is_some() || plan.observe.prometheus.is_some() {
        return None;
    }
    let url = plan.observe.etcd_metrics_url.as_ref()?;
    match crate::measure::scrape::http_get(url).await {
        Ok(text) => etcd_server_version(&text),
        Err(e) => {
            eprintln!(
                "warning: etcd metrics URL cannot be reached ({e}): etcd is not observed in this run (WAL fsync, backend commit, db size); check --etcd-metrics-url / observe.etcd_metrics_url"
            );
            None
        }
    }
}

/// The target as reported, with etcd's version when it was read from its metrics.
pub fn with_etcd_version(mut info: TargetInfo, etcd_version: Option<String>) -> TargetInfo {
    if info.etcd_version.is_none() {
        info.etcd_version = etcd_version;
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_version_from_its_metrics() {
        let text = "# HELP etcd_server_version Which version is running.\n# TYPE etcd_server_version gauge\netcd_server_version{server_version=\"3.6.16\"} 1\n";
        assert_eq!(etcd_server_version(text).as_deref(), Some("v3.6.16"));
        assert_eq!(etcd_server_version("etcd_server_has_leader 1\n"), None);
    }

    #[test]
    fn failures_above_the_limit_fail_a_completed_run() {
        let counts = |sent, failed| summary::Counts {
            sent,
            failed,
            ..Default::default()
        };
        let c = counts(1000, 770);
        let (ratio, max) = too_many_failures(RunStatus::Completed, &c, Some(1.0)).unwrap();
        assert!((ratio - 77.0).abs() < 1e-9 && max == 1.0);
        assert_eq!(
            too_many_failures(RunStatus::Completed, &counts(1000, 10), Some(1.0)),
            None
        );
        assert_eq!(too_many_failures(RunStatus::Aborted, &c, Some(1.0)), None);
        assert_eq!(too_many_failures(RunStatus::Completed, &c, None), None);
    }
}
