//! `fleet.crd_schemas` / `fleet.crd_dir`: reading a directory of upstream CustomResource
//! Definitions (YAML, multi-document YAML such as a Cluster API release's
//! `components.yaml`, or JSON, including `kind: List`) for the fleet's schemas.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::types::{CrdSchemaSource, FleetSection};
use super::ProfileError;
use crate::model::{CrdSchemas, FleetSpec};

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The most bytes one file of `fleet.crd_dir` may have (a release's `components.yaml` is a
/// few MiB).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// The schema source the profile asks for; upstream CRDs are read here, so a bad directory
/// is a profile error naming `fleet.crd_dir`.
pub(super) fn crd_schemas(f: &FleetSection, err: Err) -> Result<CrdSchemas, ProfileError> {
    match (f.crd_schemas, &f.crd_dir) {
        (None | Some(CrdSchemaSource::Inferred), None) => Ok(CrdSchemas::Inferred),
        (None | Some(CrdSchemaSource::Inferred), Some(_)) => Err(err(
            "fleet.crd_dir",
            "is only read with `crd_schemas: upstream`".into(),
        )),
        (Some(CrdSchemaSource::Upstream), None) => Err(err(
            "fleet.crd_schemas",
            "`upstream` needs `fleet.crd_dir`: a directory of Cluster API CRD YAML/JSON files"
                .into(),
        )),
        (Some(CrdSchemaSource::Upstream), Some(dir)) => {
            let docs = read_dir(dir).map_err(|m| err("fleet.crd_dir", m))?;
            Ok(CrdSchemas::Upstream(Arc::new(docs)))
        }
    }
}

/// Checks the validated fleet against its upstream CRDs: they must define every Cluster
/// API kind the fleet writes, in its version, and go into the tool's own groups (the real
/// `cluster.x-k8s.io` groups hold Cluster API's CRDs already). With `install_crds: false`
/// they were installed beforehand (`capi-loadgen crds <profile>` prints them).
pub(super) fn check(fleet: &FleetSpec, err: Err) -> Result<(), ProfileError> {
    if matches!(fleet.crd_schemas, CrdSchemas::Inferred) {
        return Ok(());
    }
    if fleet.api_group == crate::model::UPSTREAM_CORE_GROUP {
        return Err(err(
            "fleet.crd_schemas",
            "`upstream` renames Cluster API's CRDs into the tool's groups: it needs an api_group other than cluster.x-k8s.io (which already has them)".into(),
        ));
    }
    crate::model::check_upstream(fleet).map_err(|e| err("fleet.crd_dir", e.to_string()))
}

/// Every CustomResourceDefinition in the `.yaml`, `.yml` and `.json` files of `dir`
/// (not recursive), in file-name order; other documents (a release's Deployments,
/// Services, ...) are skipped.
pub fn read_dir(dir: &Path) -> Result<Vec<Value>, String> {
    let shown = dir.display();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{shown}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for path in &files {
        let p = path.display();
        let len = std::fs::metadata(path)
            .map_err(|e| format!("{p}: {e}"))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(format!("{p}: {len} bytes is more than {MAX_FILE_BYTES}"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{p}: {e}"))?;
        let docs: Vec<Value> = if path.extension().is_some_and(|x| x == "json") {
            vec![serde_json::from_str(&text).map_err(|e| format!("{p}: {e}"))?]
        } else {
            serde_saphyr::from_multiple(&text).map_err(|e| format!("{p}: {e}"))?
        };
        for doc in docs {
            collect(doc, &mut crds);
        }
    }
    if crds.is_empty() {
        return Err(format!(
            "{shown}: no CustomResourceDefinition in its {} YAML/JSON files",
            files.len()
        ));
    }
    Ok(crds)
}

fn collect(doc: Value, out: &mut Vec<Value>) {
    match doc["kind"].as_str() {
        Some("CustomResourceDefinition") => out.push(doc),
        Some("List") => {
            if let Value::Array(items) = doc["items"].clone() {
                items.into_iter().for_each(|d| collect(d, out));
            }
        }
        _ => {}
    }
}
