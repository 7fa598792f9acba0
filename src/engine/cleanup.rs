//! Cleanup: delete only what carries the run's label, through the rate-limited pool.
//!
//! Objects are found by label (`capi-loadgen.io/run-id=<id>`, or for `--all-runs` the
//! tool's `app.kubernetes.io/managed-by=capi-loadgen` plus the presence of a run id), in
//! every group and version the tool can have written, leaf kinds first. Namespaces are
//! handled by the caller, which knows whether a namespace still holds anything foreign.

use super::request::PhaseContext;
use crate::backend::Target;
use crate::measure::Verb;
use crate::model::{self, ApiRef, CapiVersion, FleetSpec, Kind, Provider};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};

/// What to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// One run's objects.
    Run(String),
    /// Every run's objects.
    AllRuns,
}

impl Selection {
    /// The label selector matching the selection.
    pub fn selector(&self) -> String {
        match self {
            Selection::Run(id) => format!("{}={id}", model::RUN_ID_LABEL),
            Selection::AllRuns => format!(
                "{}={},{}",
                model::MANAGED_BY_LABEL,
                model::MANAGED_BY_VALUE,
                model::RUN_ID_LABEL
            ),
        }
    }

    /// The selector matching everything *not* in the selection (foreign objects).
    pub fn foreign_selector(&self) -> String {
        match self {
            Selection::Run(id) => format!("{}!={id}", model::RUN_ID_LABEL),
            Selection::AllRuns => format!("!{}", model::RUN_ID_LABEL),
        }
    }
}

/// Kinds in deletion order: leaves first, then their owners.
pub const DELETE_ORDER: [Kind; 17] = [
    Kind::Secret,
    Kind::InfraMachinePool,
    Kind::InfraMachine,
    Kind::KubeadmConfig,
    Kind::Machine,
    Kind::MachinePool,
    Kind::MachineHealthCheck,
    Kind::MachineSet,
    Kind::MachineDeployment,
    Kind::KubeadmControlPlane,
    Kind::InfraCluster,
    Kind::Cluster,
    Kind::KubeadmConfigTemplate,
    Kind::InfraMachineTemplate,
    Kind::InfraClusterTemplate,
    Kind::KubeadmControlPlaneTemplate,
    Kind::ClusterClass,
];

/// Every (kind, API) the tool may have written under `api_group`: both CAPI versions and
/// every provider's kinds in each version it publishes, in deletion order, without
/// duplicates.
pub fn tool_resources(api_group: &str) -> Vec<(Kind, ApiRef)> {
    let mut out: Vec<(Kind, ApiRef)> = Vec::new();
    for kind in DELETE_ORDER {
        for version in CapiVersion::ALL {
            for provider in Provider::ALL {
                if kind == Kind::InfraMachinePool && provider.machine_pool_kind().is_none() {
                    continue;
                }
                // Provider kinds in every version the provider publishes.
                for &provider_version in provider.api_versions() {
                    let mut spec = FleetSpec::example("x");
                    spec.api_group = api_group.to_string();
                    spec.capi_version = version;
                    spec.provider = provider;
                    spec.provider_api_version = provider_version;
                    let api = spec.api_ref(kind);
                    if !out.iter().any(|(_, a)| *a == api) {
                        out.push((kind, api));
                    }
                }
            }
        }
    }
    out
}

/// What a cleanup did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Objects deleted per kind.
    pub by_kind: BTreeMap<Kind, u64>,
    /// Deletes or lists that failed.
    pub failed: u64,
    /// Namespaces the deleted objects were in.
    pub namespaces: BTreeSet<String>,
}

