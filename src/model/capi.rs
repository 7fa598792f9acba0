//! Bodies of the cluster-level Cluster API objects: Cluster, KubeadmControlPlane,
//! MachineDeployment and MachineSet, for v1beta1 and v1beta2.

use serde_json::{json, Map, Value};

use super::kinds::{Kind, Provider};
use super::kubeadm::{kubeadm_config_spec, ConfigVariant, POD_CIDR, SERVICE_CIDR};
use super::meta::{map, put_conditions, ClusterCtx, Cond2, Conditions};
use super::CLUSTER_NAME_LABEL;
use super::{names, topology};

/// Label naming a Machine's MachineDeployment.
pub(crate) const DEPLOYMENT_NAME_LABEL: &str = "cluster.x-k8s.io/deployment-name";
/// Label naming a Machine's MachineSet.
pub(crate) const SET_NAME_LABEL: &str = "cluster.x-k8s.io/set-name";
/// Label with the hash of a MachineSet's template.
pub(crate) const TEMPLATE_HASH_LABEL: &str = "machine-template-hash";
/// Revision annotation of MachineDeployments and MachineSets.
const REVISION_ANNOTATION: &str = "machinedeployment.clusters.x-k8s.io/revision";

const NOT_PROGRESSING: [Cond2; 5] = [
    ("ScalingUp", false, "NotScalingUp"),
    ("ScalingDown", false, "NotScalingDown"),
    ("Remediating", false, "NotRemediating"),
    ("Deleting", false, "NotDeleting"),
    ("Paused", false, "NotPaused"),
];

/// Name of MachineDeployment `md`: `<cluster>-md-<md>`.
pub(crate) fn md_name(ctx: &ClusterCtx, md: u32) -> String {
    format!("{}-md-{md}", ctx.name)
}

/// Name of MachineDeployment `md`'s MachineSet: `<cluster>-md-<md>-<5 chars>`.
pub(crate) fn ms_name(ctx: &ClusterCtx, md: u32) -> String {
    format!(
        "{}-{}",
        md_name(ctx, md),
        names::suffix(ctx.key, names::machine_set_ordinal(md))
    )
}

/// Value of the `machine-template-hash` label of MachineDeployment `md`'s MachineSet.
pub(crate) fn template_hash(ctx: &ClusterCtx, md: u32) -> String {
    (names::mix64(ctx.key ^ (u64::from(md) << 20) ^ 0x7e) as u32).to_string()
}

/// The control-plane label selector string of `status.selector`.
fn cp_selector(ctx: &ClusterCtx) -> String {
    format!(
        "{CLUSTER_NAME_LABEL}={},cluster.x-k8s.io/control-plane",
        ctx.name
    )
}

fn concat(a: &[Cond2], b: &[Cond2]) -> Vec<Cond2> {
    a.iter().chain(b).copied().collect()
}

