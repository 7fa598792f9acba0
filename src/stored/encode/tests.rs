//! Tests of [`super`]: field tracking, protobuf and JSON encodings, and byte-equality
//! with values a real kube-apiserver v1.20.2 stored.

use super::go_json::go_json;
use super::*;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{json, Value};

fn meta<'a>(uid: &'a str, ts: &'a str, manager: &'a str, custom: bool) -> StoreMeta<'a> {
    StoreMeta {
        uid,
        creation_timestamp: ts,
        manager,
        is_custom_resource: custom,
        strip_status: false,
        format: StoredFormat::V1_20,
    }
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).expect("fixture JSON")
}

/// `POST /api/v1/namespaces/ns-1/secrets` (manager "curl") and what v1.20.2 stored.
const SECRET_BODY: &str = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s-1","namespace":"ns-1","labels":{"cluster.x-k8s.io/cluster-name":"c-1","e":""},"annotations":{"a":"b"},"ownerReferences":[{"apiVersion":"cluster.x-k8s.io/v1beta1","kind":"Cluster","name":"c-1","uid":"11111111-2222-3333-4444-555555555555","controller":true,"blockOwnerDeletion":true}]},"type":"cluster.x-k8s.io/secret","data":{"value":"aGVsbG8=","format":"Y2xvdWQtY29uZmln","z":""}}"#;
const SECRET_UID: &str = "570210d6-56b8-4bfb-a6b6-d0b49030cbed";
const SECRET_ETCD: &[u8] =
    b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\xbd\x05\x0a\xf2\x04\x0a\x03s-1\x12\x00\x1a\
\x04ns-1\"\x00*$570210d6-56b8-4bfb-a6b6-d0b49030cbed2\x008\x00B\x08\x08\xdd\xb5\xab\xd8\
\x06\x10\x00Z$\x0a\x1dcluster.x-k8s.io/cluster-name\x12\x03c-1Z\x05\x0a\x01e\x12\x00b\
\x06\x0a\x01a\x12\x01bjR\x0a\x07Cluster\x1a\x03c-1\"$11111111-2222-3333-4444-55555555555\
5*\x18cluster.x-k8s.io/v1beta10\x018\x01z\x00\x8a\x01\xa0\x03\x0a\x04curl\x12\x06Update\
\x1a\x02v1\"\x08\x08\xdd\xb5\xab\xd8\x06\x10\x002\x08FieldsV1:\xf7\x02\x0a\xf4\x02{\"f:d\
ata\":{\".\":{},\"f:format\":{},\"f:value\":{},\"f:z\":{}},\"f:metadata\":{\"f:annotatio\
ns\":{\".\":{},\"f:a\":{}},\"f:labels\":{\".\":{},\"f:cluster.x-k8s.io/cluster-name\":{}\
,\"f:e\":{}},\"f:ownerReferences\":{\".\":{},\"k:{\\\"uid\\\":\\\"11111111-2222-3333-444\
4-555555555555\\\"}\":{\".\":{},\"f:apiVersion\":{},\"f:blockOwnerDeletion\":{},\"f:cont\
roller\":{},\"f:kind\":{},\"f:name\":{},\"f:uid\":{}}}},\"f:type\":{}}\x12\x16\x0a\x06fo\
rmat\x12\x0ccloud-config\x12\x0e\x0a\x05value\x12\x05hello\x12\x05\x0a\x01z\x12\x00\x1a\
\x17cluster.x-k8s.io/secret\x1a\x00\"\x00";

/// `POST /api/v1/namespaces` (manager "curl") and what v1.20.2 stored.
const NAMESPACE_BODY: &str = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns-1","labels":{"app":"capi-loadgen","empty":""}}}"#;
const NAMESPACE_UID: &str = "4642bf1e-7ccc-4e95-a47e-30f50a75c062";
const NAMESPACE_ETCD: &[u8] =
    b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x81\x02\x0a\xe6\x01\x0a\x04ns-1\x12\x00\
