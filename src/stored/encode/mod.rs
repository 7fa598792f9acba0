//! The bytes kube-apiserver writes to etcd on CREATE, reproduced without an apiserver.
//!
//! Pure functions, no I/O. Two stored formats ([`StoredFormat`]), each verified
//! byte-for-byte against the apiserver it names (the tests hold captured values):
//!
//! - [`stored_form`]: the object as the apiserver persists it (uid, creationTimestamp,
//!   managedFields, generation, defaults, dropped fields);
//! - [`fields_v1`]: the managed-fields set structured-merge-diff records for a create;
//! - [`encode_json`]: custom resources are stored as Go `encoding/json` output (sorted
//!   keys, HTML-safe escapes, trailing newline);
//! - [`encode_builtin`] / [`decode_builtin`]: built-ins (v1 Secret and Namespace) are
//!   stored as `k8s\0` + a protobuf `runtime.Unknown` envelope (apimachinery's
//!   `runtime/serializer/protobuf`).
//!
//! What changed between the two: from v1.21 a Namespace gets the label
//! `kubernetes.io/metadata.name` (tracked in managedFields); from v1.22 fields reset by the
//! strategy (a Namespace's `status`, the `status` of a custom resource with a status
//! subresource) are no longer recorded in managedFields and
//! `ManagedFieldsEntry.subresource` is always written in protobuf (2 more bytes); from
//! v1.25 `ObjectMeta.clusterName` (field 15, 2 bytes) is gone. Servers v1.21–v1.24 are
//! between the two and not modelled exactly.

mod form;
mod format;
mod go_json;
mod protobuf;

pub use form::{fields_v1, is_empty, stored_form, SYSTEM_META};
pub use format::{EncodeError, StoreMeta, StoredFormat, MAGIC};
pub use go_json::{encode_json, escape_into, write_json};
pub use protobuf::{decode_builtin, encode_builtin};

#[cfg(test)]
mod tests;
