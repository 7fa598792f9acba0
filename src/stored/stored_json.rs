//! A custom resource's stored bytes written straight from its create body: the same bytes
//! as [`encode_json`](super::encode::encode_json)`(`[`stored_form`](super::encode::stored_form)`(..))`
//! (tested against it on every kind of the model), without cloning the body or building
//! the managedFields tree. This is the etcd put path's encoder: half of its CPU per write
//! went to those two copies.

use super::encode::{escape_into, is_empty, write_json, StoreMeta, StoredFormat, SYSTEM_META};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The stored JSON (with its trailing newline) of the custom resource `body`, or None when
/// the fast path does not apply (not a custom resource, no metadata object): the caller
/// then uses `encode_json(&stored_form(..))`.
pub fn custom_resource(body: &Value, meta: &StoreMeta) -> Option<Vec<u8>> {
    let root = body.as_object()?;
    let md = root.get("metadata")?.as_object()?;
    if !meta.is_custom_resource {
        return None;
    }
    let mut out = Vec::with_capacity(4096);
    out.push(b'{');
    let mut first = true;
    // serde_json's Map is a BTreeMap here (no preserve_order): keys iterate sorted.
    for (k, v) in root {
        if k == "status" && meta.strip_status {
            continue;
        }
        comma(&mut out, &mut first);
        key(&mut out, "", k);
        if k == "metadata" {
            write_metadata(&mut out, root, md, meta);
        } else {
            write_json(&mut out, v);
        }
    }
    out.extend_from_slice(b"}\n");
    Some(out)
}

fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

/// `"<prefix><k>":`
fn key(out: &mut Vec<u8>, prefix: &str, k: &str) {
    out.push(b'"');
    escape_into(out, prefix);
    escape_into(out, k);
    out.extend_from_slice(b"\":");
}

enum Meta<'a> {
    Kept(&'a Value),
    Str(&'a str),
    Generation,
    ManagedFields,
}

fn write_metadata(
    out: &mut Vec<u8>,
    root: &Map<String, Value>,
    md: &Map<String, Value>,
    meta: &StoreMeta,
) {
    let mut entries: Vec<(&str, Meta)> = md
        .iter()
        .filter(|(k, v)| !is_empty(v) && !SYSTEM_META.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), Meta::Kept(v)))
        .collect();
    entries.push(("uid", Meta::Str(meta.uid)));
    entries.push(("creationTimestamp", Meta::Str(meta.creation_timestamp)));
    entries.push(("generation", Meta::Generation));
    // Current servers no longer track the status the strategy resets.
    let skip_status = meta.strip_status && meta.format == StoredFormat::Current;
    if has_fields(root, md, skip_status) {
        entries.push(("managedFields", Meta::ManagedFields));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    let mut first = true;
    for (k, v) in entries {
        comma(out, &mut first);
        key(out, "", k);
        match v {
            Meta::Kept(v) => write_json(out, v),
            Meta::Str(s) => string(out, s),
            Meta::Generation => out.push(b'1'),
            Meta::ManagedFields => {
                out.extend_from_slice(b"[{\"apiVersion\":");
                write_json(out, root.get("apiVersion").unwrap_or(&Value::Null));
                out.extend_from_slice(b",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":");
                write_fields(out, root, md, skip_status, meta.format);
                out.extend_from_slice(b",\"manager\":");
                string(out, meta.manager);
                out.extend_from_slice(b",\"operation\":\"Update\",\"time\":");
                string(out, meta.creation_timestamp);
                out.extend_from_slice(b"}]");
            }
        }
    }
    out.push(b'}');
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// The metadata fields structured-merge-diff tracks (see `fields_v1`).
const TRACKED_META: [&str; 5] = [
    "annotations",
    "finalizers",
    "generateName",
    "labels",
    "ownerReferences",
];

fn tracked_meta(md: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    md.iter()
        .filter(|(k, v)| TRACKED_META.contains(&k.as_str()) && !is_empty(v))
}

fn has_fields(root: &Map<String, Value>, md: &Map<String, Value>, skip_status: bool) -> bool {
    root.keys().any(|k| {
        !(matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || skip_status && k == "status")
    }) || tracked_meta(md).next().is_some()
}

/// FieldsV1 of an unstructured (custom) object, written directly.
fn write_fields(
    out: &mut Vec<u8>,
    root: &Map<String, Value>,
    md: &Map<String, Value>,
    skip_status: bool,
    format: StoredFormat,
) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in root {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if skip_status => {}
            "metadata" => {
                if tracked_meta(md).next().is_some() {
                    comma(out, &mut first);
                    key(out, "f:", k);
                    write_meta_fields(out, md, format);
                }
            }
            _ => {
                comma(out, &mut first);
                key(out, "f:", k);
                write_deduced(out, v);
            }
        }
    }
    out.push(b'}');
}

fn write_deduced(out: &mut Vec<u8>, v: &Value) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            out.extend_from_slice(b"{\".\":{}");
            for (k, v) in m {
                out.push(b',');
                key(out, "f:", k);
                write_deduced(out, v);
            }
            out.push(b'}');
        }
        _ => out.extend_from_slice(b"{}"),
    }
}

