//! `capi-loadgen sizes <profile>`: bytes per kind and per cluster as stored in etcd after a
//! small real run, projected to large fleets (see [`crate::experiments::sizes`]).

use crate::cli::SizesArgs;
use crate::error::Error;
use crate::experiments::sizes::{measure, render};
use crate::profile::{self, Overrides};

/// Runs `sizes`.
pub async fn run(args: SizesArgs) -> Result<(), Error> {
    let overrides = Overrides {
        run_id: args.run_id,
        clusters: Some(args.clusters),
        state_dir: args.state_dir,
        etcd_endpoints: args.conn.etcd_endpoint,
        allow_contexts: args.conn.allow_context.clone(),
        allow_endpoints: args.conn.allow_endpoint.clone(),
        kubeconfig: args.conn.kubeconfig,
        context: args.conn.context,
        kubernetes_version: args.conn.kubernetes_version,
        etcd_version: args.conn.etcd_version,
        out: args.out,
        fail_on: None,
        metrics: None,
        ..Default::default()
    };
    let plan = profile::load(&args.profile, &overrides)?;
    if plan.phases.delete.is_some() {
        println!("sizes: the profile's delete phase is skipped (the fleet is measured in etcd)");
    }
    let r = measure(&plan).await?;
    print!("{}", render(&r));
    let path = plan.out_dir.join("sizes.json");
    let text = crate::error::to_json(&r)?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
    println!("sizes: {}", path.display());
    Ok(())
}