\x1a\x00\"\x00*$4642bf1e-7ccc-4e95-a47e-30f50a75c0622\x008\x00B\x08\x08\xdd\xb5\xab\xd8\
\x06\x10\x00Z\x13\x0a\x03app\x12\x0ccapi-loadgenZ\x09\x0a\x05empty\x12\x00z\x00\x8a\x01\
\x80\x01\x0a\x04curl\x12\x06Update\x1a\x02v1\"\x08\x08\xdd\xb5\xab\xd8\x06\x10\x002\x08F\
ieldsV1:X\x0aV{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{},\"f:empty\":{}}},\"f:\
status\":{\"f:phase\":{}}}\x12\x0c\x0a\x0akubernetes\x1a\x08\x0a\x06Active\x1a\x00\"\x00";

/// A custom resource (CRD without status subresource, preserve-unknown-fields) created
/// by "Python-urllib" and what v1.20.2 stored (Go escapes, floats, null, empty labels).
const WIDGET_BODY: &str = r#"{"apiVersion":"test.io/v1","kind":"Widget","metadata":{"name":"w-1","labels":{},"annotations":{"x":"a<b>&c"},"finalizers":["b.io/x","a.io/y"],"generateName":"w-","selfLink":"/foo","resourceVersion":"","uid":"ignored","namespace":"ns-1"},"spec":{"f":1.0,"g":0.5,"h":1e+21,"i":1.5e-07,"n":null,"e":{},"l":[],"m":[{"a":1}],"s":"tab\tnl\nbs\bff\funi\u2028\u00e9","big":12345678901234},"status":{"phase":"x"}}"#;
const WIDGET_UID: &str = "645dd8ea-a0f6-4fe3-9590-aad5977bb58d";
const WIDGET_ETCD: &[u8] =
    b"{\"apiVersion\":\"test.io/v1\",\"kind\":\"Widget\",\"metadata\":{\"annotations\":{\"x\":\
\"a\\u003cb\\u003e\\u0026c\"},\"creationTimestamp\":\"2026-11-28T13:50:28Z\",\"finalizer\
s\":[\"b.io/x\",\"a.io/y\"],\"generateName\":\"w-\",\"generation\":1,\"managedFields\":[\
{\"apiVersion\":\"test.io/v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":\
{\"f:annotations\":{\".\":{},\"f:x\":{}},\"f:finalizers\":{\".\":{},\"v:\\\"a.io/y\\\"\"\
:{},\"v:\\\"b.io/x\\\"\":{}},\"f:generateName\":{}},\"f:spec\":{\".\":{},\"f:big\":{},\"\
f:e\":{},\"f:f\":{},\"f:g\":{},\"f:h\":{},\"f:i\":{},\"f:l\":{},\"f:m\":{},\"f:n\":{},\"\
f:s\":{}},\"f:status\":{\".\":{},\"f:phase\":{}}},\"manager\":\"Python-urllib\",\"operat\
ion\":\"Update\",\"time\":\"2026-11-28T13:50:28Z\"}],\"name\":\"w-1\",\"namespace\":\"ns\
-1\",\"uid\":\"645dd8ea-a0f6-4fe3-9590-aad5977bb58d\"},\"spec\":{\"big\":12345678901234,\
\"e\":{},\"f\":1,\"g\":0.5,\"h\":1e+21,\"i\":1.5e-7,\"l\":[],\"m\":[{\"a\":1}],\"n\":nul\
l,\"s\":\"tab\\tnl\\nbs\\u0008ff\\u000cuni\\u2028\xc3\xa9\"},\"status\":{\"phase\":\"x\"\
}}\x0a";

#[test]
fn secret_is_byte_equal_to_kube_apiserver() {
    let m = meta(SECRET_UID, "2026-11-28T13:45:01Z", "curl", false);
    let stored = stored_form(&parse(SECRET_BODY), &m);
    let bytes = encode_builtin(&stored, StoredFormat::V1_20).expect("encode");
    assert_eq!(bytes, SECRET_ETCD);
    assert_eq!(decode_builtin(SECRET_ETCD).expect("decode"), stored);
    assert!(stored["metadata"].get("generation").is_none());
}

#[test]
fn namespace_is_byte_equal_to_kube_apiserver() {
    let m = meta(NAMESPACE_UID, "2026-11-28T13:45:01Z", "curl", false);
    let stored = stored_form(&parse(NAMESPACE_BODY), &m);
    assert_eq!(stored["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(stored["status"], json!({"phase": "Active"}));
    let fields = &stored["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:status"], json!({"f:phase": {}}));
    assert!(fields.get("f:spec").is_none());
    assert_eq!(
        encode_builtin(&stored, StoredFormat::V1_20).expect("encode"),
        NAMESPACE_ETCD
    );
    assert_eq!(decode_builtin(NAMESPACE_ETCD).expect("decode"), stored);
}

#[test]
fn custom_resource_json_is_byte_equal_to_kube_apiserver() {
    let m = meta(WIDGET_UID, "2026-11-28T13:50:28Z", "Python-urllib", true);
    let stored = stored_form(&parse(WIDGET_BODY), &m);
    assert_eq!(encode_json(&stored), WIDGET_ETCD);
    let back = decode_builtin(WIDGET_ETCD).expect("json"); // 1.0 reads back as 1
    assert_eq!(encode_json(&back), WIDGET_ETCD);
    // With a status subresource v1.20 drops status but still records it.
    let stripped = stored_form(
        &parse(WIDGET_BODY),
        &StoreMeta {
            strip_status: true,
            ..m
        },
    );
    assert!(stripped.get("status").is_none());
    let fields = &stripped["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:status"], json!({".": {}, "f:phase": {}}));
}

#[test]
fn fields_v1_of_a_secret() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n", "labels": {"a": "1"}},
        "data": {"key": "dg=="}, "type": "Opaque"});
    let want =
        r#"{"f:data":{".":{},"f:key":{}},"f:metadata":{"f:labels":{".":{},"f:a":{}}},"f:type":{}}"#;
    assert_eq!(go_json(&fields_v1(&secret)), want);
}