/// The `Cluster` body.
pub(crate) fn cluster(ctx: &ClusterCtx) -> Value {
    let spec = &ctx.spec;
    let cp = u64::from(spec.control_plane_replicas);
    let workers = spec.machines_per_cluster() - cp;
    let replicas = |n: u64| {
        json!({"desiredReplicas": n, "replicas": n, "readyReplicas": n,
               "availableReplicas": n, "upToDateReplicas": n})
    };
    let kcp_kind = &ctx.api(Kind::KubeadmControlPlane).kind;
    let mut body_spec = json!({
        "clusterNetwork": {
            "pods": {"cidrBlocks": [POD_CIDR]},
            "services": {"cidrBlocks": [SERVICE_CIDR]},
            "serviceDomain": "cluster.local",
        },
        "controlPlaneEndpoint": {"host": ctx.endpoint_host, "port": 6443},
        "controlPlaneRef": ctx.obj_ref(&ctx.controlplane_group, spec.capi_version.as_str(),
            kcp_kind, &ctx.kcp_name, None),
        "infrastructureRef": ctx.infra_ref(spec.provider.cluster_kind(),
            &ctx.infra_cluster_name, None),
    });
    if spec.topology {
        body_spec["topology"] = topology::cluster_topology(ctx);
    }
    let time = ctx.time(900);
    let new = concat(
        &[
            ("Available", true, "Available"),
            ("InfrastructureReady", true, "Ready"),
            ("ControlPlaneInitialized", true, "Initialized"),
            ("ControlPlaneAvailable", true, "Available"),
            ("WorkersAvailable", true, "Available"),
            ("RemoteConnectionProbe", true, "ProbeSucceeded"),
            ("MachinesReady", true, "Ready"),
            ("MachinesUpToDate", true, "UpToDate"),
            ("RollingOut", false, "NotRollingOut"),
        ],
        &NOT_PROGRESSING,
    );
    let conds = Conditions {
        old: &[
            "Ready",
            "ControlPlaneInitialized",
            "ControlPlaneReady",
            "InfrastructureReady",
        ],
        new: &new,
        time: &time,
        generation: 2,
    };
    let mut status = map([
        ("phase", "Provisioned".into()),
        ("observedGeneration", 2.into()),
    ]);
    let fds: &[&str] = match spec.provider {
        Provider::Docker => &["fd1", "fd2", "fd3"],
        _ => &[],
    };
    let counts = map([
        ("controlPlane", replicas(cp)),
        ("workers", replicas(workers)),
    ]);
    if ctx.v2 {
        status.extend(counts.clone());
        status.insert(
            "initialization".into(),
            json!({"infrastructureProvisioned": true, "controlPlaneInitialized": true}),
        );
        if !fds.is_empty() {
            let list: Vec<Value> = fds
                .iter()
                .map(|n| json!({"name": n, "controlPlane": true}))
                .collect();
            status.insert("failureDomains".into(), list.into());
        }
    } else {
        status.insert("infrastructureReady".into(), true.into());
        status.insert("controlPlaneReady".into(), true.into());
        if !fds.is_empty() {
            let m: Map<String, Value> = fds
                .iter()
                .map(|n| (n.to_string(), json!({"controlPlane": true})))
                .collect();
            status.insert("failureDomains".into(), m.into());
        }
    }
    put_conditions(ctx, &mut status, &conds, counts, Map::new());
    object! {
        "apiVersion": ctx.api_version(Kind::Cluster),
        "kind": "Cluster",
        "metadata": ctx.metadata(Kind::Cluster, &ctx.name, ctx.base_labels(), Map::new(), vec![]),
        "spec": body_spec,
        "status": status,
    }
}

