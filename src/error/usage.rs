//! A command line that cannot be used: a flag's value, a combination of flags, or a file or
//! folder it names. Each variant words one line and maps to the usage exit code.

use std::path::PathBuf;

/// What is wrong with the command line.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A flag's value is malformed or out of range: `<flag> <value>: <expected>`.
    #[error("{flag} {value}: {expected}")]
    Value {
        /// The flag, e.g. `--margin`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What the flag takes.
        expected: String,
    },
    /// Flags that cannot be combined, or one the target cannot serve (the text says which
    /// and what to do).
    #[error("{0}")]
    Combination(&'static str),
    /// A file or folder the command line names cannot be read.
    #[error("{command}: {}: {source}", path.display())]
    Read {
        /// The command or flag that named it.
        command: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A results file the command line names is not what the command needs.
    #[error("{command}: {}: {source}", path.display())]
    Json {
        /// The command or flag that named it.
        command: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// A folder the command line names does not hold what the command needs.
    #[error("{command}: {}: {why}", path.display())]
    Folder {
        /// The command or flag that named it.
        command: &'static str,
        /// The folder.
        path: PathBuf,
        /// What it lacks or holds.
        why: &'static str,
    },
    /// A sweep without a field or values, in the flags or in its profile.
    #[error("sweep: give {what} in {}", profile.display())]
    SweepMissing {
        /// What to give.
        what: &'static str,
        /// The profile.
        profile: PathBuf,
    },
    /// A sweep's field or values cannot be swept.
    #[error("sweep: {0}")]
    Sweep(#[from] crate::sweep::values::ValuesError),
    /// `compare`'s inputs cannot be compared.
    #[error("compare: {0}")]
    Compare(#[from] crate::report::compare::inputs::InputError),
    /// A `--tolerance-for` that cannot be used.
    #[error("compare: {0}")]
    Tolerance(#[from] crate::report::compare::tolerances::ToleranceError),
    /// `merge`'s inputs cannot be merged.
    #[error("merge: {0}")]
    Merge(#[from] crate::report::merge::MergeError),
    /// `--shard` cannot split the plan.
    #[error(transparent)]
    Shard(#[from] crate::profile::shard::ShardError),
    /// The calibration `plan` was given cannot be used.
    #[error("--calibration: {0}")]
    Calibration(#[from] crate::plan::calibration::CalibrationError),
}

/// Each command's own input error, as a usage error of [`Error`](crate::error::Error).
macro_rules! usage_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for crate::error::Error {
            fn from(e: $t) -> Self {
                crate::error::Error::Usage(UsageError::$v(e))
            }
        }
    )*};
}

usage_from!(
    crate::sweep::values::ValuesError => Sweep,
    crate::plan::calibration::CalibrationError => Calibration,
    crate::profile::shard::ShardError => Shard,
);

impl From<crate::report::compare::inputs::InputError> for crate::error::Error {
    fn from(e: crate::report::compare::inputs::InputError) -> Self {
        use crate::report::compare::inputs::InputError;
        match e {
            e @ InputError::Unlike { .. } => crate::error::Error::Unlike(e),
            e => crate::error::Error::Usage(UsageError::Compare(e)),
        }
    }
}

impl From<crate::report::merge::MergeError> for crate::error::Error {
    fn from(e: crate::report::merge::MergeError) -> Self {
        use crate::report::merge::MergeError;
        match e {
            MergeError::Write { path, source } => crate::error::Error::Io { path, source },
            e => crate::error::Error::Usage(UsageError::Merge(e)),
        }
    }
}
