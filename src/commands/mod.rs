//! One module per subcommand: glue between the CLI, the plan, the engine and the report.

pub mod breakpoints;
pub mod cleanup;
pub mod compare;
pub mod connect;
pub mod dry_run;
pub mod env;
pub mod fill;
pub mod merge;
pub mod multi;
pub mod phases;
pub mod plan;
pub mod recover;
pub mod report;
pub mod run;
pub mod shard;
pub mod sizes;
pub mod sweep;

use crate::engine::{StopHandle, StopReason};

/// Turns SIGINT/SIGTERM into a stop signal for as long as the returned task runs.
pub(crate) fn watch_signals(handle: StopHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        tracing::warn!(
            "interrupted: stopping; in-flight requests finish, then results are written"
        );
        handle.stop(StopReason::Interrupted);
    })
}

/// The profile overrides the shared connection flags make (target and safety guard).
pub(crate) fn connection_overrides(conn: &crate::cli::ConnectionArgs) -> crate::profile::Overrides {
    crate::profile::Overrides {
        kubeconfig: conn.kubeconfig.clone(),
        context: conn.context.clone(),
        etcd_endpoints: conn.etcd_endpoint.clone(),
        allow_contexts: conn.allow_context.clone(),
        allow_endpoints: conn.allow_endpoint.clone(),
        kubernetes_version: conn.kubernetes_version.clone(),
        etcd_version: conn.etcd_version.clone(),
        ..Default::default()
    }
}
