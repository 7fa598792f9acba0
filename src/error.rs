//! The tool's top-level error and its exit codes.
//!
//! Every user-facing failure maps to one line of text and a distinct exit code, so scripts
//! and CI jobs can tell a bad profile from an unreachable target from an interrupted run.

use std::path::PathBuf;

use crate::exit;

mod capi;
mod usage;
pub use capi::CapiError;
pub use usage::UsageError;

/// Everything that can end a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is invalid (a flag, a combination, a file or folder it names).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The safety guard refused the target (not kind, not local, not allowed).
    #[error(transparent)]
    Refused(#[from] crate::backend::guard::GuardError),
    /// The profile failed to parse or validate (message names file:line: field).
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// The local environment failed.
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    /// The target failed during set-up.
    #[error(transparent)]
    Target(#[from] crate::backend::TargetError),
    /// The tool's admission webhooks could not be started or installed.
    #[error(transparent)]
    Webhook(#[from] crate::webhook::WebhookError),
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
    /// Interrupted before anything was measured (nothing written).
    #[error("interrupted while {0}")]
    InterruptedWhile(&'static str),
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
    /// `compare` was given two runs that are not alike (profile, fleet size, target kind
    /// or versions differ): one line naming the difference.
    #[error("compare: {0}")]
    Unlike(crate::report::compare::inputs::InputError),
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
    /// A plot could not be drawn (a bug).
    #[error("internal error: {0}")]
    Plot(#[from] crate::report::plot::PlotError),
    /// A result could not be encoded as JSON (a bug).
    #[error("internal error: encoding {what} as JSON: {source}")]
    Encode {
        /// The type encoded.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// A task of the tool's own panicked or was cancelled (a bug).
    #[error("internal error: the {what} task failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// Why.
        source: tokio::task::JoinError,
    },
    /// Anything else (a bug): what the tool found that it never expected.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// A call the tool makes to set up or read the target failed (`what` says which).
    pub fn setup(endpoint: impl std::fmt::Display, what: std::fmt::Arguments<'_>) -> Error {
        Error::Target(crate::backend::TargetError::Setup {
            endpoint: endpoint.to_string(),
            message: what.to_string(),
        })
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Profile(_) | Error::Webhook(_) => exit::USAGE,
            Error::Env(_) => exit::ENVIRONMENT,
            Error::Target(e) => e.exit_code(),
            Error::Io { .. }
            | Error::Internal(_)
            | Error::Encode { .. }
            | Error::Plot(_)
            | Error::Task { .. } => exit::INTERNAL,
            Error::Interrupted { .. } | Error::InterruptedWhile(_) => exit::INTERRUPTED,
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

/// `value` as pretty JSON; failing is a bug ([`Error::Encode`]).
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(value).map_err(|source| Error::Encode {
        what: std::any::type_name::<T>(),
        source,
    })
}

/// The error of a task that did not finish (`what` names it).
pub fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Error {
    move |source| Error::Task { what, source }
}
