//! `run --shard i/n`: one process generates one slice of the fleet. Shards split the fleet
//! by namespace ([`crate::model::FleetSpec::namespace_range`]), so no two shards create
//! the same namespace or object name, and together they create exactly the fleet.

use super::RunPlan;
use crate::model::Shard;

/// The environment variable Kubernetes sets in every pod of an Indexed Job.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Parses `--shard`: `i/n` (0 ≤ i < n), or a bare `n` with i from `$JOB_COMPLETION_INDEX`.
pub fn parse(s: &str) -> Result<Shard, ShardError> {
    parse_with(s, std::env::var(JOB_COMPLETION_INDEX).ok().as_deref())
}

fn parse_with(s: &str, job_index: Option<&str>) -> Result<Shard, ShardError> {
    let number = |what: &'static str, v: &str| -> Result<u64, ShardError> {
        v.trim().parse::<u64>().map_err(|_| ShardError::NotANumber {
            what,
            value: v.into(),
        })
    };
    let (index, count) = match s.split_once('/') {
        Some((i, n)) => (number("shard index", i)?, number("shard count", n)?),
        None => {
            let count = number("shard count", s)?;
            let Some(i) = job_index else {
                return Err(ShardError::NoJobIndex(s.into()));
            };
            (number("$JOB_COMPLETION_INDEX", i)?, count)
        }
    };
    if count == 0 {
        return Err(ShardError::NoShards);
    }
    if index >= count {
        return Err(ShardError::IndexTooLarge { index, count });
    }
    Ok(Shard { index, count })
}

/// Why a plan cannot be split into the shard asked for (one line, a usage error).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ShardError {
    /// A part of `i/n` that is not a whole number.
    #[error("{what} `{value}` is not a whole number (expected i/n, e.g. 0/4)")]
    NotANumber {
        /// Which part.
        what: &'static str,
        /// What was given.
        value: String,
    },
    /// A bare count outside an Indexed Job.
    #[error("a bare count `{0}` takes the shard index from ${JOB_COMPLETION_INDEX}, which is not set; give i/{0}")]
    NoJobIndex(String),
    /// `i/0`.
    #[error("the shard count must be at least 1")]
    NoShards,
    /// `i/n` with i ≥ n.
    #[error("shard index {index} must be below the count {count} (indices are 0-based)")]
    IndexTooLarge {
        /// The index given.
        index: u64,
        /// The count given.
        count: u64,
    },
    /// A shard without a run id.
    #[error("--shard {}/{}: needs --run-id: every shard must label its objects with the same run id", .0.index, .0.count)]
    NoRunId(Shard),
    /// More shards than namespaces.
    #[error("--shard {}/{}: the fleet has {namespaces} namespace(s) and shards split it by namespace; use at most {namespaces} shards or fewer clusters per namespace", shard.index, shard.count)]
    TooMany {
        /// The shard asked for.
        shard: Shard,
        /// The fleet's namespaces.
        namespaces: u64,
    },
}

/// Restricts `plan` to `shard`: the fleet's slice, open-loop rates divided by the shard
/// count (so the shards together offer the profile's rate) and, unless `--out` was given,
/// results in `results/<run-id>/shard-<i>`. Client limits, workers and the steady phase
/// stay per process: each shard is one more controller with its own client. The error is
/// one line for the user (a usage error).
pub fn apply(
    plan: &mut RunPlan,
    shard: Shard,
    run_id_given: bool,
    out_given: bool,
) -> Result<(), ShardError> {
    if shard.is_whole() {
        return Ok(());
    }
    if !run_id_given {
        return Err(ShardError::NoRunId(shard));
    }
    let namespaces = plan.fleet.namespace_count();
    if shard.count > namespaces {
        return Err(ShardError::TooMany { shard, namespaces });
    }
    plan.fleet.shard = shard;
    let n = shard.count as f64;
    if let Some(c) = plan.phases.create.as_mut() {
        c.rate = c.rate.map(|r| match r {
            super::phases::Rate::ObjectsPerSecond(x) => {
                super::phases::Rate::ObjectsPerSecond(x / n)
            }
            super::phases::Rate::ClustersPerSecond(x) => {
                super::phases::Rate::ClustersPerSecond(x / n)
            }
        });
    }
    if let Some(d) = plan.phases.delete.as_mut() {
        d.rate = d.rate.map(|r| r / n);
    }
    if !out_given {
        plan.out_dir = plan.out_dir.join(format!("shard-{}", shard.index));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FleetSpec;
    use std::collections::BTreeSet;

    #[test]
    fn parses_both_forms() {
        assert_eq!(parse_with("2/4", None), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(parse_with("4", Some("3")), Ok(Shard { index: 3, count: 4 }));
        assert!(parse_with("4", None)
            .unwrap_err()
            .to_string()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(parse_with("4/4", None)
            .unwrap_err()
            .to_string()
            .contains("below the count"));
        assert!(parse_with("0/0", None)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        assert!(parse_with("a/4", None)
            .unwrap_err()
            .to_string()
            .contains("`a`"));
        assert!(parse_with("4", Some("x"))
            .unwrap_err()
            .to_string()
            .contains("JOB_COMPLETION_INDEX"));
    }

    /// Every cluster and namespace belongs to exactly one shard, whatever the sizes.
    #[test]
    fn shards_partition_the_fleet() {
        for (clusters, per_ns, count) in
            [(10, 1, 3), (10, 3, 2), (7, 2, 4), (1000, 7, 5), (5, 5, 1)]
        {
            let mut f = FleetSpec::example("r");
            f.clusters = clusters;
            f.clusters_per_namespace = per_ns;
            let (mut seen_c, mut seen_ns, mut objects) = (BTreeSet::new(), BTreeSet::new(), 0);
            for index in 0..count {
                f.shard = Shard { index, count };
                for c in f.cluster_range() {
                    assert!(seen_c.insert(c), "cluster {c} in two shards");
                    assert!(f.namespace_range().contains(&f.namespace_index(c)));
                }
                for n in f.namespace_range() {
                    assert!(seen_ns.insert(n), "namespace {n} in two shards");
                }
                objects += f.shard_objects();
            }
            assert_eq!(seen_c.len() as u64, clusters, "{clusters}/{per_ns}/{count}");
            assert_eq!(seen_ns.len() as u64, f.namespace_count());
            f.shard = Shard::default();
            assert_eq!(objects, f.total_objects());
        }
    }
}
