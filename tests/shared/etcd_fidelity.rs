//! The etcd target writes what kube-apiserver would: a fleet written straight into etcd
//! reads back through the real apiserver, and stored sizes match the kube target's.

use capi_loadgen_test_support as common;

use capi_loadgen::backend::etcd::{decode_value, key_prefix, EtcdTarget};
use capi_loadgen::model::{self, FleetSpec, Kind};
use std::collections::BTreeMap;
use std::time::Duration;

/// Request timeout of the set-up clients the test reads the server with.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two looks at a condition.
const POLL: Duration = Duration::from_millis(100);

async fn run(args: &[&str]) {
    common::cli(args).await.expect("run succeeds");
}

const PROFILE: &str = "
fleet:
  clusters: 2
  control_plane_replicas: 3
  machine_deployments: 2
  workers_per_machine_deployment: 2
  provider: metal3
client: {pool_size: 2, qps: -1}
phases: {create: {concurrency: 2}}
";

/// The FleetSpec the profile above yields for a run id.
fn fleet(run_id: &str) -> FleetSpec {
    common::fleet("fidelity-spec", PROFILE, run_id)
}

/// Bytes (key + value) per kind stored in etcd for objects labelled with `run_id`.
async fn stored_bytes(
    etcd: &EtcdTarget,
    spec: &FleetSpec,
    run_id: &str,
) -> BTreeMap<Kind, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut kinds: Vec<Kind> = spec.objects_per_cluster().keys().copied().collect();
    kinds.push(Kind::Namespace);
    for kind in kinds {
        let api = spec.api_ref(kind);
        for (key, value) in etcd.range_prefix(&key_prefix(&api, None)).await.unwrap() {
            let obj = decode_value(&api, &value).expect("decodes");
            if obj["metadata"]["labels"][model::RUN_ID_LABEL] == run_id {
                let e = out.entry(kind).or_insert((0u64, 0u64));
                e.0 += 1;
                e.1 += (key.len() + value.len()) as u64;
            }
        }
    }
    out
}