/// Deletes every object of the tool's kinds matching `selection`, with up to
/// `concurrency` deletes in flight.
pub async fn delete_objects<T: Target>(
    ctx: &PhaseContext<T>,
    api_group: &str,
    selection: &Selection,
    concurrency: usize,
) -> Deleted {
    let selector = selection.selector();
    let mut out = Deleted::default();
    for (kind, api) in tool_resources(api_group) {
        if ctx.stop.is_stopped() {
            break;
        }
        let (api_ref, sel) = (&api, selector.as_str());
        let listed = ctx
            .call("cleanup", Verb::List, kind, |t: T| async move {
                if kind == Kind::Secret && !t.lists_secrets_cluster_wide() {
                    // Only where the tool wrote them: the selection's namespaces, one by one.
                    let ns_api = FleetSpec::example("x").api_ref(Kind::Namespace);
                    let mut all = Vec::new();
                    for (_, ns) in t.list_names(&ns_api, None, sel).await? {
                        all.extend(t.list_names(api_ref, Some(&ns), sel).await?);
                    }
                    return Ok(all);
                }
                t.list_names(api_ref, None, sel).await
            })
            .await;
        let Some(items) = listed else {
            out.failed += 1;
            continue;
        };
        for (ns, _) in &items {
            if let Some(ns) = ns {
                out.namespaces.insert(ns.clone());
            }
        }
        let results: Vec<bool> = futures::stream::iter(items)
            .map(|(ns, name)| async move {
                if ctx.stop.is_stopped() {
                    return false;
                }
                let (ns, name) = (ns.as_deref(), name.as_str());
                ctx.call("cleanup", Verb::Delete, kind, |t: T| async move {
                    t.delete(api_ref, ns, name).await
                })
                .await
                .is_some()
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let ok = results.iter().filter(|r| **r).count() as u64;
        *out.by_kind.entry(kind).or_default() += ok;
        out.failed += results.len() as u64 - ok;
    }
    out
}

/// Lists the namespaces matching `selection` (the tool labels the namespaces it creates).
pub async fn our_namespaces<T: Target>(
    ctx: &PhaseContext<T>,
    selection: &Selection,
) -> Option<BTreeSet<String>> {
    let api = FleetSpec::example("x").api_ref(Kind::Namespace);
    let sel = selection.selector();
    let (api_ref, sel) = (&api, sel.as_str());
    ctx.call("cleanup", Verb::List, Kind::Namespace, |t: T| async move {
        t.list_names(api_ref, None, sel).await
    })
    .await
    .map(|v| v.into_iter().map(|(_, n)| n).collect())
}

/// Deletes the given namespaces (already checked to hold nothing foreign).
pub async fn delete_namespaces<T: Target>(
    ctx: &PhaseContext<T>,
    names: &BTreeSet<String>,
) -> (u64, u64) {
    let api = FleetSpec::example("x").api_ref(Kind::Namespace);
    let (mut ok, mut failed) = (0, 0);
    for name in names {
        let (api_ref, n) = (&api, name.as_str());
        match ctx
            .call(
                "cleanup",
                Verb::Delete,
                Kind::Namespace,
                |t: T| async move { t.delete(api_ref, None, n).await },
            )
            .await
        {
            Some(()) => ok += 1,
            None => failed += 1,
        }
    }
    (ok, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_version_and_provider_once() {
        let r = tool_resources("loadtest.cluster.x-k8s.io");
        // 11 CAPI kinds x 2 versions + 4 provider kinds x (2 versions of Metal3 and of
        // Docker, 1 of Nutanix) + Docker's machine pool x 2 versions + Secret.
        assert_eq!(r.len(), 11 * 2 + 4 * 5 + 2 + 1);
        assert!(r
            .iter()
            .any(|(_, a)| a.kind == "Metal3Machine" && a.version == "v1beta2"));
        assert!(!r
            .iter()
            .any(|(_, a)| a.kind == "NutanixMachine" && a.version == "v1beta2"));
        assert_eq!(r[0].0, Kind::Secret);
        assert_eq!(r.last().map(|x| x.0), Some(Kind::ClusterClass));
        assert!(r.iter().any(|(_, a)| a.kind == "DockerMachinePool"));
        assert!(!r.iter().any(|(_, a)| a.kind.contains("Unsupported")));
        assert!(r.iter().any(|(_, a)| a.kind == "NutanixMachine"
            && a.group == "infrastructure.loadtest.cluster.x-k8s.io"));
        assert!(r
            .iter()
            .any(|(_, a)| a.kind == "Machine" && a.version == "v1beta2"));
    }

    #[test]
    fn selectors() {
        let s = Selection::Run("r1".into());
        assert_eq!(s.selector(), "capi-loadgen.io/run-id=r1");
        assert_eq!(s.foreign_selector(), "capi-loadgen.io/run-id!=r1");
        assert_eq!(
            Selection::AllRuns.selector(),
            "app.kubernetes.io/managed-by=capi-loadgen,capi-loadgen.io/run-id"
        );
    }
}
