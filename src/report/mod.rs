//! Result folders: writing `summary.json`, reading it back, rendering tables for people.
//! Works from result files only, so a folder from another machine renders the same.

pub mod apiserver_memory;
pub mod archive;
pub mod breakpoints;
pub mod compare;
pub mod etcd_cluster;
pub mod files;
pub mod generator;
pub mod health;
pub mod junit;
pub mod markdown;
pub mod memory_limit;
pub mod merge;
mod merge_error;
mod numbers;
pub mod plot;
pub mod run_sections;
pub mod shards;
pub mod summary;
pub mod table;
pub mod webhooks;

pub use summary::Summary;

use std::path::Path;

/// Re-renders `report.md` from a results directory's files; returns the Markdown.
pub fn rerender(dir: &Path) -> std::io::Result<String> {
    let summary = Summary::read(dir)?;
    let series = match std::fs::read_to_string(dir.join("timeseries.csv")) {
        Ok(text) => crate::measure::timeseries::read_csv(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("timeseries.csv: {e}"),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let md = markdown::render(&summary, &series);
    std::fs::write(dir.join("report.md"), &md)?;
    Ok(md)
}
