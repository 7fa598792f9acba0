//! `sweep --controller simulated|reference|both`: the sweep with one steady-phase controller,
//! or with each in turn (into `<dir>/simulated` and `<dir>/reference`) followed by their
//! comparison (`<dir>/comparison.md`, `comparison.json` and `<metric>.svg` with both curves).

pub mod report;

use super::sweep::{rederive, sweep, SweepSpec};
use crate::error::Error;
use crate::profile::ControllerKind;
use crate::sweep::file::markdown;

/// `sweep --controller`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SweepController {
    /// The tool's controller simulation.
    Simulated,
    /// The controller-runtime reference controller.
    Reference,
    /// Both, one after the other, and their comparison.
    Both,
}

/// Runs the sweep of `spec` with the controller(s) asked for; prints what it wrote.
pub async fn run(
    mut spec: SweepSpec,
    which: SweepController,
    reuse_complete: bool,
) -> Result<(), Error> {
    let one = match which {
        SweepController::Simulated => Some(ControllerKind::Simulated),
        SweepController::Reference => Some(ControllerKind::Reference),
        SweepController::Both => None,
    };
    if let Some(c) = one {
        spec.controller = Some(c);
        let report = sweep(&spec).await?;
        print!("{}", markdown(&report));
        println!("sweep results: {}", spec.dir.display());
        return Ok(());
    }
    let dir = spec.dir.clone();
    let id = spec.sweep_id.clone();
    let mut reports = Vec::new();
    for (c, name) in [
        (ControllerKind::Simulated, "simulated"),
        (ControllerKind::Reference, "reference"),
    ] {
        spec.controller = Some(c);
        spec.dir = dir.join(name);
        spec.sweep_id = format!("{id}-{}", &name[..3]);
        if reuse_complete {
            if let Some(r) = rederive(&spec) {
                println!(
                    "{name}: reusing the complete sweep {} in {}",
                    r.sweep_id,
                    spec.dir.display()
                );
                reports.push(r);
                continue;
            }
        }
        reports.push(sweep(&spec).await?);
    }
    let (sim, reference) = (&reports[0], &reports[1]);
    let io = |p: &std::path::Path, e| Error::io(p, e);
    let md = report::markdown(sim, reference);
    let p = dir.join("comparison.md");
    std::fs::write(&p, &md).map_err(|e| io(&p, e))?;
    let rows = report::rows(sim, reference);
    let json = crate::error::to_json(&rows)?;
    let p = dir.join("comparison.json");
    std::fs::write(&p, json + "\n").map_err(|e| io(&p, e))?;
    for a in &sim.curves {
        if let Some(b) = reference.curves.iter().find(|b| b.metric == a.metric) {
            let svg = report::svg(a, b, &sim.field)?;
            let p = dir.join(format!("{}.svg", a.metric));
            std::fs::write(&p, svg).map_err(|e| io(&p, e))?;
        }
    }
    print!("{md}");
    println!("comparison: {}", dir.display());
    Ok(())
}
