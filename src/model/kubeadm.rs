//! `KubeadmConfigSpec` contents (shared by KubeadmControlPlane and KubeadmConfig), with each
//! provider's usual flavour (node registration, files, commands, users).

use serde_json::{json, Map, Value};

use super::kinds::Provider;
use super::meta::{map, ClusterCtx};

/// Pod CIDR of every workload cluster.
pub(crate) const POD_CIDR: &str = "192.168.0.0/18";
/// Service CIDR of every workload cluster.
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/12";

/// Which kubeadm configuration a KubeadmConfig (or KubeadmControlPlane) carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfigVariant {
    /// `KubeadmControlPlane.spec.kubeadmConfigSpec`: init + join, no discovery yet.
    ControlPlaneTemplate,
    /// The first control-plane Machine: `kubeadm init`.
    Init,
    /// Further control-plane Machines: `kubeadm join --control-plane`.
    JoinControlPlane,
    /// Worker Machines: `kubeadm join`.
    Worker,
}

/// Static-pod manifest for kube-vip, as the Nutanix templates ship it (`{VIP}` replaced).
const KUBE_VIP_MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata:
  name: kube-vip
  namespace: kube-system
spec:
  containers:
    - name: kube-vip
      image: ghcr.io/kube-vip/kube-vip:v0.8.2
      imagePullPolicy: IfNotPresent
      args:
        - manager
      env:
        - name: vip_arp
          value: \"true\"
        - name: address
          value: \"{VIP}\"
        - name: port
          value: \"6443\"
        - name: vip_cidr
          value: \"32\"
        - name: cp_enable
          value: \"true\"
        - name: cp_namespace
          value: kube-system
        - name: vip_ddns
          value: \"false\"
        - name: vip_leaderelection
          value: \"true\"
        - name: vip_leaseduration
          value: \"15\"
        - name: vip_renewdeadline
          value: \"10\"
        - name: vip_retryperiod
          value: \"2\"
        - name: svc_enable
          value: \"false\"
        - name: lb_enable
          value: \"false\"
        - name: enableServicesElection
          value: \"false\"
      securityContext:
        capabilities:
          add:
            - NET_ADMIN
            - SYS_TIME
            - NET_RAW
      volumeMounts:
        - mountPath: /etc/kubernetes/admin.conf
          name: kubeconfig
      resources: {}
  hostNetwork: true
  hostAliases:
    - hostnames:
        - kubernetes
      ip: 127.0.0.1
  volumes:
    - name: kubeconfig
      hostPath:
        type: FileOrCreate
        path: /etc/kubernetes/admin.conf
status: {}
";

/// keepalived configuration, as the Metal3 templates ship it (`{VIP}` replaced).
const KEEPALIVED_CONF: &str = "! Configuration File for keepalived
global_defs {
    notification_email {
    sysadmin@example.com
    support@example.com
    }
    notification_email_from lb@example.com
    smtp_server localhost
    smtp_connect_timeout 30
}
vrrp_instance VI_2 {
    state MASTER
    interface enp2s0
    virtual_router_id 2
    priority 101
    advert_int 1
    virtual_ipaddress {
        {VIP}
    }
}
";

const TLS_CIPHER_SUITES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,\
TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,\
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,\
TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305";

/// Extra arguments: a string map in v1beta1, a list of `{name, value}` in v1beta2.
fn args(ctx: &ClusterCtx, pairs: &[(&str, &str)]) -> Value {
    if ctx.v2 {
        Value::Array(
            pairs
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        )
    } else {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        )
    }
}

/// kubeadm `ClusterConfiguration`. `rendered` adds what the bootstrap controller fills in
/// on a Machine's KubeadmConfig (endpoint; in v1beta1 also name, version and networking).
fn cluster_configuration(ctx: &ClusterCtx, rendered: bool) -> Value {
    let mut sans = vec!["localhost", "127.0.0.1", "0.0.0.0"];
    sans.push(&ctx.endpoint_host);
    let mut api_args: Vec<(&str, &str)> = vec![
        ("audit-log-maxage", "30"),
        ("audit-log-maxbackup", "10"),
        ("audit-log-maxsize", "100"),
        ("audit-log-path", "/var/log/kubernetes/audit.log"),
        ("profiling", "false"),
        ("tls-cipher-suites", TLS_CIPHER_SUITES),
    ];
    let mut cm_args: Vec<(&str, &str)> = vec![
        ("bind-address", "0.0.0.0"),
        ("profiling", "false"),
        ("terminated-pod-gc-threshold", "10"),
    ];
    match ctx.spec.provider {
        Provider::Nutanix => {
            api_args.push(("cloud-provider", "external"));
            cm_args.push(("cloud-provider", "external"));
        }
        Provider::Docker => cm_args.push(("enable-hostpath-provisioner", "true")),
        Provider::Metal3 => {}
    }
    let mut c = map([
        (
            "apiServer",
            json!({"certSANs": sans, "extraArgs": args(ctx, &api_args)}),
        ),
        (
            "controllerManager",
            json!({"extraArgs": args(ctx, &cm_args)}),
        ),
        (
            "scheduler",
            json!({"extraArgs": args(ctx, &[("bind-address", "0.0.0.0"), ("profiling", "false")])}),
        ),
        (
            "etcd",
            json!({"local": {
                "dataDir": "/var/lib/etcd",
                "extraArgs": args(ctx, &[
                    ("listen-metrics-urls", "http://0.0.0.0:2381"),
                    ("quota-backend-bytes", "8589934592"),
                ]),
            }}),
        ),
        ("imageRepository", "registry.k8s.io".into()),
    ]);
    if rendered {
        c.insert(
            "controlPlaneEndpoint".into(),
            format!("{}:6443", ctx.endpoint_host).into(),
        );
        if !ctx.v2 {
            c.insert("apiVersion".into(), "kubeadm.k8s.io/v1beta3".into());
            c.insert("kind".into(), "ClusterConfiguration".into());
            c.insert("clusterName".into(), ctx.name.clone().into());
            c.insert(
                "kubernetesVersion".into(),
                ctx.spec.kubernetes_version.clone().into(),
            );
            c.insert(
                "networking".into(),
                json!({"dnsDomain": "cluster.local", "podSubnet": POD_CIDR,
                       "serviceSubnet": SERVICE_CIDR}),
            );
        }
    }
    Value::Object(c)
}

