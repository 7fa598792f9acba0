//! The `etcd` target: writes keys into a bare etcd exactly as kube-apiserver would
//! under its default `/registry` prefix: `/registry/<group>/<plural>/<ns>/<name>` with JSON for custom resources,
//! `/registry/secrets/<ns>/<name>` and `/registry/namespaces/<name>` as `k8s\0` protobuf for
//! built-ins, in the stored form the apiserver produces (uid, creationTimestamp,
//! generation, managedFields; see [`crate::stored::encode`]). Creates are create-only transactions
//! (create revision = 0), updates are guarded by the mod revision.

use super::{Created, EtcdError, RequestError, TargetError};
use crate::model::{ApiRef, Object};
use crate::stored::encode::{self, StoredFormat};
use etcd_client::{
    AlarmAction, AlarmOptions, AlarmType, Client, CompactionOptions, Compare, CompareOp,
    GetOptions, Txn, TxnOp,
};
use std::path::PathBuf;
use std::time::Duration;

mod requests;

pub use crate::stored::value::{decode_value, MANAGER};

/// Client certificates for an etcd with TLS.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EtcdTls {
    /// CA bundle (PEM).
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Client key (PEM).
    pub key: Option<PathBuf>,
}

/// An etcd target.
#[derive(Clone)]
pub struct EtcdTarget {
    client: Client,
    endpoint: String,
    timeout: Duration,
    format: StoredFormat,
    /// The lean write path for creates (plaintext endpoints, [`super::stack`]).
    wire: Option<std::sync::Arc<super::etcd_wire::Wire>>,
}

/// etcd's `Status` answer, the parts the tool reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtcdStatus {
    /// Physical db size in bytes.
    pub db_size: u64,
    /// Bytes in use (after compaction/defrag the two converge).
    pub db_size_in_use: u64,
    /// Raft index.
    pub raft_index: u64,
    /// Current revision.
    pub revision: i64,
}

/// Classifies an etcd client error by its gRPC code and etcd's error texts
/// (`api/v3rpc/rpctypes` in the etcd repository).
pub fn classify(e: &etcd_client::Error) -> RequestError {
    use tonic::Code;
    let text = e.to_string();
    let kind = if text.contains("database space exceeded") {
        EtcdError::NoSpace
    } else if text.contains("request is too large") || text.contains("message larger than max") {
        EtcdError::TooLarge
    } else {
        match e {
            etcd_client::Error::GRpcStatus(s) => match s.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    EtcdError::Unavailable
                }
                Code::ResourceExhausted => EtcdError::NoSpace,
                _ => EtcdError::Other,
            },
            etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
                EtcdError::Unavailable
            }
            _ => EtcdError::Other,
        }
    };
    RequestError::Etcd(kind)
}

/// JSON merge patch (RFC 7386).
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (_, Some(p)) => {
            *target = serde_json::Value::Object(Default::default());
            merge_patch(target, &serde_json::Value::Object(p.clone()));
        }
        _ => *target = patch.clone(),
    }
}

/// Prefix under which every object of `api` (in `namespace`, if given) is stored.
pub fn key_prefix(api: &ApiRef, namespace: Option<&str>) -> String {
    let mut p = String::from("/registry/");
    if !api.group.is_empty() {
        p.push_str(&api.group);
        p.push('/');
    }
    p.push_str(&api.plural);
    p.push('/');
    if let Some(ns) = namespace.filter(|_| api.namespaced) {
        p.push_str(ns);
        p.push('/');
    }
    p
}

/// Equality (`k=v`) and existence (`k`) label selector terms, comma-separated (AND).
pub fn label_matches(obj: &serde_json::Value, selector: &str) -> bool {
    let labels = &obj["metadata"]["labels"];
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k].as_str() == Some(v),
            None => labels.get(term).is_some(),
        })
}

