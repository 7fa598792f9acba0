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

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{json, Map, Value};

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

fn invalid(field: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Returns the object as kube-apiserver persists it on CREATE (v1.20 unless `meta.format`
/// says current; the differences are in the module's documentation):
///
/// - metadata: `uid` and `creationTimestamp` set; `resourceVersion`, `selfLink`,
///   `generation`, `managedFields`, deletion fields and empty labels/annotations/
///   finalizers/ownerReferences dropped; custom resources get `generation: 1`;
/// - `managedFields`: one `Update` entry by `meta.manager` at the creation time with
///   [`fields_v1`] of the defaulted object (omitted when that set is empty);
/// - Secret: `stringData` merged into `data` (base64) and removed, `type` defaults to
///   `Opaque`; Namespace: `status` becomes `{phase: Active}` (tracked as `f:status.f:phase`,
///   as defaulting runs before field tracking) and `kubernetes` is appended to
///   `spec.finalizers` (not tracked);
/// - `status` is dropped when `meta.strip_status`. v1.20 still records it in managedFields
///   (its field tracking runs before the strategy resets status); 1.22+ does not.
///
/// `metadata.name` must be set (the apiserver's `generateName` expansion is not modelled).
/// Non-objects are returned unchanged.
pub fn stored_form(body: &Value, meta: &StoreMeta) -> Value {
    let mut obj = body.clone();
    let kind = text(&obj, "kind").to_string();
    let (custom, api_version) = (meta.is_custom_resource, obj.get("apiVersion").cloned());
    let Some(root) = obj.as_object_mut() else {
        return obj;
    };
    let md = root.entry("metadata").or_insert_with(|| json!({}));
    if let Some(md) = md.as_object_mut() {
        md.retain(|k, v| !is_empty(v) && !SYSTEM_META.contains(&k.as_str()));
    }
    if !custom && kind == "Secret" {
        merge_string_data(root);
        if root.get("type").is_none_or(is_empty) {
            root.insert("type".into(), json!("Opaque"));
        }
    }
    let current = meta.format == StoredFormat::Current;
    if !custom && kind == "Namespace" {
        root.insert("status".into(), json!({"phase": "Active"}));
        if current {
            let name = root
                .get("metadata")
                .map(|m| text(m, "name").to_string())
                .unwrap_or_default();
            if let Some(md) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = md.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
        }
    }
    // v1.20 tracks fields before the `kubernetes` finalizer is defaulted; current servers
    // after it (and after the status reset, which they no longer track).
    if current {
        add_namespace_finalizer(&mut obj, custom, &kind);
    }
    let mut fields = fields_for(&obj, custom, meta.format);
    if current && (meta.strip_status || (!custom && kind == "Namespace")) {
        if let Some(f) = fields.as_object_mut() {
            f.remove("f:status");
        }
    }
    add_namespace_finalizer(&mut obj, custom, &kind);
    let Some(root) = obj.as_object_mut() else {
        return obj;
    };
    if meta.strip_status {
        root.remove("status");
    }
    if let Some(md) = root.get_mut("metadata").and_then(Value::as_object_mut) {
        md.insert("uid".into(), json!(meta.uid));
        md.insert("creationTimestamp".into(), json!(meta.creation_timestamp));
        if custom {
            md.insert("generation".into(), json!(1));
        }
        if !is_empty(&fields) {
            let entry = json!({
                "manager": meta.manager, "operation": "Update", "apiVersion": api_version,
                "time": meta.creation_timestamp, "fieldsType": "FieldsV1", "fieldsV1": fields,
            });
            md.insert("managedFields".into(), json!([entry]));
        }
    }
    obj
}

/// Appends the `kubernetes` finalizer to a Namespace's `spec.finalizers` (defaulting).
fn add_namespace_finalizer(obj: &mut Value, custom: bool, kind: &str) {
    if !custom && kind == "Namespace" && obj.get("spec").is_none_or(|s| s.is_object()) {
        let fins = &mut obj["spec"]["finalizers"];
        match fins.as_array_mut() {
            Some(list) if list.iter().any(|f| f == "kubernetes") => {}
            Some(list) => list.push(json!("kubernetes")),
            None => *fins = json!(["kubernetes"]),
        }
    }
}

/// Metadata the apiserver sets itself (client values are replaced or dropped on create).
pub(super) const SYSTEM_META: [&str; 8] = [
    "resourceVersion",
    "selfLink",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `null`, `""`, `{}` and `[]` (what Go's `omitempty` drops from ObjectMeta).
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Moves Secret `stringData` into `data` (base64; stringData wins), as the v1 conversion does.
fn merge_string_data(root: &mut Map<String, Value>) {
    let Some(Value::Object(sd)) = root.remove("stringData") else {
        return;
    };
    let data = root.entry("data").or_insert_with(|| json!({}));
    if let Some(data) = data.as_object_mut() {
        for (k, v) in sd {
            data.insert(k, json!(B64.encode(v.as_str().unwrap_or_default())));
        }
    }
}

/// The FieldsV1 set kube-apiserver v1.20 (structured-merge-diff v4) records for the
/// create of `obj` (current servers differ in owner references, see [`stored_form`]) (give it the defaulted object, see [`stored_form`]). Keys are sorted
/// as SMD emits them: `"."` (the node itself is owned), then `f:` fields, `k:` list keys,
/// `v:` set values.
///
/// - `apiVersion`, `kind`, `metadata` itself and metadata `name`, `namespace`, `uid`,
///   `creationTimestamp`, `resourceVersion`, `generation`, `selfLink`, `managedFields`
///   are never tracked; `labels`/`annotations` are maps (`"."` + one `f:` per key),
///   `ownerReferences` an associative list keyed by uid (`k:{"uid":"…"}`, each item `"."`
///   + its fields), `finalizers` a set (`v:"…"`), `generateName` a leaf;
/// - custom resources (apiVersion with a group) are tracked as unstructured data: every
///   non-empty object gets `"."`; lists, scalars, `null` and `{}` are leaves;
/// - core `v1` objects (Secret, Namespace) are typed: structs (`spec`, `status`) get no
///   `"."`, maps (`data`, `stringData`) do; lists are atomic leaves; `""` and empty
///   maps/lists are omitted.
pub fn fields_v1(obj: &Value) -> Value {
    let custom = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|a| a.contains('/'));
    fields_for(obj, custom, StoredFormat::V1_20)
}

fn fields_for(obj: &Value, custom: bool, format: StoredFormat) -> Value {
    let mut top = BTreeMap::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        let node = match k.as_str() {
            "apiVersion" | "kind" => None,
            "metadata" => Some(meta_fields(v, format)).filter(|m| !is_empty(m)),
            _ if custom => Some(deduced(v)),
            "data" | "stringData" => typed_map(v),
            _ => typed(v),
        };
        if let Some(node) = node {
            top.insert(format!("f:{k}"), node);
        }
    }
    set(top, false)
}

/// A set node: `"."` first when the node itself is owned, then the sorted children.
fn set(children: BTreeMap<String, Value>, owned: bool) -> Value {
    let mut m = Map::new();
    if owned {
        m.insert(".".into(), json!({}));
    }
    m.extend(children);
    Value::Object(m)
}

fn leaf() -> Value {
    json!({})
}

fn deduced(v: &Value) -> Value {
    match v.as_object() {
        Some(m) if !m.is_empty() => set(
            m.iter()
                .map(|(k, v)| (format!("f:{k}"), deduced(v)))
                .collect(),
            true,
        ),
        _ => leaf(),
    }
}

fn typed(v: &Value) -> Option<Value> {
    if is_empty(v) {
        return None;
    }
    let Some(m) = v.as_object() else {
        return Some(leaf());
    };
    let children: BTreeMap<String, Value> = m
        .iter()
        .filter_map(|(k, v)| Some((format!("f:{k}"), typed(v)?)))
        .collect();
    (!children.is_empty()).then(|| set(children, false))
}

fn typed_map(v: &Value) -> Option<Value> {
    let m = v.as_object().filter(|m| !m.is_empty())?;
    Some(set(
        m.keys().map(|k| (format!("f:{k}"), leaf())).collect(),
        true,
    ))
}

fn meta_fields(md: &Value, format: StoredFormat) -> Value {
    let mut out = BTreeMap::new();
    for (k, v) in md.as_object().into_iter().flatten() {
        if is_empty(v) {
            continue;
        }
        let node = match k.as_str() {
            "labels" | "annotations" => typed_map(v),
            "generateName" => Some(leaf()),
            "finalizers" => {
                let vals = v.as_array().into_iter().flatten();
                Some(set(
                    vals.map(|f| (format!("v:{}", go_json(f)), leaf()))
                        .collect(),
                    true,
                ))
            }
            "ownerReferences" => {
                let refs = v.as_array().into_iter().flatten().map(|r| {
                    let uid = r.get("uid").cloned().unwrap_or(json!(""));
                    let key = format!("k:{{\"uid\":{}}}", go_json(&uid));
                    if format == StoredFormat::Current {
                        // Current servers own each owner reference as a whole.
                        return (key, leaf());
                    }
                    let mut f: BTreeMap<String, Value> = ["apiVersion", "kind", "name", "uid"]
                        .iter()
                        .map(|k| (format!("f:{k}"), leaf()))
                        .collect();
                    for opt in ["controller", "blockOwnerDeletion"] {
                        if r.get(opt).is_some_and(Value::is_boolean) {
                            f.insert(format!("f:{opt}"), leaf());
                        }
                    }
                    (key, set(f, true))
                });
                Some(set(refs.collect(), true))
            }
            _ => None,
        };
        if let Some(node) = node {
            out.insert(format!("f:{k}"), node);
        }
    }
    set(out, false)
}

/// Serializes like Go's `encoding/json` (Go 1.19, as kube-apiserver stores custom
/// resources): object keys sorted bytewise, compact, `<` `>` `&` U+2028 U+2029 and control
/// characters other than `\n` `\r` `\t` as `\u00xx`, floats in Go's shortest form (`1`,
/// `0.5`, `1e+21`, `1.5e-7`; integers beyond `i64` as floats, as the apiserver's
/// unstructured decoding turns them into `float64`), then the `\n` its serializer writes.
pub fn encode_json(obj: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, obj);
    out.push(b'\n');
    out
}

/// [`encode_json`] without the newline, as a string.
fn go_json(v: &Value) -> String {
    let mut out = Vec::new();
    write_json(&mut out, v);
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let s = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(f)) if f != 0.0 && (f.abs() < 1e-6 || f.abs() >= 1e21) => {
                    let s = format!("{f:e}");
                    match s.split_once('e') {
                        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                        _ => s,
                    }
                }
                (None, Some(f)) => f.to_string(),
                (None, None) => n.to_string(),
            };
            out.extend_from_slice(s.as_bytes());
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // serde_json's Map is a BTreeMap in this build (no `preserve_order`): its keys
            // iterate sorted bytewise, as Go's encoder sorts them.
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_json(out, x);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// The inside of a Go JSON string: runs of bytes that need no escape are copied at once.
pub(super) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Bytes to escape: `"` `\` `<` `>` `&`, controls, and the lead byte of U+2028/U+2029.
        if !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0..=0x1f | 0xe2) {
            continue;
        }
        if b == 0xe2 && !matches!(bytes.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        // The char starting at i (ASCII, or U+2028/U+2029 of 3 bytes).
        let len = if b == 0xe2 { 3 } else { 1 };
        escape_char(out, &s[i..i + len]);
        start = i + len;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn escape_char(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

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

/// The string at `key`, "" when absent or not a string.
fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The items of the array at `key` (none when absent).
fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
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

/// Encodes a stored-form (see [`stored_form`]) v1 Secret or Namespace the way
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

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