#[test]
fn fields_v1_of_a_custom_resource() {
    let cr = json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
        "metadata": {"name": "m", "namespace": "n", "uid": "x", "generation": 3,
            "labels": {"x": "y"}, "finalizers": ["b", "a"], "ownerReferences": [{
                "apiVersion": "v1", "kind": "K", "name": "o", "uid": "u-1",
                "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"a": 1, "b": {"c": "d"}, "e": {}, "l": [1]},
        "status": {"conditions": [{"type": "Ready"}]}});
    let want = concat!(
        r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"a\"":{},"v:\"b\"":{}},"#,
        r#""f:labels":{".":{},"f:x":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"u-1\"}":"#,
        r#"{".":{},"f:apiVersion":{},"f:blockOwnerDeletion":{},"f:controller":{},"f:kind":{},"#,
        r#""f:name":{},"f:uid":{}}}},"f:spec":{".":{},"f:a":{},"f:b":{".":{},"f:c":{}},"#,
        r#""f:e":{},"f:l":{}},"f:status":{".":{},"f:conditions":{}}}"#
    );
    assert_eq!(go_json(&fields_v1(&cr)), want);
}

#[test]
fn round_trip_with_magic_prefix() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n", "generateName": "s-",
            "finalizers": ["x.io/f"], "resourceVersion": "7"},
        "data": {"a": "AAEC/w==", "b": ""}, "stringData": {"c": "plain"}, "immutable": true});
    let stored = stored_form(
        &secret,
        &meta("u", "2030-01-02T03:04:05Z", "capi-loadgen", false),
    );
    assert_eq!(stored["data"]["c"], json!("cGxhaW4="));
    assert_eq!(stored["type"], json!("Opaque"));
    assert!(stored["metadata"].get("resourceVersion").is_none());
    let bytes = encode_builtin(&stored, StoredFormat::V1_20).expect("encode");
    assert_eq!(&bytes[..4], MAGIC);
    assert_eq!(decode_builtin(&bytes).expect("decode"), stored);
    let unknown = Unknown::decode(&bytes[4..]).expect("envelope");
    assert_eq!(
        unknown.type_meta.and_then(|t| t.kind).as_deref(),
        Some("Secret")
    );
    let s = core::Secret::decode(unknown.raw.unwrap_or_default().as_slice()).expect("raw");
    assert_eq!(
        s.data.get("a").map(Vec::as_slice),
        Some(&[0u8, 1, 2, 255][..])
    );
}

