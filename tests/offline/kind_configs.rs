//! The kind cluster configs (`kind-configs/*.yaml`) and the in-cluster manifests (`deploy/`)
//! cannot be exercised here (no container engine), so they are checked statically, against
//! the upstream schemas, without network:
//!
//! - every config is a kind `v1alpha4` `Cluster` whose keys are fields of kind's types
//!   (`pkg/apis/config/v1alpha4/types.go`: `Cluster`, `Node`, `Networking`, `PortMapping`);
//! - every `kubeadmConfigPatches` entry is a kubeadm `v1beta3` `ClusterConfiguration` with
//!   only that type's fields (`cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go`), string
//!   `extraArgs` values (the type is `map[string]string`: an unquoted `800` would not decode)
//!   and flag names from a small allow-list of real kube-apiserver / etcd flags;
//! - the node image is pinned and before v1.36: kind generates kubeadm v1beta4 for v1.36+
//!   nodes and skips a patch that names v1beta3, silently;
//! - the values each config exists for (tuned: 800 / 400, 8 GiB, etcd metrics on host
//!   127.0.0.1:2381; throttling: lower than tuned and the defaults; default: nothing);
//! - the in-cluster manifests: see `deploy_manifests.rs`.
//!
//! The checkers return errors rather than panicking, and `checkers_reject_broken_configs`
//! feeds them broken variants, so a checker that accepts anything fails the suite.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// kind `v1alpha4` `Cluster` fields (TypeMeta's `kind` and `apiVersion` included).
const CLUSTER_FIELDS: &[&str] = &[
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
];
/// kind `v1alpha4` `Node` fields (`gpus` exists in current kind; unused here).
const NODE_FIELDS: &[&str] = &[
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "gpus",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
];
/// kind `v1alpha4` `Networking` fields.
const NETWORKING_FIELDS: &[&str] = &[
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
];
/// kind `v1alpha4` `PortMapping` fields.
const PORT_MAPPING_FIELDS: &[&str] = &["containerPort", "hostPort", "listenAddress", "protocol"];

/// kubeadm `v1beta3` `ClusterConfiguration` fields.
const CLUSTER_CONFIGURATION_FIELDS: &[&str] = &[
    "kind",
    "apiVersion",
    "etcd",
    "networking",
    "kubernetesVersion",
    "controlPlaneEndpoint",
    "apiServer",
    "controllerManager",
    "scheduler",
    "dns",
    "certificatesDir",
    "imageRepository",
    "featureGates",
    "clusterName",
];
/// kubeadm `v1beta3` `APIServer` fields (`ControlPlaneComponent` inlined).
const API_SERVER_FIELDS: &[&str] = &[
    "extraArgs",
    "extraVolumes",
    "certSANs",
    "timeoutForControlPlane",
];
/// kubeadm `v1beta3` `Etcd` fields.
const ETCD_FIELDS: &[&str] = &["local", "external"];
/// kubeadm `v1beta3` `LocalEtcd` fields (`ImageMeta` inlined).
const LOCAL_ETCD_FIELDS: &[&str] = &[
    "imageRepository",
    "imageTag",
    "dataDir",
    "extraArgs",
    "serverCertSANs",
    "peerCertSANs",
];

/// kube-apiserver flags these configs may set, each documented in the kube-apiserver
/// command-line reference (kubernetes.io/docs/reference/command-line-tools-reference/
/// kube-apiserver): the two in-flight limits (defaults 400 / 200; summed into one limit under
/// API Priority and Fairness), APF's switch, the watch cache size and etcd compaction
/// interval. A new flag needs a line here.
const APISERVER_FLAGS: &[&str] = &[
    "max-requests-inflight",
    "max-mutating-requests-inflight",
    "enable-priority-and-fairness",
    "default-watch-cache-size",
    "etcd-compaction-interval",
];
/// etcd flags these configs may set, each in etcd's configuration-flags reference
/// (etcd.io/docs/v3.5/op-guide/configuration): the backend quota (default 2 GiB, 8 GiB the
/// suggested maximum), the metrics listener, the request size limit, auto compaction and the
/// snapshot count.
const ETCD_FLAGS: &[&str] = &[
    "quota-backend-bytes",
    "listen-metrics-urls",
    "max-request-bytes",
    "auto-compaction-mode",
    "auto-compaction-retention",
    "snapshot-count",
];

/// The cluster name every config and script uses (context `kind-capi-loadgen`).
const CLUSTER_NAME: &str = "capi-loadgen";

