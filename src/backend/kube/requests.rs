//! The kube target's [`Target`] requests: creates, gets, patches, deletes, watches and
//! lists, each one raw request through [`KubeTarget::send`](super::KubeTarget).

use super::{classify, encode, KubeTarget};
use crate::backend::{Created, RequestError, Target};
use crate::model::{ApiRef, Object};

impl Target for KubeTarget {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn lists_secrets_cluster_wide(&self) -> bool {
        !self.binds_namespaces()
    }

    async fn create(
        &self,
        obj: &Object,
        body: &serde_json::Value,
    ) -> Result<Created, RequestError> {
        let bytes = serde_json::to_vec(body).map_err(|_| RequestError::Transport)?;
        let request_bytes = bytes.len();
        let path = obj.api.collection_path(obj.namespace.as_deref());
        let (status, retry, resp) = self.send("POST", &path, bytes, "application/json").await?;
        if !(200..300).contains(&status) {
            return Err(RequestError::Http {
                code: status,
                retry_after: retry,
            });
        }
        if let (crate::model::Kind::Namespace, Some(subject)) = (obj.kind, &self.namespace_subject)
        {
            Box::pin(self.bind_namespace(body, subject)).await?;
        }
        Ok(created(&resp, request_bytes))
    }

    async fn create_rendered(
        &self,
        obj: &Object,
        body: &crate::stored::template::Rendered<'_>,
    ) -> Result<Created, RequestError> {
        if obj.kind == crate::model::Kind::Namespace && self.namespace_subject.is_some() {
            // Binding the namespace's RoleBinding reads the body.
            return self.create(obj, &body.value()).await;
        }
        let mut bytes = Vec::with_capacity(8192);
        body.create_json(&mut bytes);
        let request_bytes = bytes.len();
        let path = obj.api.collection_path(obj.namespace.as_deref());
        let (status, retry, resp) = self.send("POST", &path, bytes, "application/json").await?;
        if !(200..300).contains(&status) {
            return Err(RequestError::Http {
                code: status,
                retry_after: retry,
            });
        }
        Ok(created(&resp, request_bytes))
    }

    async fn current_version(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
    ) -> Result<String, RequestError> {
        let path = format!("{}?limit=1", api.collection_path(namespace));
        match self.raw("GET", &path, None).await? {
            (200, v) => Ok(v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string()),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn watch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
        resource_version: &str,
    ) -> Result<crate::backend::WatchStream, RequestError> {
        use futures::StreamExt;
        use kube::api::{ApiResource, DynamicObject, WatchEvent, WatchParams};
        let ar = ApiResource {
            group: api.group.clone(),
            version: api.version.clone(),
            api_version: api.api_version(),
            kind: api.kind.clone(),
            plural: api.plural.clone(),
        };
        let client = self.client.clone();
        let a: kube::Api<DynamicObject> = match namespace {
            Some(ns) if api.namespaced => kube::Api::namespaced_with(client, ns, &ar),
            _ => kube::Api::all_with(client, &ar),
        };
        let wp = WatchParams::default().labels(label_selector).timeout(290);
        let stream = a
            .watch(&wp, resource_version)
            .await
            .map_err(|e| classify(&e))?;
        let key = |o: &DynamicObject| match &o.metadata.namespace {
            Some(ns) => format!("{ns}/{}", o.metadata.name.clone().unwrap_or_default()),
            None => o.metadata.name.clone().unwrap_or_default(),
        };
        let rv = |o: &DynamicObject| o.metadata.resource_version.clone().unwrap_or_default();
        Ok(stream
            .map(move |ev| match ev {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    Ok(crate::backend::WatchItem::Changed {
                        key: key(&o),
                        resource_version: rv(&o),
                    })
                }
                Ok(WatchEvent::Deleted(o)) => Ok(crate::backend::WatchItem::Deleted {
                    resource_version: rv(&o),
                }),
                Ok(WatchEvent::Bookmark(b)) => Ok(crate::backend::WatchItem::Bookmark {
                    resource_version: b.metadata.resource_version,
                }),
                Ok(WatchEvent::Error(e)) if e.code == 410 => Ok(crate::backend::WatchItem::Gone),
                Ok(WatchEvent::Error(e)) => Err(RequestError::http(e.code)),
                Err(e) => Err(classify(&e)),
            })
            .boxed())
    }

    async fn get(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<serde_json::Value, RequestError> {
        let path = format!("{}/{name}", api.collection_path(namespace));
        match self.raw("GET", &path, None).await? {
            (200, v) => Ok(v),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn patch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<(), RequestError> {
        self.patch_versioned(api, namespace, name, patch, status)
            .await
            .map(|_| ())
    }

    async fn patch_versioned(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<Option<String>, RequestError> {
        let mut path = format!("{}/{name}", api.collection_path(namespace));
        if status {
            path.push_str("/status");
        }
        match self
            .raw_typed("PATCH", &path, Some(patch), "application/merge-patch+json")
            .await?
        {
            (c, answer) if (200..300).contains(&c) => Ok(answer["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string)),
            (c, answer) => {
                // The apiserver's reason (a 422 names the field it refused).
                tracing::debug!(code = c, %path, message = %answer["message"], "PATCH refused");
                Err(RequestError::http(c))
            }
        }
    }

    async fn delete(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), RequestError> {
        let path = format!("{}/{name}", api.collection_path(namespace));
        match self.raw("DELETE", &path, None).await? {
            (c, _) if (200..300).contains(&c) || c == 404 => Ok(()),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn list_names(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<(Option<String>, String)>, RequestError> {
        let mut out = Vec::new();
        let mut cont = String::new();
        loop {
            let mut path = format!(
                "{}?limit=500&labelSelector={}",
                api.collection_path(namespace),
                encode(label_selector)
            );
            if !cont.is_empty() {
                path.push_str(&format!("&continue={}", encode(&cont)));
            }
            let (code, body) = self.raw("GET", &path, None).await?;
            if code == 404 {
                return Ok(out); // the kind is not served here: nothing of ours
            }
            if code != 200 {
                return Err(RequestError::http(code));
            }
            for item in body["items"].as_array().into_iter().flatten() {
                let ns = item["metadata"]["namespace"].as_str().map(str::to_string);
                if let Some(n) = item["metadata"]["name"].as_str() {
                    out.push((ns, n.to_string()));
                }
            }
            match body["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => return Ok(out),
            }
        }
    }
}

/// The created object's uid and resourceVersion from the apiserver's answer.
fn created(body: &[u8], request_bytes: usize) -> Created {
    #[derive(serde::Deserialize)]
    struct Meta {
        uid: Option<String>,
        #[serde(rename = "resourceVersion")]
        resource_version: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Obj {
        metadata: Meta,
    }
    let meta = serde_json::from_slice::<Obj>(body).ok().map(|o| o.metadata);
    Created {
        uid: meta.as_ref().and_then(|m| m.uid.clone()),
        request_bytes,
        resource_version: meta.and_then(|m| m.resource_version),
    }
}