fn write_meta_fields(out: &mut Vec<u8>, md: &Map<String, Value>, format: StoredFormat) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in tracked_meta(md) {
        comma(out, &mut first);
        key(out, "f:", k);
        match k.as_str() {
            "labels" | "annotations" => match v.as_object() {
                Some(m) if !m.is_empty() => {
                    out.extend_from_slice(b"{\".\":{}");
                    for k in m.keys() {
                        out.push(b',');
                        key(out, "f:", k);
                        out.extend_from_slice(b"{}");
                    }
                    out.push(b'}');
                }
                // A non-map (invalid) value: typed_map yields nothing; SMD would refuse it.
                _ => out.extend_from_slice(b"{}"),
            },
            "generateName" => out.extend_from_slice(b"{}"),
            "finalizers" => {
                let set: BTreeMap<String, ()> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        let mut s = Vec::new();
                        write_json(&mut s, f);
                        (format!("v:{}", String::from_utf8_lossy(&s)), ())
                    })
                    .collect();
                leaf_set(out, set.keys());
            }
            _ => {
                // ownerReferences: keyed by uid, last one wins on duplicates.
                let refs: BTreeMap<String, &Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let mut s = Vec::new();
                        write_json(
                            &mut s,
                            r.get("uid").unwrap_or(&Value::String(String::new())),
                        );
                        (format!("k:{{\"uid\":{}}}", String::from_utf8_lossy(&s)), r)
                    })
                    .collect();
                out.extend_from_slice(b"{\".\":{}");
                for (k, r) in refs {
                    out.push(b',');
                    key(out, "", &k);
                    if format == StoredFormat::Current {
                        out.extend_from_slice(b"{}"); // owned as a whole
                        continue;
                    }
                    let mut f = vec!["f:apiVersion", "f:kind", "f:name", "f:uid"];
                    for (opt, name) in [
                        ("controller", "f:controller"),
                        ("blockOwnerDeletion", "f:blockOwnerDeletion"),
                    ] {
                        if r.get(opt).is_some_and(Value::is_boolean) {
                            f.push(name);
                        }
                    }
                    f.sort_unstable();
                    leaf_set(out, f.iter());
                }
                out.push(b'}');
            }
        }
    }
    out.push(b'}');
}

/// `{".":{},"<k>":{},...}` for sorted keys.
fn leaf_set<S: AsRef<str>>(out: &mut Vec<u8>, keys: impl Iterator<Item = S>) {
    out.extend_from_slice(b"{\".\":{}");
    for k in keys {
        out.push(b',');
        key(out, "", k.as_ref());
        out.extend_from_slice(b"{}");
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored::encode::{encode_json, stored_form};
    use serde_json::json;

    fn both(body: &Value, strip_status: bool) {
        for format in [StoredFormat::V1_20, StoredFormat::Current] {
            let meta = StoreMeta {
                uid: "u-1",
                creation_timestamp: "2026-11-28T13:50:28Z",
                manager: "capi-loadgen",
                is_custom_resource: true,
                strip_status,
                format,
            };
            let slow = encode_json(&stored_form(body, &meta));
            let fast = custom_resource(body, &meta).expect("fast path applies");
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow),
                "{format:?}: {body}"
            );
        }
    }

    #[test]
    fn equals_the_reference_encoder_on_edge_cases() {
        for body in [
            json!({"apiVersion": "x.io/v1", "kind": "W", "metadata": {"name": "w"}}),
            json!({"kind": "W", "metadata": {"name": "w", "labels": {}, "annotations": {"a<": "b&"}}}),
            json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                "metadata": {"name": "m", "namespace": "n", "uid": "x", "generation": 3,
                    "resourceVersion": "9", "generateName": "m-", "labels": {"x": "y", "a": "b"},
                    "finalizers": ["b", "a", "b"], "ownerReferences": [
                        {"apiVersion": "v1", "kind": "K", "name": "o", "uid": "u-2", "controller": true},
                        {"apiVersion": "v1", "kind": "K", "name": "p", "uid": "u-1",
                            "controller": true, "blockOwnerDeletion": false},
                        {"apiVersion": "v1", "kind": "K", "name": "q"}]},
                "spec": {"a": 1, "b": {"c": "d\u{2028}\t"}, "e": {}, "l": [1, {"z": null}],
                    "f": 0.5, "h": 1e21, "big": 12345678901234u64},
                "status": {"conditions": [{"type": "Ready"}]}}),
        ] {
            both(&body, true);
            both(&body, false);
        }
    }

    #[test]
    fn equals_the_reference_encoder_on_every_custom_kind_of_the_model() {
        for provider in crate::model::Provider::ALL {
            let mut fleet = crate::model::FleetSpec::example("sj");
            fleet.provider = provider;
            fleet.machine_deployments = 2;
            let mut kinds = std::collections::BTreeSet::new();
            for c in 0..2 {
                for obj in crate::model::cluster_objects(&fleet, c) {
                    if obj.api.group.is_empty() {
                        continue;
                    }
                    kinds.insert(obj.kind);
                    let body = crate::model::create_body(&obj, &Default::default());
                    both(&body, true);
                    both(&obj.body, false);
                }
            }
            assert!(kinds.len() >= 7, "{provider:?}: {kinds:?}");
        }
    }
}
