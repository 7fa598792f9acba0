//! The kubeadm cloud-init a bootstrap Secret holds, generated to an exact byte size.
//!
//! Layout (as the kubeadm bootstrap provider writes it): a jinja/cloud-config header,
//! `write_files` with the kubeadm configuration and the `/run/cluster-api` placeholder,
//! then, on control-plane machines, the provider's control-plane file and the cluster
//! certificates while they fit, a padding file to reach the requested size, and finally
//! `runcmd` (pre-kubeadm commands, `kubeadm init|join`, post-kubeadm commands) and `users`.
//! If the requested size is smaller than the essential parts, the text is truncated.

use std::fmt::Write as _;

use super::kinds::Provider;
use super::kubeadm::{
    control_plane_file, kubelet_args, post_commands, pre_commands, ssh_public_key, ssh_user,
};
use super::machine::{ConfigVariant, MachineInfo};
use super::meta::ClusterCtx;
use super::names::Rng;
use super::pem::{cert_pem, key_pem, Material};

const HEADER: &str = "## template: jinja\n#cloud-config\n\nwrite_files:\n";
const PLACEHOLDER_PATH: &str = "/run/cluster-api/placeholder";
const PLACEHOLDER: &str = "This placeholder file is used to create the /run/cluster-api sub \
directory in a way that is compatible with both Linux and Windows (mkdir -p /run/cluster-api \
does not work with Windows)";
const SUCCESS: &str = "&& echo success > /run/cluster-api/bootstrap-success.complete";
const PAD_HEADER: &str = "-   path: /etc/capi-loadgen/padding\n    owner: root:root\n    \
permissions: '0600'\n    content: |\n";
/// Bytes of one full padding line: 6 spaces of indent, 76 characters, newline.
const PAD_LINE: usize = 83;

/// Appends one `write_files` entry with `content` as a literal block.
fn entry(out: &mut String, path: &str, permissions: &str, content: &str) {
    out.push_str("-   path: ");
    out.push_str(path);
    out.push_str("\n    owner: root:root\n    permissions: '");
    out.push_str(permissions);
    out.push_str("'\n    content: |\n");
    for line in content.lines() {
        out.push_str("      ");
        out.push_str(line);
        out.push('\n');
    }
}

fn node_registration(out: &mut String, provider: Provider) {
    out.push_str("nodeRegistration:\n  imagePullPolicy: IfNotPresent\n  kubeletExtraArgs:\n");
    for (k, v) in kubelet_args(provider) {
        let _ = writeln!(out, "    {k}: \"{v}\"");
    }
    if provider == Provider::Metal3 {
        out.push_str("  name: '{{ ds.meta_data.name }}'\n");
    }
}

/// The kubeadm configuration file (`kubeadm.k8s.io/v1beta3`) of the machine.
fn kubeadm_yaml(ctx: &ClusterCtx, info: &MachineInfo) -> String {
    let host = &ctx.endpoint_host;
    let mut s = String::with_capacity(1800);
    if info.variant == ConfigVariant::Init {
        let _ = write!(
            s,
            "---
apiServer:
  certSANs:
  - localhost
  - 127.0.0.1
  - 0.0.0.0
  - {host}
  extraArgs:
    audit-log-maxage: \"30\"
    audit-log-maxbackup: \"10\"
    audit-log-maxsize: \"100\"
    audit-log-path: /var/log/kubernetes/audit.log
    profiling: \"false\"
apiVersion: kubeadm.k8s.io/v1beta3
clusterName: {name}
controlPlaneEndpoint: {host}:6443
controllerManager:
  extraArgs:
    bind-address: 0.0.0.0
    profiling: \"false\"
    terminated-pod-gc-threshold: \"10\"
dns: {{}}
etcd:
  local:
    dataDir: /var/lib/etcd
    extraArgs:
      listen-metrics-urls: http://0.0.0.0:2381
      quota-backend-bytes: \"8589934592\"
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: {version}
networking:
  dnsDomain: cluster.local
  podSubnet: 192.168.0.0/18
  serviceSubnet: 10.96.0.0/12
scheduler:
  extraArgs:
    bind-address: 0.0.0.0
    profiling: \"false\"

---
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint: {{}}
",
            name = ctx.name,
            version = ctx.spec.kubernetes_version,
        );
    } else {
        s.push_str("---\napiVersion: kubeadm.k8s.io/v1beta3\n");
        if info.variant == ConfigVariant::JoinControlPlane {
            s.push_str("controlPlane:\n  localAPIEndpoint: {}\n");
        }
        let _ = write!(
            s,
            "discovery:
  bootstrapToken:
    apiServerEndpoint: {host}:6443
    caCertHashes:
    - {hash}
    token: {token}
kind: JoinConfiguration
",
            hash = ctx.ca_cert_hash,
            token = ctx.bootstrap_token,
        );
    }
    node_registration(&mut s, ctx.spec.provider);
    s
}

