//! ClusterClass-era fleets: a namespace's ClusterClass with its templates, and the
//! `spec.topology` of its Clusters.
//!
//! Since Cluster API v1.5 most fleets are managed through a ClusterClass: the user writes a
//! short Cluster with `spec.topology` (class, version, replicas), and the topology
//! controller creates the control plane, the provider cluster and the MachineDeployments
//! from the class's templates ("Cluster Class" in the Cluster API book,
//! <https://cluster-api.sigs.k8s.io/tasks/experimental-features/cluster-class/>). With
//! `fleet.topology` each namespace gets one ClusterClass, its KubeadmControlPlaneTemplate,
//! provider cluster template, a provider machine template each for the control plane and
//! the workers, and the workers' KubeadmConfigTemplate; the templates are owned by the
//! class (the ClusterClass controller sets those owner references). Objects the topology
//! controller creates carry its `topology.cluster.x-k8s.io/owned` label.

use serde_json::{json, Map, Value};

use super::kinds::Kind;
use super::kubeadm::{kubeadm_config_spec, ConfigVariant};
use super::layout::Layout;
use super::machine_info::MachineInfo;
use super::meta::{map, put_conditions, topology_md_name, ClusterCtx, Conditions};
use super::spec::{FleetSpec, Object};
use super::{providers, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL};

/// The class of every MachineDeployment in the ClusterClass.
const WORKER_CLASS: &str = "default-worker";
/// The one variable the class defines, patched into the control plane's kubeadm config.
const IMAGE_REPOSITORY_VARIABLE: &str = "imageRepository";

/// What sits at one position of a namespace's sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NsSlot {
    Namespace,
    Class,
    ControlPlaneTemplate,
    InfraClusterTemplate,
    ControlPlaneMachineTemplate,
    WorkerMachineTemplate,
    WorkerBootstrapTemplate,
}

const NS_SLOTS: [NsSlot; 7] = [
    NsSlot::Namespace,
    NsSlot::Class,
    NsSlot::ControlPlaneTemplate,
    NsSlot::InfraClusterTemplate,
    NsSlot::ControlPlaneMachineTemplate,
    NsSlot::WorkerMachineTemplate,
    NsSlot::WorkerBootstrapTemplate,
];

/// Name of the namespace's ClusterClass, e.g. `metal3-class`.
pub(crate) fn class_name(spec: &FleetSpec) -> String {
    format!("{}-class", spec.provider.as_str())
}

fn slot_name(spec: &FleetSpec, slot: NsSlot) -> String {
    let class = class_name(spec);
    match slot {
        NsSlot::Namespace | NsSlot::Class => class,
        NsSlot::ControlPlaneTemplate => format!("{class}-control-plane"),
        NsSlot::InfraClusterTemplate => format!("{class}-cluster"),
        NsSlot::ControlPlaneMachineTemplate => format!("{class}-control-plane-machine"),
        NsSlot::WorkerMachineTemplate => format!("{class}-worker-machine"),
        NsSlot::WorkerBootstrapTemplate => format!("{class}-worker-bootstrap"),
    }
}

fn slot_kind(slot: NsSlot) -> Kind {
    match slot {
        NsSlot::Namespace => Kind::Namespace,
        NsSlot::Class => Kind::ClusterClass,
        NsSlot::ControlPlaneTemplate => Kind::KubeadmControlPlaneTemplate,
        NsSlot::InfraClusterTemplate => Kind::InfraClusterTemplate,
        NsSlot::ControlPlaneMachineTemplate | NsSlot::WorkerMachineTemplate => {
            Kind::InfraMachineTemplate
        }
        NsSlot::WorkerBootstrapTemplate => Kind::KubeadmConfigTemplate,
    }
}

/// The objects of namespace `namespace_index`, in creation order: the Namespace (index 0)
/// and, with `spec.topology`, the ClusterClass (index 1) and its five templates (owned by
/// it). Owners are indices within this sequence.
pub fn namespace_objects(
    spec: &FleetSpec,
    namespace_index: u64,
) -> impl Iterator<Item = Object> + Send + 'static {
    let count = spec.objects_in_namespace() as usize;
    let spec = spec.clone();
    // The namespace's first cluster lends its context (namespace, API versions, groups).
    let ctx = spec.topology.then(|| {
        let first = namespace_index * spec.effective_clusters_per_namespace();
        super::kubeadm::cluster_ctx(&spec, first)
    });
    NS_SLOTS
        .into_iter()
        .take(count)
        .enumerate()
        .map(move |(i, slot)| match (&ctx, slot) {
            (_, NsSlot::Namespace) | (None, _) => super::namespace_object(&spec, namespace_index),
            (Some(ctx), slot) => class_object(ctx, i as u32, slot),
        })
}

