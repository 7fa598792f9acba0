//! `fleet.provider_api_version`: the API version of the provider (infrastructure) kinds.
//!
//! The providers moved to `v1beta2` with Cluster API's `v1beta2` contract: Metal3 from CAPM3
//! v1.13, CAPD from Cluster API v1.11; Nutanix (CAPX v1.10) publishes only `v1beta1`. A
//! profile may name the version; otherwise the run asks the target's discovery when it
//! writes into CRDs it did not install (`install_crds: false`, as in `cluster.x-k8s.io`
//! mode) and takes the newest version the provider publishes that they serve. Without an
//! apiserver to ask (a bare etcd target) or when the tool installs the CRDs itself, the
//! default is the provider's `v1beta1` for a `v1beta1` fleet and its newest for `v1beta2`.

use super::ProfileError;
use crate::model::{CapiVersion, Provider};

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The provider version of a fleet: the profile's (checked against what the provider
/// publishes) or the default for `capi`.
pub(super) fn resolve(
    provider: Provider,
    capi: CapiVersion,
    asked: Option<CapiVersion>,
    err: Err,
) -> Result<CapiVersion, ProfileError> {
    match asked {
        Some(v) if !provider.serves(v) => Err(err(
            "fleet.provider_api_version",
            format!(
                "provider {} publishes no {} (it has {})",
                provider.as_str(),
                v.as_str(),
                provider
                    .api_versions()
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(v) => Ok(v),
        None => Ok(provider.default_api_version(capi)),
    }
}

/// The version to write given what the target serves: the newest of `served` (the API
/// versions under which discovery lists every provider kind of the fleet) that the
/// provider publishes; `None` when it serves none of them.
pub fn newest_served(provider: Provider, served: &[CapiVersion]) -> Option<CapiVersion> {
    provider
        .api_versions()
        .iter()
        .rev()
        .copied()
        .find(|v| served.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(field: &str, m: String) -> ProfileError {
        ProfileError {
            file: "p.yaml".into(),
            line: 0,
            field: field.into(),
            message: m,
        }
    }

    #[test]
    fn defaults_follow_the_contract_and_what_each_provider_publishes() {
        use CapiVersion::*;
        let r = |p, c, a| resolve(p, c, a, &err);
        assert_eq!(r(Provider::Metal3, V1beta1, None).unwrap(), V1beta1);
        assert_eq!(r(Provider::Metal3, V1beta2, None).unwrap(), V1beta2);
        assert_eq!(r(Provider::Docker, V1beta2, None).unwrap(), V1beta2);
        assert_eq!(r(Provider::Nutanix, V1beta2, None).unwrap(), V1beta1);
        assert_eq!(
            r(Provider::Docker, V1beta1, Some(V1beta2)).unwrap(),
            V1beta2
        );
        let e = r(Provider::Nutanix, V1beta2, Some(V1beta2)).unwrap_err();
        assert!(e.to_string().contains("fleet.provider_api_version"), "{e}");
        assert!(
            e.to_string().contains("nutanix publishes no v1beta2"),
            "{e}"
        );
    }

    #[test]
    fn discovery_takes_the_newest_published_and_served() {
        use CapiVersion::*;
        assert_eq!(
            newest_served(Provider::Metal3, &[V1beta1, V1beta2]),
            Some(V1beta2)
        );
        assert_eq!(newest_served(Provider::Metal3, &[V1beta1]), Some(V1beta1));
        assert_eq!(newest_served(Provider::Nutanix, &[V1beta2]), None);
        assert_eq!(newest_served(Provider::Docker, &[]), None);
    }
}