impl EtcdTarget {
    /// Connects to etcd (plain, or TLS with client certificates) and checks it answers.
    pub async fn connect(
        endpoints: &[String],
        tls: Option<&EtcdTls>,
        timeout: Duration,
    ) -> Result<EtcdTarget, TargetError> {
        let endpoint = endpoints.join(",");
        let mut opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(timeout);
        if let Some(t) = tls {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| TargetError::Config(format!("{}: {e}", p.display())))
            };
            let mut o = etcd_client::TlsOptions::new();
            if let Some(ca) = &t.ca {
                o = o.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
            }
            match (&t.cert, &t.key) {
                (Some(c), Some(k)) => {
                    o = o.identity(etcd_client::Identity::from_pem(read(c)?, read(k)?))
                }
                (None, None) => {}
                _ => {
                    return Err(TargetError::Config(
                        "etcd TLS needs both a client certificate and its key".into(),
                    ))
                }
            }
            opts = opts.with_tls(o);
        }
        let unreachable = |e: etcd_client::Error| TargetError::Unreachable {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        };
        let mut client = tokio::time::timeout(
            Duration::from_secs(10),
            Client::connect(endpoints, Some(opts)),
        )
        .await
        .map_err(|_| TargetError::Unreachable {
            endpoint: endpoint.clone(),
            message: "no answer within 10 s".into(),
        })?
        .map_err(unreachable)?;
        tokio::time::timeout(Duration::from_secs(10), client.status())
            .await
            .map_err(|_| TargetError::Unreachable {
                endpoint: endpoint.clone(),
                message: "status: no answer within 10 s".into(),
            })?
            .map_err(unreachable)?;
        let format = detect_format(&mut client).await;
        let stack = super::stack::ClientStack::from_env_or(super::stack::ClientStack::Lean)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        // TLS endpoints keep etcd-client for creates too.
        let wire = match (stack, tls) {
            (super::stack::ClientStack::Lean, None) => super::etcd_wire::Wire::new(endpoints)
                .ok()
                .map(std::sync::Arc::new),
            _ => None,
        };
        Ok(EtcdTarget {
            client,
            endpoint,
            timeout,
            format,
            wire,
        })
    }

    /// The stored form this target writes: the one the apiserver that created
    /// `/registry/namespaces/default` in this etcd wrote, or the current one when no
    /// apiserver ever ran on it.
    pub fn format(&self) -> StoredFormat {
        self.format
    }

    /// etcd's `Status` (db size, in use, raft index, revision).
    pub async fn status(&self) -> Result<EtcdStatus, RequestError> {
        let mut c = self.client.clone();
        let s = c.status().await.map_err(|e| classify(&e))?;
        Ok(EtcdStatus {
            db_size: s.db_size().max(0) as u64,
            db_size_in_use: s.raft_used_db_size().max(0) as u64,
            raft_index: s.raft_index(),
            revision: s.header().map(|h| h.revision()).unwrap_or(0),
        })
    }

    /// Whether a NOSPACE alarm is armed on any member.
    pub async fn nospace_armed(&self) -> Result<bool, RequestError> {
        let mut c = self.client.clone();
        let r = c
            .alarm(AlarmAction::Get, AlarmType::None, None)
            .await
            .map_err(|e| classify(&e))?;
        Ok(r.alarms().iter().any(|a| a.alarm() == AlarmType::Nospace))
    }

    /// Makes an etcd that ran out of quota writable again, as an operator would once space
    /// has been freed (deletes are accepted under the alarm): compact at the current
    /// revision, defragment, disarm NOSPACE. Returns the status afterwards.
    pub async fn recover_space(&self) -> Result<EtcdStatus, RequestError> {
        let mut c = self.client.clone();
        let revision = self.status().await?.revision;
        if revision > 0 {
            match c
                .compact(revision, Some(CompactionOptions::new().with_physical()))
                .await
            {
                Ok(_) => {}
                // Already compacted at this revision: nothing to free.
                Err(e) if e.to_string().contains("compacted") => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        c.defragment().await.map_err(|e| classify(&e))?;
        // Disarm per member, as `etcdctl alarm disarm` does.
        let armed = c
            .alarm(AlarmAction::Get, AlarmType::None, None)
            .await
            .map_err(|e| classify(&e))?;
        for a in armed.alarms() {
            if a.alarm() != AlarmType::Nospace {
                continue;
            }
            let mut o = AlarmOptions::new();
            o.with_member(a.member_id());
            c.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(o))
                .await
                .map_err(|e| classify(&e))?;
        }
        self.status().await
    }

    /// The raw client (maintenance: compaction, defragmentation, alarms).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Every key under `prefix` (keys only), paginated.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, RequestError> {
        Ok(self
            .scan(prefix, true)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// (key, value bytes) of every key under `prefix`, paginated.
    pub async fn range_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, RequestError> {
        self.scan(prefix, false).await
    }

    async fn scan(
        &self,
        prefix: &str,
        keys_only: bool,
    ) -> Result<Vec<(String, Vec<u8>)>, RequestError> {
        let mut c = self.client.kv_client();
        let mut out = Vec::new();
        let end = {
            let mut e = prefix.as_bytes().to_vec();
            if let Some(last) = e.last_mut() {
                *last += 1;
            }
            e
        };
        let mut from = prefix.as_bytes().to_vec();
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(500);
            if keys_only {
                opts = opts.with_keys_only();
            }
            let resp = c
                .get(from.clone(), Some(opts))
                .await
                .map_err(|e| classify(&e))?;
            let kvs = resp.kvs();
            for kv in kvs {
                out.push((
                    String::from_utf8_lossy(kv.key()).to_string(),
                    kv.value().to_vec(),
                ));
            }
            match (resp.more(), kvs.last()) {
                (true, Some(last)) => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(out),
            }
        }
    }

    /// Puts `value` at `key` unless the key exists (a create-only transaction).
    async fn put_new(
        &self,
        key: String,
        uid: String,
        value: Vec<u8>,
    ) -> Result<Created, RequestError> {
        let request_bytes = value.len();
        if let Some(wire) = &self.wire {
            return self
                .with_timeout(async {
                    match wire.create_only(&key, value).await? {
                        (true, revision) => Ok(Created {
                            uid: Some(uid),
                            request_bytes,
                            resource_version: Some(revision.to_string()),
                        }),
                        (false, _) => Err(RequestError::Etcd(EtcdError::Exists)),
                    }
                })
                .await;
        }
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        self.with_timeout(async {
            let mut kv = self.client.kv_client();
            let resp = kv.txn(txn).await.map_err(|e| classify(&e))?;
            if resp.succeeded() {
                Ok(Created {
                    uid: Some(uid),
                    request_bytes,
                    resource_version: resp.header().map(|h| h.revision().to_string()),
                })
            } else {
                Err(RequestError::Etcd(EtcdError::Exists))
            }
        })
        .await
    }

    async fn with_timeout<R>(
        &self,
        f: impl std::future::Future<Output = Result<R, RequestError>>,
    ) -> Result<R, RequestError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| RequestError::Timeout)?
    }

    async fn read(
        &self,
        key: &str,
        api: &ApiRef,
    ) -> Result<(serde_json::Value, i64), RequestError> {
        let mut kv = self.client.kv_client();
        let resp = kv.get(key, None).await.map_err(|e| classify(&e))?;
        let item = resp.kvs().first().ok_or(RequestError::http(404))?;
        let obj = decode_value(api, item.value()).ok_or(RequestError::Etcd(EtcdError::Other))?;
        Ok((obj, item.mod_revision()))
    }

    fn encode(
        api: &ApiRef,
        obj: &serde_json::Value,
        format: StoredFormat,
    ) -> Result<Vec<u8>, RequestError> {
        crate::stored::value::encode_value(api, obj, format)
            .map_err(|_| RequestError::Etcd(EtcdError::Other))
    }
}

