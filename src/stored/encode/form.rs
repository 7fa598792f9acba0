//! The stored form of an object (what the apiserver persists on create) and the
//! managed-fields set structured-merge-diff records for it.

use super::format::{text, StoreMeta, StoredFormat};
use super::go_json::go_json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

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
pub const SYSTEM_META: [&str; 8] = [
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
pub fn is_empty(v: &Value) -> bool {
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
