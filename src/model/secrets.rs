//! Secrets: the per-cluster certificate and kubeconfig Secrets and the per-machine
//! bootstrap Secret. Key material is deterministic pseudo-random bytes inside real PEM
//! armour with realistic sizes; it is not cryptographically valid (no key generation).

use serde_json::{Map, Value};

use super::cloudinit;
use super::kinds::{ClusterSecret, Kind};
use super::machine::MachineInfo;
use super::meta::ClusterCtx;
use super::names::base64;
pub(crate) use super::pem::{cert_pem, key_pem, Material};
use super::CAPI_SECRET_TYPE;

/// The admin kubeconfig Cluster API writes into `<cluster>-kubeconfig` (about 5.5 KB).
pub(crate) fn kubeconfig(ctx: &ClusterCtx) -> String {
    let ca = base64(cert_pem(ctx, Material::Ca).as_bytes());
    let cert = base64(cert_pem(ctx, Material::AdminClient).as_bytes());
    let key = base64(key_pem(ctx, Material::AdminClient).as_bytes());
    let c = &ctx.name;
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://{host}:6443
  name: {c}
contexts:
- context:
    cluster: {c}
    user: {c}-admin
  name: {c}-admin@{c}
current-context: {c}-admin@{c}
kind: Config
preferences: {{}}
users:
- name: {c}-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
        host = ctx.endpoint_host
    )
}

fn secret(ctx: &ClusterCtx, name: &str, owner: Value, data: Map<String, Value>) -> Value {
    object! {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": ctx.metadata(Kind::Secret, name, ctx.base_labels(), Map::new(), vec![owner]),
        "type": CAPI_SECRET_TYPE,
        "data": data,
    }
}

fn b64(s: &str) -> Value {
    Value::String(base64(s.as_bytes()))
}

/// The data of a per-cluster Secret, in key order, as plain text (the body holds it
/// base64-encoded).
pub(crate) fn cluster_secret_data(
    ctx: &ClusterCtx,
    which: ClusterSecret,
) -> Vec<(&'static str, String)> {
    let material = match which {
        ClusterSecret::Kubeconfig => return vec![("value", kubeconfig(ctx))],
        ClusterSecret::Etcd => Material::Etcd,
        ClusterSecret::Sa => Material::ServiceAccount,
        ClusterSecret::Proxy => Material::FrontProxy,
        ClusterSecret::ApiserverEtcdClient => Material::ApiserverEtcdClient,
        _ => Material::Ca,
    };
    vec![
        ("tls.crt", cert_pem(ctx, material)),
        ("tls.key", key_pem(ctx, material)),
    ]
}

/// A per-cluster Secret named `name`. The kubeconfig is owned by the Cluster, the
/// certificate Secrets by the KubeadmControlPlane.
pub(crate) fn cluster_secret(ctx: &ClusterCtx, which: ClusterSecret, name: &str) -> Value {
    let data: Map<String, Value> = cluster_secret_data(ctx, which)
        .into_iter()
        .map(|(k, v)| (k.to_string(), b64(&v)))
        .collect();
    let owner = match which {
        ClusterSecret::Kubeconfig => ctx.owner_ref(Kind::Cluster, &ctx.name),
        _ => ctx.owner_ref(Kind::KubeadmControlPlane, &ctx.kcp_name),
    };
    secret(ctx, name, owner, data)
}

/// The bootstrap Secret of a machine: named after its KubeadmConfig, owned by it, holding
/// the cloud-init (`value`, exactly `payload.bootstrap_data_bytes` bytes) and `format`.
pub(crate) fn bootstrap_secret(ctx: &ClusterCtx, info: &MachineInfo) -> Value {
    let cloud_init = cloudinit::cloud_init(ctx, info, ctx.spec.payload.bootstrap_data_bytes);
    bootstrap_secret_with(ctx, &info.config_name, &cloud_init)
}

/// The bootstrap Secret `name` of the KubeadmConfig of the same name, holding `cloud_init`.
pub(crate) fn bootstrap_secret_with(ctx: &ClusterCtx, name: &str, cloud_init: &str) -> Value {
    let mut data = Map::new();
    data.insert("format".into(), b64("cloud-config"));
    data.insert("value".into(), b64(cloud_init));
    let owner = ctx.owner_ref(Kind::KubeadmConfig, name);
    secret(ctx, name, owner, data)
}
