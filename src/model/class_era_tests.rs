//! Unit tests of the ClusterClass-era fleet: topology, health checks, machine pools.

use std::collections::{BTreeMap, HashSet};

use super::*;

fn class_era_fleet(provider: Provider, version: CapiVersion) -> FleetSpec {
    let mut f = FleetSpec::example("era-1");
    f.provider = provider;
    f.capi_version = version;
    f.clusters = 5;
    f.clusters_per_namespace = 2;
    f.machine_deployments = 2;
    f.topology = true;
    f.machine_health_checks = true;
    if provider == Provider::Docker {
        f.machine_pools = 2;
        f.machine_pool_replicas = 4;
    }
    f
}

fn fleet_objects(f: &FleetSpec) -> Vec<Object> {
    let mut out = Vec::new();
    for n in 0..f.namespace_count() {
        out.extend(namespace_objects(f, n));
    }
    for c in 0..f.clusters {
        out.extend(cluster_objects(f, c));
    }
    out
}

#[test]
fn counts_match_what_is_generated() {
    for provider in Provider::ALL {
        for version in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
            let f = class_era_fleet(provider, version);
            let objs = fleet_objects(&f);
            assert_eq!(
                objs.len() as u64,
                f.total_objects(),
                "{provider:?} {version:?}"
            );
            let mut by_kind: BTreeMap<Kind, u64> = BTreeMap::new();
            for o in &objs {
                *by_kind.entry(o.kind).or_default() += 1;
            }
            let mut expected: BTreeMap<Kind, u64> = BTreeMap::new();
            for (k, n) in f.objects_per_cluster() {
                *expected.entry(k).or_default() += n * f.clusters;
            }
            for (k, n) in f.objects_per_namespace() {
                *expected.entry(k).or_default() += n * f.namespace_count();
            }
            expected.retain(|_, n| *n > 0);
            assert_eq!(by_kind, expected, "{provider:?} {version:?}");
            // One health check for the control plane and one per MachineDeployment.
            assert_eq!(by_kind[&Kind::MachineHealthCheck], 3 * f.clusters);
            assert_eq!(by_kind[&Kind::ClusterClass], 3);
            assert_eq!(by_kind[&Kind::InfraMachineTemplate], 6);
        }
    }
}

#[test]
fn names_and_uids_are_unique_and_owners_resolve() {
    for provider in Provider::ALL {
        for version in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
            let f = class_era_fleet(provider, version);
            let objs = fleet_objects(&f);
            let mut uids = HashSet::new();
            let mut names = HashSet::new();
            for o in &objs {
                assert!(uids.insert(o.uid.clone()), "uid of {} twice", o.name);
                // A bootstrap Secret shares its KubeadmConfig's name, nothing else does.
                if o.kind != Kind::Secret {
                    let key = (o.namespace.clone(), o.name.clone());
                    assert!(names.insert(key), "{} {} twice", o.kind.label(), o.name);
                }
                assert!(o.etcd_key().contains(&o.api.plural));
            }
            for n in 0..f.namespace_count() {
                let seq: Vec<Object> = namespace_objects(&f, n).collect();
                assert_eq!(seq[0].kind, Kind::Namespace);
                assert_eq!(seq[1].kind, Kind::ClusterClass);
                for t in &seq[2..] {
                    assert_eq!(t.owners, vec![1]);
                    let r = &t.body["metadata"]["ownerReferences"][0];
                    assert_eq!(r["uid"], seq[1].uid.as_str());
                    assert_eq!(r["kind"], "ClusterClass");
                }
                // Every template the class refers to is one of the namespace's objects.
                let class = serde_json::to_string(&seq[1].body["spec"]).unwrap();
                for t in &seq[2..] {
                    assert!(class.contains(&format!("\"{}\"", t.name)), "{}", t.name);
                    assert!(
                        class.contains(&format!("\"{}\"", t.api.kind)),
                        "{}",
                        t.api.kind
                    );
                }
            }
            for c in 0..f.clusters {
                let seq: Vec<Object> = cluster_objects(&f, c).collect();
                for o in &seq {
                    let owner_kinds: Vec<Kind> =
                        o.owners.iter().map(|&i| seq[i as usize].kind).collect();
                    let expected = match o.kind {
                        Kind::MachineHealthCheck | Kind::MachinePool => vec![Kind::Cluster],
                        Kind::InfraMachinePool => vec![Kind::MachinePool],
                        Kind::KubeadmConfig if o.name.contains("-mp-") => {
                            vec![Kind::MachinePool]
                        }
                        Kind::Secret if o.name.contains("-mp-") => vec![Kind::KubeadmConfig],
                        _ => continue,
                    };
                    assert_eq!(owner_kinds, expected, "{}", o.name);
                }
            }
        }
    }
}

