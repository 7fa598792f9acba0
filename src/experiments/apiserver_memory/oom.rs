//! The row's measured limit: after the fit, kube-apiserver is started in a memory cgroup of
//! [`LIMIT_BYTES`] and the fleet grows (`profiles/limits/apiserver-oom.yaml`) until the
//! kernel OOM-kills it; the row's note gives the cluster count at death beside what the
//! fitted line predicts for the same limit. Only on the local environment (the tool starts
//! kube-apiserver in the cgroup), and only where a memory cgroup can be made (root).

use super::super::Suite;
use crate::error::Error;
use crate::profile::{self, Output, Overrides};
use crate::report::apiserver_memory::{size, MemoryFit};
use crate::report::breakpoints::group;
use crate::report::memory_limit::MemoryOutcome;
use crate::report::Summary;
use std::path::Path;

/// The memory limit of the row's OOM run: 512 MiB, which this fleet shape fills in about
/// half a minute on 2 cores.
pub(super) const LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// The profile that grows the fleet until the apiserver dies.
const PROFILE: (&str, &str) = (
    "profiles/limits/apiserver-oom.yaml",
    include_str!("../../../profiles/limits/apiserver-oom.yaml"),
);

/// Clusters the fitted resident line puts within `limit` bytes.
pub(super) fn predicted(fit: &MemoryFit, limit: u64) -> Option<f64> {
    let f = &fit.resident_per_cluster;
    (f.bytes_per_unit > 0.0).then(|| (limit as f64 - f.base_bytes) / f.bytes_per_unit)
}

/// The sentence the row's note gains from the OOM run (how it ended and, when the
/// apiserver was OOM-killed, at how many clusters against the fit).
pub(super) fn sentence(
    outcome: Option<MemoryOutcome>,
    clusters: u64,
    fit: Option<&MemoryFit>,
) -> String {
    let at = size(LIMIT_BYTES as f64);
    match outcome {
        Some(MemoryOutcome::OomKilled) => {
            let vs = fit
                .and_then(|f| predicted(f, LIMIT_BYTES))
                .filter(|p| *p > 0.0)
                .map(|p| {
                    format!(
                        "; the fit predicts {} there, so {:.2}x the fit (memory while creating runs above the settled line)",
                        group(p),
                        clusters as f64 / p
                    )
                })
                .unwrap_or_default();
            format!(" Measured by OOM: kube-apiserver in a {at} memory cgroup was OOM-killed at {} clusters{vs} (apiserver-memory/oom/report.md).", group(clusters as f64))
        }
        Some(other) => format!(
            " Not OOM-killed under {at}: the run ended with the apiserver {} at {} clusters (apiserver-memory/oom/report.md).",
            match other {
                MemoryOutcome::Died => "dead otherwise",
                MemoryOutcome::GcThrash => "thrashing in garbage collection",
                _ => "alive",
            },
            group(clusters as f64)
        ),
        None => " Not measured by OOM: the run recorded no memory-limit outcome.".into(),
    }
}

/// Runs the OOM experiment into `<row dir>/oom` and words its result for the row's note;
/// an interrupted run is returned as the error, any other failure becomes the note.
pub(super) async fn measure(s: &Suite, fit: Option<&MemoryFit>) -> Result<String, Error> {
    if !s.local {
        return Ok(" Not measured by OOM: that needs the local environment (the tool starts kube-apiserver in a memory cgroup).".into());
    }
    let dir = s.dir.join("apiserver-memory").join("oom");
    let (path, text) = PROFILE;
    let plan = profile::parse_with(
        Path::new(path),
        text,
        "local.apiserver_memory_limit",
        &LIMIT_BYTES.to_string(),
        &Overrides {
            run_id: Some(format!("{}-moom", s.run_id)),
            out: Some(dir.clone()),
            output: Output::Nothing,
            ..s.overrides.clone()
        },
    )?;
    let result = crate::runner::run_plan(&plan, false).await;
    let limit = Summary::read(&dir)
        .ok()
        .and_then(|s| s.apiserver_memory_limit);
    match (result, limit) {
        (Err(e @ Error::Interrupted { .. }), _) => Err(e),
        (Ok(()) | Err(Error::ApiserverOomKilled { .. }), Some(m)) => {
            Ok(sentence(Some(m.outcome), m.clusters, fit))
        }
        (Err(Error::ApiserverOomKilled { clusters, .. }), None) => {
            Ok(sentence(Some(MemoryOutcome::OomKilled), clusters, fit))
        }
        (Ok(()), None) => Ok(sentence(None, 0, fit)),
        (Err(e), _) => Ok(format!(" Not measured by OOM: {e}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::apiserver_memory::Fit;

    fn fit(base: f64, per_cluster: f64) -> MemoryFit {
        MemoryFit {
            resident_source: "VmRSS".into(),
            resident_per_cluster: Fit {
                bytes_per_unit: per_cluster,
                base_bytes: base,
                r_squared: 0.99,
                points: 4,
            },
            heap_per_cluster: None,
            resident_per_object: None,
            etcd_bytes_per_cluster: 0.0,
            resident_to_etcd_ratio: 0.0,
            heap_to_etcd_ratio: None,
            by_kind_bytes_per_cluster: Default::default(),
            limits: Vec::new(),
            points: Vec::new(),
            controller_cache: crate::measure::memory::ControllerCacheMemory::not_measured("-"),
        }
    }

    #[test]
    fn an_oom_kill_is_said_beside_the_fit() {
        let f = fit(256.0 * 1024.0 * 1024.0, 1024.0 * 1024.0);
        assert_eq!(predicted(&f, LIMIT_BYTES), Some(256.0));
        let s = sentence(Some(MemoryOutcome::OomKilled), 200, Some(&f));
        assert!(s.contains("OOM-killed at 200 clusters"), "{s}");
        assert!(s.contains("the fit predicts 256 there, so 0.78x"), "{s}");
        let s = sentence(Some(MemoryOutcome::Survived), 3000, Some(&f));
        assert!(s.starts_with(" Not OOM-killed under"), "{s}");
        assert!(sentence(None, 0, None).contains("no memory-limit outcome"));
    }
}
