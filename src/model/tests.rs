//! Unit tests: determinism, counts, ownership, names, sizes.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::names::{self, base64, rfc3339};
use super::*;

const RUN: &str = "20261128-133501-ab12";

fn all_objects(spec: &FleetSpec) -> Vec<Object> {
    let mut out: Vec<Object> = namespaces(spec).collect();
    for c in 0..spec.clusters {
        out.extend(cluster_objects(spec, c));
    }
    out
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 char {c}"),
        }
    };
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..chunk.len() - 1]);
    }
    out
}

fn secret_value(obj: &Object, key: &str) -> String {
    let data = obj.body["data"][key].as_str().expect("data key");
    String::from_utf8(decode_base64(data)).expect("utf-8")
}

#[test]
fn iterators_are_send_and_static() {
    fn check<T: Iterator<Item = Object> + Send + 'static>(_: T) {}
    let spec = FleetSpec::example(RUN);
    check(cluster_objects(&spec, 0));
    check(namespaces(&spec));
    assert_eq!(namespaces(&spec).count() as u64, spec.namespace_count());
}

#[test]
fn base64_and_time_helpers() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(decode_base64(&base64(b"hello world!?")), b"hello world!?");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(names::BASE_EPOCH), "2026-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
}

#[test]
fn suffixes_are_unique_and_look_generated() {
    let mut seen = HashSet::new();
    for i in 0..200_000 {
        let s = names::suffix(42, i);
        assert_eq!(s.len(), 5);
        assert!(s
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
        assert!(seen.insert(s), "duplicate suffix at {i}");
    }
}

#[test]
fn placeholder_uid_is_rfc4122_shaped_and_deterministic() {
    let a = placeholder_uid(RUN, "ns", "m1");
    assert_eq!(a, placeholder_uid(RUN, "ns", "m1"));
    assert_ne!(a, placeholder_uid(RUN, "ns", "m2"));
    assert_ne!(a, placeholder_uid(RUN, "ns2", "m1"));
    assert_ne!(
        placeholder_uid("a", "bc", "d"),
        placeholder_uid("ab", "c", "d")
    );
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(parts[2].starts_with('4'));
    assert!("89ab".contains(&parts[3][..1]));
}

#[test]
fn determinism() {
    let spec = FleetSpec::example(RUN);
    let a: Vec<Object> = cluster_objects(&spec, 1).collect();
    let b: Vec<Object> = cluster_objects(&spec, 1).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            serde_json::to_vec(&x.body).unwrap(),
            serde_json::to_vec(&y.body).unwrap()
        );
        assert_eq!((x.index, &x.name, &x.uid), (y.index, &y.name, &y.uid));
    }
    let c0: HashSet<String> = cluster_objects(&spec, 0).map(|o| o.name).collect();
    assert!(
        a.iter().all(|o| !c0.contains(&o.name)),
        "clusters share names"
    );
    // Random access agrees with iteration, and nth skips.
    let it = cluster_objects(&spec, 1);
    for o in &a {
        assert_eq!(it.get(o.index).unwrap().body, o.body);
    }
    assert!(it.get(a.len() as u32).is_none());
    let mut it = cluster_objects(&spec, 1);
    assert_eq!(it.len(), a.len());
    assert_eq!(it.nth(5).unwrap().body, a[5].body);
    assert_eq!(it.len(), a.len() - 6);
    // Other run ids give other names and content.
    let other = FleetSpec::example("other-run");
    let o: Vec<Object> = cluster_objects(&other, 1).collect();
    assert_ne!(o.last().unwrap().name, a.last().unwrap().name);
    assert_ne!(o[5].body["data"], a[5].body["data"]);
    assert_ne!(o[0].namespace, a[0].namespace);
}

