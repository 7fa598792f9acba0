//! Sizing from the model: the bytes kube-apiserver would store in etcd for one cluster of a
//! fleet, encoded exactly as it encodes them (what etcd size measurements are compared with
//! and what `plan` projects).

use crate::model::FleetSpec;
use std::collections::{BTreeMap, HashMap};

/// Bytes a current kube-apiserver stores for one cluster of `fleet` (keys + values, no bbolt
/// overhead): the model the measurement is compared with.
pub fn model_bytes_per_cluster(fleet: &FleetSpec) -> f64 {
    model_bytes_per_cluster_by_kind(fleet).values().sum()
}

/// [`model_bytes_per_cluster`] by kind label; the namespace's bytes are shared by the
/// clusters of a namespace.
pub fn model_bytes_per_cluster_by_kind(fleet: &FleetSpec) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for o in crate::model::cluster_objects(fleet, 0) {
        let body = crate::model::create_body(&o, &HashMap::new());
        let value = super::value::stored_value(&o, &body, Default::default())
            .map(|(_, v)| v.len())
            .unwrap_or(0);
        *out.entry(o.kind.label().to_string()).or_insert(0.0) +=
            (o.etcd_key().len() + value) as f64;
    }
    let ns = crate::model::namespace_object(fleet, 0);
    let ns_bytes = super::value::stored_value(
        &ns,
        &crate::model::create_body(&ns, &HashMap::new()),
        Default::default(),
    )
    .map(|(_, v)| v.len() + ns.etcd_key().len())
    .unwrap_or(0) as f64;
    out.insert(
        ns.kind.label().to_string(),
        ns_bytes / fleet.effective_clusters_per_namespace() as f64,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_bytes_grow_with_the_fleet_shape() {
        let mut small = FleetSpec::example("r1");
        small.control_plane_replicas = 1;
        small.machine_deployments = 0;
        let big = FleetSpec::example("r1");
        let (s, b) = (
            model_bytes_per_cluster(&small),
            model_bytes_per_cluster(&big),
        );
        assert!(s > 1000.0, "{s}");
        assert!(b > s * 1.5, "{b} vs {s}");
        let by_kind = model_bytes_per_cluster_by_kind(&big);
        assert!(
            by_kind["machine"] > 0.0 && by_kind["namespace"] > 0.0,
            "{by_kind:?}"
        );
        assert!((by_kind.values().sum::<f64>() - b).abs() < 1e-6);
    }
}