#[test]
fn clusters_carry_their_topology_and_managed_objects_the_mark() {
    for version in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
        let f = class_era_fleet(Provider::Metal3, version);
        let seq: Vec<Object> = cluster_objects(&f, 3).collect();
        let t = &seq[0].body["spec"]["topology"];
        match version {
            CapiVersion::V1beta1 => assert_eq!(t["class"], "metal3-class"),
            CapiVersion::V1beta2 => assert_eq!(t["classRef"]["name"], "metal3-class"),
        }
        assert_eq!(t["controlPlane"]["replicas"], 3);
        assert_eq!(t["workers"]["machineDeployments"][1]["name"], "md-1");
        for o in &seq {
            let owned = o.body["metadata"]["labels"]
                .get("topology.cluster.x-k8s.io/owned")
                .is_some();
            let expect = matches!(
                o.kind,
                Kind::InfraCluster | Kind::KubeadmControlPlane | Kind::MachineDeployment
            );
            assert_eq!(owned, expect, "{}", o.name);
        }
    }
    // Without topology nothing changes.
    let mut f = class_era_fleet(Provider::Metal3, CapiVersion::V1beta2);
    f.topology = false;
    let c = cluster_objects(&f, 0).next().unwrap();
    assert!(c.body["spec"].get("topology").is_none());
    assert_eq!(namespace_objects(&f, 0).count(), 1);
}

#[test]
fn machine_pools_need_a_provider_with_one() {
    let mut f = FleetSpec::example("era-2");
    f.machine_pools = 1;
    assert!(matches!(
        f.validate(),
        Err(ModelError::NoMachinePools("metal3"))
    ));
    f.provider = Provider::Docker;
    assert_eq!(f.validate(), Ok(()));
    let kinds = f.custom_kinds();
    assert!(kinds.contains(&Kind::MachinePool) && kinds.contains(&Kind::InfraMachinePool));
    assert!(!kinds.contains(&Kind::ClusterClass));
    // The CRDs cover exactly the kinds the fleet writes.
    let crd_kinds: Vec<String> = crds(&f)
        .iter()
        .map(|c| c["spec"]["names"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(crd_kinds.contains(&"DockerMachinePool".to_string()));
    assert_eq!(crd_kinds.len(), kinds.len());
}

#[test]
fn inferred_crds_cover_the_class_objects() {
    let f = class_era_fleet(Provider::Nutanix, CapiVersion::V1beta2);
    let crds = crds(&f);
    let names: Vec<&str> = crds
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    for expected in [
        "clusterclasses.loadtest.cluster.x-k8s.io",
        "kubeadmcontrolplanetemplates.controlplane.loadtest.cluster.x-k8s.io",
        "kubeadmconfigtemplates.bootstrap.loadtest.cluster.x-k8s.io",
        "nutanixclustertemplates.infrastructure.loadtest.cluster.x-k8s.io",
        "nutanixmachinetemplates.infrastructure.loadtest.cluster.x-k8s.io",
        "machinehealthchecks.loadtest.cluster.x-k8s.io",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(names.len(), f.custom_kinds().len());
}
