//! The real Cluster API managers as the load (`capi_controllers:` in a profile).
//!
//! Cluster API's own managers (core, kubeadm control plane, kubeadm bootstrap) and CAPD with
//! its in-memory backend, built by `scripts/setup.sh --capi`, run against the local
//! kube-apiserver. The tool installs the release's CRDs and webhook configurations pointed at
//! the managers on 127.0.0.1 (certificates from its own CA), starts the managers with the
//! profile's flags, each as its own ServiceAccount, creates the fleet the way a user does
//! (a ClusterClass per namespace and Clusters with `spec.topology`, from CAPD's in-memory
//! templates), and measures what the managers ask of the management cluster: calls by
//! manager, verb and resource (their own client metrics and the apiserver's audit log),
//! reconciles, errors and requeues, work queues, client-side throttling, CPU and memory, and
//! the provisioning latency users ask for (Cluster created → control plane initialized →
//! Available; Machine created → Running). Then it deletes the fleet and stops everything.
//!
//! `docs/real-controllers.md` explains the measurements and what they mean for the model.

mod apply;
mod audit;
mod identity;
mod managers;
mod manifests;
mod metrics;
mod provision;
mod render;
mod result;
mod run;
mod steps;
mod sweep;
mod teardown;

/// What a run of `plan` will do, for `run --dry-run`: the fleet, the managers and their flags,
/// and whether the release is built.
pub fn describe(
    plan: &crate::profile::RunPlan,
    c: &crate::profile::capi_controllers::CapiControllersPlan,
) -> String {
    let built = match manifests::check_built(&c.version) {
        Ok(dir) => format!("built in {}", dir.display()),
        Err(e) => e.to_string(),
    };
    let m = &c.managers;
    format!(
        "profile {} ({}): run id {}\nreal Cluster API {} managers ({built}): {}\nflags: --kube-api-qps {} --kube-api-burst {} {} --sync-period {}s --feature-gates {} as {:?}\nfleet: {} topology clusters from CAPD's in-memory ClusterClass in {} namespaces, {} control-plane + {} worker machines each, Kubernetes {}, created {}; then {} added workers per cluster, {}, {} s idle, {}",
        plan.name,
        plan.source.display(),
        plan.run_id,
        c.version,
        manifests::PROVIDERS.map(|p| p.binary).join(", "),
        m.kube_api_qps,
        m.kube_api_burst,
        m.concurrency.map_or_else(|| "(reconciler concurrency: the release's defaults)".into(), |n| format!("--*-concurrency {n}")),
        m.sync_period.as_secs(),
        m.feature_gates,
        m.identity,
        plan.fleet.clusters,
        plan.fleet.namespace_count(),
        c.control_plane_machines,
        c.worker_machines,
        c.kubernetes_version,
        c.clusters_per_minute.map_or_else(|| "all at once".into(), |r| format!("{r} per minute")),
        c.scale_up_workers,
        c.upgrade_to.as_ref().map_or_else(|| "no upgrade".into(), |u| format!("an upgrade to {u}")),
        c.idle.as_secs(),
        if c.delete { "then deleted" } else { "then left in place" },
    )
}
pub use run::run;
pub use sweep::sweep;

pub use crate::error::CapiError;
