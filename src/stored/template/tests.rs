//! Templates against the reference encoder: every kind, provider, Cluster API version and
//! stored format, at clusters and machines whose names have different lengths, with and
//! without server-assigned owner UIDs and padding.

use super::*;
use crate::model::{
    cluster_objects, create_body, namespace_object, CapiVersion, ClusterSecret, Kind, Provider,
};
use crate::stored::encode::{decode_builtin, StoredFormat};

fn fleets() -> Vec<FleetSpec> {
    let mut out = Vec::new();
    for provider in Provider::ALL {
        for capi in [CapiVersion::V1beta1, CapiVersion::V1beta2] {
            let mut f = FleetSpec::example("tpl-a1");
            f.provider = provider;
            f.capi_version = capi;
            f.provider_api_version = provider.default_api_version(capi);
            // Two-digit MachineDeployment indices: names of several lengths per key.
            f.machine_deployments = 11;
            f.workers_per_machine_deployment = 1;
            f.cluster_secrets = ClusterSecret::ALL.to_vec();
            f.clusters_per_namespace = 3;
            // ClusterClass-era objects: topology marks, health checks, machine pools.
            f.topology = capi == CapiVersion::V1beta2 || provider == Provider::Nutanix;
            f.machine_health_checks = true;
            if provider == Provider::Docker {
                f.machine_pools = 11;
            }
            if capi == CapiVersion::V1beta2 {
                f.payload.extra.insert(Kind::Machine, 300);
                f.payload.extra.insert(Kind::Secret, 17);
                f.payload.extra.insert(Kind::Namespace, 40);
                f.payload.bootstrap_data_bytes = 20_000;
            }
            out.push(f);
        }
    }
    // The providers' v1beta2 kinds beside Cluster API v1beta1 objects (a target whose CRDs
    // serve both), with the ClusterClass-era objects.
    for provider in [Provider::Metal3, Provider::Docker] {
        let mut f = out
            .iter()
            .find(|f| f.provider == provider && f.capi_version == CapiVersion::V1beta1)
            .cloned()
            .expect("a v1beta1 fleet");
        f.provider_api_version = CapiVersion::V1beta2;
        f.topology = true;
        out.push(f);
    }
    out
}

/// Owner UIDs as a server would assign them, for some owners only.
fn server_uids(owners: &[u32]) -> HashMap<u32, String> {
    owners
        .iter()
        .filter(|o| *o % 3 != 1)
        .map(|&o| (o, format!("f00d{o:04x}-1111-4222-8333-{:012x}", o * 7)))
        .collect()
}

const TIMES: [&str; 2] = ["2026-11-28T13:50:28Z", "2099-01-02T03:04:05Z"];

fn check(templates: &FleetTemplates, t: &Templated, obj: &Object, n: usize) {
    assert_eq!(
        (
            &t.object.name,
            &t.object.uid,
            &t.object.owners,
            t.object.kind
        ),
        (&obj.name, &obj.uid, &obj.owners, obj.kind)
    );
    assert_eq!(
        (&t.object.namespace, &t.object.api, t.object.index),
        (&obj.namespace, &obj.api, obj.index)
    );
    let uids = server_uids(&obj.owners);
    let body = create_body(obj, &uids);
    let r = Rendered::new(templates, t, &uids, || {
        panic!("{:?} has no template", t.key)
    });
    let mut json = Vec::new();
    assert!(r.render(Form::Create, "", "", &mut json), "{:?}", t.key);
    let expected = reference(obj, &body, Form::Create, "", "").expect("reference");
    assert_eq!(
        String::from_utf8_lossy(&json),
        String::from_utf8_lossy(&expected),
        "create {:?} {}",
        t.key,
        obj.name
    );
    let time = TIMES[n % 2];
    let owners = r.owners.clone();
    for format in [StoredFormat::V1_20, StoredFormat::Current] {
        // The template itself, not the fallback to the reference encoder.
        let template = templates
            .get(t.key, Form::Stored(format))
            .expect("template");
        let inputs = Inputs {
            values: &t.values,
            owners: &owners,
            uid: &obj.uid,
            time,
        };
        let mut got = Vec::new();
        assert!(template.render(&inputs, &mut got), "{:?}", t.key);
        let expected =
            reference(obj, &body, Form::Stored(format), &obj.uid, time).expect("reference");
        assert!(
            got == expected,
            "stored {format:?} {:?} {}:\n{}\n{}",
            t.key,
            obj.name,
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        );
    }
}

