//! Exit codes, documented in README.md and docs/guide/measurements.md ("Exit codes"): one
//! per kind of failure, so scripts and CI jobs can tell a bad profile from an unreachable
//! target from an interrupted run.

/// Success.
pub const OK: i32 = 0;
/// An unexpected internal error (a bug: please report it).
pub const INTERNAL: i32 = 1;
/// `compare` only: a metric regressed beyond its tolerance (like `diff`: 0 same, 1
/// different, 2 trouble). `compare` reports no other failure with 1.
pub const REGRESSION: i32 = 1;
/// Bad input: command-line flags or the profile (file, line and field are named).
pub const USAGE: i32 = 2;
/// The local environment or its binaries could not be found or started.
pub const ENVIRONMENT: i32 = 3;
/// The target could not be reached (connection refused, DNS, TLS handshake, timeout).
pub const UNREACHABLE: i32 = 4;
/// The target refused our credentials (HTTP 401/403 on set-up calls).
pub const AUTH: i32 = 5;
/// The target's storage quota is full (etcd NOSPACE alarm).
pub const QUOTA: i32 = 6;
/// The safety guard refused to write to this target.
pub const REFUSED: i32 = 7;
/// The run was aborted because the target failed; partial results were written.
pub const TARGET_FAILED: i32 = 8;
/// A health verdict reached the `--fail-on` level; results were written.
pub const UNHEALTHY: i32 = 9;
/// The Prometheus named to read the observations from (`observe.prometheus_url`) could
/// not be reached or did not answer as a Prometheus; nothing was written to the target.
pub const OBSERVE_SOURCE: i32 = 10;
/// `compare` only: the two results are not alike (different profile, fleet size, target
/// kind, shard count, kube-apiserver or etcd version): nothing was compared.
pub const UNLIKE: i32 = 11;
/// The run finished, but more of its requests failed than `--max-failure-ratio` (profile
/// `max_failure_ratio`) allows; results were written and the summary says why.
pub const TOO_MANY_FAILURES: i32 = 12;
/// The real Cluster API managers (`capi_controllers:`) failed, or did not provision the
/// fleet in time; partial results were written.
pub const CONTROLLERS: i32 = 13;
/// The local kube-apiserver was OOM-killed under `local.apiserver_memory_limit`; partial
/// results were written, and `summary.json` `apiserver_memory_limit` says at how many
/// clusters.
pub const APISERVER_OOM: i32 = 14;
/// The run was interrupted (SIGINT/SIGTERM); partial results were written.
pub const INTERRUPTED: i32 = 130;