/// The ClusterConfiguration JSON KubeadmControlPlane records on its Machines.
pub(crate) fn cluster_configuration_annotation(ctx: &ClusterCtx) -> Value {
    cluster_configuration(ctx, true)
}

/// The kubelet arguments of the provider's templates.
pub(crate) fn kubelet_args(provider: Provider) -> &'static [(&'static str, &'static str)] {
    match provider {
        Provider::Metal3 => &[
            ("cgroup-driver", "systemd"),
            (
                "container-runtime-endpoint",
                "unix:///var/run/containerd/containerd.sock",
            ),
            ("feature-gates", "AllAlpha=false"),
            ("node-labels", "metal3.io/uuid={{ ds.meta_data.uuid }}"),
            ("provider-id", "metal3://{{ ds.meta_data.providerid }}"),
            ("runtime-request-timeout", "5m"),
        ],
        Provider::Nutanix => &[
            ("cloud-provider", "external"),
            (
                "eviction-hard",
                "nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,\
                 memory.available<100Mi,imagefs.inodesFree<10%",
            ),
            ("tls-cipher-suites", TLS_CIPHER_SUITES),
        ],
        Provider::Docker => &[(
            "eviction-hard",
            "nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%",
        )],
    }
}

/// kubeadm `nodeRegistration` in the provider's style.
fn node_registration(ctx: &ClusterCtx) -> Value {
    let mut n = Map::new();
    match ctx.spec.provider {
        Provider::Metal3 => {
            n.insert("name".into(), "{{ ds.meta_data.name }}".into());
        }
        Provider::Docker => {
            n.insert(
                "criSocket".into(),
                "unix:///var/run/containerd/containerd.sock".into(),
            );
        }
        Provider::Nutanix => {}
    }
    n.insert(
        "kubeletExtraArgs".into(),
        args(ctx, kubelet_args(ctx.spec.provider)),
    );
    Value::Object(n)
}

/// The provider's extra control-plane file `(path, content)`, if any.
pub(crate) fn control_plane_file(ctx: &ClusterCtx) -> Option<(&'static str, String)> {
    match ctx.spec.provider {
        Provider::Nutanix => Some((
            "/etc/kubernetes/manifests/kube-vip.yaml",
            KUBE_VIP_MANIFEST.replace("{VIP}", &ctx.endpoint_host),
        )),
        Provider::Metal3 => Some((
            "/etc/keepalived/keepalived.conf",
            KEEPALIVED_CONF.replace("{VIP}", &ctx.endpoint_host),
        )),
        Provider::Docker => None,
    }
}

/// `files` for control-plane machines (empty for workers and for CAPD).
fn files(ctx: &ClusterCtx, control_plane: bool) -> Vec<Value> {
    match control_plane_file(ctx).filter(|_| control_plane) {
        Some((path, content)) => vec![json!({
            "path": path,
            "owner": "root:root",
            "permissions": "0644",
            "content": content,
        })],
        None => vec![],
    }
}

/// Commands run before kubeadm in the provider's templates.
pub(crate) fn pre_commands(provider: Provider, control_plane: bool) -> &'static [&'static str] {
    match (provider, control_plane) {
        (Provider::Metal3, true) => &[
            "rm /etc/cni/net.d/* || true",
            "systemctl enable --now containerd",
            "sleep 15",
            "systemctl enable --now keepalived",
        ],
        (Provider::Metal3, false) => &[
            "rm /etc/cni/net.d/* || true",
            "systemctl enable --now containerd",
            "sleep 15",
        ],
        (Provider::Nutanix, _) => &[
            "echo \"127.0.0.1   localhost\" >>/etc/hosts",
            "echo \"127.0.0.1   kubernetes\" >>/etc/hosts",
            "echo \"127.0.0.1   {{ ds.meta_data.hostname }}\" >> /etc/hosts",
            "echo \"{{ ds.meta_data.hostname }}\" >/etc/hostname",
        ],
        (Provider::Docker, _) => &[],
    }
}