fn class_object(ctx: &ClusterCtx, index: u32, slot: NsSlot) -> Object {
    let kind = slot_kind(slot);
    let name = slot_name(&ctx.spec, slot);
    let owners = if slot == NsSlot::Class {
        vec![]
    } else {
        vec![1]
    };
    let body = match slot {
        NsSlot::Class => cluster_class(ctx),
        _ => template(ctx, slot, &name),
    };
    Object {
        index,
        kind,
        api: ctx.api(kind).clone(),
        namespace: Some(ctx.ns.clone()),
        uid: ctx.uid(&name),
        name,
        owners,
        body,
    }
}

fn class_labels(ctx: &ClusterCtx) -> Map<String, Value> {
    map([
        (RUN_ID_LABEL, ctx.spec.run_id.clone().into()),
        (MANAGED_BY_LABEL, MANAGED_BY_VALUE.into()),
    ])
}

/// A reference from the class to its template in `slot`: v1beta1 `ObjectReference`,
/// v1beta2 `ClusterClassTemplateReference` (apiVersion, kind, name).
fn template_ref(ctx: &ClusterCtx, slot: NsSlot) -> Value {
    let kind = slot_kind(slot);
    let r = json!({
        "apiVersion": ctx.api_version(kind),
        "kind": ctx.api(kind).kind,
        "name": slot_name(&ctx.spec, slot),
    });
    if ctx.v2 {
        json!({ "templateRef": r })
    } else {
        let mut r = r;
        r["namespace"] = ctx.ns.clone().into();
        json!({ "ref": r })
    }
}

/// The health check a class gives the machines of its control plane or a deployment.
fn class_health_check(ctx: &ClusterCtx) -> Value {
    if ctx.v2 {
        json!({"checks": {
            "nodeStartupTimeoutSeconds": 600,
            "unhealthyNodeConditions": [
                {"type": "Ready", "status": "Unknown", "timeoutSeconds": 300},
                {"type": "Ready", "status": "False", "timeoutSeconds": 300},
            ],
        }})
    } else {
        json!({
            "nodeStartupTimeout": "10m0s",
            "unhealthyConditions": [
                {"type": "Ready", "status": "Unknown", "timeout": "300s"},
                {"type": "Ready", "status": "False", "timeout": "300s"},
            ],
        })
    }
}

/// The `ClusterClass` body.
fn cluster_class(ctx: &ClusterCtx) -> Value {
    let spec = &ctx.spec;
    let health_key = if ctx.v2 {
        "healthCheck"
    } else {
        "machineHealthCheck"
    };
    let mut control_plane = template_ref(ctx, NsSlot::ControlPlaneTemplate);
    control_plane["machineInfrastructure"] = template_ref(ctx, NsSlot::ControlPlaneMachineTemplate);
    let mut worker = json!({"class": WORKER_CLASS});
    let bootstrap = template_ref(ctx, NsSlot::WorkerBootstrapTemplate);
    let infra = template_ref(ctx, NsSlot::WorkerMachineTemplate);
    if ctx.v2 {
        worker["bootstrap"] = bootstrap;
        worker["infrastructure"] = infra;
    } else {
        worker["template"] = json!({"bootstrap": bootstrap, "infrastructure": infra});
    }
    if spec.machine_health_checks {
        control_plane[health_key] = class_health_check(ctx);
        worker[health_key] = class_health_check(ctx);
    }
    let schema = json!({"openAPIV3Schema": {"type": "string", "default": "registry.k8s.io"}});
    let kcpt = Kind::KubeadmControlPlaneTemplate;
    let body_spec = json!({
        "controlPlane": control_plane,
        "infrastructure": template_ref(ctx, NsSlot::InfraClusterTemplate),
        "workers": {"machineDeployments": [worker]},
        "variables": [{"name": IMAGE_REPOSITORY_VARIABLE, "required": false, "schema": schema}],
        "patches": [{
            "name": IMAGE_REPOSITORY_VARIABLE,
            "definitions": [{
                "selector": {
                    "apiVersion": ctx.api_version(kcpt),
                    "kind": ctx.api(kcpt).kind,
                    "matchResources": {"controlPlane": true},
                },
                "jsonPatches": [{
                    "op": "add",
                    "path": "/spec/template/spec/kubeadmConfigSpec/clusterConfiguration/imageRepository",
                    "valueFrom": {"variable": IMAGE_REPOSITORY_VARIABLE},
                }],
            }],
        }],
    });
    let time = ctx.time(0);
    let conds = Conditions {
        old: &["Ready", "VariablesReconciled", "RefVersionsUpToDate"],
        new: &[
            ("VariablesReady", true, "VariablesReady"),
            ("RefVersionsUpToDate", true, "RefVersionsUpToDate"),
            ("Paused", false, "NotPaused"),
        ],
        time: &time,
        generation: 1,
    };
    let mut status = map([
        (
            "variables",
            json!([{"name": IMAGE_REPOSITORY_VARIABLE, "definitions": [
                {"from": "inline", "required": false, "schema": schema},
            ]}]),
        ),
        ("observedGeneration", 1.into()),
    ]);
    put_conditions(ctx, &mut status, &conds, Map::new(), Map::new());
    let name = class_name(spec);
    object! {
        "apiVersion": ctx.api_version(Kind::ClusterClass),
        "kind": "ClusterClass",
        "metadata": ctx.metadata(Kind::ClusterClass, &name, class_labels(ctx), Map::new(), vec![]),
        "spec": body_spec,
        "status": status,
    }
}