#[test]
fn errors_and_json_values() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert!(matches!(
        encode_builtin(&cm, StoredFormat::V1_20),
        Err(EncodeError::Unsupported { .. })
    ));
    let bad = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}});
    assert!(matches!(
        encode_builtin(&bad, StoredFormat::V1_20),
        Err(EncodeError::Invalid { .. })
    ));
    assert!(matches!(
        decode_builtin(b"k8s:enc:aescbc:v1:key:xx"),
        Err(EncodeError::Encrypted)
    ));
    assert!(decode_builtin(b"k8s\0\xff").is_err());
    assert_eq!(
        decode_builtin(b"{\"a\":1}\n").expect("json"),
        json!({"a": 1})
    );
    assert_eq!(
        stored_form(&json!([1]), &meta("u", "t", "m", true)),
        json!([1])
    );
}

/// A Namespace created by capi-loadgen through kube-apiserver v1.37.2, as stored.
const NAMESPACE_BODY_CURRENT: &str = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"clg-nsk-00000","labels":{"app.kubernetes.io/managed-by":"capi-loadgen","capi-loadgen.io/run-id":"nsk"}}}"#;
const NAMESPACE_ETCD_CURRENT: &[u8] = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\xbf\x03\x0a\xa4\x03\x0a\x0dclg-nsk-00000\x12\x00\x1a\x00\x22\x00*$e465ef54-ad0f-468e-a449-362c4896741a2\x008\x00B\x08\x08\xe9\xae\xb2\xd8\x06\x10\x00Z,\x0a\x1capp.kubernetes.io/managed-by\x12\x0ccapi-loadgenZ\x1d\x0a\x16capi-loadgen.io/run-id\x12\x03nskZ,\x0a\x1bkubernetes.io/metadata.name\x12\x0dclg-nsk-00000\x8a\x01\xdc\x01\x0a\x0ccapi-loadgen\x12\x06Update\x1a\x02v1\x22\x08\x08\xe9\xae\xb2\xd8\x06\x10\x002\x08FieldsV1:\xa9\x01\x0a\xa6\x01{\x22f:metadata\x22:{\x22f:labels\x22:{\x22.\x22:{},\x22f:app.kubernetes.io/managed-by\x22:{},\x22f:capi-loadgen.io/run-id\x22:{},\x22f:kubernetes.io/metadata.name\x22:{}}},\x22f:spec\x22:{\x22f:finalizers\x22:{}}}B\x00\x12\x0c\x0a\x0akubernetes\x1a\x08\x0a\x06Active\x1a\x00\x22\x00";

#[test]
fn namespace_is_byte_equal_to_a_current_kube_apiserver() {
    let m = StoreMeta {
        format: StoredFormat::Current,
        ..meta(
            "e465ef54-ad0f-468e-a449-362c4896741a",
            "2026-11-29T21:21:45Z",
            "capi-loadgen",
            false,
        )
    };
    let stored = stored_form(&parse(NAMESPACE_BODY_CURRENT), &m);
    assert_eq!(
        stored["metadata"]["labels"]["kubernetes.io/metadata.name"],
        json!("clg-nsk-00000")
    );
    let fields = &stored["metadata"]["managedFields"][0]["fieldsV1"];
    assert!(fields.get("f:status").is_none(), "{fields}");
    assert_eq!(fields["f:spec"], json!({"f:finalizers": {}}));
    let bytes = encode_builtin(&stored, StoredFormat::Current).expect("encode");
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(NAMESPACE_ETCD_CURRENT)
    );
    assert_eq!(
        StoredFormat::of(crate::env::assets::Version::find_in("v1.20.2").unwrap()),
        StoredFormat::V1_20
    );
    assert_eq!(
        StoredFormat::of(crate::env::assets::Version::find_in("v1.37.2").unwrap()),
        StoredFormat::Current
    );
}
