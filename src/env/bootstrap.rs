//! Admin-only set-up of a fresh local apiserver: the load identity and its token.
//!
//! The load identity is a ServiceAccount (`capi-loadgen-system/capi-loadgen`) bound to
//! `cluster-admin`. It is *not* in `system:masters`, so API Priority and Fairness classifies
//! it like a real CAPI controller's service account (`workload-low`, see docs/concurrency.md) and it can be
//! throttled with 429s. The admin identity (in `system:masters`, exempt) only does set-up.

use super::EnvError;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};

/// Namespace of the load identity.
pub const LOAD_NAMESPACE: &str = "capi-loadgen-system";
/// Name of the load identity's ServiceAccount.
pub const LOAD_SERVICE_ACCOUNT: &str = "capi-loadgen";

fn err(what: &str, e: kube::Error) -> EnvError {
    EnvError::Start(format!("bootstrap: {what}: {e}"))
}

async fn create_or_exists<K>(api: &Api<K>, obj: &K, what: &str) -> Result<(), EnvError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(err(what, e)),
    }
}

/// Creates the load ServiceAccount and its binding, and returns a token for it
/// valid for `ttl_seconds`.
pub async fn load_identity(admin: kube::Client, ttl_seconds: i64) -> Result<String, EnvError> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(LOAD_NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    create_or_exists(&Api::<Namespace>::all(admin.clone()), &ns, "namespace").await?;
    let sa_api = Api::<ServiceAccount>::namespaced(admin.clone(), LOAD_NAMESPACE);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(LOAD_SERVICE_ACCOUNT.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    create_or_exists(&sa_api, &sa, "service account").await?;
    let crb = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some("capi-loadgen-load".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: LOAD_SERVICE_ACCOUNT.into(),
            namespace: Some(LOAD_NAMESPACE.into()),
            ..Default::default()
        }]),
    };
    create_or_exists(
        &Api::<ClusterRoleBinding>::all(admin.clone()),
        &crb,
        "cluster role binding",
    )
    .await?;
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(ttl_seconds),
            ..Default::default()
        },
        ..Default::default()
    };
    let tr = sa_api
        .create_token_request(LOAD_SERVICE_ACCOUNT, &PostParams::default(), &req)
        .await
        .map_err(|e| err("token request", e))?;
    tr.status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| EnvError::Start("bootstrap: token request returned no token".into()))
}