pub(super) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(super) fn yaml(text: &str, what: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("{what}: not YAML: {e}"))
}

/// The documents of a multi-document YAML file, split on `---` lines (no document here
/// contains one inside a block scalar). Comment-only documents are dropped.
pub(super) fn documents(text: &str, what: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push(cur);
    docs.iter()
        .map(|d| yaml(d, what).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn keys_within(v: &Value, allowed: &[&str], what: &str) -> Result<(), String> {
    let map = v
        .as_object()
        .ok_or_else(|| format!("{what}: expected a mapping, got {v}"))?;
    for k in map.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "{what}: unknown field `{k}` (allowed: {allowed:?})"
            ));
        }
    }
    Ok(())
}

pub(super) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// `extraArgs` as flag → value; every value must be a string (kubeadm's `map[string]string`).
fn extra_args(
    v: Option<&Value>,
    flags: &[&str],
    what: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Some(v) = v else { return Ok(out) };
    let map = v
        .as_object()
        .ok_or_else(|| format!("{what}: extraArgs must be a mapping (kubeadm v1beta3), got {v}"))?;
    for (k, val) in map {
        if !flags.contains(&k.as_str()) {
            return Err(format!(
                "{what}: `{k}` is not an allow-listed flag ({flags:?}); check the upstream flag reference and add it"
            ));
        }
        let s = val.as_str().ok_or_else(|| {
            format!("{what}: `{k}: {val}` must be a quoted string (extraArgs is map[string]string)")
        })?;
        out.insert(k.clone(), s.to_string());
    }
    Ok(out)
}

/// The settings a config gives the control plane.
#[derive(Debug, Default)]
struct Settings {
    apiserver: BTreeMap<String, String>,
    etcd: BTreeMap<String, String>,
    /// (containerPort, hostPort, listenAddress) of every node's extraPortMappings.
    ports: Vec<(i64, i64, String)>,
    image: String,
    patches: usize,
}

/// Checks one kubeadm patch; adds its arguments to `s`.
fn check_patch(text: &str, what: &str, s: &mut Settings) -> Result<(), String> {
    let p = yaml(text, what)?;
    if str_at(&p, "/kind") != Some("ClusterConfiguration") {
        return Err(format!(
            "{what}: kind must be ClusterConfiguration, got {:?}",
            p.get("kind")
        ));
    }
    if str_at(&p, "/apiVersion") != Some("kubeadm.k8s.io/v1beta3") {
        return Err(format!(
            "{what}: apiVersion must be kubeadm.k8s.io/v1beta3, got {:?}",
            p.get("apiVersion")
        ));
    }
    keys_within(&p, CLUSTER_CONFIGURATION_FIELDS, what)?;
    for c in ["controllerManager", "scheduler"] {
        if p.get(c).is_some() {
            return Err(format!("{what}: `{c}` has no allow-listed flags yet"));
        }
    }
    if let Some(a) = p.get("apiServer") {
        keys_within(a, API_SERVER_FIELDS, &format!("{what}: apiServer"))?;
        s.apiserver.extend(extra_args(
            a.get("extraArgs"),
            APISERVER_FLAGS,
            &format!("{what}: apiServer"),
        )?);
    }
    if let Some(e) = p.get("etcd") {
        keys_within(e, ETCD_FIELDS, &format!("{what}: etcd"))?;
        if let Some(l) = e.get("local") {
            keys_within(l, LOCAL_ETCD_FIELDS, &format!("{what}: etcd.local"))?;
            s.etcd.extend(extra_args(
                l.get("extraArgs"),
                ETCD_FLAGS,
                &format!("{what}: etcd.local"),
            )?);
        }
    }
    Ok(())
}

fn patches(v: Option<&Value>, what: &str, s: &mut Settings) -> Result<(), String> {
    let Some(v) = v else { return Ok(()) };
    let list = v
        .as_array()
        .ok_or_else(|| format!("{what}: kubeadmConfigPatches must be a list"))?;
    for (i, p) in list.iter().enumerate() {
        let text = p.as_str().ok_or_else(|| {
            format!("{what}: kubeadmConfigPatches[{i}] must be an inline YAML string (`- |`)")
        })?;
        check_patch(text, &format!("{what}: kubeadmConfigPatches[{i}]"), s)?;
        s.patches += 1;
    }
    Ok(())
}

