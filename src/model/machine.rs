//! Per-machine names and the `Machine` and `KubeadmConfig` bodies.

use serde_json::{json, Map, Value};

pub(crate) use super::kubeadm::{kubeadm_config_spec, ConfigVariant};
pub(crate) use super::machine_info::MachineInfo;

use super::capi::{self, DEPLOYMENT_NAME_LABEL, SET_NAME_LABEL, TEMPLATE_HASH_LABEL};
use super::kinds::Kind;
use super::layout::Layout;
use super::meta::{cloned_from, map, put_conditions, ClusterCtx, Cond2, Conditions};
use super::names::{self, format_uuid};
use super::providers;

/// Label marking control-plane Machines (value "").
pub(crate) const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";
/// Label naming a control-plane Machine's KubeadmControlPlane.
pub(crate) const CONTROL_PLANE_NAME_LABEL: &str = "cluster.x-k8s.io/control-plane-name";
/// Annotation KubeadmControlPlane puts on its Machines.
const CLUSTER_CONFIGURATION_ANNOTATION: &str =
    "controlplane.cluster.x-k8s.io/kubeadm-cluster-configuration";

impl MachineInfo {
    /// Names and facts of machine `m` of the cluster.
    pub(crate) fn new(ctx: &ClusterCtx, layout: &Layout, m: u64) -> MachineInfo {
        let md = layout.machine_deployment_of(m);
        let sfx = |slot| names::suffix(ctx.key, names::machine_ordinal(m, slot));
        let (variant, prefix, template_name, ms_name) = match md {
            None => (
                if m == 0 {
                    ConfigVariant::Init
                } else {
                    ConfigVariant::JoinControlPlane
                },
                ctx.kcp_name.clone(),
                ctx.kcp_name.clone(),
                None,
            ),
            Some(md) => {
                let ms = capi::ms_name(ctx, md);
                (
                    ConfigVariant::Worker,
                    ms.clone(),
                    capi::md_name(ctx, md),
                    Some(ms),
                )
            }
        };
        MachineInfo {
            m,
            md,
            variant,
            machine_name: format!("{prefix}-{}", sfx(0)),
            config_name: format!("{template_name}-{}", sfx(1)),
            infra_name: format!("{template_name}-{}", sfx(2)),
            template_name,
            ms_name,
            ip: names::ipv4(ctx.subnet | (10 + (m % 4000)) as u32),
            created: 60 + 4 * m,
        }
    }

    /// Labels of the Machine and of the objects cloned for it.
    pub(crate) fn labels(&self, ctx: &ClusterCtx) -> Map<String, Value> {
        let mut labels = ctx.base_labels();
        match (self.md, &self.ms_name) {
            (Some(md), Some(ms)) => {
                labels.insert(DEPLOYMENT_NAME_LABEL.into(), capi::md_name(ctx, md).into());
                labels.insert(SET_NAME_LABEL.into(), ms.clone().into());
                labels.insert(
                    TEMPLATE_HASH_LABEL.into(),
                    capi::template_hash(ctx, md).into(),
                );
            }
            _ => {
                labels.insert(CONTROL_PLANE_LABEL.into(), "".into());
                labels.insert(CONTROL_PLANE_NAME_LABEL.into(), ctx.kcp_name.clone().into());
            }
        }
        labels
    }
}

/// The Node's system info, as the Machine controller copies it.
fn node_info(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let mut rng = ctx.rng(info.m, 3);
    let boot_id = format_uuid(rng.next_u64(), rng.next_u64());
    let system_uuid = format_uuid(rng.next_u64(), rng.next_u64());
    let mut machine_id = String::with_capacity(32);
    rng.push_hex(&mut machine_id, 32);
    let (os_image, kernel) = providers::os_image(ctx.spec.provider);
    let version = &ctx.spec.kubernetes_version;
    json!({
        "architecture": "amd64",
        "bootID": boot_id,
        "containerRuntimeVersion": "containerd://1.7.22",
        "kernelVersion": kernel,
        "kubeProxyVersion": version,
        "kubeletVersion": version,
        "machineID": machine_id,
        "operatingSystem": "linux",
        "osImage": os_image,
        "systemUUID": system_uuid,
    })
}

const MACHINE_CONDS: [Cond2; 9] = [
    ("Available", true, "Available"),
    ("Ready", true, "Ready"),
    ("UpToDate", true, "UpToDate"),
    ("BootstrapConfigReady", true, "Ready"),
    ("InfrastructureReady", true, "Ready"),
    ("NodeHealthy", true, "NodeHealthy"),
    ("NodeReady", true, "NodeReady"),
    ("Deleting", false, "NotDeleting"),
    ("Paused", false, "NotPaused"),
];
const CP_MACHINE_CONDS: [Cond2; 5] = [
    ("APIServerPodHealthy", true, "Running"),
    ("ControllerManagerPodHealthy", true, "Running"),
    ("SchedulerPodHealthy", true, "Running"),
    ("EtcdPodHealthy", true, "Running"),
    ("EtcdMemberHealthy", true, "Healthy"),
];
const MACHINE_OLD: [&str; 4] = [
    "Ready",
    "BootstrapReady",
    "InfrastructureReady",
    "NodeHealthy",
];
const CP_MACHINE_OLD: [&str; 9] = [
    "Ready",
    "BootstrapReady",
    "InfrastructureReady",
    "NodeHealthy",
    "APIServerPodHealthy",
    "ControllerManagerPodHealthy",
    "EtcdMemberHealthy",
    "EtcdPodHealthy",
    "SchedulerPodHealthy",
];