#[test]
fn no_duplicates_across_a_fleet_with_mixed_namespaces() {
    let mut spec = FleetSpec::example(RUN);
    spec.clusters = 5;
    spec.clusters_per_namespace = 2;
    spec.machine_deployments = 2;
    spec.cluster_secrets = ClusterSecret::ALL.to_vec();
    assert_eq!(spec.namespace_count(), 3);
    let objs = all_objects(&spec);
    assert_eq!(objs.len() as u64, spec.total_objects());
    let mut keys = HashSet::new();
    let mut uids = HashSet::new();
    let mut etcd_keys = HashSet::new();
    for o in &objs {
        assert!(
            keys.insert((o.namespace.clone(), o.name.clone(), o.kind)),
            "duplicate {:?} {:?}/{}",
            o.kind,
            o.namespace,
            o.name
        );
        assert!(uids.insert(o.uid.clone()), "duplicate uid for {}", o.name);
        assert!(
            etcd_keys.insert(o.etcd_key()),
            "duplicate key {}",
            o.etcd_key()
        );
    }
    // Except for Secrets, the uid is placeholder_uid(run, namespace, name).
    for o in objs.iter().filter(|o| o.kind != Kind::Secret) {
        let ns = o.namespace.as_deref().unwrap_or("");
        assert_eq!(o.uid, placeholder_uid(RUN, ns, &o.name));
    }
    // Clusters 0 and 1 share a namespace, 2 and 3 another.
    assert_eq!(spec.namespace_of(0), spec.namespace_of(1));
    assert_ne!(spec.namespace_of(1), spec.namespace_of(2));
    assert_eq!(spec.namespace_of(4), spec.namespace_name(2));
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(names::is_dns_label)
}

#[test]
fn names_and_labels_are_valid() {
    for provider in Provider::ALL {
        let mut spec = FleetSpec::example("abcdefghijklmnopqrstuvwx");
        spec.provider = provider;
        spec.clusters = 100_001;
        spec.validate().unwrap();
        assert!(names::is_dns_label(&spec.namespace_of(100_000)));
        for o in cluster_objects(&spec, 100_000).chain([namespace_object(&spec, 100_000)]) {
            assert!(is_dns_subdomain(&o.name), "bad name {}", o.name);
            let md = &o.body["metadata"];
            assert_eq!(md["name"], o.name.as_str());
            assert_eq!(md["namespace"].as_str(), o.namespace.as_deref());
            let labels = md["labels"].as_object().unwrap();
            assert_eq!(labels[RUN_ID_LABEL], spec.run_id.as_str());
            assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
            if o.kind != Kind::Namespace {
                assert_eq!(labels[CLUSTER_NAME_LABEL], "c100000");
            }
            for v in labels.values() {
                let v = v.as_str().unwrap();
                assert!(
                    v.is_empty() || names::is_dns_label(v),
                    "bad label value {v}"
                );
            }
            assert_eq!(o.body["apiVersion"], o.api.api_version().as_str());
            assert_eq!(o.body["kind"], o.api.kind.as_str());
            if o.kind == Kind::Secret {
                assert_eq!(o.body["type"], CAPI_SECRET_TYPE);
            }
        }
    }
}

#[test]
fn validate_rejects_bad_specs() {
    let ok = FleetSpec::example(RUN);
    assert!(ok.validate().is_ok());
    for bad in ["", "UPPER", "-x", "x-", "a_b", "abcdefghijklmnopqrstuvwxy"] {
        assert!(FleetSpec::example(bad).validate().is_err(), "{bad:?}");
    }
    let mut s = ok.clone();
    s.api_group = "Bad_Group".into();
    assert!(s.validate().is_err());
    let mut s = ok.clone();
    s.kubernetes_version = "1.30".into();
    assert!(s.validate().is_err());
    let mut s = ok;
    s.machine_deployments = 1;
    s.workers_per_machine_deployment = 4_000_001;
    assert!(s.validate().is_err());
}

