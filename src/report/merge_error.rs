//! Why `merge` cannot join the results it was given: one line naming the folder or file.

use std::path::PathBuf;

/// Why the named results cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No folder named.
    #[error("give the shards' results directories")]
    NoInputs,
    /// A named folder is not a results folder.
    #[error("{}: not a results directory", path.display())]
    NotResults {
        /// The folder.
        path: PathBuf,
    },
    /// A shard's file cannot be read or parsed.
    #[error("{}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A folder whose run was not sharded.
    #[error("{}: is not a shard (its summary.json has no `shard`): merge joins the results of `run --shard i/n`", path.display())]
    NotAShard {
        /// The folder.
        path: PathBuf,
    },
    /// Shards of two runs.
    #[error("{}: run id {run_id} differs from {first} in {}: shards of one run share --run-id", path.display(), first_dir.display())]
    RunId {
        /// The folder.
        path: PathBuf,
        /// Its run id.
        run_id: String,
        /// The first folder's run id.
        first: String,
        /// The first folder.
        first_dir: PathBuf,
    },
    /// Shards of two shard counts.
    #[error("{}: is shard {index}/{count}, the others are of {others}", path.display())]
    Count {
        /// The folder.
        path: PathBuf,
        /// Its shard index.
        index: u64,
        /// Its shard count.
        count: u64,
        /// The others' shard count.
        others: u64,
    },
    /// One shard given twice.
    #[error("{}: shard {index} is given twice", path.display())]
    Twice {
        /// The folder.
        path: PathBuf,
        /// The shard index.
        index: u64,
    },
    /// Shards missing (without `--allow-partial`).
    #[error("shard(s) {missing} of {count} missing: give every shard's directory, or --allow-partial to merge what there is")]
    Missing {
        /// The missing indexes, comma-separated.
        missing: String,
        /// The shard count.
        count: u64,
    },
    /// An operation the tool does not know.
    #[error("{}: operation {operation}", path.display())]
    Operation {
        /// The summary.
        path: PathBuf,
        /// phase/verb/kind.
        operation: String,
    },
    /// The output folder already holds results (without `--force`).
    #[error("{}: already holds a summary.json: give --out elsewhere or --force", path.display())]
    OutputExists {
        /// The output folder.
        path: PathBuf,
    },
    /// The merged results could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A log named with no results archive in it.
    #[error("{}: no results archive in it (run the shards with --output archive)", path.display())]
    NoArchive {
        /// The log.
        path: PathBuf,
    },
}

pub(crate) fn unreadable(
    path: PathBuf,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> MergeError {
    MergeError::Unreadable {
        path,
        source: e.into(),
    }
}