/// The `Machine` body.
pub(crate) fn machine(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let spec = &ctx.spec;
    let cp = info.is_control_plane();
    let config_ref = ctx.obj_ref(
        &ctx.bootstrap_group,
        spec.capi_version.as_str(),
        "KubeadmConfig",
        &info.config_name,
        Some(ctx.uid(&info.config_name)),
    );
    let infra_ref = ctx.infra_ref(
        spec.provider.machine_kind(),
        &info.infra_name,
        Some(ctx.uid(&info.infra_name)),
    );
    let mut body_spec = map([
        ("clusterName", ctx.name.clone().into()),
        (
            "bootstrap",
            json!({"configRef": config_ref, "dataSecretName": info.config_name}),
        ),
        ("infrastructureRef", infra_ref),
        ("version", spec.kubernetes_version.clone().into()),
        ("providerID", providers::provider_id(ctx, info).into()),
    ]);
    if let Some(fd) = providers::failure_domain(spec.provider, info.m) {
        body_spec.insert("failureDomain".into(), fd.into());
    }
    if ctx.v2 {
        body_spec.insert("deletion".into(), json!({"nodeDeletionTimeoutSeconds": 10}));
    } else {
        body_spec.insert("nodeDeletionTimeout".into(), "10s".into());
    }

    let time = info.ready_time(ctx);
    let mut new: Vec<Cond2> = MACHINE_CONDS.to_vec();
    if cp {
        new.extend_from_slice(&CP_MACHINE_CONDS);
    }
    let conds = Conditions {
        old: if cp { &CP_MACHINE_OLD } else { &MACHINE_OLD },
        new: &new,
        time: &time,
        generation: 3,
    };
    let mut status = map([
        ("addresses", providers::addresses(ctx, info)),
        ("lastUpdated", time.clone().into()),
        ("nodeInfo", node_info(ctx, info)),
        ("observedGeneration", 3.into()),
        ("phase", "Running".into()),
    ]);
    if cp {
        // kubeadm certificates are valid one year.
        let expiry = names::rfc3339(ctx.t0 + info.created + 365 * 86_400);
        status.insert("certificatesExpiryDate".into(), expiry.into());
    }
    if ctx.v2 {
        status.insert("nodeRef".into(), json!({"name": info.machine_name}));
        status.insert(
            "initialization".into(),
            json!({"bootstrapDataSecretCreated": true, "infrastructureProvisioned": true}),
        );
    } else {
        let node_uid = {
            let mut rng = ctx.rng(info.m, 4);
            format_uuid(rng.next_u64(), rng.next_u64())
        };
        status.insert(
            "nodeRef".into(),
            json!({"apiVersion": "v1", "kind": "Node", "name": info.machine_name, "uid": node_uid}),
        );
        status.insert("bootstrapReady".into(), true.into());
        status.insert("infrastructureReady".into(), true.into());
    }
    put_conditions(ctx, &mut status, &conds, Map::new(), Map::new());

    let mut annotations = Map::new();
    let owner = if cp {
        annotations.insert(
            CLUSTER_CONFIGURATION_ANNOTATION.into(),
            ctx.cluster_configuration_json.clone().into(),
        );
        ctx.owner_ref(Kind::KubeadmControlPlane, &ctx.kcp_name)
    } else {
        let ms = info.ms_name.as_deref().unwrap_or_default();
        ctx.owner_ref(Kind::MachineSet, ms)
    };
    object! {
        "apiVersion": ctx.api_version(Kind::Machine),
        "kind": "Machine",
        "metadata": ctx.metadata(Kind::Machine, &info.machine_name, info.labels(ctx),
            annotations, vec![owner]),
        "spec": body_spec,
        "status": status,
    }
}

/// The `status` of a KubeadmConfig whose bootstrap data is in Secret `data_secret`,
/// ready since `time` at `generation`.
pub(crate) fn kubeadm_config_status(
    ctx: &ClusterCtx,
    data_secret: &str,
    time: &str,
    generation: u64,
) -> Map<String, Value> {
    let conds = Conditions {
        old: &["Ready", "CertificatesAvailable", "DataSecretAvailable"],
        new: &[
            ("Ready", true, "Ready"),
            ("DataSecretAvailable", true, "Available"),
            ("CertificatesAvailable", true, "Available"),
            ("Paused", false, "NotPaused"),
        ],
        time,
        generation,
    };
    let mut status = map([
        ("dataSecretName", data_secret.into()),
        ("observedGeneration", generation.into()),
    ]);
    if ctx.v2 {
        status.insert("initialization".into(), json!({"dataSecretCreated": true}));
    } else {
        status.insert("ready".into(), true.into());
    }
    put_conditions(ctx, &mut status, &conds, Map::new(), Map::new());
    status
}

/// The `KubeadmConfig` body.
pub(crate) fn kubeadm_config(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let status = kubeadm_config_status(ctx, &info.config_name, &ctx.time(info.created + 30), 2);
    let annotations = if info.is_control_plane() {
        Map::new()
    } else {
        cloned_from(
            &info.template_name,
            "KubeadmConfigTemplate",
            &ctx.bootstrap_group,
        )
    };
    object! {
        "apiVersion": ctx.api_version(Kind::KubeadmConfig),
        "kind": "KubeadmConfig",
        "metadata": ctx.metadata(Kind::KubeadmConfig, &info.config_name, info.labels(ctx),
            annotations, vec![info.machine_owner(ctx)]),
        "spec": kubeadm_config_spec(ctx, info.variant),
        "status": status,
    }
}
