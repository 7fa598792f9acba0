//! Validation of the local environment's constraints: `local.etcd_fsync_delay_ms` (etcd's
//! data directory on a slow disk) and `local.apiserver_memory_limit` /
//! `local.apiserver_gomemlimit` (kube-apiserver in a memory cgroup, with Go's soft limit).

use super::ProfileError;
use crate::env::memory_cgroup::MemoryLimit;
use serde::Deserialize;

/// `local.etcd_fsync_backing`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncBacking {
    /// The state directory's disk.
    #[default]
    Disk,
    /// tmpfs (`/dev/shm`).
    Memory,
}

/// A size in bytes, or a quantity with a Kubernetes suffix (`512Mi`, `2Gi`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ByteQuantity {
    /// A number of bytes.
    Bytes(u64),
    /// A quantity like `512Mi`.
    Text(String),
}

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The largest fsync delay accepted (ms): one second per fsync is already a broken disk.
const MAX_FSYNC_DELAY_MS: u64 = 1000;
/// The smallest memory limit accepted.
const MIN_MEMORY_LIMIT: u64 = 32 * 1024 * 1024;
/// The largest memory limit accepted.
const MAX_MEMORY_LIMIT: u64 = 1024 * 1024 * 1024 * 1024;

/// Bytes of a quantity written as a number of bytes or with a Kubernetes suffix (`Ki`,
/// `Mi`, `Gi`, `Ti` in powers of 1024; `k`/`K`, `M`, `G`, `T` in powers of 1000), e.g.
/// `512Mi`; None when it is not one.
pub fn parse_quantity(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn bytes(err: Err, field: &str, q: &ByteQuantity) -> Result<u64, ProfileError> {
    let b = match q {
        ByteQuantity::Bytes(b) => Some(*b),
        ByteQuantity::Text(t) => parse_quantity(t),
    }
    .ok_or_else(|| {
        err(
            field,
            "must be bytes or a quantity like 512Mi or 2Gi".to_string(),
        )
    })?;
    if !(MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&b) {
        return Err(err(
            field,
            format!(
                "{b} bytes must be between 32Mi ({MIN_MEMORY_LIMIT}) and 1Ti ({MAX_MEMORY_LIMIT})"
            ),
        ));
    }
    Ok(b)
}

/// What the local environment is constrained by: the slow disk's delay and backing, and
/// the apiserver's memory limit.
pub(super) struct LocalConstraints {
    /// `local.etcd_fsync_delay_ms`.
    pub delay_ms: Option<u32>,
    /// `local.etcd_fsync_backing: memory`.
    pub in_memory: bool,
    /// `local.apiserver_memory_limit` and `local.apiserver_gomemlimit`.
    pub memory: Option<MemoryLimit>,
}

/// The `local:` fields this module checks, as written.
pub(super) struct LocalFields<'a> {
    /// `local.etcd_fsync_delay_ms`.
    pub etcd_fsync_delay_ms: Option<u64>,
    /// `local.etcd_fsync_backing`.
    pub etcd_fsync_backing: Option<FsyncBacking>,
    /// `local.apiserver_memory_limit`.
    pub apiserver_memory_limit: Option<&'a ByteQuantity>,
    /// `local.apiserver_gomemlimit`.
    pub apiserver_gomemlimit: Option<&'a ByteQuantity>,
    /// `local.apiservers`.
    pub apiservers: Option<u64>,
}

/// `local.etcd_fsync_delay_ms`, its backing and the apiserver's memory limit, checked.
pub(super) fn local_constraints(
    l: LocalFields,
    err: Err,
) -> Result<LocalConstraints, ProfileError> {
    if l.etcd_fsync_backing.is_some() && l.etcd_fsync_delay_ms.is_none() {
        return Err(err(
            "local.etcd_fsync_backing",
            "only applies with local.etcd_fsync_delay_ms".into(),
        ));
    }
    let delay = match l.etcd_fsync_delay_ms {
        Some(ms) if ms > MAX_FSYNC_DELAY_MS => {
            return Err(err(
                "local.etcd_fsync_delay_ms",
                format!("{ms} must be at most {MAX_FSYNC_DELAY_MS} (ms per fsync)"),
            ))
        }
        d => d.map(|ms| ms as u32),
    };
    let limit = l
        .apiserver_memory_limit
        .map(|q| bytes(err, "local.apiserver_memory_limit", q))
        .transpose()?;
    let go = l
        .apiserver_gomemlimit
        .map(|q| bytes(err, "local.apiserver_gomemlimit", q))
        .transpose()?;
    let memory = match (limit, go) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(err(
                "local.apiserver_gomemlimit",
                "only applies with local.apiserver_memory_limit".into(),
            ))
        }
        (Some(limit), Some(g)) if g > limit => {
            return Err(err(
                "local.apiserver_gomemlimit",
                format!("{g} bytes is above local.apiserver_memory_limit ({limit} bytes): Go's soft limit must sit below the hard one"),
            ))
        }
        (Some(limit_bytes), gomemlimit_bytes) => Some(MemoryLimit {
            limit_bytes,
            gomemlimit_bytes,
        }),
    };
    if memory.is_some() && l.apiservers.is_some_and(|n| n > 1) {
        return Err(err(
            "local.apiserver_memory_limit",
            "applies to a single kube-apiserver: leave local.apiservers at 1".into(),
        ));
    }
    Ok(LocalConstraints {
        delay_ms: delay,
        in_memory: l.etcd_fsync_backing == Some(FsyncBacking::Memory),
        memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities() {
        assert_eq!(parse_quantity("512Mi"), Some(512 << 20));
        assert_eq!(parse_quantity("1Gi"), Some(1 << 30));
        assert_eq!(parse_quantity("2G"), Some(2_000_000_000));
        assert_eq!(parse_quantity("1048576"), Some(1 << 20));
        for bad in ["", "Mi", "1.5Gi", "512MB", "-1Mi", "1 Gi x"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
        assert_eq!(parse_quantity("99999999999Ti"), None);
    }
}
