//! Structural OpenAPI v3 schemas inferred from example objects.

use serde_json::{json, Map, Value};

/// Keys whose object values are maps of user data (string to string): they get
/// `additionalProperties: {type: string}` instead of fixed properties.
const STRING_MAP_KEYS: [&str; 6] = [
    "labels",
    "annotations",
    "matchLabels",
    "data",
    "stringData",
    "attributes",
];

/// The schema of "anything" (used for `null` and for items of empty arrays).
fn any() -> Value {
    json!({"x-kubernetes-preserve-unknown-fields": true})
}

fn infer(v: &Value, key: Option<&str>) -> Value {
    match v {
        Value::Null => any(),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => {
            let item = items
                .iter()
                .map(|e| infer(e, None))
                .reduce(|a, b| merge_schemas(&a, &b))
                .unwrap_or_else(any);
            json!({"type": "array", "items": item})
        }
        Value::Object(m) => {
            let is_string_map = key.is_some_and(|k| STRING_MAP_KEYS.contains(&k))
                && m.values().all(Value::is_string);
            if is_string_map {
                return json!({"type": "object", "additionalProperties": {"type": "string"}});
            }
            let properties: Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), infer(v, Some(k))))
                .collect();
            let mut s = json!({"type": "object", "properties": properties});
            if !m.is_empty() {
                s["required"] = m.keys().cloned().collect::<Vec<_>>().into();
            }
            s
        }
    }
}

/// Structural OpenAPI v3 schema inferred from an example JSON value: objects become
/// `type: object` with `properties` and `required` = the keys present; arrays get `items`
/// merged from all elements (see [`merge_schemas`]); strings, integers, numbers and booleans
/// are typed. Maps of user data (`labels`, `annotations`, `matchLabels`, Secret `data`,
/// `stringData`, `attributes`) get `additionalProperties: {type: string}`. `null` and items
/// of empty arrays become `x-kubernetes-preserve-unknown-fields: true`.
pub fn schema_from_example(v: &Value) -> Value {
    infer(v, None)
}

fn type_of(s: &Value) -> Option<&str> {
    s.get("type").and_then(Value::as_str)
}

/// Merges two inferred schemas so that the result accepts what either accepts: object
/// properties are united (recursively merged where both have them) and `required` keeps
/// only keys both require; array items are merged; integer and number give number; other
/// conflicting types give `x-kubernetes-preserve-unknown-fields: true`.
pub fn merge_schemas(a: &Value, b: &Value) -> Value {
    match (type_of(a), type_of(b)) {
        (None, _) if a.get("x-kubernetes-preserve-unknown-fields").is_some() => b.clone(),
        (_, None) if b.get("x-kubernetes-preserve-unknown-fields").is_some() => a.clone(),
        (Some("object"), Some("object")) => merge_objects(a, b),
        (Some("array"), Some("array")) => {
            let items = merge_schemas(&a["items"], &b["items"]);
            json!({"type": "array", "items": items})
        }
        (Some(x), Some(y)) if x == y => a.clone(),
        (Some("integer" | "number"), Some("integer" | "number")) => json!({"type": "number"}),
        _ => any(),
    }
}

fn merge_objects(a: &Value, b: &Value) -> Value {
    for s in [a, b] {
        if s.get("additionalProperties").is_some() {
            return s.clone();
        }
    }
    let empty = Map::new();
    let pa = a
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let pb = b
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut props = pa.clone();
    for (k, sb) in pb {
        let merged = match pa.get(k) {
            Some(sa) => merge_schemas(sa, sb),
            None => sb.clone(),
        };
        props.insert(k.clone(), merged);
    }
    let req = |s: &Value| -> Vec<String> {
        s.get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let rb = req(b);
    let required: Vec<String> = req(a).into_iter().filter(|k| rb.contains(k)).collect();
    let mut s = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        s["required"] = required.into();
    }
    s
}