/// Which apiserver wrote this etcd: every server since v1.21 labels namespaces with
/// `kubernetes.io/metadata.name`, so `default`'s labels tell v1.20 from current ones.
async fn detect_format(client: &mut Client) -> StoredFormat {
    let Ok(Ok(resp)) = tokio::time::timeout(
        Duration::from_secs(10),
        client.kv_client().get("/registry/namespaces/default", None),
    )
    .await
    else {
        return StoredFormat::default();
    };
    let Some(kv) = resp.kvs().first() else {
        return StoredFormat::default();
    };
    match encode::decode_builtin(kv.value()) {
        Ok(ns)
            if ns["metadata"]["labels"]
                .get("kubernetes.io/metadata.name")
                .is_none() =>
        {
            StoredFormat::V1_20
        }
        _ => StoredFormat::Current,
    }
}

/// The UID and the value bytes kube-apiserver would store for a create of `obj` with
/// `body` ([`crate::stored::value::stored_value`]); an object that cannot be encoded is an
/// etcd failure of class `other`.
pub fn stored_value(
    obj: &Object,
    body: &serde_json::Value,
    format: StoredFormat,
) -> Result<(String, Vec<u8>), RequestError> {
    crate::stored::value::stored_value(obj, body, format)
        .map_err(|_| RequestError::Etcd(EtcdError::Other))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1]});
        merge_patch(&mut t, &json!({"a": [2, 3], "n": {"x": 1}}));
        assert_eq!(t, json!({"a": [2, 3], "n": {"x": 1}}));
    }

    #[test]
    fn selectors_and_prefixes() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        assert!(label_matches(&o, "a=1"));
        assert!(label_matches(&o, "a=1,b=2"));
        assert!(!label_matches(&o, "a=2"));
        assert!(label_matches(&o, "a,b=2"));
        assert!(!label_matches(&o, "c"));
        let api = ApiRef {
            group: "g.io".into(),
            version: "v1".into(),
            kind: "K".into(),
            plural: "ks".into(),
            namespaced: true,
        };
        assert_eq!(key_prefix(&api, Some("ns")), "/registry/g.io/ks/ns/");
        assert_eq!(key_prefix(&api, None), "/registry/g.io/ks/");
        let core = ApiRef {
            group: "".into(),
            version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
            namespaced: false,
        };
        assert_eq!(key_prefix(&core, Some("x")), "/registry/namespaces/");
    }
}
