//! Built-ins (v1 Secret and Namespace) as stored: `k8s\0` + a protobuf `runtime.Unknown`
//! envelope, and back.

use super::form::is_empty;
use super::format::{invalid, items, text, EncodeError, StoredFormat, MAGIC};
use super::go_json::go_json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A protobuf writer. Which fields are written even when empty is the caller's choice:
/// Go (gogo) writes non-pointer strings, ints and structs always, pointers when set.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn uint(&mut self, field: u64, v: u64) {
        self.varint(field << 3);
        self.varint(v);
    }
    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.varint((field << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, field: u64, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u64, m: Pb) {
        self.bytes(field, &m.0);
    }
    /// `metav1.Time`: `{seconds, nanos: 0}` (k8s drops nanos); empty when absent.
    fn time(&mut self, field: u64, v: Option<&Value>, path: &str) -> Result<(), EncodeError> {
        let mut t = Pb::default();
        if let Some(s) = v.and_then(Value::as_str) {
            let dt = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| invalid(path, format!("{s:?}: {e}")))?;
            t.uint(1, dt.timestamp() as u64);
            t.uint(2, 0);
        }
        self.msg(field, t);
        Ok(())
    }
    /// A `map<string, …>` field: entries sorted by key, key and value always written.
    fn map(&mut self, field: u64, m: &BTreeMap<String, Vec<u8>>) {
        for (k, v) in m {
            let mut e = Pb::default();
            e.str(1, k);
            e.bytes(2, v);
            self.msg(field, e);
        }
    }
}

fn string_map(v: &Value, key: &str) -> Result<BTreeMap<String, Vec<u8>>, EncodeError> {
    let mut out = BTreeMap::new();
    for (k, x) in v.get(key).and_then(Value::as_object).into_iter().flatten() {
        let s = x
            .as_str()
            .ok_or_else(|| invalid(&format!("{key}.{k}"), "not a string"))?;
        out.insert(k.clone(), s.as_bytes().to_vec());
    }
    Ok(out)
}

fn write_meta(md: &Value, format: StoredFormat) -> Result<Pb, EncodeError> {
    let mut pb = Pb::default();
    for (field, key) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
        pb.str(field, text(md, key));
    }
    for (field, key) in [(4, "selfLink"), (5, "uid"), (6, "resourceVersion")] {
        pb.str(field, text(md, key));
    }
    pb.uint(
        7,
        md.get("generation").and_then(Value::as_i64).unwrap_or(0) as u64,
    );
    pb.time(8, md.get("creationTimestamp"), "metadata.creationTimestamp")?;
    if md.get("deletionTimestamp").is_some_and(Value::is_string) {
        pb.time(9, md.get("deletionTimestamp"), "metadata.deletionTimestamp")?;
    }
    if let Some(g) = md.get("deletionGracePeriodSeconds").and_then(Value::as_i64) {
        pb.uint(10, g as u64);
    }
    pb.map(11, &string_map(md, "labels")?);
    pb.map(12, &string_map(md, "annotations")?);
    for r in items(md, "ownerReferences") {
        let mut o = Pb::default();
        for (field, key) in [(1, "kind"), (3, "name"), (4, "uid"), (5, "apiVersion")] {
            o.str(field, text(r, key));
        }
        for (field, key) in [(6, "controller"), (7, "blockOwnerDeletion")] {
            if let Some(b) = r.get(key).and_then(Value::as_bool) {
                o.uint(field, b.into());
            }
        }
        pb.msg(13, o);
    }
    for f in items(md, "finalizers") {
        pb.str(14, f.as_str().unwrap_or_default());
    }
    if format == StoredFormat::V1_20 {
        pb.str(15, ""); // clusterName: always written by v1.20, gone from 1.25
    }
    for e in items(md, "managedFields") {
        let mut m = Pb::default();
        for (field, key) in [(1, "manager"), (2, "operation"), (3, "apiVersion")] {
            m.str(field, text(e, key));
        }
        if e.get("time").is_some_and(Value::is_string) {
            m.time(4, e.get("time"), "metadata.managedFields.time")?;
        }
        m.str(6, text(e, "fieldsType"));
        if let Some(f) = e.get("fieldsV1").filter(|f| !f.is_null()) {
            let mut raw = Pb::default();
            raw.str(1, &go_json(f));
            m.msg(7, raw);
        }
        if format == StoredFormat::Current || !text(e, "subresource").is_empty() {
            m.str(8, text(e, "subresource"));
        }
        pb.msg(17, m);
    }
    Ok(pb)
}