#[test]
fn counts_and_ownership() {
    let mut spec = FleetSpec::example(RUN);
    spec.machine_deployments = 3;
    spec.workers_per_machine_deployment = 4;
    spec.control_plane_replicas = 5;
    for secrets in [ClusterSecret::defaults(), vec![], vec![ClusterSecret::Ca]] {
        spec.cluster_secrets = secrets;
        let objs: Vec<Object> = cluster_objects(&spec, 3).collect();
        let mut counts: BTreeMap<Kind, u64> = BTreeMap::new();
        for o in &objs {
            *counts.entry(o.kind).or_default() += 1;
        }
        let expected: BTreeMap<Kind, u64> = spec
            .objects_per_cluster()
            .into_iter()
            .filter(|&(_, n)| n > 0)
            .collect();
        assert_eq!(counts, expected);
        assert_eq!(objs.len() as u64, spec.objects_in_cluster());
        for (i, o) in objs.iter().enumerate() {
            assert_eq!(o.index as usize, i);
            let refs = o.body["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(refs.len(), o.owners.len(), "{}", o.name);
            for (r, &owner) in refs.iter().zip(&o.owners) {
                assert!(owner < o.index);
                let ow = &objs[owner as usize];
                assert_eq!(r["name"], ow.name.as_str());
                assert_eq!(r["kind"], ow.api.kind.as_str());
                assert_eq!(r["apiVersion"], ow.api.api_version().as_str());
                assert_eq!(r["uid"], ow.uid.as_str());
                assert_eq!(r["controller"], true);
                assert_eq!(r["blockOwnerDeletion"], true);
            }
            let expected_owner = match o.kind {
                Kind::Cluster => None,
                Kind::InfraCluster | Kind::KubeadmControlPlane | Kind::MachineDeployment => {
                    Some(Kind::Cluster)
                }
                Kind::MachineSet => Some(Kind::MachineDeployment),
                Kind::Machine
                    if o.body["metadata"]["labels"]
                        .get("cluster.x-k8s.io/control-plane")
                        .is_some() =>
                {
                    Some(Kind::KubeadmControlPlane)
                }
                Kind::Machine => Some(Kind::MachineSet),
                Kind::KubeadmConfig | Kind::InfraMachine => Some(Kind::Machine),
                Kind::Secret if o.name.ends_with("-kubeconfig") => Some(Kind::Cluster),
                Kind::Secret if o.name.starts_with(&format!("{}-control-plane", "c00003")) => {
                    Some(Kind::KubeadmConfig)
                }
                Kind::Secret if o.name.contains("-md-") => Some(Kind::KubeadmConfig),
                Kind::Secret => Some(Kind::KubeadmControlPlane),
                Kind::MachineHealthCheck | Kind::MachinePool => Some(Kind::Cluster),
                Kind::InfraMachinePool => Some(Kind::MachinePool),
                Kind::Namespace
                | Kind::ClusterClass
                | Kind::KubeadmControlPlaneTemplate
                | Kind::KubeadmConfigTemplate
                | Kind::InfraClusterTemplate
                | Kind::InfraMachineTemplate => unreachable!("not a cluster's object"),
            };
            assert_eq!(
                o.owners.first().map(|&i| objs[i as usize].kind),
                expected_owner,
                "{}",
                o.name
            );
        }
    }
    spec.clusters = 7;
    spec.clusters_per_namespace = 3;
    assert_eq!(spec.namespace_count(), 3);
    assert_eq!(
        spec.total_objects(),
        7 * spec.objects_in_cluster() + spec.namespace_count()
    );
}

#[test]
fn machines_reference_their_objects() {
    for version in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
        let mut spec = FleetSpec::example(RUN);
        spec.capi_version = version;
        let objs: Vec<Object> = cluster_objects(&spec, 0).collect();
        for (i, o) in objs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind == Kind::Machine)
        {
            let (config, infra, secret) = (&objs[i + 1], &objs[i + 2], &objs[i + 3]);
            let s = &o.body["spec"];
            assert_eq!(s["bootstrap"]["configRef"]["name"], config.name.as_str());
            assert_eq!(s["bootstrap"]["dataSecretName"], secret.name.as_str());
            assert_eq!(
                config.body["status"]["dataSecretName"],
                secret.name.as_str()
            );
            assert_eq!(s["infrastructureRef"]["name"], infra.name.as_str());
            assert_eq!(s["infrastructureRef"]["kind"], infra.api.kind.as_str());
            assert_eq!(s["providerID"], infra.body["spec"]["providerID"]);
            assert_eq!(secret.name, config.name);
            assert_ne!(secret.uid, config.uid);
        }
    }
}

