//! Provider objects (Metal3, Nutanix, Docker) in the provider API version the fleet writes,
//! and the provider-specific details of Machines (provider IDs, addresses, failure domains).
//!
//! The `v1beta2` shapes follow the providers' published Go types and CRDs (CAPM3 v1.13
//! `api/v1beta2`, CAPD in Cluster API v1.14 `test/infrastructure/docker/api/v1beta2`):
//! `status.ready` becomes `status.initialization.provisioned`, `status.conditions` holds
//! `metav1.Condition`s (reason and message required) and the old conditions move to
//! `status.deprecated.v1beta1.conditions`; failure domains are a list of `{name,
//! controlPlane}` instead of a map; Metal3Cluster's `noCloudProvider: true` becomes
//! `cloudProviderEnabled: false` and Metal3Machine's `image.format` is `image.diskFormat`.
//! Nutanix publishes no `v1beta2`.

use serde_json::{json, Map, Value};

use super::kinds::{Kind, Provider};
use super::machine_info::MachineInfo;
use super::meta::{conditions_v1, conditions_v2, map, ClusterCtx, Cond2};
use super::names::format_uuid;

/// Puts a provider object's readiness and conditions into `status`: `v1beta1` `ready` and
/// the old conditions (`old`); `v1beta2` `initialization.provisioned`, the new conditions
/// (`new`) and the old ones under `deprecated.v1beta1`.
pub(crate) fn put_provider_status(
    ctx: &ClusterCtx,
    status: &mut Map<String, Value>,
    old: &[&str],
    new: &[Cond2],
    time: &str,
) {
    if ctx.provider_v2 {
        status.insert("initialization".into(), json!({"provisioned": true}));
        status.insert("conditions".into(), conditions_v2(new, time, 1));
        status.insert(
            "deprecated".into(),
            json!({"v1beta1": {"conditions": conditions_v1(old, time)}}),
        );
    } else {
        status.insert("ready".into(), true.into());
        status.insert("conditions".into(), conditions_v1(old, time));
    }
}

/// Failure domains in the provider version's shape: a map of name to `{controlPlane}` in
/// `v1beta1`, a list of `{name, controlPlane}` in `v1beta2`.
fn failure_domains(ctx: &ClusterCtx, names: &[&str]) -> Value {
    if ctx.provider_v2 {
        names
            .iter()
            .map(|fd| json!({"name": fd, "controlPlane": true}))
            .collect()
    } else {
        let m: Map<String, Value> = names
            .iter()
            .map(|fd| (fd.to_string(), json!({"controlPlane": true})))
            .collect();
        m.into()
    }
}

const DOCKER_FAILURE_DOMAINS: [&str; 3] = ["fd1", "fd2", "fd3"];

/// `(osImage, kernelVersion)` of the provider's nodes.
pub(crate) fn os_image(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Metal3 => ("Ubuntu 22.04.5 LTS", "5.15.0-122-generic"),
        Provider::Nutanix => ("Ubuntu 22.04.4 LTS", "5.15.0-116-generic"),
        Provider::Docker => ("Debian GNU/Linux 12 (bookworm)", "6.1.0-27-amd64"),
    }
}

/// The failure domain of machine `m`, if the provider has them (CAPD control plane only).
pub(crate) fn failure_domain(provider: Provider, m: u64) -> Option<&'static str> {
    (provider == Provider::Docker).then(|| DOCKER_FAILURE_DOMAINS[(m % 3) as usize])
}

/// Name of the BareMetalHost a Metal3Machine is bound to.
pub(crate) fn bare_metal_host(ctx: &ClusterCtx, info: &MachineInfo) -> String {
    format!("{}-bmh-{:04}", ctx.name, info.m)
}

/// UUID of a Nutanix VM.
fn vm_uuid(ctx: &ClusterCtx, info: &MachineInfo) -> String {
    let mut rng = ctx.rng(info.m, 5);
    format_uuid(rng.next_u64(), rng.next_u64())
}

/// `spec.providerID` of the Machine and the provider machine.
pub(crate) fn provider_id(ctx: &ClusterCtx, info: &MachineInfo) -> String {
    match ctx.spec.provider {
        Provider::Metal3 => format!(
            "metal3://{}/{}/{}",
            ctx.ns,
            bare_metal_host(ctx, info),
            info.infra_name
        ),
        Provider::Nutanix => format!("nutanix://{}", vm_uuid(ctx, info)),
        Provider::Docker => format!("docker:////{}", info.infra_name),
    }
}