/// Checks a kind config against kind's and kubeadm's schemas; returns what it sets.
fn check_config(text: &str, what: &str) -> Result<Settings, String> {
    let c = yaml(text, what)?;
    if str_at(&c, "/kind") != Some("Cluster") {
        return Err(format!("{what}: kind must be Cluster"));
    }
    if str_at(&c, "/apiVersion") != Some("kind.x-k8s.io/v1alpha4") {
        return Err(format!("{what}: apiVersion must be kind.x-k8s.io/v1alpha4"));
    }
    keys_within(&c, CLUSTER_FIELDS, what)?;
    if str_at(&c, "/name") != Some(CLUSTER_NAME) {
        return Err(format!(
            "{what}: name must be {CLUSTER_NAME} (the scripts' default)"
        ));
    }
    if let Some(n) = c.get("networking") {
        keys_within(n, NETWORKING_FIELDS, &format!("{what}: networking"))?;
    }
    let mut s = Settings::default();
    patches(c.get("kubeadmConfigPatches"), what, &mut s)?;
    let nodes = c
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what}: nodes must be a list"))?;
    if nodes.len() != 1 || str_at(&nodes[0], "/role") != Some("control-plane") {
        return Err(format!("{what}: exactly one node, role control-plane"));
    }
    for (i, n) in nodes.iter().enumerate() {
        let nw = format!("{what}: nodes[{i}]");
        keys_within(n, NODE_FIELDS, &nw)?;
        patches(n.get("kubeadmConfigPatches"), &nw, &mut s)?;
        s.image = str_at(n, "/image").unwrap_or_default().to_string();
        for (j, m) in n
            .get("extraPortMappings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            keys_within(
                m,
                PORT_MAPPING_FIELDS,
                &format!("{nw}: extraPortMappings[{j}]"),
            )?;
            let port = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(-1);
            s.ports.push((
                port("containerPort"),
                port("hostPort"),
                str_at(m, "/listenAddress").unwrap_or_default().to_string(),
            ));
        }
    }
    // A v1beta3 patch only reaches nodes for which kind still generates v1beta3 (< v1.36).
    if s.patches > 0 {
        let minor = image_minor(&s.image).ok_or_else(|| {
            format!(
                "{what}: v1beta3 patches need a pinned kindest/node image, got {:?}",
                s.image
            )
        })?;
        if minor >= 36 {
            return Err(format!(
                "{what}: node image {} is v1.{minor}: kind generates kubeadm v1beta4 from v1.36 and skips v1beta3 patches",
                s.image
            ));
        }
    }
    Ok(s)
}

/// `kindest/node:v1.35.0@sha256:…` → 35; None unless pinned by tag and digest.
fn image_minor(image: &str) -> Option<u64> {
    let (name, digest) = image.split_once("@sha256:")?;
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tag = name.strip_prefix("kindest/node:v1.")?;
    tag.split('.').next()?.parse().ok()
}

fn config(name: &str) -> Settings {
    let rel = format!("kind-configs/{name}.yaml");
    check_config(&read(&rel), &rel).unwrap_or_else(|e| panic!("{e}"))
}

fn flag(m: &BTreeMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .unwrap_or_else(|| panic!("{k} not set"))
        .parse()
        .unwrap_or_else(|e| panic!("{k}: {e}"))
}

#[test]
fn every_kind_config_matches_the_kind_and_kubeadm_schemas() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("kind-configs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names, ["default.yaml", "throttling.yaml", "tuned.yaml"]);
    let mut images = Vec::new();
    for n in &names {
        let s = config(n.trim_end_matches(".yaml"));
        images.push(s.image);
    }
    // One Kubernetes for all three, so their results compare the same apiserver and etcd.
    assert!(images.iter().all(|i| i == &images[0]), "{images:?}");
    assert_eq!(image_minor(&images[0]), Some(35), "{}", images[0]);
}

#[test]
fn default_config_changes_nothing() {
    let s = config("default");
    assert_eq!(s.patches, 0);
    assert!(s.apiserver.is_empty() && s.etcd.is_empty(), "{s:?}");
    assert!(s.ports.is_empty(), "{s:?}");
}

