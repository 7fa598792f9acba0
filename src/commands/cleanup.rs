//! `capi-loadgen cleanup`: delete one run's (or every run's) objects, and only those.

use crate::cli::CleanupArgs;
use crate::engine::cleanup::Selection;
use crate::error::{Error, UsageError};
use crate::profile::{ClientPlan, TargetPlan, CLIENT_GO_MAX_RETRIES};
use crate::runner::cleanup::{cleanup, CleanupRequest};
use std::time::Duration;

/// Runs `cleanup`.
pub async fn run(args: CleanupArgs) -> Result<(), Error> {
    let selection = match (&args.run_id, args.all_runs) {
        (Some(id), false) => Selection::Run(id.clone()),
        (None, true) => Selection::AllRuns,
        _ => {
            return Err(Error::Usage(UsageError::Combination(
                "cleanup: give exactly one of --run-id ID or --all-runs",
            )))
        }
    };
    let client = ClientPlan {
        pool_size: args.pool_size as usize,
        qps: (args.qps > 0.0).then_some(args.qps),
        burst: args.burst,
        timeout: Duration::from_secs_f64(args.timeout_seconds),
        preset: None,
        max_retries: CLIENT_GO_MAX_RETRIES,
    };
    let target = if args.conn.etcd_endpoint.is_empty() {
        TargetPlan::Kube {
            kubeconfig: args.conn.kubeconfig.clone(),
            context: args.conn.context.clone(),
            allow: args.conn.allow_context.clone(),
            chosen: None,
        }
    } else {
        TargetPlan::Etcd {
            endpoints: args.conn.etcd_endpoint.clone(),
            tls: None,
            local: Default::default(),
            allow: args.conn.allow_endpoint.clone(),
        }
    };
    let report = cleanup(&CleanupRequest {
        target,
        selection,
        api_group: args.api_group,
        client,
        concurrency: args.concurrency as usize,
    })
    .await?;
    print!("{}", report.render());
    report.into_result().map(|_| ())
}
