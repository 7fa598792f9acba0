//! `capi-loadgen report <dir>`: re-renders the Markdown of a results folder from its JSON
//! (a run's `summary.json`, a sweep's `sweep.json`, a suite's `breakpoints.json` or a
//! `--versions` comparison's `versions.json`), so a
//! folder from another machine or an older version reads the same, and prints it.

use crate::cli::ReportArgs;
use crate::error::{Error, UsageError};
use std::path::Path;

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    serde_json::from_str(&text).map_err(|source| {
        UsageError::Json {
            command: "report",
            path: p.into(),
            source,
        }
        .into()
    })
}

/// Runs `report`.
pub fn run(args: &ReportArgs) -> Result<(), Error> {
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(UsageError::Folder {
            command: "report",
            path: dir.clone(),
            why: "not a results folder (no such directory)",
        }
        .into());
    }
    let (bp, sw) = (dir.join("breakpoints.json"), dir.join("sweep.json"));
    let vs = dir.join("versions.json");
    let (md, out) = if vs.exists() {
        let r: crate::experiments::versions::report::VersionsReport = read_json(&vs)?;
        (
            crate::experiments::versions::report::markdown(&r),
            dir.join("versions.md"),
        )
    } else if bp.exists() {
        let r: crate::report::breakpoints::BreakpointsReport = read_json(&bp)?;
        (
            crate::report::breakpoints::markdown(&r),
            dir.join("breakpoints.md"),
        )
    } else if sw.exists() {
        let r: crate::sweep::SweepReport = read_json(&sw)?;
        (crate::sweep::file::markdown(&r), dir.join("sweep.md"))
    } else {
        let md = crate::report::rerender(dir).map_err(|e| Error::io(dir, e))?;
        print!("{md}");
        return Ok(());
    };
    std::fs::write(&out, &md).map_err(|e| Error::io(&out, e))?;
    print!("{md}");
    Ok(())
}