/// Encodes a stored-form (see `stored_form`) v1 Secret or Namespace the way
/// kube-apiserver writes it to etcd (in `format`): [`MAGIC`] + `runtime.Unknown{typeMeta, raw,
/// contentEncoding: "", contentType: ""}`, `raw` being the object's own protobuf with Go's
/// field rules (fields in tag order; non-pointer strings, ints and structs always written;
/// map entries sorted by key, value written even when empty). Secret `data` values are
/// written base64-decoded; any `stringData` is merged in. Fields of the wrong JSON type
/// are written as empty, except labels, annotations, data and timestamps (errors).
pub fn encode_builtin(obj: &Value, format: StoredFormat) -> Result<Vec<u8>, EncodeError> {
    let (api_version, kind) = (text(obj, "apiVersion"), text(obj, "kind"));
    let mut raw = Pb::default();
    raw.msg(
        1,
        write_meta(obj.get("metadata").unwrap_or(&Value::Null), format)?,
    );
    match (api_version, kind) {
        ("v1", "Secret") => {
            let mut data = BTreeMap::new();
            for (k, v) in obj
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let path = format!("data.{k}");
                let s = v.as_str().ok_or_else(|| invalid(&path, "not a string"))?;
                let bytes = B64
                    .decode(s)
                    .map_err(|e| invalid(&path, format!("base64: {e}")))?;
                data.insert(k.clone(), bytes);
            }
            data.extend(string_map(obj, "stringData")?);
            raw.map(2, &data);
            raw.str(3, text(obj, "type"));
            if let Some(b) = obj.get("immutable").and_then(Value::as_bool) {
                raw.uint(5, b.into());
            }
        }
        ("v1", "Namespace") => {
            let mut spec = Pb::default();
            for f in obj
                .get("spec")
                .map(|s| items(s, "finalizers"))
                .into_iter()
                .flatten()
            {
                spec.str(1, f.as_str().unwrap_or_default());
            }
            raw.msg(2, spec);
            let mut status = Pb::default();
            status.str(
                1,
                obj.get("status")
                    .map(|s| text(s, "phase"))
                    .unwrap_or_default(),
            );
            raw.msg(3, status);
        }
        _ => {
            let (api_version, kind) = (api_version.into(), kind.into());
            return Err(EncodeError::Unsupported { api_version, kind });
        }
    }
    let mut type_meta = Pb::default();
    type_meta.str(1, api_version);
    type_meta.str(2, kind);
    let mut out = Pb(MAGIC.to_vec());
    out.msg(1, type_meta);
    out.msg(2, raw);
    out.str(3, "");
    out.str(4, "");
    Ok(out.0)
}

/// The inverse of [`encode_builtin`], for reading back and cleanup: the JSON form (Secret
/// `data` base64 again; empty strings, zero generation and clusterName omitted) of a v1
/// Secret or Namespace stored as `k8s\0` protobuf. Any other value is parsed as JSON
/// (kube-apiserver also reads built-ins stored as JSON; custom resources are JSON).
pub fn decode_builtin(bytes: &[u8]) -> Result<Value, EncodeError> {
    if bytes.starts_with(b"k8s:enc:") {
        return Err(EncodeError::Encrypted);
    }
    let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Ok(serde_json::from_slice(bytes)?);
    };
    let unknown = Unknown::decode(body)?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => {
            let s = core::Secret::decode(raw.as_slice())?;
            let data: Map<String, Value> = s
                .data
                .into_iter()
                .map(|(k, v)| (k, json!(B64.encode(v))))
                .collect();
            json!({
                "metadata": meta_json(s.metadata.unwrap_or_default())?,
                "data": data, "type": s.r#type, "immutable": s.immutable,
            })
        }
        ("v1", "Namespace") => {
            let n = core::Namespace::decode(raw.as_slice())?;
            let fins = n.spec.unwrap_or_default().finalizers;
            json!({
                "metadata": meta_json(n.metadata.unwrap_or_default())?,
                "spec": omit_empty(json!({"finalizers": fins})),
                "status": omit_empty(json!({"phase": n.status.unwrap_or_default().phase})),
            })
        }
        _ => return Err(EncodeError::Unsupported { api_version, kind }),
    };
    let mut obj = omit_empty(obj);
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

/// Drops the empty members of an object (Go's `omitempty`), keeping `spec`/`status`.
fn omit_empty(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|k, v| !is_empty(v) || k == "spec" || k == "status");
    }
    v
}

fn time_json(t: Option<meta::Time>) -> Value {
    let dt = t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds?, 0));
    json!(dt.map(|dt| dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

fn meta_json(m: meta::ObjectMeta) -> Result<Value, EncodeError> {
    let refs: Vec<Value> = m
        .owner_references
        .into_iter()
        .map(|r| {
            let mut o = json!({
                "apiVersion": r.api_version.unwrap_or_default(), "kind": r.kind.unwrap_or_default(),
                "name": r.name.unwrap_or_default(), "uid": r.uid.unwrap_or_default(),
                "controller": r.controller, "blockOwnerDeletion": r.block_owner_deletion,
            });
            if let Some(o) = o.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            o
        })
        .collect();
    let mut entries = Vec::new();
    for e in m.managed_fields {
        let fields: Option<Value> = match e.fields_v1.and_then(|f| f.raw) {
            Some(raw) => Some(serde_json::from_slice(&raw)?),
            None => None,
        };
        entries.push(omit_empty(json!({
            "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
            "time": time_json(e.time), "fieldsType": e.fields_type, "fieldsV1": fields,
            "subresource": e.subresource,
        })));
    }
    Ok(omit_empty(json!({
        "name": m.name, "generateName": m.generate_name, "namespace": m.namespace,
        "selfLink": m.self_link, "uid": m.uid, "resourceVersion": m.resource_version,
        "generation": m.generation.filter(|g| *g != 0),
        "creationTimestamp": time_json(m.creation_timestamp),
        "deletionTimestamp": time_json(m.deletion_timestamp),
        "deletionGracePeriodSeconds": m.deletion_grace_period_seconds,
        "labels": m.labels, "annotations": m.annotations, "ownerReferences": refs,
        "finalizers": m.finalizers, "managedFields": entries,
    })))
}