#[tokio::test]
async fn etcd_writes_read_back_through_the_apiserver_and_match_kube_sizes() {
    let env = common::shared_env();
    let profile = common::profile_file("fidelity", PROFILE);
    let kc = env.kubeconfig.to_str().unwrap();
    let (out_k, out_e) = (
        common::state_dir("fid-kube-out"),
        common::state_dir("fid-etcd-out"),
    );
    // Same-length run ids, so names and labels have the same size on both paths.
    run(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc,
        "--run-id",
        "fid-kube",
        "--out",
        out_k.to_str().unwrap(),
    ])
    .await;
    run(&[
        "run",
        profile.to_str().unwrap(),
        "--etcd-endpoint",
        &env.etcd_endpoint,
        "--run-id",
        "fid-etcd",
        "--out",
        out_e.to_str().unwrap(),
    ])
    .await;
    let s = capi_loadgen::report::Summary::read(&out_e).unwrap();
    assert_eq!(s.target.kind, "etcd");
    assert_eq!(
        (s.totals.sent, s.totals.ok),
        (s.fleet.objects_planned, s.fleet.objects_planned)
    );
    common::assert_valid_summary(&out_e.join("summary.json"));

    // Read every kind back through the real apiserver (its watch cache sees etcd writes).
    let spec = fleet("fid-etcd");
    let admin = capi_loadgen::env::local::client_for(&env.kubeconfig, "capi-loadgen-admin")
        .await
        .unwrap();
    let list = |path: String| {
        let admin = admin.clone();
        async move {
            let req = http::Request::get(format!(
                "{path}?labelSelector=capi-loadgen.io%2Frun-id%3Dfid-etcd"
            ))
            .body(Vec::new())
            .unwrap();
            admin.request::<serde_json::Value>(req).await.unwrap()
        }
    };
    let mut expected: BTreeMap<Kind, u64> = spec
        .objects_per_cluster()
        .into_iter()
        .map(|(k, n)| (k, n * spec.clusters))
        .collect();
    expected.insert(Kind::Namespace, spec.namespace_count());
    for (kind, n) in &expected {
        let path = spec.api_ref(*kind).collection_path(None);
        // The watch cache may lag the etcd writes by a moment.
        let mut got = 0;
        for _ in 0..50 {
            got = list(path.clone()).await["items"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0) as u64;
            if got == *n {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(got, *n, "{kind:?} listed through the apiserver");
    }
    // Content: every object of cluster 0 reads back with the spec, labels and data written.
    for obj in model::cluster_objects(&spec, 0) {
        let path = format!(
            "{}/{}",
            obj.api.collection_path(obj.namespace.as_deref()),
            obj.name
        );
        let got: serde_json::Value = admin
            .request(http::Request::get(&path).body(Vec::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            got["metadata"]["labels"], obj.body["metadata"]["labels"],
            "{path}"
        );
        match obj.kind {
            Kind::Secret => {
                assert_eq!(got["data"], obj.body["data"], "{path}: Secret data");
                assert_eq!(got["type"], obj.body["type"], "{path}");
            }
            _ => assert_eq!(got["spec"], obj.body["spec"], "{path}: spec"),
        }
        assert_eq!(
            got["metadata"]["ownerReferences"].as_array().map(Vec::len),
            obj.body["metadata"]["ownerReferences"]
                .as_array()
                .map(Vec::len)
        );
    }

    // Sizes as stored: the etcd target's bytes per kind agree with the apiserver's.
    let etcd = EtcdTarget::connect(
        std::slice::from_ref(&env.etcd_endpoint),
        None,
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    let via_kube = stored_bytes(&etcd, &fleet("fid-kube"), "fid-kube").await;
    let via_etcd = stored_bytes(&etcd, &spec, "fid-etcd").await;
    assert_eq!(
        via_kube.keys().collect::<Vec<_>>(),
        via_etcd.keys().collect::<Vec<_>>()
    );
    for (kind, (n_k, b_k)) in &via_kube {
        let (n_e, b_e) = via_etcd[kind];
        assert_eq!(*n_k, n_e, "{kind:?} count");
        let diff = (*b_k as f64 - b_e as f64).abs() / *b_k as f64;
        println!(
            "{kind:?}: kube {b_k} bytes, etcd {b_e} bytes ({:.2}% apart)",
            diff * 100.0
        );
        assert!(
            diff < 0.01,
            "{kind:?}: kube target stored {b_k} bytes, etcd target {b_e}"
        );
    }
}

/// get / patch (spec and status) / delete behave the same on both targets.
#[tokio::test]
async fn get_patch_delete_on_both_targets() {
    use capi_loadgen::backend::kube::KubeTarget;
    use capi_loadgen::backend::Target;
    let env = common::shared_env();
    let kube = KubeTarget::from_kubeconfig(
        Some(&env.kubeconfig),
        Some("capi-loadgen-admin"),
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    let etcd = EtcdTarget::connect(
        std::slice::from_ref(&env.etcd_endpoint),
        None,
        CLIENT_TIMEOUT,
    )
    .await
    .unwrap();
    let spec = fleet("gp-both");
    kube.install_crds(&model::crds(&spec)).await.unwrap();
    let ns = model::namespace_object(&spec, 0);
    kube.create(&ns, &ns.body).await.unwrap();
    let machines: Vec<_> = model::cluster_objects(&spec, 0)
        .filter(|o| o.kind == Kind::Machine)
        .take(2)
        .collect();
    async fn exercise<T: Target>(t: &T, m: &model::Object) {
        let mut body = m.body.clone();
        body.as_object_mut().unwrap().remove("status");
        body["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        t.create(m, &body).await.unwrap();
        let ns = m.namespace.as_deref();
        t.patch(
            &m.api,
            ns,
            &m.name,
            &serde_json::json!({"status": {"phase": "Deleting"}}),
            true,
        )
        .await
        .unwrap();
        t.patch(&m.api, ns, &m.name, &serde_json::json!({"metadata": {"labels": {"extra": "yes"}}, "status": {"phase": "ignored"}}), false).await.unwrap();
        let got = t.get(&m.api, ns, &m.name).await.unwrap();
        assert_eq!(got["status"]["phase"], "Deleting", "{}", t.endpoint());
        assert_eq!(got["metadata"]["labels"]["extra"], "yes");
        assert!(got["metadata"]["resourceVersion"].as_str().is_some());
        t.delete(&m.api, ns, &m.name).await.unwrap();
        assert_eq!(
            t.get(&m.api, ns, &m.name).await.unwrap_err(),
            capi_loadgen::backend::RequestError::http(404)
        );
        // Deleting what is gone is not an error (cleanup is idempotent).
        t.delete(&m.api, ns, &m.name).await.unwrap();
    }
    exercise(&kube, &machines[0]).await;
    exercise(&etcd, &machines[1]).await;
}