/// Commands run after kubeadm in the provider's templates.
pub(crate) fn post_commands(provider: Provider, control_plane: bool) -> &'static [&'static str] {
    match (provider, control_plane) {
        (Provider::Metal3, true) => &[
            "mkdir -p /home/metal3/.kube",
            "cp /etc/kubernetes/admin.conf /home/metal3/.kube/config",
            "chown metal3:metal3 /home/metal3/.kube/config",
        ],
        (Provider::Nutanix, true) => &[
            "echo export KUBECONFIG=/etc/kubernetes/admin.conf >> /root/.bashrc",
            "echo \"after kubeadm call\" > /var/log/postkubeadm.log",
        ],
        (Provider::Nutanix, false) => &["echo \"after kubeadm call\" > /var/log/postkubeadm.log"],
        _ => &[],
    }
}

/// The cluster's (fake) SSH public key, shared by all its machines.
pub(crate) fn ssh_public_key(ctx: &ClusterCtx) -> String {
    let mut s = String::from("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ");
    ctx.rng(u64::MAX, 9).push_base64_chars(&mut s, 512);
    s.push_str(" capi@loadgen");
    s
}

/// The SSH user of the provider's templates, with its home directory.
pub(crate) fn ssh_user(provider: Provider) -> Option<(&'static str, &'static str)> {
    match provider {
        Provider::Metal3 => Some(("metal3", "/home/metal3")),
        Provider::Nutanix => Some(("capiuser", "/home/capiuser")),
        Provider::Docker => None,
    }
}

fn users(ctx: &ClusterCtx) -> Vec<Value> {
    let Some((name, home)) = ssh_user(ctx.spec.provider) else {
        return vec![];
    };
    vec![json!({
        "name": name,
        "homeDir": home,
        "shell": "/bin/bash",
        "lockPassword": false,
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "sshAuthorizedKeys": [ssh_public_key(ctx)],
    })]
}

/// `KubeadmConfigSpec` for `variant`.
pub(crate) fn kubeadm_config_spec(ctx: &ClusterCtx, variant: ConfigVariant) -> Value {
    let provider = ctx.spec.provider;
    let cp = variant != ConfigVariant::Worker;
    let mut s = Map::new();
    let discovery = json!({"bootstrapToken": {
        "apiServerEndpoint": format!("{}:6443", ctx.endpoint_host),
        "caCertHashes": [ctx.ca_cert_hash],
        "token": ctx.bootstrap_token,
    }});
    match variant {
        ConfigVariant::ControlPlaneTemplate => {
            s.insert(
                "clusterConfiguration".into(),
                cluster_configuration(ctx, false),
            );
            s.insert(
                "initConfiguration".into(),
                json!({"nodeRegistration": node_registration(ctx)}),
            );
            s.insert(
                "joinConfiguration".into(),
                json!({"nodeRegistration": node_registration(ctx)}),
            );
        }
        ConfigVariant::Init => {
            s.insert(
                "clusterConfiguration".into(),
                cluster_configuration(ctx, true),
            );
            s.insert(
                "initConfiguration".into(),
                json!({"nodeRegistration": node_registration(ctx)}),
            );
        }
        ConfigVariant::JoinControlPlane => {
            s.insert(
                "clusterConfiguration".into(),
                cluster_configuration(ctx, true),
            );
            s.insert(
                "joinConfiguration".into(),
                json!({"nodeRegistration": node_registration(ctx), "discovery": discovery,
                       "controlPlane": {}}),
            );
        }
        ConfigVariant::Worker => {
            s.insert(
                "joinConfiguration".into(),
                json!({"nodeRegistration": node_registration(ctx), "discovery": discovery}),
            );
        }
    }
    let files = files(ctx, cp);
    if !files.is_empty() {
        s.insert("files".into(), files.into());
    }
    let pre = pre_commands(provider, cp);
    if !pre.is_empty() {
        s.insert("preKubeadmCommands".into(), json!(pre));
    }
    let post = post_commands(provider, cp);
    if !post.is_empty() {
        s.insert("postKubeadmCommands".into(), json!(post));
    }
    let users = users(ctx);
    if !users.is_empty() {
        s.insert("users".into(), users.into());
    }
    s.insert("format".into(), "cloud-config".into());
    Value::Object(s)
}

/// The context of `cluster` with its kubeadm ClusterConfiguration annotation (the JSON
/// every control-plane object of the cluster carries), computed once.
pub(crate) fn cluster_ctx(spec: &super::spec::FleetSpec, cluster: u64) -> ClusterCtx {
    let mut ctx = ClusterCtx::new(spec, cluster);
    ctx.cluster_configuration_json = cluster_configuration_annotation(&ctx).to_string();
    ctx
}