/// `status.addresses` of the Machine and the provider machine.
pub(crate) fn addresses(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let host = &info.machine_name;
    match ctx.spec.provider {
        Provider::Metal3 => json!([
            {"type": "InternalIP", "address": info.ip},
            {"type": "Hostname", "address": host},
            {"type": "InternalDNS", "address": host},
        ]),
        Provider::Nutanix => json!([
            {"type": "InternalIP", "address": info.ip},
            {"type": "Hostname", "address": host},
        ]),
        Provider::Docker => json!([
            {"type": "Hostname", "address": host},
            {"type": "InternalIP", "address": info.ip},
            {"type": "ExternalIP", "address": info.ip},
        ]),
    }
}

/// The provider cluster object (`Metal3Cluster`, `NutanixCluster`, `DockerCluster`).
pub(crate) fn infra_cluster(ctx: &ClusterCtx) -> Value {
    let endpoint = json!({"host": ctx.endpoint_host, "port": 6443});
    let time = ctx.time(120);
    type Conds = (&'static [&'static str], &'static [Cond2]);
    let (spec, mut status, (old, new)): (Value, Map<String, Value>, Conds) = match ctx.spec.provider
    {
        Provider::Metal3 => (
            if ctx.provider_v2 {
                json!({"controlPlaneEndpoint": endpoint, "cloudProviderEnabled": false})
            } else {
                json!({"controlPlaneEndpoint": endpoint, "noCloudProvider": true})
            },
            map([("lastUpdated", time.clone().into())]),
            (
                &["Ready", "BaremetalInfrastructureReady"],
                &[
                    ("Ready", true, "Ready"),
                    ("BaremetalInfrastructureReady", true, "Ready"),
                ],
            ),
        ),
        Provider::Nutanix => (
            json!({
                "controlPlaneEndpoint": endpoint,
                "prismCentral": {
                    "address": "prism-central.example.internal",
                    "port": 9440,
                    "insecure": false,
                    "credentialRef": {
                        "kind": "Secret",
                        "name": format!("{}-pc-creds", ctx.name),
                        "namespace": ctx.ns,
                    },
                },
            }),
            Map::new(),
            (
                &["Ready", "PrismClientInit", "CredentialRefSecretOwnerSet"],
                &[],
            ),
        ),
        Provider::Docker => {
            let fds = failure_domains(ctx, &DOCKER_FAILURE_DOMAINS);
            (
                json!({
                    "controlPlaneEndpoint": endpoint,
                    "loadBalancer": {"imageRepository": "kindest", "imageTag": "v20230510-486859a6"},
                    "failureDomains": fds,
                }),
                map([("failureDomains", fds)]),
                (
                    &["Ready", "LoadBalancerAvailable"],
                    &[
                        ("Ready", true, "Ready"),
                        ("LoadBalancerAvailable", true, "Available"),
                    ],
                ),
            )
        }
    };
    put_provider_status(ctx, &mut status, old, new, &time);
    let owner = ctx.owner_ref(Kind::Cluster, &ctx.name);
    let mut labels = ctx.base_labels();
    super::meta::mark_owned(ctx, &mut labels, None);
    object! {
        "apiVersion": ctx.api_version(Kind::InfraCluster),
        "kind": ctx.spec.provider.cluster_kind(),
        "metadata": ctx.metadata(Kind::InfraCluster, &ctx.infra_cluster_name, labels,
            Map::new(), vec![owner]),
        "spec": spec,
        "status": status,
    }
}

