//! Which provider API version to write, asked of the target: when the profile leaves
//! `fleet.provider_api_version` open and the run writes into CRDs it did not install
//! (`install_crds: false`, e.g. `cluster.x-k8s.io` mode next to a real Cluster API), the
//! fleet's provider kinds are written in the newest version the provider publishes under
//! which the apiserver's discovery (`/apis/<group>/<version>`) lists every one of them.

use super::connect::Connected;
use crate::backend::kube::KubeTarget;
use crate::model::{CapiVersion, FleetSpec};
use crate::profile::provider_version::newest_served;
use crate::profile::RunPlan;

/// The versions under which discovery lists every provider kind `fleet` writes.
pub async fn served_versions(admin: &KubeTarget, fleet: &FleetSpec) -> Vec<CapiVersion> {
    let mut out = Vec::new();
    for version in CapiVersion::ALL {
        let mut f = fleet.clone();
        f.provider_api_version = version;
        let apis: Vec<_> = f
            .custom_kinds()
            .into_iter()
            .filter(|k| k.is_provider())
            .map(|k| f.api_ref(k))
            .collect();
        let Some(first) = apis.first() else { continue };
        let path = format!("/apis/{}/{}", first.group, first.version);
        let listed = match admin.raw("GET", &path, None).await {
            Ok((200, body)) => body["resources"].as_array().is_some_and(|rs| {
                apis.iter()
                    .all(|a| rs.iter().any(|r| r["name"] == a.plural.as_str()))
            }),
            _ => false,
        };
        if listed {
            out.push(version);
        }
    }
    out
}

/// `plan` with the provider version the target serves, when discovery decides it and it
/// differs from the plan's; `None` to keep the plan as it is.
pub async fn resolve(plan: &RunPlan, c: &Connected) -> Option<RunPlan> {
    if !plan.discover_provider_version || plan.install_crds {
        return None;
    }
    let admin = c.admin.as_ref()?;
    let served = served_versions(admin, &plan.fleet).await;
    let fleet = &plan.fleet;
    let Some(version) = newest_served(fleet.provider, &served) else {
        tracing::warn!(
            provider = fleet.provider.as_str(),
            "the target serves the provider's kinds in none of its versions; writing {}",
            fleet.provider_api_version.as_str()
        );
        return None;
    };
    tracing::info!(
        provider = fleet.provider.as_str(),
        version = version.as_str(),
        "provider API version from the target's discovery"
    );
    (version != fleet.provider_api_version).then(|| {
        let mut p = plan.clone();
        p.fleet.provider_api_version = version;
        p
    })
}
