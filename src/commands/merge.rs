//! `capi-loadgen merge <dir>…`: joins the results of the shards of one run (see
//! [`crate::report::merge`]) and prints the merged table.

use crate::cli::MergeArgs;
use crate::error::Error;
use crate::report::merge::merge_dirs;

/// Runs `merge`.
pub fn run(args: MergeArgs) -> Result<(), Error> {
    let (s, out) = merge_dirs(
        &args.dirs,
        args.out.as_deref(),
        args.allow_partial,
        args.force,
    )?;
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