/// The provider machine object (`Metal3Machine`, `NutanixMachine`, `DockerMachine`).
pub(crate) fn infra_machine(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let cp = info.is_control_plane();
    let time = info.ready_time(ctx);
    let version = &ctx.spec.kubernetes_version;
    let ns_ref = |name: String| json!({"name": name, "namespace": ctx.ns});
    let mut annotations = super::meta::cloned_from(
        &info.template_name,
        ctx.spec.provider.machine_template_kind(),
        &ctx.infra_group,
    );
    let mut status = map([("addresses", addresses(ctx, info))]);
    let (spec, old, new): (Value, &[&str], &[Cond2]) = match ctx.spec.provider {
        Provider::Metal3 => {
            let bmh = bare_metal_host(ctx, info);
            annotations.insert(
                "metal3.io/BareMetalHost".into(),
                format!("{}/{bmh}", ctx.ns).into(),
            );
            let image =
                format!("http://172.22.0.1/images/UBUNTU_22.04_NODE_IMAGE_K8S_{version}-raw.img");
            let template = format!(
                "{}-{}-template",
                ctx.name,
                if cp { "controlplane" } else { "workers" }
            );
            status.insert("lastUpdated".into(), time.clone().into());
            status.insert(
                "renderedData".into(),
                ns_ref(format!("{template}-{}", info.m)),
            );
            status.insert(
                "userData".into(),
                ns_ref(format!("{}-user-data", info.infra_name)),
            );
            status.insert(
                "metaData".into(),
                ns_ref(format!("{}-metadata", info.infra_name)),
            );
            status.insert(
                "networkData".into(),
                ns_ref(format!("{}-networkdata", info.infra_name)),
            );
            let format_key = if ctx.provider_v2 {
                "diskFormat"
            } else {
                "format"
            };
            (
                json!({
                    "providerID": provider_id(ctx, info),
                    "image": {
                        "url": image,
                        "checksum": format!("{image}.sha256sum"),
                        "checksumType": "sha256",
                        format_key: "raw",
                    },
                    "hostSelector": {"matchLabels": {
                        "cluster-role": if cp { "control-plane" } else { "worker" },
                    }},
                    "dataTemplate": ns_ref(template),
                    "automatedCleaningMode": "metadata",
                }),
                &[
                    "Ready",
                    "AssociateBMH",
                    "KubernetesNodeReady",
                    "Metal3DataReady",
                ],
                &[
                    ("Ready", true, "Ready"),
                    (
                        "AssociateBareMetalHost",
                        true,
                        "AssociateBareMetalHostSuccess",
                    ),
                    (
                        "AssociateMetal3MachineMetaData",
                        true,
                        "AssociateMetal3MachineMetaDataSuccess",
                    ),
                    ("Metal3DataReady", true, "Metal3DataSecretsReady"),
                ],
            )
        }
        Provider::Nutanix => {
            let uuid = vm_uuid(ctx, info);
            status.insert("vmUUID".into(), uuid.clone().into());
            let node_uid = {
                let mut rng = ctx.rng(info.m, 4);
                format_uuid(rng.next_u64(), rng.next_u64())
            };
            status.insert(
                "nodeRef".into(),
                json!({"apiVersion": "v1", "kind": "Node", "name": info.machine_name,
                       "uid": node_uid}),
            );
            (
                json!({
                    "providerID": format!("nutanix://{uuid}"),
                    "vcpusPerSocket": 1,
                    "vcpuSockets": if cp { 2 } else { 4 },
                    "memorySize": if cp { "4Gi" } else { "8Gi" },
                    "systemDiskSize": "40Gi",
                    "bootType": "legacy",
                    "image": {"type": "name", "name": format!("ubuntu-2204-kube-{version}")},
                    "cluster": {"type": "name", "name": "pe-cluster-01"},
                    "subnet": [{"type": "name", "name": "vlan-173"}],
                    "additionalCategories": [{"key": "AppType", "value": "Kubernetes"}],
                }),
                &["Ready", "VMProvisioned", "VMAddressesAssigned"],
                &[],
            )
        }
        Provider::Docker => {
            if cp {
                status.insert("loadBalancerConfigured".into(), true.into());
            }
            // No `bootstrapped`: CAPD's v1beta1 and v1beta2 DockerMachineSpec of Cluster API
            // v1.14 have none (the old field was dropped).
            let mut spec = map([
                ("providerID", provider_id(ctx, info).into()),
                ("customImage", format!("kindest/node:{version}").into()),
            ]);
            if !cp {
                spec.insert(
                    "extraMounts".into(),
                    json!([{"containerPath": "/var/run/docker.sock",
                            "hostPath": "/var/run/docker.sock"}]),
                );
            }
            (
                spec.into(),
                &["Ready", "ContainerProvisioned", "BootstrapExecSucceeded"],
                &[
                    ("Ready", true, "Ready"),
                    ("ContainerProvisioned", true, "Provisioned"),
                    ("CGroupsReady", true, "Ready"),
                    ("PreLoadedImagesReady", true, "Ready"),
                    ("BootstrapCompleted", true, "Completed"),
                ],
            )
        }
    };
    put_provider_status(ctx, &mut status, old, new, &time);
    object! {
        "apiVersion": ctx.api_version(Kind::InfraMachine),
        "kind": ctx.spec.provider.machine_kind(),
        "metadata": ctx.metadata(Kind::InfraMachine, &info.infra_name, info.labels(ctx),
            annotations, vec![info.machine_owner(ctx)]),
        "spec": spec,
        "status": status,
    }
}
