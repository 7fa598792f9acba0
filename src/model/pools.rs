//! Bodies of a cluster's MachineHealthChecks and MachinePools (with each pool's
//! KubeadmConfig, provider machine pool and bootstrap Secret), for v1beta1 and v1beta2.
//!
//! Shapes follow Cluster API's `MachineHealthCheck` and `MachinePool` types
//! (`api/core/v1beta2`, <https://github.com/kubernetes-sigs/cluster-api>) and CAPD's
//! `DockerMachinePool`; a health check is what `clusterctl generate cluster` templates and
//! the topology controller create: one for the control plane, one per MachineDeployment.

use serde_json::{json, Map, Value};

use super::capi::{md_name, DEPLOYMENT_NAME_LABEL};
use super::kinds::Kind;
use super::machine::{kubeadm_config_spec, kubeadm_config_status, ConfigVariant, MachineInfo};
use super::meta::{conditions_v1, conditions_v2, map, put_conditions, ClusterCtx, Conditions};
use super::{cloudinit, secrets, CLUSTER_NAME_LABEL};

/// Label Cluster API puts on a MachinePool's objects.
const POOL_NAME_LABEL: &str = "cluster.x-k8s.io/pool-name";
/// Seconds a node may take to join before a health check remediates it.
const NODE_STARTUP_SECONDS: u64 = 600;
/// Seconds a node may be not ready before a health check remediates it.
const UNHEALTHY_SECONDS: u64 = 300;

/// Name of health check `i` (0 = the control plane's, `1 + d` = MachineDeployment `d`'s).
pub(crate) fn health_check_name(ctx: &ClusterCtx, i: u32) -> String {
    match i {
        0 => format!("{}-mhc", ctx.kcp_name),
        d => format!("{}-mhc", md_name(ctx, d - 1)),
    }
}

/// Name of MachinePool `p`: `<cluster>-mp-<p>`.
pub(crate) fn pool_name(ctx: &ClusterCtx, p: u32) -> String {
    format!("{}-mp-{p}", ctx.name)
}

/// Name of MachinePool `p`'s provider machine pool: `<cluster>-mp-<p>-infra` (the pool's
/// objects get names of their own so that every name in a namespace is one object's).
pub(crate) fn infra_pool_name(ctx: &ClusterCtx, p: u32) -> String {
    format!("{}-infra", pool_name(ctx, p))
}

/// Name of MachinePool `p`'s KubeadmConfig and of its bootstrap Secret.
pub(crate) fn pool_config_name(ctx: &ClusterCtx, p: u32) -> String {
    format!("{}-config", pool_name(ctx, p))
}

