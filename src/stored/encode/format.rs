//! The stored-form types: which apiserver's stored form, the metadata a create assigns,
//! and the encoder's errors.

use serde_json::Value;

/// The 4-byte prefix of protobuf values in etcd.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Which apiserver's stored form to reproduce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoredFormat {
    /// kube-apiserver v1.20 (checked against v1.20.2).
    V1_20,
    /// kube-apiserver v1.25 and later (checked against v1.35.4 and v1.37.2).
    #[default]
    Current,
}

impl StoredFormat {
    /// The format a kube-apiserver of this version writes.
    pub fn of(v: crate::env::assets::Version) -> StoredFormat {
        if v.at_least(1, 22) {
            StoredFormat::Current
        } else {
            StoredFormat::V1_20
        }
    }
}

/// What kube-apiserver adds to an object before it stores it.
#[derive(Clone, Copy, Debug)]
pub struct StoreMeta<'a> {
    /// `metadata.uid`.
    pub uid: &'a str,
    /// `metadata.creationTimestamp`, RFC 3339 with seconds precision ("2026-11-28T13:41:02Z").
    pub creation_timestamp: &'a str,
    /// Field manager recorded in managedFields, e.g. "capi-loadgen". Without a
    /// `fieldManager` query parameter the apiserver uses the User-Agent up to its first `/`.
    pub manager: &'a str,
    /// A custom resource (JSON in etcd, `generation: 1`, unstructured field tracking).
    pub is_custom_resource: bool,
    /// Drop `status`: set it for custom resources whose CRD has the status subresource.
    pub strip_status: bool,
    /// Which apiserver's stored form.
    pub format: StoredFormat,
}

/// Why an object could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Only v1 Secret and v1 Namespace are encoded as protobuf.
    #[error("no protobuf encoding for {api_version} {kind}")]
    Unsupported {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The value is encrypted at rest (`k8s:enc:` prefix).
    #[error("value is encrypted at rest (k8s:enc:)")]
    Encrypted,
    /// The protobuf bytes are malformed.
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The JSON bytes are malformed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

pub(super) fn invalid(field: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The string at `key`, "" when absent or not a string.
pub(super) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The items of the array at `key` (none when absent).
pub(super) fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}
