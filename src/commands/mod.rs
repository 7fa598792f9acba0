//! One module per subcommand: glue that turns flags into calls of the library
//! ([`crate::runner`], [`crate::report`], [`crate::plan`], [`crate::env`]) and prints.
//! No command imports another.

pub mod breakpoints;
pub mod cleanup;
pub mod compare;
pub mod crds;
pub mod env;
pub mod merge;
pub mod plan;
pub mod report;
pub mod run;
pub mod sizes;
pub mod sweep;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs one command.
pub async fn dispatch(cli: Cli) -> Result<(), Error> {
    match cli.command {
        // The run path's future is large in debug builds: on the heap, not on the caller's stack.
        Command::Run(args) => Box::pin(run::run(args)).await,
        Command::Env(args) => env::run(args).await,
        Command::Cleanup(args) => Box::pin(cleanup::run(args)).await,
        Command::Sizes(args) => sizes::run(args).await,
        Command::Sweep(args) => Box::pin(sweep::run(args)).await,
        Command::Breakpoints(args) => Box::pin(breakpoints::run(args)).await,
        Command::Compare(args) => compare::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Merge(args) => merge::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Crds(args) => crds::run(&args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "capi-loadgen",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// The profile overrides the shared connection flags make (target and safety guard).
fn connection_overrides(conn: &crate::cli::ConnectionArgs) -> crate::profile::Overrides {
    crate::profile::Overrides {
        kubeconfig: conn.kubeconfig.clone(),
        context: conn.context.clone(),
        etcd_endpoints: conn.etcd_endpoint.clone(),
        allow_contexts: conn.allow_context.clone(),
        allow_endpoints: conn.allow_endpoint.clone(),
        kubernetes_version: conn.kubernetes_version.clone(),
        etcd_version: conn.etcd_version.clone(),
        etcd_metrics_url: conn.etcd_metrics_url.clone(),
        prometheus_url: conn.prometheus_url.clone(),
        webhook_host: conn.webhook_host.clone(),
        ..Default::default()
    }
}

/// `$KUBECONFIG` as the target after `--kubeconfig` (kubectl's convention), for commands
/// that run a profile (`run`, `sweep`).
fn kubeconfig_env() -> Option<String> {
    crate::backend::kubeconfig::env_value().map(|v| v.to_string_lossy().into_owned())
}
