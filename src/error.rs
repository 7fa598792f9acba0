//! The tool's top-level error and its exit codes.
//!
//! Every user-facing failure maps to one line of text and a distinct exit code, so scripts
//! and CI jobs can tell a bad profile from an unreachable target from an interrupted run.

use std::path::PathBuf;

use crate::exit;

mod capi;
pub use capi::CapiError;

/// Everything that can end a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Flags or profile are invalid.
    #[error("{0}")]
    Usage(String),
    /// The safety guard refused the target (not kind, not local, not allowed).
    #[error("{0}")]
    Refused(String),
    /// The profile failed to parse or validate (message names file:line: field).
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// The local environment failed.
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    /// The target failed during set-up.
    #[error(transparent)]
    Target(#[from] crate::backend::TargetError),
    /// The real Cluster API managers could not be set up, or did not finish the run.
    #[error(transparent)]
    Capi(#[from] CapiError),
    /// The Prometheus to read observations from could not be used (before any load).
    #[error(transparent)]
    Prometheus(#[from] crate::measure::prometheus::PrometheusError),
    /// A results directory could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The run was interrupted; partial results are in `dir`.
    #[error("interrupted: partial results written to {}", dir.display())]
    Interrupted {
        /// Where the partial results are.
        dir: PathBuf,
    },
    /// The run stopped because the target failed; partial results are in `dir`.
    #[error("aborted, target failed ({reason}): partial results written to {}", dir.display())]
    TargetFailed {
        /// Why the target is considered failed.
        reason: String,
        /// Where the partial results are.
        dir: PathBuf,
    },
    /// The run stopped because the target's storage quota is full; partial results in `dir`.
    #[error("aborted, {reason}: partial results written to {}", dir.display())]
    QuotaFull {
        /// What the target said.
        reason: String,
        /// Where the partial results are.
        dir: PathBuf,
    },
    /// A health verdict reached the `--fail-on` level.
    #[error("health verdict {level} reached --fail-on: results written to {}", dir.display())]
    Unhealthy {
        /// The worst level.
        level: String,
        /// Where the results are.
        dir: PathBuf,
    },
    /// `compare` found metrics worse than the baseline beyond their tolerance (the table
    /// was printed).
    #[error("compare: {count} of {total} metrics regressed beyond tolerance")]
    Regressed {
        /// Metrics regressed.
        count: usize,
        /// Metrics compared.
        total: usize,
    },
    /// `compare` was given two results that are not alike (profile, fleet size, target
    /// kind or versions differ): one line naming the difference.
    #[error("{0}")]
    Unlike(String),
    /// The run finished but more of its requests failed than `--max-failure-ratio` allows;
    /// results were written.
    #[error("{failed} of {sent} requests failed ({ratio:.1}%), more than --max-failure-ratio {max:.1}%: results written to {}", dir.display())]
    TooManyFailures {
        /// Failed requests (failed + throttled beyond retries).
        failed: u64,
        /// Requests sent.
        sent: u64,
        /// failed / sent in percent.
        ratio: f64,
        /// The allowed percentage.
        max: f64,
        /// Where the results are.
        dir: PathBuf,
    },
    /// The local kube-apiserver was OOM-killed under its memory limit; partial results in
    /// `dir`.
    #[error("aborted, kube-apiserver OOM-killed under its {limit_mib} MiB memory limit at {clusters} clusters: partial results written to {}", dir.display())]
    ApiserverOomKilled {
        /// The limit (MiB).
        limit_mib: u64,
        /// Complete clusters' worth of acknowledged objects when it died.
        clusters: u64,
        /// Where the partial results are.
        dir: PathBuf,
    },
    /// Anything else (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Profile(_) => exit::USAGE,
            Error::Env(_) => exit::ENVIRONMENT,
            Error::Target(e) => e.exit_code(),
            Error::Io { .. } | Error::Internal(_) => exit::INTERNAL,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::TargetFailed { .. } => exit::TARGET_FAILED,
            Error::ApiserverOomKilled { .. } => exit::APISERVER_OOM,
            Error::QuotaFull { .. } => exit::QUOTA,
            Error::Unhealthy { .. } => exit::UNHEALTHY,
            Error::Refused(_) => exit::REFUSED,
            Error::Prometheus(_) => exit::OBSERVE_SOURCE,
            Error::Capi(e) => e.exit_code(),
            Error::Regressed { .. } => exit::REGRESSION,
            Error::Unlike(_) => exit::UNLIKE,
            Error::TooManyFailures { .. } => exit::TOO_MANY_FAILURES,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
