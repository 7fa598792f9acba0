//! What a run is, as a library: connect to a target (starting the local environment when
//! the plan asks for it), drive the phases, write the results folder; runs over several
//! management clusters, etcd recovery after NOSPACE, and cleanup. The experiments built
//! from runs (sweeps, the breakpoints suite, sizes, versions) live in
//! [`experiments`](crate::experiments). The subcommands in `commands` only turn flags into
//! calls of these modules and print.

pub mod apiserver_oom;
pub mod cleanup;
pub mod connect;
pub mod driver;
pub mod dry_run;
pub mod etcd_faults;
pub mod execute;
pub mod multi;
pub mod namespace_settle;
mod observed_sources;
pub mod provider_discovery;
mod read_back;
pub mod recover;
pub mod reference;
pub mod run_checks;
pub mod warm_up;

pub use connect::{connect, Connected, Load};
pub use execute::{execute, watch_signals, with_target};

use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::profile::RunPlan;

/// Runs a validated plan end to end: over its management clusters when it has several,
/// else on one target; with `recover`, an etcd that filled its quota (NOSPACE) is made
/// usable again afterwards and `recovery.json` says how.
pub async fn run_plan(plan: &RunPlan, recover: bool) -> Result<(), Error> {
    if plan.management_clusters > 1 {
        return multi::run(plan).await;
    }
    with_target(plan, async |c: &Connected, handle: StopHandle, stop: Stop| {
        let result = execute(plan, c, handle, stop).await.map(|_| ());
        if let (true, Err(Error::QuotaFull { .. })) = (recover, &result) {
            let r = recover::recover(c, &plan.run_id, &plan.fleet.api_group).await?;
            let path = plan.out_dir.join("recovery.json");
            let json =
                crate::error::to_json(&r)?;
            std::fs::write(&path, json + "\n").map_err(|e| Error::io(&path, e))?;
            let say = |l: String| match plan.output {
                crate::profile::Output::Markdown => println!("{l}"),
                _ => eprintln!("{l}"),
            };
            say(format!(
                "etcd recovered in {:.1} s: this run's objects deleted{}, db {:.1} MiB -> {:.1} MiB after compact + defragment, NOSPACE disarmed, a write then {} ({})",
                r.seconds,
                if r.deleted_ok { "" } else { " (partly)" },
                r.db_full as f64 / 1048576.0,
                r.db_after as f64 / 1048576.0,
                if r.write_ok { "succeeded" } else { "FAILED" },
                path.display()
            ));
        }
        result
    })
    .await
}