/// The `KubeadmControlPlane` body.
pub(crate) fn kubeadm_control_plane(ctx: &ClusterCtx) -> Value {
    let spec = &ctx.spec;
    let n = u64::from(spec.control_plane_replicas);
    let template_ref = ctx.infra_ref(spec.provider.machine_template_kind(), &ctx.kcp_name, None);
    let config_spec = kubeadm_config_spec(ctx, ConfigVariant::ControlPlaneTemplate);
    let body_spec = if ctx.v2 {
        json!({
            "replicas": n,
            "version": spec.kubernetes_version,
            "machineTemplate": {"spec": {
                "infrastructureRef": template_ref,
                "deletion": {"nodeDeletionTimeoutSeconds": 10},
            }},
            "kubeadmConfigSpec": config_spec,
            "rollout": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        })
    } else {
        json!({
            "replicas": n,
            "version": spec.kubernetes_version,
            "machineTemplate": {"infrastructureRef": template_ref, "nodeDeletionTimeout": "10s"},
            "kubeadmConfigSpec": config_spec,
            "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        })
    };
    let time = ctx.time(900);
    let new = concat(
        &[
            ("Available", true, "Available"),
            ("CertificatesAvailable", true, "Available"),
            ("Initialized", true, "Initialized"),
            ("EtcdClusterHealthy", true, "Healthy"),
            ("ControlPlaneComponentsHealthy", true, "Healthy"),
            ("MachinesReady", true, "Ready"),
            ("MachinesUpToDate", true, "UpToDate"),
            ("RollingOut", false, "NotRollingOut"),
        ],
        &NOT_PROGRESSING,
    );
    let conds = Conditions {
        old: &[
            "Ready",
            "Available",
            "CertificatesAvailable",
            "ControlPlaneComponentsHealthy",
            "EtcdClusterHealthy",
            "MachinesCreated",
            "MachinesReady",
            "Resized",
        ],
        new: &new,
        time: &time,
        generation: 1,
    };
    let mut status = map([
        ("replicas", n.into()),
        ("readyReplicas", n.into()),
        ("selector", cp_selector(ctx).into()),
        ("version", spec.kubernetes_version.clone().into()),
        ("observedGeneration", 1.into()),
    ]);
    let new_counts = map([
        ("availableReplicas", n.into()),
        ("readyReplicas", n.into()),
        ("upToDateReplicas", n.into()),
    ]);
    let old_counts = map([
        ("readyReplicas", n.into()),
        ("updatedReplicas", n.into()),
        ("unavailableReplicas", 0.into()),
    ]);
    if ctx.v2 {
        status.extend(new_counts.clone());
        status.insert(
            "initialization".into(),
            json!({"controlPlaneInitialized": true}),
        );
    } else {
        status.extend(old_counts.clone());
        status.insert("initialized".into(), true.into());
        status.insert("ready".into(), true.into());
    }
    put_conditions(ctx, &mut status, &conds, new_counts, old_counts);
    let owner = ctx.owner_ref(Kind::Cluster, &ctx.name);
    let mut labels = ctx.base_labels();
    super::meta::mark_owned(ctx, &mut labels, None);
    object! {
        "apiVersion": ctx.api_version(Kind::KubeadmControlPlane),
        "kind": "KubeadmControlPlane",
        "metadata": ctx.metadata(Kind::KubeadmControlPlane, &ctx.kcp_name, labels,
            Map::new(), vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}

/// `spec.template.spec` of a MachineDeployment or MachineSet (a Machine spec that refers to
/// the templates instead of concrete objects).
fn machine_template_spec(ctx: &ClusterCtx, md: u32) -> Value {
    let spec = &ctx.spec;
    let name = md_name(ctx, md);
    let bootstrap = ctx.obj_ref(
        &ctx.bootstrap_group,
        spec.capi_version.as_str(),
        "KubeadmConfigTemplate",
        &name,
        None,
    );
    let infra = ctx.infra_ref(spec.provider.machine_template_kind(), &name, None);
    if ctx.v2 {
        json!({
            "clusterName": ctx.name,
            "version": spec.kubernetes_version,
            "bootstrap": {"configRef": bootstrap},
            "infrastructureRef": infra,
            "deletion": {"nodeDeletionTimeoutSeconds": 10},
        })
    } else {
        json!({
            "clusterName": ctx.name,
            "version": spec.kubernetes_version,
            "bootstrap": {"configRef": bootstrap},
            "infrastructureRef": infra,
            "nodeDeletionTimeout": "10s",
        })
    }
}

fn selector_labels(ctx: &ClusterCtx, md: u32, with_hash: bool) -> Map<String, Value> {
    let mut m = map([
        (CLUSTER_NAME_LABEL, ctx.name.clone().into()),
        (DEPLOYMENT_NAME_LABEL, md_name(ctx, md).into()),
    ]);
    if with_hash {
        m.insert(TEMPLATE_HASH_LABEL.into(), template_hash(ctx, md).into());
    }
    m
}

fn selector_string(labels: &Map<String, Value>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The replica-set status both MachineDeployments and MachineSets carry.
fn replica_status(
    ctx: &ClusterCtx,
    n: u64,
    selector: String,
    new: &[Cond2],
    old: &[&str],
    old_extra: &[&str],
) -> Map<String, Value> {
    let time = ctx.time(1200);
    let conds = Conditions {
        old,
        new,
        time: &time,
        generation: 1,
    };
    let mut status = map([
        ("replicas", n.into()),
        ("selector", selector.into()),
        ("observedGeneration", 1.into()),
    ]);
    let new_counts = map([
        ("readyReplicas", n.into()),
        ("availableReplicas", n.into()),
        ("upToDateReplicas", n.into()),
    ]);
    let mut old_counts = map([("readyReplicas", n.into()), ("availableReplicas", n.into())]);
    for &field in old_extra {
        let v = if field == "unavailableReplicas" { 0 } else { n };
        old_counts.insert(field.into(), v.into());
    }
    status.extend(if ctx.v2 { &new_counts } else { &old_counts }.clone());
    put_conditions(ctx, &mut status, &conds, new_counts, old_counts);
    status
}

/// The `MachineDeployment` body for deployment `md` with `replicas` workers.
pub(crate) fn machine_deployment(ctx: &ClusterCtx, md: u32, replicas: u64) -> Value {
    let name = md_name(ctx, md);
    let selector = selector_labels(ctx, md, false);
    let template = json!({
        "metadata": {"labels": selector},
        "spec": machine_template_spec(ctx, md),
    });
    let body_spec = if ctx.v2 {
        json!({
            "clusterName": ctx.name,
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
            "rollout": {"strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
            "deletion": {"order": "Random"},
        })
    } else {
        json!({
            "clusterName": ctx.name,
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0, "deletePolicy": "Random"}},
            "minReadySeconds": 0,
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 1,
        })
    };
    let new = concat(
        &[
            ("Available", true, "Available"),
            ("MachinesReady", true, "Ready"),
            ("MachinesUpToDate", true, "UpToDate"),
            ("RollingOut", false, "NotRollingOut"),
        ],
        &NOT_PROGRESSING,
    );
    let mut status = replica_status(
        ctx,
        replicas,
        selector_string(&selector),
        &new,
        &["Ready", "Available", "MachineSetReady"],
        &["updatedReplicas", "unavailableReplicas"],
    );
    status.insert("phase".into(), "Running".into());
    let annotations = map([(REVISION_ANNOTATION, "1".into())]);
    let owner = ctx.owner_ref(Kind::Cluster, &ctx.name);
    let mut labels = ctx.base_labels();
    super::meta::mark_owned(ctx, &mut labels, Some(md));
    object! {
        "apiVersion": ctx.api_version(Kind::MachineDeployment),
        "kind": "MachineDeployment",
        "metadata": ctx.metadata(Kind::MachineDeployment, &name, labels, annotations,
            vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}

/// The `MachineSet` body of deployment `md` with `replicas` workers.
pub(crate) fn machine_set(ctx: &ClusterCtx, md: u32, replicas: u64) -> Value {
    let name = ms_name(ctx, md);
    let selector = selector_labels(ctx, md, true);
    let template = json!({
        "metadata": {"labels": selector},
        "spec": machine_template_spec(ctx, md),
    });
    let body_spec = if ctx.v2 {
        json!({
            "clusterName": ctx.name,
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
            "deletion": {"order": "Random"},
        })
    } else {
        json!({
            "clusterName": ctx.name,
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
            "deletePolicy": "Random",
        })
    };
    let new = concat(
        &[
            ("MachinesReady", true, "Ready"),
            ("MachinesUpToDate", true, "UpToDate"),
        ],
        &NOT_PROGRESSING,
    );
    let status = replica_status(
        ctx,
        replicas,
        selector_string(&selector),
        &new,
        &["Ready", "MachinesCreated", "MachinesReady", "Resized"],
        &["fullyLabeledReplicas"],
    );
    let mut labels = ctx.base_labels();
    labels.insert(DEPLOYMENT_NAME_LABEL.into(), md_name(ctx, md).into());
    labels.insert(TEMPLATE_HASH_LABEL.into(), template_hash(ctx, md).into());
    let annotations = map([
        (
            "machinedeployment.clusters.x-k8s.io/desired-replicas",
            replicas.to_string().into(),
        ),
        (
            "machinedeployment.clusters.x-k8s.io/max-replicas",
            (replicas + 1).to_string().into(),
        ),
        (REVISION_ANNOTATION, "1".into()),
    ]);
    let owner = ctx.owner_ref(Kind::MachineDeployment, &md_name(ctx, md));
    object! {
        "apiVersion": ctx.api_version(Kind::MachineSet),
        "kind": "MachineSet",
        "metadata": ctx.metadata(Kind::MachineSet, &name, labels, annotations, vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}
