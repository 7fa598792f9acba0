//! The RoleBinding the tool creates in every namespace it creates, when its identity is
//! bound per namespace (least privilege, [`super::access`]).

use serde_json::{json, Value};

/// The ClusterRole bound in each namespace the tool creates (deploy/rbac.yaml).
pub const NAMESPACE_ROLE: &str = "capi-loadgen-namespace";
/// The name of that RoleBinding.
pub const NAMESPACE_BINDING: &str = "capi-loadgen";

/// The RoleBinding of [`NAMESPACE_ROLE`] in a namespace the tool created, labelled like
/// the namespace (so cleanup counts it as the run's, not foreign).
pub fn binding(namespace_body: &Value, subject: &Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": NAMESPACE_BINDING,
            "namespace": namespace_body["metadata"]["name"],
            "labels": namespace_body["metadata"]["labels"],
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAMESPACE_ROLE},
        "subjects": [subject],
    })
}
