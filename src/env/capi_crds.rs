//! The CustomResourceDefinitions of the Cluster API release `scripts/setup.sh` fetches into
//! the cache (`~/.cache/capi-loadgen/assets/capi-crds/<release>/`, or
//! `$CAPI_LOADGEN_CAPI_CRDS`), and their *prepared* form: one CRD of the six classic kinds
//! reduced to a single served API version (`v1beta1` or `v1beta2`) that is also the storage
//! version, with `conversion: {strategy: None}` (Cluster API's conversion webhook is not
//! running next to a test apiserver) and without the empty string defaults (`default: ""`)
//! that kube-apiserver v1.20 refuses. Tests install the prepared CRDs as they are, in the
//! real `cluster.x-k8s.io` groups, and validate the tool's bodies against their schemas;
//! `fleet.crd_dir` can point at the release folder itself.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The Cluster API release whose CRDs `scripts/setup.sh` fetches (its `CAPI_CRDS_VERSION`).
pub const CAPI_RELEASE: &str = "v1.14.2";

/// The files of the six classic kinds (Cluster, Machine, MachineSet, MachineDeployment,
/// KubeadmConfig, KubeadmControlPlane) in the release folder.
pub const CLASSIC_CRD_FILES: [&str; 6] = [
    "bootstrap.cluster.x-k8s.io_kubeadmconfigs.yaml",
    "cluster.x-k8s.io_clusters.yaml",
    "cluster.x-k8s.io_machinedeployments.yaml",
    "cluster.x-k8s.io_machines.yaml",
    "cluster.x-k8s.io_machinesets.yaml",
    "controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml",
];

/// Why the release's CRDs cannot be read or prepared.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseCrdsError {
    /// The folder lacks a file of the release (not fetched yet).
    #[error("{path}: no such CRD here (Cluster API {CAPI_RELEASE}'s or a provider's); run scripts/setup.sh (it fetches them from the Go module proxy)")]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not one YAML CustomResourceDefinition.
    #[error("{path}: not a CustomResourceDefinition: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The CRD serves no such version with a schema.
    #[error("{path}: serves no version {version} with a schema")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version asked for.
        version: String,
    },
}

/// The release folder: `$CAPI_LOADGEN_CAPI_CRDS`, else `<cache>/assets/capi-crds/<release>`
/// (`$CAPI_LOADGEN_CACHE`, else `~/.cache/capi-loadgen`).
pub fn release_crds_dir() -> PathBuf {
    match std::env::var_os("CAPI_LOADGEN_CAPI_CRDS") {
        Some(d) => PathBuf::from(d),
        None => super::assets::cache_root()
            .join("assets/capi-crds")
            .join(CAPI_RELEASE),
    }
}

/// One CRD file of the release folder, parsed.
pub fn read_release_crd(dir: &Path, file: &str) -> Result<Value, ReleaseCrdsError> {
    let path = dir.join(file);
    if !path.is_file() {
        return Err(ReleaseCrdsError::Missing { path });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ReleaseCrdsError::Read {
        path: path.clone(),
        source,
    })?;
    let crd: Value = serde_saphyr::from_str(&text).map_err(|e| ReleaseCrdsError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if crd["kind"] != "CustomResourceDefinition" {
        return Err(ReleaseCrdsError::Parse {
            path,
            message: format!("kind {}", crd["kind"]),
        });
    }
    Ok(crd)
}

/// `crd` serving and storing only `version`, without conversion and without empty string
/// defaults; `None` when it serves no such version with a schema.
pub fn prepare(crd: &Value, version: &str) -> Option<Value> {
    let mut served = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| {
            v["name"] == version
                && v["served"] == true
                && v["schema"]["openAPIV3Schema"].is_object()
        })?
        .clone();
    served["storage"] = json!(true);
    drop_empty_string_defaults(&mut served["schema"]["openAPIV3Schema"]);
    let mut out = crd.clone();
    out["spec"]["versions"] = json!([served]);
    out["spec"]["conversion"] = json!({"strategy": "None"});
    Some(out)
}

