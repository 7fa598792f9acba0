//! Least privilege on a kube target. With `deploy/rbac.yaml` the load identity may not read
//! Secrets (or list most built-in types) cluster-wide: on a management cluster those are
//! every workload cluster's kubeconfig. It gets them only in the namespaces it creates, by
//! binding the ClusterRole [`NAMESPACE_ROLE`] there with a RoleBinding right after creating
//! each namespace (RBAC lets it: `bind` on that one ClusterRole; see "Using RBAC
//! Authorization", privilege escalation prevention,
//! <https://kubernetes.io/docs/reference/access-authn-authz/rbac/#restrictions-on-role-binding-creation-or-update>).
//! Whether that is needed is asked, not guessed: a SelfSubjectAccessReview for `list
//! secrets` in all namespaces (an admin, or the local environment's load identity, needs no
//! binding and gets none).

use super::kube::KubeTarget;
pub use super::namespace_binding::{binding, NAMESPACE_BINDING, NAMESPACE_ROLE};
use super::RequestError;
use serde_json::{json, Value};

/// True when `verb` on `resource` (core group) in all namespaces is allowed.
pub async fn can(t: &KubeTarget, verb: &str, resource: &str) -> Result<bool, RequestError> {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource}},
    });
    let (code, body) = t
        .raw(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(&review),
        )
        .await?;
    if !(200..300).contains(&code) {
        return Err(RequestError::http(code));
    }
    Ok(body["status"]["allowed"] == true)
}

/// The RBAC subject the target authenticates as (SelfSubjectReview): a ServiceAccount for
/// `system:serviceaccount:<ns>:<name>`, else a User.
pub async fn subject(t: &KubeTarget) -> Result<Value, RequestError> {
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let (code, body) = t
        .raw(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            Some(&review),
        )
        .await?;
    if !(200..300).contains(&code) {
        return Err(RequestError::http(code));
    }
    let user = body["status"]["userInfo"]["username"]
        .as_str()
        .unwrap_or_default();
    Ok(subject_of(user))
}

fn subject_of(user: &str) -> Value {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, name)) => json!({"kind": "ServiceAccount", "name": name, "namespace": ns}),
        None => json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_bindings() {
        assert_eq!(
            subject_of("system:serviceaccount:capi-loadgen-system:capi-loadgen"),
            json!({"kind": "ServiceAccount", "name": "capi-loadgen", "namespace": "capi-loadgen-system"})
        );
        assert_eq!(subject_of("alice")["kind"], "User");
        let ns = json!({"metadata": {"name": "ns-1", "labels": {"capi-loadgen.io/run-id": "r"}}});
        let b = binding(&ns, &subject_of("alice"));
        assert_eq!(b["metadata"]["namespace"], "ns-1");
        assert_eq!(b["metadata"]["labels"]["capi-loadgen.io/run-id"], "r");
        assert_eq!(b["roleRef"]["name"], NAMESPACE_ROLE);
    }
}