#[test]
fn every_key_of_every_fleet_has_a_template_in_every_form() {
    for f in fleets() {
        let templates = FleetTemplates::new(&f);
        assert!(
            templates.missing().is_empty(),
            "{:?} {:?}: {:?}",
            f.provider,
            f.capi_version,
            templates.missing()
        );
    }
}

#[test]
fn templates_render_the_reference_bytes_for_every_kind() {
    let mut every = std::collections::BTreeSet::new();
    for f in fleets() {
        let templates = FleetTemplates::new(&f);
        let mut kinds = std::collections::BTreeSet::new();
        // 5- to 7-digit cluster names, namespaces shared by clusters.
        for (n, c) in [0u64, 1, 13, 99_999, 100_000, 1_234_567]
            .into_iter()
            .enumerate()
        {
            let objs = cluster_objects(&f, c).for_create();
            for (i, obj) in objs.clone().enumerate() {
                let t = objs.templated(i as u32).expect("templated");
                kinds.insert(obj.kind);
                check(&templates, &t, &obj, n + i);
            }
        }
        for (n, i) in [0u64, 9, 10, 33_333, 100_000].into_iter().enumerate() {
            let t = crate::model::namespace_templated(&f, i);
            check(&templates, &t, &namespace_object(&f, i), n);
        }
        kinds.insert(Kind::Namespace);
        every.extend(kinds);
    }
    // Every kind but a namespace's ClusterClass and templates (a few objects per
    // namespace, built as values) goes through the templates.
    let class_kinds = [
        Kind::ClusterClass,
        Kind::KubeadmControlPlaneTemplate,
        Kind::KubeadmConfigTemplate,
        Kind::InfraClusterTemplate,
        Kind::InfraMachineTemplate,
    ];
    let expected: std::collections::BTreeSet<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| !class_kinds.contains(k))
        .collect();
    assert_eq!(every, expected);
}

#[test]
fn many_machines_and_deployments_match() {
    // Machine ordinals past 9,999 (4-digit BareMetalHost names grow) and 12 deployments.
    let mut f = FleetSpec::example("tpl-many");
    f.machine_deployments = 12;
    f.workers_per_machine_deployment = 900;
    let templates = FleetTemplates::new(&f);
    assert!(templates.missing().is_empty(), "{:?}", templates.missing());
    let objs = cluster_objects(&f, 42).for_create();
    let total = objs.total() as u32;
    for i in (0..total).step_by(97).chain(total - 8..total) {
        let t = objs.templated(i).expect("templated");
        check(&templates, &t, &objs.get(i).expect("object"), i as usize);
    }
}

#[test]
fn reference_is_the_etcd_writers_encoding() {
    let f = &fleets()[1];
    let objs: Vec<Object> = cluster_objects(f, 3).for_create().collect();
    let ns = namespace_object(f, 3);
    for obj in objs.iter().chain([&ns]) {
        let body = create_body(obj, &HashMap::new());
        for format in [StoredFormat::V1_20, StoredFormat::Current] {
            let (uid, value) =
                crate::stored::value::stored_value(obj, &body, format).expect("stored");
            let stored = decode_builtin(&value).expect("decodes");
            let time = stored["metadata"]["creationTimestamp"]
                .as_str()
                .expect("time")
                .to_string();
            let expected =
                reference(obj, &body, Form::Stored(format), &uid, &time).expect("reference");
            assert!(value == expected, "{format:?} {}", obj.name);
        }
    }
}

#[test]
fn a_template_missing_a_value_is_refused() {
    // A value the model forgot to list stays a constant of the source probe: the check
    // probe's bytes differ there, so no template is kept (the reference encoder renders).
    let f = FleetSpec::example("tpl-b2");
    let probe = |c: u64, n: u32, forget: bool| {
        let objs = cluster_objects(&f, c).for_create();
        let mut t = objs.templated(0).expect("templated");
        if forget {
            t.values[1] = Val::Text("\u{1}forgotten".into());
        }
        build::Probe::for_test(n, t, &objs.get(0).expect("object"))
    };
    let (source, check) = (probe(5, 0, false), probe(6, 1, false));
    assert!(build::template_for_test(&source, &check, Form::Create).is_some());
    let (source, check) = (probe(5, 0, true), probe(6, 1, true));
    assert!(build::template_for_test(&source, &check, Form::Create).is_none());
}