/// Removes `default: ""` from every string property of `schema` (kube-apiserver v1.20
/// rejects such defaults in a structural schema).
fn drop_empty_string_defaults(schema: &mut Value) {
    match schema {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("string")
                && m.get("default") == Some(&json!(""))
            {
                m.remove("default");
            }
            m.values_mut().for_each(drop_empty_string_defaults);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_empty_string_defaults),
        _ => {}
    }
}

/// The six classic CRDs of the release in `dir`, prepared for `version`, in the order of
/// [`CLASSIC_CRD_FILES`].
pub fn prepared_crds(dir: &Path, version: &str) -> Result<Vec<Value>, ReleaseCrdsError> {
    CLASSIC_CRD_FILES
        .iter()
        .map(|file| {
            let crd = read_release_crd(dir, file)?;
            prepare(&crd, version).ok_or_else(|| ReleaseCrdsError::Version {
                path: dir.join(file),
                version: version.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "machines.cluster.x-k8s.io"},
            "spec": {
                "group": "cluster.x-k8s.io",
                "names": {"kind": "Machine", "plural": "machines"},
                "scope": "Namespaced",
                "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {}}},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false, "deprecated": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {
                            "a": {"type": "string", "default": ""},
                            "b": {"type": "string", "default": "x"},
                            "c": {"type": "integer", "default": 0},
                            "l": {"type": "array", "items": {"type": "string", "default": ""}}
                        }}}}}},
                    {"name": "v1beta2", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1alpha4", "served": false, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]
            }
        })
    }

    #[test]
    fn prepared_serves_and_stores_one_version_without_conversion_or_empty_defaults() {
        let p = prepare(&crd(), "v1beta1").expect("v1beta1 is served");
        let versions = p["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["name"], "v1beta1");
        assert_eq!(versions[0]["storage"], true);
        assert_eq!(versions[0]["deprecated"], true, "kept as published");
        assert_eq!(p["spec"]["conversion"], json!({"strategy": "None"}));
        let props = &versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert!(props["a"].get("default").is_none(), "{props}");
        assert_eq!(props["b"]["default"], "x");
        assert_eq!(props["c"]["default"], 0);
        assert!(props["l"]["items"].get("default").is_none(), "{props}");
        assert_eq!(p["metadata"], crd()["metadata"]);
        assert_eq!(p["spec"]["group"], "cluster.x-k8s.io");
        let p2 = prepare(&crd(), "v1beta2").expect("v1beta2 is served");
        assert_eq!(p2["spec"]["versions"][0]["name"], "v1beta2");
        assert!(prepare(&crd(), "v1alpha4").is_none(), "not served");
        assert!(prepare(&crd(), "v1").is_none(), "not defined");
    }

    #[test]
    fn a_missing_release_folder_names_the_setup_script() {
        let empty = tempfile::tempdir().unwrap();
        let e = prepared_crds(empty.path(), "v1beta2").expect_err("nothing there");
        assert!(matches!(e, ReleaseCrdsError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("scripts/setup.sh"), "{e}");
        std::fs::write(empty.path().join(CLASSIC_CRD_FILES[0]), "kind: List\n").unwrap();
        let e = prepared_crds(empty.path(), "v1beta2").expect_err("not a CRD");
        assert!(matches!(e, ReleaseCrdsError::Parse { .. }), "{e}");
    }

    #[test]
    fn the_release_is_the_one_setup_fetches() {
        let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/setup.sh");
        let text = std::fs::read_to_string(setup).unwrap();
        let line = format!("CAPI_CRDS_VERSION={CAPI_RELEASE}");
        assert!(
            text.lines().any(|l| l == line),
            "{setup} has no line {line}"
        );
    }
}
