//! Who the managers are: a kubeconfig each, as its own ServiceAccount (bound to
//! cluster-admin, as the managers' own RBAC is broad) or as the local environment's admin;
//! and the serving certificate of their webhooks, from a CA the tool makes for the run.

use super::apply::Applier;
use super::CapiError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The namespace of the managers' ServiceAccounts.
pub(crate) const SYSTEM_NAMESPACE: &str = "capi-loadgen-managers";

/// The server and CA of the local environment's kubeconfig, and its admin token.
pub(crate) struct Cluster {
    server: String,
    ca_data: String,
    admin_token: String,
}

impl Cluster {
    /// Reads the local environment's kubeconfig.
    pub(crate) fn read(kubeconfig: &Path) -> Result<Cluster, CapiError> {
        let docs = super::manifests::read_documents(kubeconfig)?;
        let bad = |m: &str| CapiError::Manifest {
            path: kubeconfig.to_path_buf(),
            message: m.to_string(),
        };
        let kc = docs.first().ok_or_else(|| bad("empty kubeconfig"))?;
        let cluster = &kc["clusters"][0]["cluster"];
        let admin = kc["users"]
            .as_array()
            .and_then(|us| {
                us.iter()
                    .find(|u| u["name"] == crate::env::local::ADMIN_CONTEXT)
            })
            .ok_or_else(|| bad("no admin user"))?;
        Ok(Cluster {
            server: cluster["server"]
                .as_str()
                .ok_or_else(|| bad("no server"))?
                .into(),
            ca_data: cluster["certificate-authority-data"]
                .as_str()
                .ok_or_else(|| bad("no certificate-authority-data"))?
                .into(),
            admin_token: admin["user"]["token"]
                .as_str()
                .ok_or_else(|| bad("no admin token"))?
                .into(),
        })
    }

    /// Writes a kubeconfig (mode 600) that authenticates with `token`.
    fn write(&self, path: &Path, user: &str, token: &str) -> Result<(), CapiError> {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}\n  context:\n    cluster: local\n    user: {user}\ncurrent-context: {user}\n",
            self.server, self.ca_data
        );
        write_private(path, &text)
    }
}

/// Writes `text` readable by the owner only.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), CapiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CapiError::io(path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| CapiError::io(path, e))
}

/// Makes each manager's kubeconfig under `dir`; with `service_accounts`, a ServiceAccount
/// per manager in [`SYSTEM_NAMESPACE`] (labelled with the run) and a token for it.
pub(crate) async fn kubeconfigs(
    applier: &Applier,
    cluster: &Cluster,
    dir: &Path,
    managers: &[&str],
    service_accounts: bool,
    run_id: &str,
) -> Result<Vec<PathBuf>, CapiError> {
    let labels = json!({ crate::model::RUN_ID_LABEL: run_id });
    if service_accounts {
        applier
            .create_or_replace(&json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": SYSTEM_NAMESPACE, "labels": labels}}))
            .await?;
    }
    let mut out = Vec::new();
    for m in managers {
        let path = dir.join(format!("{m}.kubeconfig"));
        if service_accounts {
            let sa = format!("capi-loadgen-{m}");
            applier
                .create_or_replace(&json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": sa, "namespace": SYSTEM_NAMESPACE, "labels": labels}}))
                .await?;
            applier
                .create_or_replace(&json!({"apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": format!("{sa}-{run_id}"), "labels": labels},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": SYSTEM_NAMESPACE}]}))
                .await?;
            let token = token_for(applier, &sa).await?;
            cluster.write(&path, &sa, &token)?;
        } else {
            cluster.write(&path, "admin", &cluster.admin_token)?;
        }
        out.push(path);
    }
    Ok(out)
}

/// A day-long token for a ServiceAccount (TokenRequest).
async fn token_for(applier: &Applier, sa: &str) -> Result<String, CapiError> {
    let body = serde_json::to_vec(&json!({"apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest", "spec": {"expirationSeconds": 86400}}))
    .unwrap_or_default();
    let req = http::Request::post(format!(
        "/api/v1/namespaces/{SYSTEM_NAMESPACE}/serviceaccounts/{sa}/token"
    ))
    .header("content-type", "application/json")
    .body(body)
    .map_err(|e| CapiError::Api {
        what: format!("token request for {sa}"),
        source: kube::Error::HttpError(e),
    })?;
    let v: Value = applier
        .client()
        .request(req)
        .await
        .map_err(CapiError::api(format!("token request for {sa}")))?;
    v["status"]["token"]
        .as_str()
        .map(str::to_string)
        .ok_or(CapiError::NoToken { sa: sa.to_string() })
}

/// Writes the webhooks' serving certificate (`tls.crt`, `tls.key`) into `dir` and returns
/// the CA for the configurations' `caBundle`, base64-encoded.
pub(crate) fn webhook_certs(dir: &Path) -> Result<String, CapiError> {
    use base64::Engine;
    let issued = crate::webhook::cert::issue("127.0.0.1")?;
    std::fs::create_dir_all(dir).map_err(|e| CapiError::io(dir, e))?;
    write_private(&dir.join("tls.crt"), &issued.cert_pem)?;
    write_private(&dir.join("tls.key"), &issued.key_pem)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(issued.ca_pem.as_bytes()))
}
