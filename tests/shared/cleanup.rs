//! Cleanup deletes only what carries the run's label: a foreign object planted in the
//! run's own namespace survives, and so does the namespace holding it. Both targets.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::etcd::{decode_value, key_prefix, EtcdTarget};
use capi_loadgen::backend::kube::KubeTarget;
use capi_loadgen::backend::Target;
use capi_loadgen::model::{self, FleetSpec, Kind};
use std::time::Duration;

/// Request timeout of the set-up clients the test reads the server with.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

const PROFILE: &str = "fleet: {clusters: 3, clusters_per_namespace: 2, control_plane_replicas: 1, workers_per_machine_deployment: 1}\nclient: {qps: -1}\n";

fn fleet(run_id: &str) -> FleetSpec {
    common::fleet("cleanup-spec", PROFILE, run_id)
}

/// A Machine of another run, moved into `ns`.
fn foreign_machine(ns: &str) -> model::Object {
    let other = fleet("other-run");
    let mut m = model::cluster_objects(&other, 0)
        .find(|o| o.kind == Kind::Machine)
        .unwrap();
    m.namespace = Some(ns.to_string());
    m.name = "foreign-machine".into();
    m.body["metadata"]["namespace"] = ns.into();
    m.body["metadata"]["name"] = "foreign-machine".into();
    m.body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    m.body.as_object_mut().unwrap().remove("status");
    m
}

fn foreign_secret(ns: &str) -> model::Object {
    let spec = fleet("x");
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "foreign-secret", "namespace": ns, "labels": {"team": "someone-else"}},
        "data": {"k": "dmFsdWU="}
    });
    model::Object {
        index: 0,
        kind: Kind::Secret,
        api: spec.api_ref(Kind::Secret),
        namespace: Some(ns.into()),
        name: "foreign-secret".into(),
        uid: String::new(),
        owners: vec![],
        body,
    }
}

#[tokio::test]
async fn kube_cleanup_spares_foreign_objects_and_their_namespace() {
    let env = common::shared_env();
    let kc = env.kubeconfig.to_str().unwrap();
    let p = common::profile_file("cleanup-kube", PROFILE);
    let out = common::state_dir("cleanup-kube-out");
    common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--kubeconfig",
        kc,
        "--run-id",
        "cl-kube",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let spec = fleet("cl-kube");
    let (ns0, ns1) = (spec.namespace_name(0), spec.namespace_name(1));

    let admin = KubeTarget::from_kubeconfig(
        Some(&env.kubeconfig),
        Some("capi-loadgen-admin"),
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    for f in [foreign_secret(&ns0), foreign_machine(&ns0)] {
        admin
            .create(&f, &f.body)
            .await
            .expect("plant foreign object");
    }

    common::cli(&["cleanup", "--run-id", "cl-kube", "--kubeconfig", kc])
        .await
        .expect("cleanup succeeds");

    let sel = "capi-loadgen.io/run-id=cl-kube";
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Namespace) {
        let left = admin
            .list_names(&spec.api_ref(kind), None, sel)
            .await
            .unwrap();
        assert!(left.is_empty(), "{kind:?} left: {left:?}");
    }
    let machine_api = spec.api_ref(Kind::Machine);
    admin
        .get(&spec.api_ref(Kind::Secret), Some(&ns0), "foreign-secret")
        .await
        .expect("foreign Secret survives");
    admin
        .get(&machine_api, Some(&ns0), "foreign-machine")
        .await
        .expect("foreign Machine survives");
    let ns_api = spec.api_ref(Kind::Namespace);
    admin
        .get(&ns_api, None, &ns0)
        .await
        .expect("namespace with foreign objects kept");
    assert!(
        admin.get(&ns_api, None, &ns1).await.is_err(),
        "emptied namespace deleted"
    );
}