/// The `MachineHealthCheck` body of health check `i`.
pub(crate) fn machine_health_check(ctx: &ClusterCtx, i: u32) -> Value {
    let name = health_check_name(ctx, i);
    let selector = match i {
        0 => json!({"matchLabels": {
            CLUSTER_NAME_LABEL: ctx.name,
            "cluster.x-k8s.io/control-plane": "",
        }}),
        d => json!({"matchLabels": {
            CLUSTER_NAME_LABEL: ctx.name,
            DEPLOYMENT_NAME_LABEL: md_name(ctx, d - 1),
        }}),
    };
    let expected = if i == 0 {
        u64::from(ctx.spec.control_plane_replicas)
    } else {
        u64::from(ctx.spec.workers_per_machine_deployment)
    };
    let body_spec = if ctx.v2 {
        json!({
            "clusterName": ctx.name,
            "selector": selector,
            "checks": {
                "nodeStartupTimeoutSeconds": NODE_STARTUP_SECONDS,
                "unhealthyNodeConditions": [
                    {"type": "Ready", "status": "Unknown", "timeoutSeconds": UNHEALTHY_SECONDS},
                    {"type": "Ready", "status": "False", "timeoutSeconds": UNHEALTHY_SECONDS},
                ],
            },
            "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": "100%"}},
        })
    } else {
        json!({
            "clusterName": ctx.name,
            "selector": selector,
            "maxUnhealthy": "100%",
            "nodeStartupTimeout": format!("{}m0s", NODE_STARTUP_SECONDS / 60),
            "unhealthyConditions": [
                {"type": "Ready", "status": "Unknown", "timeout": format!("{UNHEALTHY_SECONDS}s")},
                {"type": "Ready", "status": "False", "timeout": format!("{UNHEALTHY_SECONDS}s")},
            ],
        })
    };
    let time = ctx.time(960);
    let conds = Conditions {
        old: &["RemediationAllowed"],
        new: &[
            ("RemediationAllowed", true, "RemediationAllowed"),
            ("Paused", false, "NotPaused"),
        ],
        time: &time,
        generation: 1,
    };
    let mut status = map([
        ("expectedMachines", expected.into()),
        ("currentHealthy", expected.into()),
        ("remediationsAllowed", expected.into()),
        ("observedGeneration", 1.into()),
    ]);
    put_conditions(ctx, &mut status, &conds, Map::new(), Map::new());
    let owner = ctx.owner_ref(Kind::Cluster, &ctx.name);
    object! {
        "apiVersion": ctx.api_version(Kind::MachineHealthCheck),
        "kind": "MachineHealthCheck",
        "metadata": ctx.metadata(Kind::MachineHealthCheck, &name, ctx.base_labels(), Map::new(),
            vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}

fn pool_labels(ctx: &ClusterCtx, p: u32) -> Map<String, Value> {
    let mut labels = ctx.base_labels();
    labels.insert(POOL_NAME_LABEL.into(), pool_name(ctx, p).into());
    labels
}

/// Instance ids of MachinePool `p`'s replicas, as its provider reports them.
fn provider_ids(ctx: &ClusterCtx, p: u32) -> Vec<Value> {
    (0..ctx.spec.machine_pool_replicas)
        .map(|r| format!("docker:////{}-{r}", infra_pool_name(ctx, p)).into())
        .collect()
}

/// The `MachinePool` body of pool `p`.
pub(crate) fn machine_pool(ctx: &ClusterCtx, p: u32) -> Value {
    let spec = &ctx.spec;
    let name = pool_name(ctx, p);
    let n = u64::from(spec.machine_pool_replicas);
    let config = pool_config_name(ctx, p);
    let infra_kind = &ctx.api(Kind::InfraMachinePool).kind;
    let bootstrap = ctx.obj_ref(
        &ctx.bootstrap_group,
        spec.capi_version.as_str(),
        "KubeadmConfig",
        &config,
        None,
    );
    let infra = ctx.infra_ref(infra_kind, &infra_pool_name(ctx, p), None);
    let mut template_spec = map([
        ("clusterName", ctx.name.clone().into()),
        ("version", spec.kubernetes_version.clone().into()),
        (
            "bootstrap",
            json!({"configRef": bootstrap, "dataSecretName": config}),
        ),
        ("infrastructureRef", infra),
    ]);
    if ctx.v2 {
        template_spec.insert("deletion".into(), json!({"nodeDeletionTimeoutSeconds": 10}));
    } else {
        template_spec.insert("nodeDeletionTimeout".into(), "10s".into());
    }
    let body_spec = json!({
        "clusterName": ctx.name,
        "replicas": n,
        "template": {"metadata": {"labels": pool_labels(ctx, p)}, "spec": template_spec},
        "providerIDList": provider_ids(ctx, p),
    });
    let time = ctx.time(1200);
    let conds = Conditions {
        old: &[
            "Ready",
            "BootstrapReady",
            "InfrastructureReady",
            "ReplicasReady",
        ],
        new: &[
            ("Available", true, "Available"),
            ("BootstrapConfigReady", true, "Ready"),
            ("InfrastructureReady", true, "Ready"),
            ("MachinesReady", true, "Ready"),
            ("MachinesUpToDate", true, "UpToDate"),
            ("ScalingUp", false, "NotScalingUp"),
            ("ScalingDown", false, "NotScalingDown"),
            ("Remediating", false, "NotRemediating"),
            ("Deleting", false, "NotDeleting"),
            ("Paused", false, "NotPaused"),
        ],
        time: &time,
        generation: 1,
    };
    let counts = map([
        ("readyReplicas", n.into()),
        ("availableReplicas", n.into()),
        ("upToDateReplicas", n.into()),
    ]);
    let mut status = map([
        ("replicas", n.into()),
        ("phase", "Running".into()),
        ("observedGeneration", 1.into()),
    ]);
    if ctx.v2 {
        status.extend(counts.clone());
        status.insert(
            "initialization".into(),
            json!({"bootstrapDataSecretCreated": true, "infrastructureProvisioned": true}),
        );
    } else {
        status.insert("readyReplicas".into(), n.into());
        status.insert("availableReplicas".into(), n.into());
        status.insert("unavailableReplicas".into(), 0.into());
        status.insert("bootstrapReady".into(), true.into());
        status.insert("infrastructureReady".into(), true.into());
    }
    put_conditions(ctx, &mut status, &conds, counts, Map::new());
    let owner = ctx.owner_ref(Kind::Cluster, &ctx.name);
    object! {
        "apiVersion": ctx.api_version(Kind::MachinePool),
        "kind": "MachinePool",
        "metadata": ctx.metadata(Kind::MachinePool, &name, pool_labels(ctx, p), Map::new(),
            vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}

/// What the pool's bootstrap objects share with a worker machine's (a joining worker's
/// kubeadm configuration and cloud-init).
fn pool_info(ctx: &ClusterCtx, p: u32) -> MachineInfo {
    let name = pool_name(ctx, p);
    MachineInfo {
        // Past any real machine ordinal: only seeds the pool's pseudo-random content.
        m: 4_000_000 + u64::from(p),
        md: Some(u32::MAX),
        variant: ConfigVariant::Worker,
        machine_name: name.clone(),
        config_name: pool_config_name(ctx, p),
        infra_name: infra_pool_name(ctx, p),
        template_name: name,
        ms_name: None,
        ip: super::names::ipv4(ctx.subnet | (4000 + p % 64)),
        created: 60,
    }
}

/// The KubeadmConfig of MachinePool `p` (owned by the pool, as Cluster API sets it).
pub(crate) fn pool_kubeadm_config(ctx: &ClusterCtx, p: u32) -> Value {
    let info = pool_info(ctx, p);
    let status = kubeadm_config_status(ctx, &info.config_name, &ctx.time(120), 1);
    let owner = ctx.owner_ref(Kind::MachinePool, &pool_name(ctx, p));
    object! {
        "apiVersion": ctx.api_version(Kind::KubeadmConfig),
        "kind": "KubeadmConfig",
        "metadata": ctx.metadata(Kind::KubeadmConfig, &info.config_name, pool_labels(ctx, p),
            Map::new(), vec![owner]),
        "spec": kubeadm_config_spec(ctx, ConfigVariant::Worker),
        "status": status,
    }
}

/// The provider machine pool of MachinePool `p` (CAPD's `DockerMachinePool`).
pub(crate) fn infra_machine_pool(ctx: &ClusterCtx, p: u32) -> Value {
    let version = &ctx.spec.kubernetes_version;
    let name = infra_pool_name(ctx, p);
    let time = ctx.time(180);
    let instances: Vec<Value> = (0..ctx.spec.machine_pool_replicas)
        .map(|r| {
            let instance = format!("{name}-{r}");
            json!({
                "instanceName": instance,
                "providerID": format!("docker:////{instance}"),
                "version": version,
                "ready": true,
                "bootstrapped": true,
                "addresses": [
                    {"type": "Hostname", "address": instance},
                    {"type": "InternalIP", "address": instance_ip(ctx, r)},
                ],
            })
        })
        .collect();
    let mut status = map([
        ("ready", true.into()),
        ("replicas", ctx.spec.machine_pool_replicas.into()),
        ("observedGeneration", 1.into()),
        ("instances", instances.into()),
    ]);
    // DockerMachinePool keeps `ready` in v1beta2 too (it has no `initialization`).
    let old = ["Ready", "ReplicasReady"];
    if ctx.provider_v2 {
        let new = [("Ready", true, "Ready"), ("ReplicasReady", true, "Ready")];
        status.insert("conditions".into(), conditions_v2(&new, &time, 1));
        status.insert(
            "deprecated".into(),
            json!({"v1beta1": {"conditions": conditions_v1(&old, &time)}}),
        );
    } else {
        status.insert("conditions".into(), conditions_v1(&old, &time));
    }
    let owner = ctx.owner_ref(Kind::MachinePool, &pool_name(ctx, p));
    object! {
        "apiVersion": ctx.api_version(Kind::InfraMachinePool),
        "kind": ctx.api(Kind::InfraMachinePool).kind.clone(),
        "metadata": ctx.metadata(Kind::InfraMachinePool, &name, pool_labels(ctx, p), Map::new(),
            vec![owner]),
        "spec": json!({
            "template": {"customImage": format!("kindest/node:{version}")},
            "providerIDList": provider_ids(ctx, p),
        }),
        "status": status,
    }
}

/// The InternalIP of a pool's replica `r` (the same in every pool of a cluster).
fn instance_ip(ctx: &ClusterCtx, r: u32) -> String {
    super::names::ipv4(ctx.subnet | (3000 + r % 900))
}

/// The InternalIPs of a pool's replicas.
pub(crate) fn instance_ips(ctx: &ClusterCtx) -> Vec<String> {
    (0..ctx.spec.machine_pool_replicas)
        .map(|r| instance_ip(ctx, r))
        .collect()
}

/// The cloud-init of MachinePool `p`'s bootstrap Secret, `size` bytes.
pub(crate) fn pool_cloud_init(ctx: &ClusterCtx, p: u32, size: usize) -> String {
    cloudinit::cloud_init(ctx, &pool_info(ctx, p), size)
}

/// The bootstrap Secret of MachinePool `p`: named after its KubeadmConfig, owned by it.
pub(crate) fn pool_bootstrap_secret(ctx: &ClusterCtx, p: u32) -> Value {
    let cloud_init = pool_cloud_init(ctx, p, ctx.spec.payload.bootstrap_data_bytes);
    secrets::bootstrap_secret_with(ctx, &pool_config_name(ctx, p), &cloud_init)
}
