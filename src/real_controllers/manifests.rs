//! The release's manifests, as `scripts/capi-managers.sh` copies them out of the Go module
//! cache: each provider's CRDs and webhook configurations, rewritten so kube-apiserver calls
//! the managers on 127.0.0.1 (conversion and admission), with the tool's CA as `caBundle`.
//! What upstream's kustomize overlays add is added here: the conversion webhook of every
//! multi-version CRD, and the contract labels on providers' CRDs.

use super::CapiError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A manager of the release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Provider {
    /// Short name (results, logs, ServiceAccount).
    pub name: &'static str,
    /// Binary under `bin/`.
    pub binary: &'static str,
    /// Manifests under `providers/<dir>/`.
    pub dir: &'static str,
    /// Its `--*-concurrency` flags for its reconcilers.
    pub concurrency_flags: &'static [&'static str],
}

/// Core, kubeadm control plane, kubeadm bootstrap, CAPD: the managers of a ClusterClass
/// fleet on CAPD's in-memory backend, started in this order.
pub(crate) const PROVIDERS: [Provider; 4] = [
    Provider {
        name: "core",
        binary: "cluster-api-controller",
        dir: "core",
        concurrency_flags: &[
            "clustertopology-concurrency",
            "clusterclass-concurrency",
            "cluster-concurrency",
            "extensionconfig-concurrency",
            "machine-concurrency",
            "machineset-concurrency",
            "machinedeployment-concurrency",
            "machinepool-concurrency",
            "clusterresourceset-concurrency",
            "machinehealthcheck-concurrency",
        ],
    },
    Provider {
        name: "kubeadm-control-plane",
        binary: "kubeadm-control-plane-controller",
        dir: "kubeadm-control-plane",
        concurrency_flags: &["kubeadmcontrolplane-concurrency"],
    },
    Provider {
        name: "kubeadm-bootstrap",
        binary: "kubeadm-bootstrap-controller",
        dir: "kubeadm-bootstrap",
        concurrency_flags: &["kubeadmconfig-concurrency"],
    },
    Provider {
        name: "capd",
        binary: "capd-manager",
        dir: "capd",
        concurrency_flags: &[
            "devcluster-concurrency",
            "devmachine-concurrency",
            "devmachinetemplate-concurrency",
            "dockercluster-concurrency",
            "dockermachine-concurrency",
            "dockermachinetemplate-concurrency",
        ],
    },
];

/// Where `scripts/setup.sh --capi` put a release.
pub(crate) fn release_dir(version: &str) -> PathBuf {
    crate::env::assets::cache_root()
        .join("assets")
        .join("capi")
        .join(version)
}

/// Checks that the release is built: every binary, every provider's manifests, the templates.
pub(crate) fn check_built(version: &str) -> Result<PathBuf, CapiError> {
    let dir = release_dir(version);
    let mut needed: Vec<PathBuf> = PROVIDERS
        .iter()
        .flat_map(|p| {
            [
                dir.join("bin").join(p.binary),
                dir.join("providers").join(p.dir).join("webhooks.yaml"),
            ]
        })
        .collect();
    needed.push(dir.join("templates").join(CLUSTERCLASS_TEMPLATE));
    needed.push(dir.join("templates").join(CLUSTER_TEMPLATE));
    match needed.into_iter().find(|p| !p.exists()) {
        Some(missing) => Err(CapiError::NotBuilt {
            version: version.to_string(),
            missing,
        }),
        None => Ok(dir),
    }
}

/// CAPD's in-memory ClusterClass and its templates.
pub(crate) const CLUSTERCLASS_TEMPLATE: &str = "clusterclass-in-memory.yaml";
/// CAPD's in-memory topology Cluster.
pub(crate) const CLUSTER_TEMPLATE: &str = "cluster-template-in-memory.yaml";

/// The documents of a YAML file (empty documents dropped).
pub(crate) fn read_documents(path: &Path) -> Result<Vec<Value>, CapiError> {
    let text = std::fs::read_to_string(path).map_err(|e| CapiError::io(path, e))?;
    parse_documents(path, &text)
}

/// The documents of YAML text (empty documents dropped).
pub(crate) fn parse_documents(path: &Path, text: &str) -> Result<Vec<Value>, CapiError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| CapiError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// One provider's objects to install.
pub(crate) struct ProviderManifests {
    /// Which provider.
    pub provider: Provider,
    /// CustomResourceDefinitions.
    pub crds: Vec<Value>,
    /// Mutating and validating webhook configurations.
    pub webhooks: Vec<Value>,
}