#[test]
fn payload_sizes() {
    let mut spec = FleetSpec::example(RUN);
    spec.control_plane_replicas = 2;
    for provider in Provider::ALL {
        spec.provider = provider;
        for size in [
            0, 1, 7, 300, 1500, 2900, 3000, 3100, 6144, 9000, 20_000, 100_000,
        ] {
            spec.payload.bootstrap_data_bytes = size;
            let objs: Vec<Object> = cluster_objects(&spec, 0).collect();
            let boot: Vec<&Object> = objs
                .iter()
                .filter(|o| o.kind == Kind::Secret && o.body["data"].get("format").is_some())
                .collect();
            assert_eq!(boot.len() as u64, spec.machines_per_cluster());
            for o in boot {
                let v = secret_value(o, "value");
                assert_eq!(v.len(), size, "{provider:?} {}", o.name);
                assert_eq!(secret_value(o, "format"), "cloud-config");
                if size >= 6144 {
                    assert!(v.starts_with("## template: jinja\n#cloud-config\n"));
                    let doc: Value = serde_saphyr::from_str(&v).expect("cloud-init is YAML");
                    assert!(doc["write_files"].as_array().unwrap().len() >= 2);
                    assert!(doc["runcmd"].as_array().is_some());
                }
            }
        }
    }
    spec.payload.extra.insert(Kind::Machine, 1000);
    spec.payload.extra.insert(Kind::Namespace, 10);
    let m = cluster_objects(&spec, 0)
        .find(|o| o.kind == Kind::Machine)
        .unwrap();
    let pad = m.body["metadata"]["annotations"][PADDING_ANNOTATION]
        .as_str()
        .unwrap();
    assert_eq!(pad.len(), 1000);
    let ns = namespace_object(&spec, 0);
    assert_eq!(
        ns.body["metadata"]["annotations"][PADDING_ANNOTATION]
            .as_str()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn cluster_secrets_look_real() {
    let spec = FleetSpec::example(RUN);
    let objs: Vec<Object> = cluster_objects(&spec, 0).collect();
    let find = |suffix: &str| {
        objs.iter()
            .find(|o| o.name == format!("c00000-{suffix}"))
            .unwrap()
    };
    let kc = find("kubeconfig");
    let size = serde_json::to_vec(&kc.body).unwrap().len();
    assert!(
        (4096..=8192).contains(&size),
        "kubeconfig secret {size} bytes"
    );
    let kubeconfig = secret_value(kc, "value");
    assert!(
        (5000..6000).contains(&kubeconfig.len()),
        "{}",
        kubeconfig.len()
    );
    let doc: Value = serde_saphyr::from_str(&kubeconfig).expect("kubeconfig is YAML");
    assert_eq!(doc["kind"], "Config");
    let ca_data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    let ca = find("ca");
    assert_eq!(
        String::from_utf8(decode_base64(ca_data)).unwrap(),
        secret_value(ca, "tls.crt")
    );
    for suffix in ["ca", "etcd", "proxy", "sa"] {
        let s = find(suffix);
        let crt = secret_value(s, "tls.crt");
        let key = secret_value(s, "tls.key");
        if suffix == "sa" {
            assert!(crt.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        } else {
            assert!(crt.starts_with("-----BEGIN CERTIFICATE-----\nMII"));
            assert!((1000..1200).contains(&crt.len()), "{}", crt.len());
        }
        assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----\nMII"));
        assert!(key.ends_with("-----END RSA PRIVATE KEY-----\n"));
        assert!((1600..1800).contains(&key.len()), "{}", key.len());
    }
}

#[test]
fn machine_index_points_at_each_machine_and_its_objects() {
    let mut spec = FleetSpec::example(RUN);
    spec.machine_deployments = 2;
    spec.workers_per_machine_deployment = 2;
    let objs = cluster_objects(&spec, 1);
    assert_eq!(objs.machines(), 3 + 4);
    for m in 0..objs.machines() {
        let i = objs.machine_index(m).unwrap();
        let kinds: Vec<Kind> = (i..i + 4).map(|j| objs.get(j).unwrap().kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Machine,
                Kind::KubeadmConfig,
                Kind::InfraMachine,
                Kind::Secret
            ]
        );
    }
    assert_eq!(objs.machine_index(7), None);
}
