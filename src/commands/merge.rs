//! `capi-loadgen merge <dir>…`: joins the results of the shards of one run (see
//! [`crate::report::merge`]) and prints the merged table.

use crate::cli::MergeArgs;
use crate::error::Error;
use crate::report::merge::merge_dirs;
use crate::report::merge::MergeError;

/// Runs `merge`.
pub fn run(args: MergeArgs) -> Result<(), Error> {
    // Logs of shards run with `--output archive`: their results folders, unpacked (and
    // kept) under <out or results>/from-<log name>/<label>.
    let mut dirs = Vec::new();
    for p in &args.dirs {
        if p.is_file() {
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            let unpacked = args
                .out
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("results"))
                .join(format!("from-{stem}"));
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let found = crate::report::archive::extract(&text, &unpacked).map_err(|e| {
                MergeError::Unreadable {
                    path: p.clone(),
                    source: e.into(),
                }
            })?;
            if found.is_empty() {
                return Err(MergeError::NoArchive { path: p.clone() }.into());
            }
            dirs.extend(found);
        } else {
            dirs.push(p.clone());
        }
    }
    let (s, out) = merge_dirs(&dirs, args.out.as_deref(), args.allow_partial, args.force)?;
    print!("{}", crate::report::table::render(&s));
    println!(
        "merged {} shard(s) of run {}: {} clusters; results: {}",
        s.merged_from.len(),
        s.run_id,
        s.fleet.clusters,
        out.display()
    );
    Ok(())
}