/// `runcmd` and `users`.
fn tail(ctx: &ClusterCtx, info: &MachineInfo) -> String {
    let provider = ctx.spec.provider;
    let mut s = String::from("runcmd:\n");
    for cmd in pre_commands(provider, info.is_control_plane()) {
        let _ = writeln!(s, "  - '{cmd}'");
    }
    if info.variant == ConfigVariant::Init {
        let _ = writeln!(
            s,
            "  - 'kubeadm init --config /run/kubeadm/kubeadm.yaml  {SUCCESS}'"
        );
    } else {
        let _ = writeln!(
            s,
            "  - 'kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  {SUCCESS}'"
        );
    }
    for cmd in post_commands(provider, info.is_control_plane()) {
        let _ = writeln!(s, "  - '{cmd}'");
    }
    if let Some((user, home)) = ssh_user(provider) {
        let _ = write!(
            s,
            "users:\n  - name: {user}\n    homedir: {home}\n    shell: /bin/bash\n    \
             lock_passwd: false\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys:\n      \
             - {}\n",
            ssh_public_key(ctx)
        );
    }
    s
}

/// Files a control-plane machine receives besides the essentials, in priority order.
fn optional_files(ctx: &ClusterCtx) -> Vec<(String, &'static str, String)> {
    let mut files = Vec::with_capacity(9);
    if let Some((path, content)) = control_plane_file(ctx) {
        files.push((path.to_string(), "0644", content));
    }
    let pki = [
        ("ca", Material::Ca),
        ("etcd/ca", Material::Etcd),
        ("front-proxy-ca", Material::FrontProxy),
    ];
    for (base, m) in pki {
        files.push((
            format!("/etc/kubernetes/pki/{base}.crt"),
            "0640",
            cert_pem(ctx, m),
        ));
        files.push((
            format!("/etc/kubernetes/pki/{base}.key"),
            "0600",
            key_pem(ctx, m),
        ));
    }
    let sa = Material::ServiceAccount;
    files.push((
        "/etc/kubernetes/pki/sa.pub".into(),
        "0640",
        cert_pem(ctx, sa),
    ));
    files.push((
        "/etc/kubernetes/pki/sa.key".into(),
        "0600",
        key_pem(ctx, sa),
    ));
    files
}

/// Appends exactly `n` (>= PAD_LINE) bytes of indented pseudo-random lines.
fn pad_lines(out: &mut String, rng: &mut Rng, n: usize) {
    let (mut full, rem) = (n / PAD_LINE, n % PAD_LINE);
    let mut last: Vec<usize> = Vec::with_capacity(2);
    match rem {
        0 => {}
        r if r >= 8 => last.push(r),
        r => {
            // Too short for a line of its own: split one full line plus the rest in two.
            full -= 1;
            last.extend([45, PAD_LINE - 45 + r]);
        }
    }
    for bytes in std::iter::repeat_n(PAD_LINE, full).chain(last) {
        out.push_str("      ");
        rng.push_base64_chars(out, bytes - 7);
        out.push('\n');
    }
}

/// Appends exactly `n` bytes as a trailing YAML comment.
fn pad_comment(out: &mut String, rng: &mut Rng, n: usize) {
    match n {
        0 => {}
        1 => out.push('\n'),
        _ => {
            out.push('#');
            rng.push_base64_chars(out, n - 2);
            out.push('\n');
        }
    }
}

/// The cloud-init of a machine, exactly `size` bytes long (ASCII).
pub(crate) fn cloud_init(ctx: &ClusterCtx, info: &MachineInfo, size: usize) -> String {
    let mut out = String::with_capacity(size + 64);
    out.push_str(HEADER);
    let kubeadm_path = if info.variant == ConfigVariant::Init {
        "/run/kubeadm/kubeadm.yaml"
    } else {
        "/run/kubeadm/kubeadm-join-config.yaml"
    };
    entry(&mut out, kubeadm_path, "0640", &kubeadm_yaml(ctx, info));
    entry(&mut out, PLACEHOLDER_PATH, "0640", PLACEHOLDER);
    let tail = tail(ctx, info);
    if out.len() + tail.len() >= size {
        out.push_str(&tail);
        out.truncate(size);
        return out;
    }
    if info.is_control_plane() {
        let mut e = String::with_capacity(2048);
        for (path, permissions, content) in optional_files(ctx) {
            e.clear();
            entry(&mut e, &path, permissions, &content);
            if out.len() + e.len() + tail.len() <= size {
                out.push_str(&e);
            }
        }
    }
    let room = size - out.len() - tail.len();
    let mut rng = ctx.rng(info.m, 21);
    if room >= PAD_HEADER.len() + PAD_LINE {
        out.push_str(PAD_HEADER);
        pad_lines(&mut out, &mut rng, room - PAD_HEADER.len());
        out.push_str(&tail);
    } else {
        out.push_str(&tail);
        pad_comment(&mut out, &mut rng, room);
    }
    out
}