/// Reads a provider's CRDs and webhook configurations.
pub(crate) fn load(release: &Path, provider: Provider) -> Result<ProviderManifests, CapiError> {
    let base = release.join("providers").join(provider.dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(base.join("crds"))
        .map_err(|e| CapiError::io(&base.join("crds"), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for f in &files {
        crds.extend(read_documents(f)?);
    }
    let webhooks = read_documents(&base.join("webhooks.yaml"))?;
    Ok(ProviderManifests {
        provider,
        crds,
        webhooks,
    })
}

/// Points a provider's conversion and admission webhooks at its manager on
/// `https://127.0.0.1:<port>`, trusted through `ca_bundle` (base64 PEM); names the webhook
/// configurations after the provider (upstream's overlays prefix them likewise) and labels
/// every object with the run.
pub(crate) fn point_at_loopback(
    m: &mut ProviderManifests,
    port: u16,
    ca_bundle: &str,
    run_id: &str,
) {
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
    for crd in &mut m.crds {
        let versions = crd["spec"]["versions"].as_array().map_or(0, Vec::len);
        if versions > 1 {
            crd["spec"]["conversion"] = json!({
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"url": url("/convert"), "caBundle": ca_bundle},
                },
            });
        }
        let labels = &mut crd["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        if m.provider.name != "core" {
            // The contract labels: the topology controller reads which API version of a
            // provider's kinds implements which Cluster API contract from them.
            labels["cluster.x-k8s.io/v1beta1"] = json!("v1beta1");
            labels["cluster.x-k8s.io/v1beta2"] = json!("v1beta2");
        }
        labels[crate::model::RUN_ID_LABEL] = json!(run_id);
    }
    for conf in &mut m.webhooks {
        let name = conf["metadata"]["name"]
            .as_str()
            .unwrap_or("webhooks")
            .to_string();
        conf["metadata"]["name"] = json!(format!("capi-loadgen-{}-{name}", m.provider.name));
        conf["metadata"]["labels"] = json!({ crate::model::RUN_ID_LABEL: run_id });
        if let Some(hooks) = conf["webhooks"].as_array_mut() {
            for h in hooks {
                let path = h["clientConfig"]["service"]["path"]
                    .as_str()
                    .unwrap_or("/")
                    .to_string();
                h["clientConfig"] = json!({"url": url(&path), "caBundle": ca_bundle});
            }
        }
    }
}

/// Substitutes `${NAME}`, `${NAME:=default}` and `${NAME:-default}` as clusterctl does for
/// its templates; a variable neither given nor defaulted is an error naming it.
pub(crate) fn substitute(
    path: &Path,
    text: &str,
    vars: &[(&str, String)],
) -> Result<String, CapiError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| CapiError::Manifest {
            path: path.to_path_buf(),
            message: "a `${` without its `}`".into(),
        })?;
        let expr = &after[..end];
        let (name, default) = match expr.find(":=").or_else(|| expr.find(":-")) {
            Some(j) => (&expr[..j], Some(&expr[j + 2..])),
            None => (expr, None),
        };
        match (vars.iter().find(|(k, _)| *k == name), default) {
            (Some((_, v)), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d.trim_matches('"')),
            (None, None) => {
                return Err(CapiError::Manifest {
                    path: path.to_path_buf(),
                    message: format!("the template needs the variable {name}"),
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_like_clusterctl() {
        let p = Path::new("t.yaml");
        let text = "name: \"${CLUSTER_NAME}\"\ncidr: ${POD_CIDR:=[\"192.168.0.0/16\"]}\ndomain: ${D:=\"cluster.local\"}\nn: ${N:-3}\n";
        let out = substitute(p, text, &[("CLUSTER_NAME", "c1".into()), ("N", "5".into())]).unwrap();
        assert_eq!(
            out,
            "name: \"c1\"\ncidr: [\"192.168.0.0/16\"]\ndomain: cluster.local\nn: 5\n"
        );
        let e = substitute(p, "a: ${MISSING}\n", &[]).unwrap_err();
        assert!(e.to_string().contains("MISSING"), "{e}");
    }

    #[test]
    fn points_webhooks_and_conversion_at_loopback() {
        let mut m = ProviderManifests {
            provider: PROVIDERS[3],
            crds: vec![
                json!({"metadata": {"name": "devclusters.infrastructure.cluster.x-k8s.io"},
                "spec": {"versions": [{"name": "v1beta1"}, {"name": "v1beta2"}]}}),
            ],
            webhooks: vec![json!({"kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "validating-webhook-configuration"},
                "webhooks": [{"clientConfig": {"service": {"name": "webhook-service", "path": "/validate-x"}}}]})],
        };
        point_at_loopback(&mut m, 9443, "Q0E=", "r1");
        let conv = &m.crds[0]["spec"]["conversion"];
        assert_eq!(
            conv["webhook"]["clientConfig"]["url"],
            "https://127.0.0.1:9443/convert"
        );
        assert_eq!(
            m.crds[0]["metadata"]["labels"]["cluster.x-k8s.io/v1beta2"],
            "v1beta2"
        );
        let hook = &m.webhooks[0]["webhooks"][0]["clientConfig"];
        assert_eq!(hook["url"], "https://127.0.0.1:9443/validate-x");
        assert_eq!(hook["caBundle"], "Q0E=");
        assert!(hook.get("service").is_none());
        assert_eq!(
            m.webhooks[0]["metadata"]["name"],
            "capi-loadgen-capd-validating-webhook-configuration"
        );
    }
}
