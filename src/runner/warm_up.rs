//! Warming the target before the clock starts. A fresh kube-apiserver answers the first
//! writes of a newly installed custom resource slowly (seconds, while what serves that
//! resource comes up), which a run would otherwise report as the first kind's create
//! latency. Before the measured phases: wait until every CRD is `Established` and listed by
//! discovery (`/apis/<group>/<version>`), then send one unmeasured dry-run create
//! (`?dryRun=All`: admitted and validated, never stored) of a real object of each kind into
//! the `default` namespace. What was done goes into `summary.json` (`warm_up`) and the report.

use crate::backend::kube::KubeTarget;
use crate::model::{cluster_objects, namespace_objects, FleetSpec, Kind};
use crate::report::summary::WarmUp;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long discovery may take to list a new CRD's resource.
pub const DISCOVERY_DEADLINE: Duration = Duration::from_secs(60);

/// The namespace the dry-run creates name: it exists on every cluster, and a dry run stores
/// nothing in it.
pub const WARM_UP_NAMESPACE: &str = "default";

/// Waits until discovery lists each CRD's plural under its group and version.
async fn discovery(admin: &KubeTarget, crds: &[serde_json::Value]) -> Result<(), String> {
    let deadline = Instant::now() + DISCOVERY_DEADLINE;
    for crd in crds {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
            let version = v["name"].as_str().unwrap_or_default();
            let path = format!("/apis/{group}/{version}");
            loop {
                let listed = match admin.raw("GET", &path, None).await {
                    Ok((200, body)) => body["resources"]
                        .as_array()
                        .is_some_and(|rs| rs.iter().any(|r| r["name"] == plural)),
                    _ => false,
                };
                if listed {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{path} does not list {plural} {} s after install",
                        DISCOVERY_DEADLINE.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}

/// One object of each kind the fleet writes (namespaced kinds only), as the create phase
/// would send it, moved into [`WARM_UP_NAMESPACE`] without owner references.
pub fn samples(fleet: &FleetSpec) -> Vec<(Kind, String, serde_json::Value)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let objects = namespace_objects(fleet, 0).chain(cluster_objects(fleet, 0).for_create());
    for obj in objects {
        if !obj.api.namespaced || !seen.insert(obj.kind.label()) {
            continue;
        }
        let mut body = crate::model::create_body(&obj, &Default::default());
        if let Some(m) = body["metadata"].as_object_mut() {
            m.insert("namespace".into(), WARM_UP_NAMESPACE.into());
            m.remove("ownerReferences");
            m.remove("uid");
            m.remove("resourceVersion");
        }
        let path = format!(
            "{}?dryRun=All",
            obj.api.collection_path(Some(WARM_UP_NAMESPACE))
        );
        out.push((obj.kind, path, body));
    }
    out
}

/// Waits for discovery to serve the installed CRDs, then dry-run creates one object per
/// kind. A kind whose dry run is refused is noted and the run goes on; discovery that never
/// lists a CRD is an error.
pub async fn warm_up(
    admin: &KubeTarget,
    fleet: &FleetSpec,
    crds: &[serde_json::Value],
) -> Result<WarmUp, String> {
    let t0 = Instant::now();
    discovery(admin, crds).await?;
    let mut out = WarmUp {
        crds_established: crds.len() as u64,
        ..Default::default()
    };
    for (kind, path, body) in samples(fleet) {
        match admin.raw("POST", &path, Some(&body)).await {
            Ok((code, _)) if code < 300 => out.kinds_warmed.push(kind.label().to_string()),
            Ok((code, body)) => out.failures.push(format!(
                "{}: HTTP {code} {}",
                kind.label(),
                body["message"].as_str().unwrap_or_default()
            )),
            Err(e) => out.failures.push(format!("{}: {e:?}", kind.label())),
        }
    }
    out.seconds = t0.elapsed().as_secs_f64();
    tracing::info!(
        kinds = out.kinds_warmed.len(),
        failed = out.failures.len(),
        seconds = format!("{:.2}", out.seconds),
        "warmed the target (one dry-run create per kind)"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dry_run_per_kind_in_the_default_namespace() {
        let plan = crate::profile::parse_str(
            "p.yaml".as_ref(),
            "fleet:\n  clusters: 2\n",
            &Default::default(),
        )
        .unwrap();
        let s = samples(&plan.fleet);
        let kinds: BTreeSet<_> = s.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(kinds.len(), s.len(), "one sample per kind");
        assert!(kinds.contains(&Kind::Cluster) && !kinds.contains(&Kind::Namespace));
        for (_, path, body) in &s {
            assert!(path.ends_with("?dryRun=All") && path.contains("/namespaces/default/"));
            assert_eq!(body["metadata"]["namespace"], "default");
            assert!(body["metadata"].get("ownerReferences").is_none());
        }
    }
}
