//! `fleet.topology`, `fleet.machine_health_checks`, `fleet.machine_pools` and
//! `fleet.machine_pool_replicas`: the ClusterClass-era parts of a fleet.

use super::types::FleetSection;
use super::ProfileError;
use crate::model::FleetSpec;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The most MachinePools per cluster.
const MAX_POOLS: u64 = 1_000;
/// The most replicas per MachinePool (its provider lists every instance in one object).
const MAX_POOL_REPLICAS: u64 = 1_000;

/// `fleet` with the ClusterClass-era fields of `f`, checked.
pub(super) fn apply(
    f: &FleetSection,
    mut fleet: FleetSpec,
    err: Err,
) -> Result<FleetSpec, ProfileError> {
    fleet.topology = f.topology.unwrap_or(false);
    fleet.machine_health_checks = f.machine_health_checks.unwrap_or(false);
    let pools = f.machine_pools.unwrap_or(0);
    if pools > MAX_POOLS {
        return Err(err(
            "fleet.machine_pools",
            format!("{pools} must be at most {MAX_POOLS}"),
        ));
    }
    if pools > 0 && fleet.provider.machine_pool_kind().is_none() {
        return Err(err(
            "fleet.machine_pools",
            format!(
                "provider {} has no MachinePool kind (of the modelled providers only docker has one, DockerMachinePool)",
                fleet.provider.as_str()
            ),
        ));
    }
    let replicas = f.machine_pool_replicas.unwrap_or(3);
    if replicas > MAX_POOL_REPLICAS {
        return Err(err(
            "fleet.machine_pool_replicas",
            format!("{replicas} must be at most {MAX_POOL_REPLICAS}"),
        ));
    }
    if f.machine_pool_replicas.is_some() && pools == 0 {
        return Err(err(
            "fleet.machine_pool_replicas",
            "is only used with `machine_pools` of 1 or more".into(),
        ));
    }
    fleet.machine_pools = pools as u32;
    fleet.machine_pool_replicas = replicas as u32;
    Ok(fleet)
}
