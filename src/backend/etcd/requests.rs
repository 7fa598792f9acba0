//! The etcd target's [`Target`] requests: creates (create-only transactions), gets,
//! patches guarded by the mod revision, deletes, watches and lists under the `/registry`
//! prefix.

use super::{classify, key_prefix, label_matches, merge_patch, stored_value, EtcdTarget};
use crate::backend::{Created, EtcdError, RequestError, Target};
use crate::model::{ApiRef, Object};
use crate::stored::value::decode_value;
use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};

impl Target for EtcdTarget {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    async fn create(
        &self,
        obj: &Object,
        body: &serde_json::Value,
    ) -> Result<Created, RequestError> {
        let (uid, value) = stored_value(obj, body, self.format)?;
        self.put_new(obj.etcd_key(), uid, value).await
    }

    async fn create_rendered(
        &self,
        obj: &Object,
        body: &crate::stored::template::Rendered<'_>,
    ) -> Result<Created, RequestError> {
        let now = crate::stored::value::creation_timestamp();
        let value = body
            .stored(self.format, &obj.uid, &now)
            .map_err(|_| RequestError::Etcd(EtcdError::Other))?;
        self.put_new(obj.etcd_key(), obj.uid.clone(), value).await
    }

    async fn current_version(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
    ) -> Result<String, RequestError> {
        let mut kv = self.client.kv_client();
        let prefix = key_prefix(api, namespace);
        let resp = kv
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .map_err(|e| classify(&e))?;
        Ok(resp.header().map(|h| h.revision()).unwrap_or(0).to_string())
    }

    async fn watch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
        resource_version: &str,
    ) -> Result<crate::backend::WatchStream, RequestError> {
        use crate::backend::WatchItem;
        use futures::StreamExt;
        let prefix = key_prefix(api, namespace);
        // Like the apiserver, a watch from version V delivers changes after V.
        let from = resource_version.parse::<i64>().map(|r| r + 1).unwrap_or(0);
        let mut opts = etcd_client::WatchOptions::new().with_prefix();
        if from > 0 {
            opts = opts.with_start_revision(from);
        }
        let mut watch_client = self.client.watch_client();
        let stream = watch_client
            .watch(prefix.clone(), Some(opts))
            .await
            .map_err(|e| classify(&e))?;
        let (api, selector) = (api.clone(), label_selector.to_string());
        let items = futures::stream::unfold((stream, watch_client), move |(mut s, wc)| {
            let (api, selector, prefix) = (api.clone(), selector.clone(), prefix.clone());
            async move {
                let batch: Vec<Result<WatchItem, RequestError>> = match s.message().await {
                    Err(e) => vec![Err(classify(&e))],
                    Ok(None) => return None,
                    Ok(Some(resp)) if resp.compact_revision() > 0 => vec![Ok(WatchItem::Gone)],
                    Ok(Some(resp)) if resp.canceled() => vec![Ok(WatchItem::Gone)],
                    Ok(Some(resp)) => resp
                        .events()
                        .iter()
                        .filter_map(|ev| {
                            let kv = ev.kv()?;
                            let rv = kv.mod_revision().to_string();
                            if ev.event_type() == etcd_client::EventType::Delete {
                                return Some(Ok(WatchItem::Deleted {
                                    resource_version: rv,
                                }));
                            }
                            let obj = decode_value(&api, kv.value())?;
                            if !label_matches(&obj, &selector) {
                                return None;
                            }
                            let key = String::from_utf8_lossy(kv.key()).to_string();
                            let rest = key.strip_prefix(&prefix).unwrap_or(&key);
                            let key = if api.namespaced && !rest.contains('/') {
                                // Namespace-scoped watch: the prefix already holds the namespace.
                                format!(
                                    "{}/{rest}",
                                    obj["metadata"]["namespace"].as_str().unwrap_or("")
                                )
                            } else {
                                rest.to_string()
                            };
                            Some(Ok(WatchItem::Changed {
                                key,
                                resource_version: rv,
                            }))
                        })
                        .collect(),
                };
                Some((futures::stream::iter(batch), (s, wc)))
            }
        })
        .flatten();
        Ok(items.boxed())
    }

    async fn get(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<serde_json::Value, RequestError> {
        let key = api.etcd_key(namespace, name);
        self.with_timeout(async {
            let (mut obj, rev) = self.read(&key, api).await?;
            obj["metadata"]["resourceVersion"] = serde_json::Value::String(rev.to_string());
            Ok(obj)
        })
        .await
    }

    async fn patch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<(), RequestError> {
        let key = api.etcd_key(namespace, name);
        self.with_timeout(async {
            let (mut obj, rev) = self.read(&key, api).await?;
            let before = obj["spec"].clone();
            if status {
                // The status subresource only changes status.
                if let Some(s) = patch.get("status") {
                    merge_patch(&mut obj["status"], s);
                }
            } else {
                let mut p = patch.clone();
                if let Some(m) = p.as_object_mut() {
                    m.remove("status");
                }
                merge_patch(&mut obj, &p);
                if !api.group.is_empty() && obj["spec"] != before {
                    let g = obj["metadata"]["generation"].as_i64().unwrap_or(1);
                    obj["metadata"]["generation"] = serde_json::json!(g + 1);
                }
            }
            let value = Self::encode(api, &obj, self.format)?;
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, rev)])
                .and_then([TxnOp::put(key.clone(), value, None)]);
            let mut kv = self.client.kv_client();
            let resp = kv.txn(txn).await.map_err(|e| classify(&e))?;
            if resp.succeeded() {
                Ok(())
            } else {
                Err(RequestError::Etcd(EtcdError::Conflict))
            }
        })
        .await
    }

    async fn delete(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), RequestError> {
        let key = api.etcd_key(namespace, name);
        self.with_timeout(async {
            let mut kv = self.client.kv_client();
            kv.delete(key, None).await.map_err(|e| classify(&e))?;
            Ok(())
        })
        .await
    }

    async fn list_names(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<(Option<String>, String)>, RequestError> {
        let prefix = key_prefix(api, namespace);
        let items = self.range_prefix(&prefix).await?;
        Ok(items
            .into_iter()
            .filter_map(|(_, v)| decode_value(api, &v))
            .filter(|o| label_matches(o, label_selector))
            .filter_map(|o| {
                let name = o["metadata"]["name"].as_str()?.to_string();
                Some((
                    o["metadata"]["namespace"].as_str().map(str::to_string),
                    name,
                ))
            })
            .collect())
    }
}