/// `spec.template.spec` of a provider machine template: the spec of a machine of the
/// namespace's first cluster (control plane or worker) without what is per machine.
fn machine_template_spec(ctx: &ClusterCtx, worker: bool) -> Value {
    let mut sample = ctx.spec.clone();
    sample.control_plane_replicas = 1;
    sample.machine_deployments = 1;
    sample.workers_per_machine_deployment = 1;
    let layout = Layout::new(&sample);
    let info = MachineInfo::new(ctx, &layout, u64::from(worker));
    let mut body = providers::infra_machine(ctx, &info);
    let mut spec = body["spec"].take();
    if let Some(m) = spec.as_object_mut() {
        m.remove("providerID");
    }
    spec
}

/// The body of one of the class's templates.
fn template(ctx: &ClusterCtx, slot: NsSlot, name: &str) -> Value {
    let kind = slot_kind(slot);
    let template_spec = match slot {
        NsSlot::ControlPlaneTemplate => {
            let mut s = json!({"kubeadmConfigSpec":
                kubeadm_config_spec(ctx, ConfigVariant::ControlPlaneTemplate)});
            s["machineTemplate"] = if ctx.v2 {
                json!({"spec": {"deletion": {"nodeDeletionTimeoutSeconds": 10}}})
            } else {
                json!({"nodeDeletionTimeout": "10s"})
            };
            s
        }
        NsSlot::InfraClusterTemplate => {
            let mut c = providers::infra_cluster(ctx);
            let mut s = c["spec"].take();
            if let Some(m) = s.as_object_mut() {
                // The control-plane endpoint is each cluster's own.
                m.remove("controlPlaneEndpoint");
            }
            s
        }
        NsSlot::ControlPlaneMachineTemplate => machine_template_spec(ctx, false),
        NsSlot::WorkerMachineTemplate => machine_template_spec(ctx, true),
        NsSlot::WorkerBootstrapTemplate => {
            let mut s = kubeadm_config_spec(ctx, ConfigVariant::Worker);
            // Discovery (endpoint, token) is filled in per machine.
            if let Some(j) = s["joinConfiguration"].as_object_mut() {
                j.remove("discovery");
            }
            s
        }
        NsSlot::Namespace | NsSlot::Class => Value::Null,
    };
    let owner = ctx.owner_ref(Kind::ClusterClass, &class_name(&ctx.spec));
    object! {
        "apiVersion": ctx.api_version(kind),
        "kind": ctx.api(kind).kind.clone(),
        "metadata": ctx.metadata(kind, name, class_labels(ctx), Map::new(), vec![owner]),
        "spec": json!({"template": {"spec": template_spec}}),
    }
}

/// `spec.topology` of a Cluster of `ctx`'s fleet.
pub(crate) fn cluster_topology(ctx: &ClusterCtx) -> Value {
    let spec = &ctx.spec;
    let workers: Vec<Value> = (0..spec.machine_deployments)
        .map(|md| {
            json!({
                "class": WORKER_CLASS,
                "name": topology_md_name(md),
                "replicas": spec.workers_per_machine_deployment,
            })
        })
        .collect();
    let mut t = json!({
        "version": spec.kubernetes_version,
        "controlPlane": {"replicas": spec.control_plane_replicas},
        "workers": {"machineDeployments": workers},
    });
    if ctx.v2 {
        t["classRef"] = json!({"name": class_name(spec)});
    } else {
        t["class"] = class_name(spec).into();
    }
    t
}
