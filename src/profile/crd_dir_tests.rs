//! `fleet.crd_schemas: upstream`: reading the real Cluster API CRDs (the YAML files as
//! published, the release `scripts/setup.sh` fetches into the cache) and renaming them into
//! the tool's groups; every misuse is a profile error naming its field.

use super::*;
use crate::model::{self, CrdSchemas, Kind};
use std::path::Path;

/// The release folder of the cache; a cache without it (run `scripts/setup.sh`, as
/// `scripts/test.sh` does first) fails the test saying so.
fn upstream_dir() -> String {
    let dir = crate::env::capi_crds::release_crds_dir();
    for file in crate::env::capi_crds::CLASSIC_CRD_FILES {
        let path = dir.join(file);
        if !path.is_file() {
            panic!(
                "{}",
                crate::env::capi_crds::ReleaseCrdsError::Missing { path }
            );
        }
    }
    dir.display().to_string()
}

fn parse(yaml: &str) -> Result<RunPlan, ProfileError> {
    parse_str(Path::new("p.yaml"), yaml, &Overrides::default())
}

fn upstream_profile(version: &str, extra: &str) -> String {
    let dir = upstream_dir();
    format!("fleet:\n  clusters: 2\n  capi_version: {version}\n  crd_schemas: upstream\n  crd_dir: {dir}\n{extra}")
}

fn count_key(v: &serde_json::Value, key: &str) -> usize {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, x)| usize::from(k == key) + count_key(x, key))
            .sum(),
        serde_json::Value::Array(a) => a.iter().map(|x| count_key(x, key)).sum(),
        _ => 0,
    }
}

#[test]
fn upstream_crds_are_renamed_into_the_loadtest_groups() {
    for version in ["v1beta1", "v1beta2"] {
        let plan = parse(&upstream_profile(version, "")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(plan.fleet.crd_schemas, CrdSchemas::Upstream(_)));
        let kinds = model::upstream_kinds(&plan.fleet);
        assert_eq!(kinds.len(), 6, "{version}: {kinds:?}");
        assert!(
            !kinds.contains(&Kind::InfraMachine),
            "no provider CRDs given"
        );
        let upstream = model::crds(&plan.fleet);
        let mut inferred_fleet = plan.fleet.clone();
        inferred_fleet.crd_schemas = CrdSchemas::Inferred;
        let inferred = model::crds(&inferred_fleet);
        assert_eq!(upstream.len(), inferred.len());
        for (u, i) in upstream.iter().zip(&inferred) {
            // Same names, groups and version as the inferred CRDs: requests are unchanged.
            assert_eq!(u["metadata"]["name"], i["metadata"]["name"]);
            assert_eq!(u["metadata"]["labels"], i["metadata"]["labels"]);
            assert_eq!(u["spec"]["group"], i["spec"]["group"]);
            assert_eq!(u["spec"]["names"]["kind"], i["spec"]["names"]["kind"]);
            let uv = u["spec"]["versions"].as_array().unwrap();
            assert_eq!(uv.len(), 1);
            assert_eq!(uv[0]["name"], i["spec"]["versions"][0]["name"]);
            assert_eq!(uv[0]["storage"], true);
            let name = u["metadata"]["name"].as_str().unwrap();
            assert!(name.ends_with("loadtest.cluster.x-k8s.io"), "{name}");
            let upstream_schema = u.to_string().len();
            let inferred_schema = i.to_string().len();
            if name.starts_with("metal3") {
                assert_eq!(upstream_schema, inferred_schema, "{name}: inferred kept");
            } else {
                assert_eq!(u["spec"]["conversion"]["strategy"], "None", "{name}");
                assert!(
                    upstream_schema > 5 * inferred_schema,
                    "{name}: {upstream_schema} vs {inferred_schema} bytes"
                );
            }
        }
        // CEL rules are kept (v1beta2's KubeadmControlPlane and KubeadmConfig have them).
        let cel: usize = upstream
            .iter()
            .map(|c| count_key(c, "x-kubernetes-validations"))
            .sum();
        assert!(cel > 0, "{version}: no CEL rule kept");
    }
}

#[test]
fn misuse_names_the_field() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().display();
    let cases = [
        (
            "fleet:\n  clusters: 2\n  crd_schemas: upstream\n".to_string(),
            "fleet.crd_schemas",
            "needs `fleet.crd_dir`",
        ),
        (
            format!("fleet:\n  clusters: 2\n  crd_dir: {}\n", upstream_dir()),
            "fleet.crd_dir",
            "only read with",
        ),
        (
            format!("fleet:\n  clusters: 2\n  crd_schemas: upstream\n  crd_dir: {dir}\n"),
            "fleet.crd_dir",
            "no CustomResourceDefinition",
        ),
        (
            format!("fleet:\n  clusters: 2\n  crd_schemas: upstream\n  crd_dir: {dir}/missing\n"),
            "fleet.crd_dir",
            "missing",
        ),
        (
            upstream_profile(
                "v1beta1",
                "  api_group: cluster.x-k8s.io\n  install_crds: false\n",
            ),
            "fleet.crd_schemas",
            "other than cluster.x-k8s.io",
        ),
        (
            "fleet:\n  clusters: 2\n  crd_schemas: real\n".to_string(),
            "fleet.crd_schemas",
            "unknown variant",
        ),
    ];
    for (yaml, field, words) in cases {
        let e = parse(&yaml).expect_err(&yaml);
        assert_eq!(e.field, field, "{yaml}\n=> {e}");
        assert!(e.message.contains(words), "{yaml}\n=> {e}");
        assert!(e.line > 0, "{e}");
    }
    // A directory lacking a Cluster API kind: named in the error.
    let partial = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(upstream_dir()).unwrap() {
        let f = f.unwrap().path();
        if !f.to_string_lossy().contains("kubeadmcontrolplanes") {
            std::fs::copy(&f, partial.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    let yaml = format!(
        "fleet:\n  clusters: 2\n  crd_schemas: upstream\n  crd_dir: {}\n",
        partial.path().display()
    );
    // Installed beforehand (`capi-loadgen crds`): upstream without install_crds is a plan.
    let plan = parse(&upstream_profile("v1beta2", "  install_crds: false\n")).unwrap();
    assert!(!plan.install_crds);
    assert_eq!(model::upstream_kinds(&plan.fleet).len(), 6);
    let e = parse(&yaml).expect_err("no KubeadmControlPlane CRD");
    assert_eq!(e.field, "fleet.crd_dir");
    assert!(e.message.contains("KubeadmControlPlane"), "{e}");
}
