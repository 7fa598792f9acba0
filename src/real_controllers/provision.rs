//! The fleet, made the way a user makes it: per namespace a ClusterClass with its templates
//! (CAPD's in-memory ones), then topology Clusters at the profile's rate; the managers make
//! everything else. Progress and provisioning latency come from the objects themselves:
//! creation timestamps and the conditions' transition times the managers write.

use super::apply::Applier;
use super::manifests::{self, CLUSTERCLASS_TEMPLATE, CLUSTER_TEMPLATE};
use super::CapiError;
use crate::engine::Stop;
use crate::profile::capi_controllers::CapiControllersPlan;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// Between two looks at the fleet while waiting.
const POLL: Duration = Duration::from_secs(2);
/// Between two progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The fleet: names and templates.
pub(crate) struct Fleet {
    /// (namespace, cluster name) of every cluster.
    pub clusters: Vec<(String, String)>,
    /// The run's namespaces.
    pub namespaces: BTreeSet<String>,
    class_docs: Vec<Value>,
    cluster_text: String,
    cluster_path: std::path::PathBuf,
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn clusters_api(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &ar("cluster.x-k8s.io", "v1beta2", "Cluster", "clusters"),
    )
}

fn machines_api(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &ar("cluster.x-k8s.io", "v1beta2", "Machine", "machines"),
    )
}

fn labelled(mut v: Value, ns: &str, run_id: &str) -> Value {
    v["metadata"]["namespace"] = json!(ns);
    let labels = &mut v["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[crate::model::RUN_ID_LABEL] = json!(run_id);
    labels[crate::model::MANAGED_BY_LABEL] = json!("capi-loadgen");
    v
}

impl Fleet {
    /// Reads the release's templates and names the fleet (`clusters`, `per_namespace`).
    pub(crate) fn new(release: &Path, fleet: &crate::model::FleetSpec) -> Result<Fleet, CapiError> {
        let class_path = release.join("templates").join(CLUSTERCLASS_TEMPLATE);
        let class_docs = manifests::read_documents(&class_path)?;
        let cluster_path = release.join("templates").join(CLUSTER_TEMPLATE);
        let cluster_text =
            std::fs::read_to_string(&cluster_path).map_err(|e| CapiError::io(&cluster_path, e))?;
        let clusters: Vec<(String, String)> = (0..fleet.clusters)
            .map(|c| (fleet.namespace_of(c), fleet.cluster_name(c)))
            .collect();
        let namespaces = clusters.iter().map(|(ns, _)| ns.clone()).collect();
        Ok(Fleet {
            clusters,
            namespaces,
            class_docs,
            cluster_text,
            cluster_path,
        })
    }

    /// Creates the namespaces and, in each, the ClusterClass with its templates.
    pub(crate) async fn create_classes(&self, a: &Applier, run_id: &str) -> Result<(), CapiError> {
        for ns in &self.namespaces {
            a.create(&labelled(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                ns,
                run_id,
            ))
            .await?;
            for d in &self.class_docs {
                // Namespaced templates; a Namespace object has no namespace of its own.
                let mut v = labelled(d.clone(), ns, run_id);
                if v["kind"] == "Namespace" {
                    v["metadata"].as_object_mut().map(|m| m.remove("namespace"));
                }
                a.create(&v).await?;
            }
        }
        Ok(())
    }

    /// The Cluster object of cluster `i`.
    pub(crate) fn cluster(
        &self,
        i: usize,
        p: &CapiControllersPlan,
        run_id: &str,
    ) -> Result<Value, CapiError> {
        let (ns, name) = &self.clusters[i];
        let text = manifests::substitute(
            &self.cluster_path,
            &self.cluster_text,
            &[
                ("CLUSTER_NAME", name.clone()),
                ("NAMESPACE", ns.clone()),
                ("KUBERNETES_VERSION", p.kubernetes_version.clone()),
                (
                    "CONTROL_PLANE_MACHINE_COUNT",
                    p.control_plane_machines.to_string(),
                ),
                ("WORKER_MACHINE_COUNT", p.worker_machines.to_string()),
            ],
        )?;
        let doc = manifests::parse_documents(&self.cluster_path, &text)?
            .into_iter()
            .find(|d| d["kind"] == "Cluster")
            .ok_or_else(|| CapiError::Manifest {
                path: self.cluster_path.clone(),
                message: "no Cluster in the template".into(),
            })?;
        Ok(labelled(doc, ns, run_id))
    }
}

/// What creating the Clusters took.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Creates {
    /// Clusters created.
    pub created: u64,
    /// Creates the apiserver refused (or that failed), by message.
    pub failed: u64,
    /// The latest a create started after its intended time (s).
    pub max_late_seconds: f64,
}

