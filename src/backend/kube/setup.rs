//! Set-up and cleanup calls of the kube target: installing CRDs, finding the namespaced
//! collections, listing a namespace's objects, finalizing a namespace.

use super::{encode, KubeTarget};
use crate::backend::{RequestError, TargetError};
use std::time::{Duration, Instant};

impl KubeTarget {
    /// Installs (or updates) CRDs and waits until each is Established.
    pub async fn install_crds(&self, crds: &[serde_json::Value]) -> Result<(), TargetError> {
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        for crd in crds {
            let name = crd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let setup = |m: String| TargetError::Setup {
                endpoint: self.endpoint.clone(),
                message: format!("CRD {name}: {m}"),
            };
            let (code, body) = self
                .raw("POST", path, Some(crd))
                .await
                .map_err(|e| setup(format!("{e:?}")))?;
            let exists = code == 403
                && matches!(
                    self.raw("GET", &format!("{path}/{name}"), None).await,
                    Ok((200, _))
                );
            if code == 409 || exists {
                // deploy/rbac.yaml: no create, but update of the tool's CRDs by name.
                self.update_crd(path, &name, crd).await.map_err(setup)?;
            } else if code == 403 {
                let said = body["message"].as_str().unwrap_or_default();
                return Err(TargetError::Forbidden {
                    endpoint: self.endpoint.clone(),
                    action: "create CustomResourceDefinitions".into(),
                    said: if said.is_empty() {
                        String::new()
                    } else {
                        format!(" ({said})")
                    },
                    fix: "grant it with `kubectl apply -f deploy/rbac-crds.yaml`, or install the CRDs once as an admin (`capi-loadgen crds <profile> | kubectl apply -f -`) and set fleet.install_crds: false".into(),
                });
            } else if code == 401 {
                return Err(TargetError::Auth {
                    endpoint: self.endpoint.clone(),
                    code,
                    hint: String::new(),
                });
            } else if code >= 300 {
                return Err(setup(format!(
                    "HTTP {code}: {}",
                    body["message"].as_str().unwrap_or("")
                )));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            loop {
                let (_, body) = self
                    .raw("GET", &format!("{path}/{name}"), None)
                    .await
                    .map_err(|e| TargetError::Setup {
                        endpoint: self.endpoint.clone(),
                        message: format!("CRD {name}: {e:?}"),
                    })?;
                let established = body["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
                if established {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(TargetError::Setup {
                        endpoint: self.endpoint.clone(),
                        message: format!("CRD {name} not Established after 60 s"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Discovery of new CRDs lags establishment slightly; wait until each kind is served.
        for crd in crds {
            let group = crd["spec"]["group"].as_str().unwrap_or_default();
            let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
            for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
                let version = v["name"].as_str().unwrap_or_default();
                let p = format!("/apis/{group}/{version}/{plural}?limit=1");
                loop {
                    match self.raw("GET", &p, None).await {
                        Ok((200, _)) => break,
                        _ if Instant::now() > deadline => {
                            return Err(TargetError::Setup {
                                endpoint: self.endpoint.clone(),
                                message: format!("{p} not served 60 s after install"),
                            })
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings an existing CRD to `crd`'s versions and schemas: left alone when they already
    /// match (so concurrent runs do not disturb each other), else replaced, retrying on
    /// write conflicts.
    async fn update_crd(
        &self,
        path: &str,
        name: &str,
        crd: &serde_json::Value,
    ) -> Result<(), String> {
        let versions = |v: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
            v["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| (x["name"].clone(), x["schema"].clone()))
                .collect()
        };
        for _ in 0..10 {
            let (_, existing) = self
                .raw("GET", &format!("{path}/{name}"), None)
                .await
                .map_err(|e| format!("{e:?}"))?;
            if versions(&existing) == versions(crd) {
                return Ok(());
            }
            let mut updated = crd.clone();
            updated["metadata"]["resourceVersion"] =
                existing["metadata"]["resourceVersion"].clone();
            let (code, body) = self
                .raw("PUT", &format!("{path}/{name}"), Some(&updated))
                .await
                .map_err(|e| format!("{e:?}"))?;
            match code {
                409 => continue,
                c if c < 300 => return Ok(()),
                c => {
                    return Err(format!(
                        "update: HTTP {c}: {}",
                        body["message"].as_str().unwrap_or("")
                    ))
                }
            }
        }
        Err("update: still conflicting after 10 attempts".into())
    }

    /// Collection paths of every namespaced resource type the server lists (discovery),
    /// without subresources and events.
    pub async fn namespaced_collections(&self) -> Result<Vec<String>, RequestError> {
        let mut group_versions = vec!["v1".to_string()];
        let (_, groups) = self.raw("GET", "/apis", None).await?;
        for g in groups["groups"].as_array().into_iter().flatten() {
            if let Some(gv) = g["preferredVersion"]["groupVersion"].as_str() {
                group_versions.push(gv.to_string());
            }
        }
        let mut out = Vec::new();
        for gv in group_versions {
            let base = if gv == "v1" {
                "/api/v1".to_string()
            } else {
                format!("/apis/{gv}")
            };
            let (code, list) = self.raw("GET", &base, None).await?;
            if code != 200 {
                continue;
            }
            for r in list["resources"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or("");
                let listable = r["verbs"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == "list"));
                if r["namespaced"] == true && listable && !name.contains('/') && name != "events" {
                    out.push(format!("{base}/{name}"));
                }
            }
        }
        Ok(out)
    }

    /// (namespace, "resource/name") of objects matching `selector` in `collection`.
    pub async fn list_namespaced(
        &self,
        collection: &str,
        selector: &str,
    ) -> Result<Vec<(String, String)>, RequestError> {
        let mut out = Vec::new();
        let mut cont = String::new();
        let resource = collection.rsplit('/').next().unwrap_or("");
        loop {
            let mut path = format!("{collection}?limit=500&labelSelector={}", encode(selector));
            if !cont.is_empty() {
                path.push_str(&format!("&continue={}", encode(&cont)));
            }
            let (code, body) = self.raw("GET", &path, None).await?;
            if code != 200 {
                return Err(RequestError::http(code));
            }
            for item in body["items"].as_array().into_iter().flatten() {
                let md = &item["metadata"];
                if let (Some(ns), Some(n)) = (md["namespace"].as_str(), md["name"].as_str()) {
                    // Objects Kubernetes itself puts in every namespace do not make it foreign.
                    let auto = matches!(
                        (resource, n),
                        ("serviceaccounts", "default") | ("configmaps", "kube-root-ca.crt")
                    ) || item["type"] == "kubernetes.io/service-account-token";
                    if !auto {
                        out.push((ns.to_string(), format!("{resource}/{n}")));
                    }
                }
            }
            match body["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// Removes the `kubernetes` finalizer of a Terminating namespace, as the namespace
    /// controller does once the namespace is empty (for clusters without one, like the
    /// local environment).
    pub async fn finalize_namespace(&self, name: &str) -> Result<(), RequestError> {
        let (code, mut ns) = self
            .raw("GET", &format!("/api/v1/namespaces/{name}"), None)
            .await?;
        match code {
            404 => return Ok(()),
            200 => {}
            c => return Err(RequestError::http(c)),
        }
        ns["spec"]["finalizers"] = serde_json::json!([]);
        match self
            .raw(
                "PUT",
                &format!("/api/v1/namespaces/{name}/finalize"),
                Some(&ns),
            )
            .await?
        {
            (c, _) if c < 300 || c == 404 => Ok(()),
            (c, _) => Err(RequestError::http(c)),
        }
    }
}
