//! In `cluster.x-k8s.io` mode the objects must be accepted by the real upstream Cluster API
//! CRDs (the release `scripts/setup.sh` fetches, prepared to serve one version each), in
//! both API versions users run, for every provider.

use capi_loadgen_test_support as common;

use capi_loadgen::model::{self, CapiVersion, FleetSpec, Provider};

async fn check_version(version: CapiVersion) {
    let v = version.as_str();
    let (mut env, admin) = common::own_env_with_admin(&format!("schema-{v}")).await;
    let kc = env.info.kubeconfig.clone();
    // The real CAPI CRDs, plus the providers' kinds (which upstream CAPI does not define).
    let mut crds = common::prepared_capi_crds(v);
    assert_eq!(crds.len(), 6, "{v}");
    for provider in [Provider::Metal3, Provider::Nutanix, Provider::Docker] {
        let mut spec = FleetSpec::example("schema");
        spec.api_group = "cluster.x-k8s.io".into();
        spec.provider = provider;
        crds.extend(model::provider_crds(&spec));
    }
    admin
        .install_crds(&crds)
        .await
        .expect("upstream CRDs install");

    for provider in ["metal3", "nutanix", "docker"] {
        let profile = common::profile_file(
            &format!("schema-{v}-{provider}"),
            &format!(
                "fleet:\n  clusters: 2\n  control_plane_replicas: 3\n  machine_deployments: 2\n  workers_per_machine_deployment: 2\n  provider: {provider}\n  api_group: cluster.x-k8s.io\n  install_crds: false\n  capi_version: {v}\n  cluster_secrets: [kubeconfig, ca, etcd, sa, proxy, apiserver-etcd-client]\nclient: {{pool_size: 2, qps: -1}}\n"
            ),
        );
        let out = common::state_dir(&format!("schema-out-{v}-{provider}"));
        let run_id = format!("schema-{v}-{provider}");
        let argv = [
            "capi-loadgen",
            "run",
            profile.to_str().unwrap(),
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--run-id",
            &run_id,
            "--out",
            out.to_str().unwrap(),
        ];
        common::cli(&argv[1..]).await.expect("run completes");
        let s = capi_loadgen::report::Summary::read(&out).unwrap();
        let rejected: Vec<String> = s
            .operations
            .iter()
            .filter(|o| o.counts.ok != o.counts.sent)
            .map(|o| format!("{} {}: {:?}", o.verb, o.kind, o.failed_by))
            .collect();
        assert!(
            rejected.is_empty(),
            "{v} {provider}: objects rejected by the upstream CRDs: {rejected:?}"
        );
        assert_eq!(s.totals.ok, s.fleet.objects_planned, "{v} {provider}");
        assert_eq!(s.fleet.api_group, "cluster.x-k8s.io");
    }
    // The objects really are stored in the upstream kinds.
    let req = http::Request::get(format!("/apis/cluster.x-k8s.io/{v}/machines"))
        .body(Vec::new())
        .unwrap();
    let list: serde_json::Value = admin.client().request(req).await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3 * 2 * (3 + 2 * 2));
    env.stop().await;
}

#[tokio::test]
async fn v1beta1_objects_are_accepted_by_the_upstream_crds() {
    check_version(CapiVersion::V1beta1).await;
}

#[tokio::test]
async fn v1beta2_objects_are_accepted_by_the_upstream_crds() {
    check_version(CapiVersion::V1beta2).await;
}
