//! The CustomResourceDefinitions of the modelled infrastructure providers' current releases,
//! which `scripts/setup.sh` fetches from the providers' Go modules into the cache
//! (`~/.cache/capi-loadgen/assets/provider-crds/<provider>/<release>/`, or
//! `$CAPI_LOADGEN_PROVIDER_CRDS/<provider>/<release>/`): CAPD's (Docker and Dev kinds, from
//! Cluster API's test module at [`super::capi_crds::CAPI_RELEASE`]), CAPM3's
//! (Metal3) and CAPX's (Nutanix). Tests check the tool's provider bodies against them and
//! install them, prepared for one version ([`super::capi_crds::prepare`]), beside Cluster
//! API's.

use std::path::PathBuf;

use serde_json::Value;

use super::capi_crds::{read_release_crd, ReleaseCrdsError, CAPI_RELEASE};

/// CAPM3's release whose CRDs `scripts/setup.sh` fetches (its `METAL3_CRDS_VERSION`).
pub const METAL3_RELEASE: &str = "v1.13.2";
/// CAPX's release whose CRDs `scripts/setup.sh` fetches (its `NUTANIX_CRDS_VERSION`).
pub const NUTANIX_RELEASE: &str = "v1.10.3";

/// The cache folder name and the release of the CRDs of `provider` (as named in profiles:
/// `docker`, `metal3`, `nutanix`).
pub fn release(provider: &str) -> Option<(&'static str, &'static str)> {
    match provider {
        "docker" => Some(("capd", CAPI_RELEASE)),
        "metal3" => Some(("metal3", METAL3_RELEASE)),
        "nutanix" => Some(("nutanix", NUTANIX_RELEASE)),
        _ => None,
    }
}

/// The folder of `provider`'s CRDs: `$CAPI_LOADGEN_PROVIDER_CRDS/<name>/<release>`, else
/// `<cache>/assets/provider-crds/<name>/<release>`.
pub fn provider_crds_dir(provider: &str) -> Option<PathBuf> {
    let (name, version) = release(provider)?;
    let root = match std::env::var_os("CAPI_LOADGEN_PROVIDER_CRDS") {
        Some(d) => PathBuf::from(d),
        None => super::assets::cache_root().join("assets/provider-crds"),
    };
    Some(root.join(name).join(version))
}

/// The file of `kind`'s CRD in a provider's folder, e.g.
/// `infrastructure.cluster.x-k8s.io_metal3machines.yaml`.
pub fn crd_file(kind: &str) -> String {
    format!(
        "infrastructure.cluster.x-k8s.io_{}s.yaml",
        kind.to_ascii_lowercase()
    )
}

/// The CRDs of `kinds` of `provider`, parsed, as published (every version).
pub fn read_provider_crds(provider: &str, kinds: &[&str]) -> Result<Vec<Value>, ReleaseCrdsError> {
    let dir = provider_crds_dir(provider).ok_or_else(|| ReleaseCrdsError::Missing {
        path: PathBuf::from(format!("provider-crds/{provider}")),
    })?;
    kinds
        .iter()
        .map(|k| read_release_crd(&dir, &crd_file(k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_releases_are_the_ones_setup_fetches() {
        let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/setup.sh");
        let text = std::fs::read_to_string(setup).unwrap();
        for line in [
            format!("METAL3_CRDS_VERSION={METAL3_RELEASE}"),
            format!("NUTANIX_CRDS_VERSION={NUTANIX_RELEASE}"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{setup} has no line {line}"
            );
        }
        assert!(
            text.contains(
                "fetch_provider_crds capd sigs.k8s.io/cluster-api/test \"$CAPI_CRDS_VERSION\""
            ),
            "CAPD's CRDs come from the Cluster API release of the core CRDs"
        );
    }

    #[test]
    fn files_name_the_kinds() {
        assert_eq!(
            crd_file("DockerMachinePool"),
            "infrastructure.cluster.x-k8s.io_dockermachinepools.yaml"
        );
        assert!(provider_crds_dir("metal3")
            .unwrap()
            .ends_with("metal3/v1.13.2"));
        assert!(provider_crds_dir("aws").is_none());
        let empty = tempfile::tempdir().unwrap();
        let e = read_release_crd(empty.path(), &crd_file("NutanixCluster")).unwrap_err();
        assert!(e.to_string().contains("scripts/setup.sh"), "{e}");
    }
}