/// Creates the Clusters, one every `60 / clusters_per_minute` s from the first (all at once
/// without a rate); each create starts at its intended time, whatever the earlier ones take.
pub(crate) async fn create_clusters(
    a: &Applier,
    fleet: &Fleet,
    p: &CapiControllersPlan,
    run_id: &str,
    stop: &Stop,
) -> Result<Creates, CapiError> {
    let interval = p
        .clusters_per_minute
        .map(|r| Duration::from_secs_f64(60.0 / r));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Creates::default();
    for i in 0..fleet.clusters.len() {
        if stop.is_stopped() {
            break;
        }
        let obj = fleet.cluster(i, p, run_id)?;
        if let Some(iv) = interval {
            let intended = t0 + iv * i as u32;
            tokio::time::sleep_until(intended).await;
            out.max_late_seconds = out
                .max_late_seconds
                .max(Instant::now().duration_since(intended).as_secs_f64());
        }
        let a = Applier::new(a.client().clone());
        tasks.spawn(async move { a.create(&obj).await });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => out.created += 1,
            Ok(Err(e)) => {
                out.failed += 1;
                tracing::warn!("cluster create failed: {e}");
            }
            Err(e) => {
                out.failed += 1;
                tracing::warn!("cluster create task failed: {e}");
            }
        }
    }
    Ok(out)
}

/// Percentiles of a set of durations, in seconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    /// How many.
    pub count: u64,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Latency {
    fn of(mut v: Vec<f64>) -> Latency {
        v.sort_by(f64::total_cmp);
        let q = |q: f64| -> Option<f64> {
            (!v.is_empty()).then(|| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1])
        };
        Latency {
            count: v.len() as u64,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: v.last().copied(),
        }
    }
}

/// The fleet as the managers left it at one look.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct FleetState {
    /// Clusters of the run.
    pub clusters: u64,
    /// Of them with `ControlPlaneInitialized` true.
    pub control_plane_initialized: u64,
    /// Of them with `Available` true.
    pub available: u64,
    /// Machines in the run's namespaces.
    pub machines: u64,
    /// Of them in phase Running.
    pub running: u64,
    /// Cluster created → control plane initialized (s, per cluster).
    pub to_control_plane_initialized: Latency,
    /// Cluster created → Available (s, per cluster).
    pub to_available: Latency,
    /// Machine created → Running (s, per machine).
    pub machine_to_running: Latency,
    /// Machines at each Kubernetes version (`spec.version`).
    pub versions: std::collections::BTreeMap<String, u64>,
}

fn time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn seconds(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

fn condition_true_since(o: &DynamicObject, kind: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    o.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .and_then(|c| time(&c["lastTransitionTime"]))
}

/// Looks at the fleet once.
pub(crate) async fn look(
    client: &kube::Client,
    fleet: &Fleet,
    run_id: &str,
) -> Result<FleetState, CapiError> {
    let lp = ListParams::default().labels(&format!("{}={run_id}", crate::model::RUN_ID_LABEL));
    let clusters = clusters_api(client)
        .list(&lp)
        .await
        .map_err(CapiError::api("list clusters"))?;
    let machines = machines_api(client)
        .list(&ListParams::default())
        .await
        .map_err(CapiError::api("list machines"))?;
    let mut s = FleetState::default();
    let (mut to_cp, mut to_av, mut m_run) = (Vec::new(), Vec::new(), Vec::new());
    for c in &clusters.items {
        s.clusters += 1;
        let created = c
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0));
        if let Some(t) = condition_true_since(c, "ControlPlaneInitialized") {
            s.control_plane_initialized += 1;
            if let Some(c0) = created {
                to_cp.push(seconds(c0, t));
            }
        }
        if let Some(t) = condition_true_since(c, "Available") {
            s.available += 1;
            if let Some(c0) = created {
                to_av.push(seconds(c0, t));
            }
        }
    }
    for m in &machines.items {
        if !m
            .metadata
            .namespace
            .as_ref()
            .is_some_and(|ns| fleet.namespaces.contains(ns))
        {
            continue;
        }
        s.machines += 1;
        if let Some(v) = m.data["spec"]["version"].as_str() {
            *s.versions.entry(v.to_string()).or_default() += 1;
        }
        if m.data["status"]["phase"] == "Running" {
            s.running += 1;
            let created = m
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0));
            if let (Some(c0), Some(t)) = (created, time(&m.data["status"]["lastUpdated"])) {
                m_run.push(seconds(c0, t));
            }
        }
    }
    s.to_control_plane_initialized = Latency::of(to_cp);
    s.to_available = Latency::of(to_av);
    s.machine_to_running = Latency::of(m_run);
    Ok(s)
}