#[tokio::test]
async fn etcd_cleanup_spares_foreign_keys_and_their_namespace() {
    let env = common::shared_env();
    let p = common::profile_file("cleanup-etcd", PROFILE);
    let out = common::state_dir("cleanup-etcd-out");
    common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--etcd-endpoint",
        &env.etcd_endpoint,
        "--run-id",
        "cl-etcd",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let spec = fleet("cl-etcd");
    let (ns0, ns1) = (spec.namespace_name(0), spec.namespace_name(1));

    let etcd = EtcdTarget::connect(
        std::slice::from_ref(&env.etcd_endpoint),
        None,
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    for f in [foreign_secret(&ns0), foreign_machine(&ns0)] {
        etcd.create(&f, &f.body).await.expect("plant foreign key");
    }
    let before = etcd.keys_with_prefix("/registry/").await.unwrap().len();

    common::cli(&[
        "cleanup",
        "--run-id",
        "cl-etcd",
        "--etcd-endpoint",
        &env.etcd_endpoint,
    ])
    .await
    .expect("cleanup succeeds");

    let mut left = 0;
    for kind in Kind::ALL {
        let api = spec.api_ref(kind);
        for (_, v) in etcd.range_prefix(&key_prefix(&api, None)).await.unwrap() {
            let o = decode_value(&api, &v).unwrap();
            if o["metadata"]["labels"][model::RUN_ID_LABEL] == "cl-etcd"
                && o["metadata"]["name"] != ns0.as_str()
            {
                left += 1;
            }
        }
    }
    assert_eq!(left, 0, "objects of the run left in etcd");
    let machine_key = spec
        .api_ref(Kind::Machine)
        .etcd_key(Some(&ns0), "foreign-machine");
    let secret_key = spec
        .api_ref(Kind::Secret)
        .etcd_key(Some(&ns0), "foreign-secret");
    let keys = etcd.keys_with_prefix("/registry/").await.unwrap();
    assert!(keys.contains(&machine_key), "foreign Machine survives");
    assert!(keys.contains(&secret_key), "foreign Secret survives");
    assert!(
        keys.contains(&format!("/registry/namespaces/{ns0}")),
        "namespace with foreign keys kept"
    );
    assert!(
        !keys.contains(&format!("/registry/namespaces/{ns1}")),
        "emptied namespace deleted"
    );
    assert!(keys.len() < before);
}

#[tokio::test]
async fn cleanup_needs_a_selection() {
    let e = common::cli(&["cleanup", "--etcd-endpoint", "http://127.0.0.1:1"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::USAGE);
}

/// What a breakpoints row leaves on a named target (its runs' ids begin with the suite's)
/// is deleted after the row; another run's objects stay.
#[tokio::test]
async fn a_breakpoints_rows_runs_are_cleaned_up_and_no_other() {
    let env = common::shared_env();
    let kc = env.kubeconfig.to_str().unwrap();
    let p = common::profile_file("cleanup-rows", PROFILE);
    for id in ["clrow-cq-p00", "clrow-cq-p01", "clrowx-keep"] {
        let out = common::state_dir(&format!("cleanup-rows-{id}"));
        common::cli(&[
            "run",
            p.to_str().unwrap(),
            "--kubeconfig",
            kc,
            "--run-id",
            id,
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap();
    }
    let target = capi_loadgen::profile::TargetPlan::Kube {
        kubeconfig: Some(env.kubeconfig.clone()),
        context: None,
        allow: vec![],
        chosen: None,
    };
    let spec = fleet("clrow-cq-p00");
    let line =
        capi_loadgen::experiments::row_cleanup::clean_suite_runs(&target, &spec.api_group, "clrow")
            .await
            .expect("the row's runs are cleaned up");
    assert!(
        line.contains("clrow-cq-p00, clrow-cq-p01") && !line.contains("clrowx"),
        "{line}"
    );
    let admin = KubeTarget::from_kubeconfig(
        Some(&env.kubeconfig),
        Some("capi-loadgen-admin"),
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    for (id, left) in [
        ("clrow-cq-p00", false),
        ("clrow-cq-p01", false),
        ("clrowx-keep", true),
    ] {
        let sel = format!("capi-loadgen.io/run-id={id}");
        let machines = admin
            .list_names(&spec.api_ref(Kind::Machine), None, &sel)
            .await
            .unwrap();
        let namespaces = admin
            .list_names(&spec.api_ref(Kind::Namespace), None, &sel)
            .await
            .unwrap();
        assert_eq!(!machines.is_empty(), left, "{id}: {machines:?}");
        assert_eq!(!namespaces.is_empty(), left, "{id}: {namespaces:?}");
    }
}
