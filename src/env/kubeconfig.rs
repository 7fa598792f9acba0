//! The kubeconfig the local environment writes: its two contexts, `capi-loadgen-admin`
//! (system:masters, set-up only) and `capi-loadgen-load` (a ServiceAccount, the current
//! context once it exists).

/// Context name of the admin identity in the written kubeconfig.
pub const ADMIN_CONTEXT: &str = "capi-loadgen-admin";
/// Context name of the load identity (the kubeconfig's current context).
pub const LOAD_CONTEXT: &str = "capi-loadgen-load";

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(super) fn kubeconfig_yaml(
    server: &str,
    ca_pem: &str,
    admin_token: &str,
    load_token: Option<&str>,
) -> String {
    let mut users = format!("- name: capi-loadgen-admin\n  user:\n    token: {admin_token}\n");
    let mut contexts = format!(
        "- name: {ADMIN_CONTEXT}\n  context:\n    cluster: capi-loadgen-local\n    user: capi-loadgen-admin\n"
    );
    let mut current = ADMIN_CONTEXT;
    if let Some(t) = load_token {
        users.push_str(&format!(
            "- name: capi-loadgen-load\n  user:\n    token: {t}\n"
        ));
        contexts.push_str(&format!(
            "- name: {LOAD_CONTEXT}\n  context:\n    cluster: capi-loadgen-local\n    user: capi-loadgen-load\n"
        ));
        current = LOAD_CONTEXT;
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: capi-loadgen-local\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n{users}contexts:\n{contexts}current-context: {current}\n",
        b64(ca_pem)
    )
}
