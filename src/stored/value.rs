//! One object's stored value: the UID and the bytes kube-apiserver would store for a create,
//! and the reverse (decoding a stored value).

use super::encode::{self, EncodeError, StoreMeta, StoredFormat};
use crate::model::{self, ApiRef, Object};

/// Field manager recorded in managedFields, as the kube target's User-Agent makes it.
pub const MANAGER: &str = "capi-loadgen";

/// Encodes a stored-form object as its etcd value: protobuf for built-ins, JSON for custom
/// resources.
pub fn encode_value(
    api: &ApiRef,
    obj: &serde_json::Value,
    format: StoredFormat,
) -> Result<Vec<u8>, EncodeError> {
    if api.group.is_empty() {
        encode::encode_builtin(obj, format)
    } else {
        Ok(encode::encode_json(obj))
    }
}

/// Decodes a stored value: protobuf or JSON for built-ins, JSON for custom resources.
pub fn decode_value(api: &ApiRef, bytes: &[u8]) -> Option<serde_json::Value> {
    if api.group.is_empty() {
        encode::decode_builtin(bytes).ok()
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

/// Now as `metadata.creationTimestamp` (RFC 3339, seconds), formatted once per second per
/// thread.
pub fn creation_timestamp() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    LAST.with_borrow_mut(|(sec, text)| {
        if *sec != now.timestamp() {
            *sec = now.timestamp();
            *text = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        }
        text.clone()
    })
}

/// The UID and the value bytes kube-apiserver would store for a create of `obj` with
/// `body` (the model's deterministic UID, so reruns and shards agree on ownerReferences),
/// in the stored form `format`.
pub fn stored_value(
    obj: &Object,
    body: &serde_json::Value,
    format: StoredFormat,
) -> Result<(String, Vec<u8>), EncodeError> {
    let uid = if obj.uid.is_empty() {
        let run_id = body["metadata"]["labels"][model::RUN_ID_LABEL]
            .as_str()
            .unwrap_or("");
        model::placeholder_uid(run_id, obj.namespace.as_deref().unwrap_or(""), &obj.name)
    } else {
        obj.uid.clone()
    };
    let now = creation_timestamp();
    let custom = !obj.api.group.is_empty();
    let meta = StoreMeta {
        uid: &uid,
        creation_timestamp: &now,
        manager: MANAGER,
        is_custom_resource: custom,
        strip_status: custom,
        format,
    };
    if let Some(value) = super::stored_json::custom_resource(body, &meta) {
        return Ok((uid, value));
    }
    let stored = encode::stored_form(body, &meta);
    let value = encode_value(&obj.api, &stored, format)?;
    Ok((uid, value))
}