#[test]
fn tuned_config_raises_the_limits_and_publishes_etcd_metrics_on_loopback() {
    let s = config("tuned");
    assert_eq!(s.patches, 1);
    assert_eq!(flag(&s.apiserver, "max-requests-inflight"), 800);
    assert_eq!(flag(&s.apiserver, "max-mutating-requests-inflight"), 400);
    assert_eq!(s.apiserver.len(), 2, "{:?}", s.apiserver);
    assert_eq!(flag(&s.etcd, "quota-backend-bytes"), 8 * 1024 * 1024 * 1024);
    assert_eq!(s.etcd["listen-metrics-urls"], "http://0.0.0.0:2381");
    assert_eq!(s.etcd.len(), 2, "{:?}", s.etcd);
    // etcd's metrics port and nothing else, on the host's loopback only.
    assert_eq!(s.ports, [(2381, 2381, "127.0.0.1".to_string())]);
}

#[test]
fn throttling_config_has_lower_limits_than_tuned_and_the_defaults() {
    let t = config("throttling");
    let tuned = config("tuned");
    assert_eq!(flag(&t.apiserver, "max-requests-inflight"), 20);
    assert_eq!(flag(&t.apiserver, "max-mutating-requests-inflight"), 10);
    for (k, default) in [
        ("max-requests-inflight", 400),
        ("max-mutating-requests-inflight", 200),
    ] {
        assert!(flag(&t.apiserver, k) < flag(&tuned.apiserver, k), "{k}");
        assert!(flag(&t.apiserver, k) < default, "{k}");
    }
    assert!(t.etcd.is_empty(), "{:?}", t.etcd);
    assert!(t.ports.is_empty(), "{:?}", t.ports);
}

#[test]
fn checkers_reject_broken_configs() {
    let tuned = read("kind-configs/tuned.yaml");
    let broken = [
        ("unquoted flag value", tuned.replace("\"800\"", "800")),
        ("unknown apiserver flag", tuned.replace("max-requests-inflight:", "max-requests-in-flight:")),
        ("unknown etcd flag", tuned.replace("quota-backend-bytes:", "quota-bytes:")),
        ("kubeadm v1beta4", tuned.replace("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")),
        ("v1.36 node", tuned.replace("kindest/node:v1.35.0", "kindest/node:v1.36.1")),
        ("unpinned image", tuned.replace("@sha256:", "#")),
        ("wrong kind", tuned.replace("kind: ClusterConfiguration", "kind: InitConfiguration")),
        ("kind v1alpha3", tuned.replace("kind.x-k8s.io/v1alpha4", "kind.x-k8s.io/v1alpha3")),
        ("unknown cluster field", format!("{tuned}nodeImage: x\n")),
        ("unknown node field", tuned.replace("    extraPortMappings:", "    portMappings:")),
        ("unknown port field", tuned.replace("listenAddress:", "hostIP:")),
        ("other name", tuned.replace("name: capi-loadgen", "name: kind")),
        ("extraArgs as a v1beta4 list", tuned.replace(
            "        max-requests-inflight: \"800\"\n        max-mutating-requests-inflight: \"400\"\n",
            "        - name: max-requests-inflight\n          value: \"800\"\n",
        )),
    ];
    for (why, text) in broken {
        assert_ne!(text, tuned, "{why}: the mutation did not apply");
        assert!(check_config(&text, why).is_err(), "{why}: accepted");
    }
}

// --- deploy/ ----------------------------------------------------------------------------

/// Runs scripts/kind-metrics-port.sh on `config` (written to a temp file).
fn metrics_port(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("kind.yaml");
    std::fs::write(&f, config).unwrap();
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/kind-metrics-port.sh"))
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn kind_up_reads_the_etcd_metrics_host_port_from_the_config() {
    let tuned = read("kind-configs/tuned.yaml");
    assert_eq!(metrics_port(&tuned), "2381");
    // Published on another host port: that port, not 2381.
    assert_eq!(
        metrics_port(&tuned.replace("hostPort: 2381", "hostPort: 23811")),
        "23811"
    );
    // A mapping of another container port (23811) is not etcd's metrics port.
    assert_eq!(
        metrics_port(&tuned.replace("containerPort: 2381", "containerPort: 23811")),
        ""
    );
    assert_eq!(metrics_port(&read("kind-configs/default.yaml")), "");
    // kind-up uses it rather than a fixed port; kind-down removes the env file.
    let up = read("scripts/kind-up.sh");
    assert!(up.contains("kind-metrics-port.sh") && !up.contains("127.0.0.1:2381/metrics\\n"));
    assert!(up.contains("--image") && up.contains("CAPI_LOADGEN_KIND_IMAGE"));
    assert!(read("scripts/kind-down.sh").contains(".kind/$NAME.env"));
}
