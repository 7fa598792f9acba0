//! Creating the manifests and the fleet's objects through the admin client: any kind, found
//! through discovery; an object that exists already is replaced (CRDs and webhook
//! configurations of an earlier run on the same environment).

use super::CapiError;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// The admin client and what it found out about the server's kinds.
pub(crate) struct Applier {
    client: kube::Client,
}

fn gvk_of(v: &Value) -> Option<GroupVersionKind> {
    let api_version = v["apiVersion"].as_str()?;
    let kind = v["kind"].as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Some(GroupVersionKind::gvk(group, version, kind))
}

impl Applier {
    pub(crate) fn new(client: kube::Client) -> Applier {
        Applier { client }
    }

    pub(crate) fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The API of `v`'s kind in `v`'s namespace (or cluster-wide).
    async fn api_for(&self, v: &Value) -> Result<(Api<DynamicObject>, String), CapiError> {
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let gvk = gvk_of(v).ok_or_else(|| CapiError::NoKind { name: name.clone() })?;
        let (ar, caps) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(CapiError::api(format!("discovery of {}", gvk.kind)))?;
        let api = match (caps.scope, v["metadata"]["namespace"].as_str()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        };
        Ok((api, name))
    }

    /// Creates `v`, or replaces it when it exists.
    pub(crate) async fn create_or_replace(&self, v: &Value) -> Result<(), CapiError> {
        let (api, name) = self.api_for(v).await?;
        let obj: DynamicObject = serde_json::from_value(v.clone()).map_err(|e| CapiError::Api {
            what: format!("{name}: {e}"),
            source: kube::Error::SerdeError(e),
        })?;
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let current = api
                    .get(&name)
                    .await
                    .map_err(CapiError::api(format!("get {name}")))?;
                let mut obj = obj;
                obj.metadata.resource_version = current.metadata.resource_version;
                api.replace(&name, &PostParams::default(), &obj)
                    .await
                    .map(|_| ())
                    .map_err(CapiError::api(format!("replace {name}")))
            }
            Err(e) => Err(CapiError::Api {
                what: format!("create {} {name}", v["kind"].as_str().unwrap_or("object")),
                source: e,
            }),
        }
    }

    /// Creates `v` (an error when it exists).
    pub(crate) async fn create(&self, v: &Value) -> Result<(), CapiError> {
        let (api, name) = self.api_for(v).await?;
        let obj: DynamicObject = serde_json::from_value(v.clone()).map_err(|e| CapiError::Api {
            what: format!("{name}: {e}"),
            source: kube::Error::SerdeError(e),
        })?;
        api.create(&PostParams::default(), &obj)
            .await
            .map(|_| ())
            .map_err(CapiError::api(format!(
                "create {} {name}",
                v["kind"].as_str().unwrap_or("object")
            )))
    }

    /// Waits until every CRD in `crds` is Established and served (discovery resolves one of
    /// its kinds), at most `deadline`.
    pub(crate) async fn wait_established(
        &self,
        crds: &[Value],
        deadline: Duration,
    ) -> Result<(), CapiError> {
        let ar = ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&());
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let until = Instant::now() + deadline;
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            loop {
                let established = api.get(name).await.ok().is_some_and(|o| {
                    o.data["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    })
                });
                if established {
                    break;
                }
                if Instant::now() > until {
                    return Err(CapiError::NotEstablished {
                        crd: name.to_string(),
                        seconds: deadline.as_secs(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}
