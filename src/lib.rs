//! capi-loadgen: finds the scaling breakpoints of Kubernetes / Cluster API management
//! clusters empirically. The binary is a thin wrapper: tests call [`run`] in-process.
//!
//! A request's way through the code: `profile` (parse + validate into a `Plan`) →
//! `engine` (phases, workers, the rate-limited client `pool`) → `target` (kube-apiserver) →
//! `measure` (collector: histograms, counters) → `report` (summary.json, tables).
//! `env` starts the local etcd + kube-apiserver; `model` generates the CAPI objects.

pub mod cli;
mod commands;
pub mod engine;
pub mod env;
pub mod error;
pub mod measure;
pub mod model;
pub mod plan;
pub mod profile;
pub mod report;
pub mod sweep;
pub mod target;

pub use cli::Cli;
pub use error::{exit, Error};

/// Runs one command.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        cli::Command::Run(args) => commands::run::run(args).await,
        cli::Command::Env(args) => commands::env::run(args).await,
        cli::Command::Cleanup(args) => commands::cleanup::run(args).await,
        cli::Command::Sizes(args) => commands::sizes::run(args).await,
        cli::Command::Sweep(args) => commands::sweep::run(args).await,
        cli::Command::Breakpoints(args) => commands::breakpoints::run(args).await,
        cli::Command::Compare(args) => commands::compare::run(&args),
        cli::Command::Report(args) => commands::report::run(&args),
        cli::Command::Merge(args) => commands::merge::run(args),
        cli::Command::Plan(args) => commands::plan::run(args),
    }
}