/// Waits until `done` holds for the fleet, at most `deadline`; returns the last look and
/// whether `done` held.
pub(crate) async fn wait_for(
    client: &kube::Client,
    fleet: &Fleet,
    run_id: &str,
    what: &str,
    deadline: Duration,
    stop: &Stop,
    done: impl Fn(&FleetState) -> bool,
) -> Result<(FleetState, bool), CapiError> {
    let t0 = Instant::now();
    let mut last_line = t0;
    loop {
        let s = look(client, fleet, run_id).await?;
        if done(&s) {
            return Ok((s, true));
        }
        if stop.is_stopped() || t0.elapsed() > deadline {
            return Ok((s, false));
        }
        if last_line.elapsed() >= PROGRESS_EVERY {
            last_line = Instant::now();
            tracing::info!(
                "{what}: {}/{} clusters Available ({} control planes initialized), {}/{} machines Running, {:.0} s",
                s.available,
                fleet.clusters.len(),
                s.control_plane_initialized,
                s.running,
                s.machines,
                t0.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Applies one JSON patch to every Cluster of the fleet (`what` names it in errors).
async fn patch_every_cluster(
    client: &kube::Client,
    fleet: &Fleet,
    patch: Value,
    what: &str,
) -> Result<(), CapiError> {
    for (ns, name) in &fleet.clusters {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ar("cluster.x-k8s.io", "v1beta2", "Cluster", "clusters"),
        );
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::<Value>::Json(serde_json::from_value(patch.clone()).unwrap_or_default()),
        )
        .await
        .map_err(CapiError::api(format!("{what} {ns}/{name}")))?;
    }
    Ok(())
}

/// Adds `scale_up_workers` workers to every cluster's MachineDeployment
/// (`spec.topology.workers`).
pub(crate) async fn scale_up(
    client: &kube::Client,
    fleet: &Fleet,
    p: &CapiControllersPlan,
) -> Result<(), CapiError> {
    let replicas = p.worker_machines + p.scale_up_workers;
    let patch = json!([{"op": "replace",
        "path": "/spec/topology/workers/machineDeployments/0/replicas", "value": replicas}]);
    patch_every_cluster(client, fleet, patch, "scale up").await
}

/// Moves every cluster to Kubernetes `version` (`spec.topology.version`): the managers roll
/// the control plane and the workers onto new machines.
pub(crate) async fn upgrade(
    client: &kube::Client,
    fleet: &Fleet,
    version: &str,
) -> Result<(), CapiError> {
    let patch = json!([{"op": "replace", "path": "/spec/topology/version", "value": version}]);
    patch_every_cluster(client, fleet, patch, "upgrade").await
}

/// Deletes the Clusters (the managers take their machines and control planes down).
pub(crate) async fn delete_clusters(client: &kube::Client, fleet: &Fleet) -> Result<(), CapiError> {
    for (ns, name) in &fleet.clusters {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ar("cluster.x-k8s.io", "v1beta2", "Cluster", "clusters"),
        );
        match api.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(CapiError::Api {
                    what: format!("delete cluster {ns}/{name}"),
                    source: e,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (l.p50, l.p90, l.p99, l.max),
            (Some(50.0), Some(90.0), Some(99.0), Some(100.0))
        );
        assert_eq!(Latency::of(vec![]).p50, None);
        assert_eq!(Latency::of(vec![7.0]).p99, Some(7.0));
    }
}
