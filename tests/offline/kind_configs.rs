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
//! - `deploy/rbac.yaml` and `deploy/indexed-job.yaml` agree (ServiceAccount, namespace,
//!   completions = parallelism = `--shard` count) and the ClusterRole covers every API group
//!   the tool writes, without wildcards beyond the tool's own groups.
//!
//! The checkers return errors rather than panicking, and `checkers_reject_broken_configs`
//! feeds them broken variants, so a checker that accepts anything fails the suite.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
/// The API groups the tool writes to or reads from, each of which the ClusterRole must cover.
const LOADTEST_GROUPS: &[&str] = &[
    "loadtest.cluster.x-k8s.io",
    "bootstrap.loadtest.cluster.x-k8s.io",
    "controlplane.loadtest.cluster.x-k8s.io",
    "infrastructure.loadtest.cluster.x-k8s.io",
];
const WRITE_VERBS: &[&str] = &[
    "create", "get", "list", "watch", "patch", "update", "delete",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(text: &str, what: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("{what}: not YAML: {e}"))
}

/// The documents of a multi-document YAML file, split on `---` lines (no document here
/// contains one inside a block scalar). Comment-only documents are dropped.
fn documents(text: &str, what: &str) -> Vec<Value> {
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

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
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

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| str_at(d, "/kind") == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| str_at(d, "/kind") == Some(kind) && str_at(d, "/metadata/name") == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// (group, resource) -> verbs, and resourceNames per (group, resource), of a role's rules;
/// no wildcard anywhere.
type Grants = BTreeMap<(String, String), (Vec<String>, Vec<String>)>;

fn grants(role: &Value) -> (Grants, BTreeMap<String, Vec<String>>) {
    let mut granted = Grants::new();
    let mut urls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in role["rules"].as_array().unwrap() {
        let verbs = strings(r.get("verbs"));
        let mut names = strings(r.get("resourceNames"));
        names.sort();
        for x in verbs
            .iter()
            .chain(&names)
            .chain(&strings(r.get("apiGroups")))
            .chain(&strings(r.get("resources")))
        {
            assert!(!x.contains('*'), "no wildcard: {r}");
        }
        for u in strings(r.get("nonResourceURLs")) {
            urls.entry(u).or_default().extend(verbs.clone());
        }
        for g in strings(r.get("apiGroups")) {
            for res in strings(r.get("resources")) {
                let e = granted.entry((g.clone(), res)).or_default();
                if names.is_empty() {
                    e.0.extend(verbs.clone());
                } else {
                    e.1.extend(verbs.iter().map(|v| format!("{v} {}", names.join(","))));
                }
            }
        }
    }
    (granted, urls)
}

#[test]
fn rbac_grants_the_tool_what_it_needs_and_no_more() {
    let text = read("deploy/rbac.yaml");
    assert!(
        !text.contains("\"*\""),
        "no quoted wildcard in deploy/rbac.yaml"
    );
    let docs = documents(&text, "deploy/rbac.yaml");
    assert_eq!(docs.len(), 7);
    let ns = find(&docs, "Namespace");
    let sa = find(&docs, "ServiceAccount");
    let role = named(&docs, "ClusterRole", "capi-loadgen");
    let ns_role = named(
        &docs,
        "ClusterRole",
        capi_loadgen::backend::access::NAMESPACE_ROLE,
    );
    let binding = find(&docs, "ClusterRoleBinding");
    assert_eq!(str_at(sa, "/metadata/name"), Some("capi-loadgen"));
    assert_eq!(
        str_at(sa, "/metadata/namespace"),
        Some("capi-loadgen-system")
    );
    assert_eq!(str_at(ns, "/metadata/name"), Some("capi-loadgen-system"));
    assert_eq!(str_at(binding, "/roleRef/name"), Some("capi-loadgen"));
    let subjects = binding["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(str_at(&subjects[0], "/kind"), Some("ServiceAccount"));
    assert_eq!(str_at(&subjects[0], "/name"), str_at(sa, "/metadata/name"));
    assert_eq!(
        str_at(&subjects[0], "/namespace"),
        str_at(sa, "/metadata/namespace")
    );

    let (granted, urls) = grants(role);
    let verbs = |g: &str, res: &str| granted.get(&(g.to_string(), res.to_string())).cloned();
    // Every kind the tool writes in its own groups, by name, with its status (and scale).
    let tool = capi_loadgen::engine::cleanup::tool_resources("loadtest.cluster.x-k8s.io");
    let mut tool_pairs = std::collections::BTreeSet::new();
    for (kind, api) in &tool {
        if *kind == capi_loadgen::model::Kind::Secret {
            continue;
        }
        tool_pairs.insert((api.group.clone(), api.plural.clone()));
        for res in [api.plural.clone(), format!("{}/status", api.plural)] {
            let (v, _) = verbs(&api.group, &res).unwrap_or_else(|| panic!("{}/{res}", api.group));
            for w in WRITE_VERBS {
                assert!(v.iter().any(|x| x == w), "{}/{res}: {w}", api.group);
            }
        }
    }
    // Secrets: nothing cluster-wide.
    assert!(verbs("", "secrets").is_none(), "no Secrets cluster-wide");
    let (nv, _) = verbs("", "namespaces").unwrap();
    assert_eq!(nv, ["create", "get", "list", "watch", "delete"]);
    assert_eq!(verbs("", "namespaces/finalize").unwrap().0, ["update"]);
    assert_eq!(
        verbs("rbac.authorization.k8s.io", "rolebindings")
            .unwrap()
            .0,
        ["create"]
    );
    assert_eq!(
        verbs("rbac.authorization.k8s.io", "clusterroles")
            .unwrap()
            .1,
        [format!(
            "bind {}",
            capi_loadgen::backend::access::NAMESPACE_ROLE
        )]
    );
    // CRDs: read; change only the tool's own, by name; never create (rbac-crds.yaml opts in).
    let (crd_any, crd_named) = verbs("apiextensions.k8s.io", "customresourcedefinitions").unwrap();
    assert_eq!(crd_any, ["get", "list", "watch"]);
    let mut names = std::collections::BTreeSet::new();
    // Every provider, classic and ClusterClass-era (machine pools where the provider has
    // them).
    for provider in ["metal3", "nutanix", "docker"] {
        let pools = if provider == "docker" { 1 } else { 0 };
        for era in [
            String::new(),
            format!(", topology: true, machine_health_checks: true, machine_pools: {pools}"),
        ] {
            let fleet = capi_loadgen::profile::parse_str(
                std::path::Path::new("p.yaml"),
                &format!("fleet: {{clusters: 1, provider: {provider}{era}}}\n"),
                &Default::default(),
            )
            .unwrap()
            .fleet;
            for c in capi_loadgen::model::crds(&fleet) {
                names.insert(c["metadata"]["name"].as_str().unwrap().to_string());
            }
        }
    }
    let listed = names.iter().cloned().collect::<Vec<_>>().join(",");
    assert_eq!(
        crd_named,
        ["update", "patch", "delete"].map(|v| format!("{v} {listed}"))
    );
    for res in ["prioritylevelconfigurations", "flowschemas"] {
        assert_eq!(
            verbs("flowcontrol.apiserver.k8s.io", res).unwrap().0,
            ["get", "list"]
        );
    }
    for u in ["/metrics", "/readyz"] {
        assert_eq!(
            urls.get(u).map(Vec::as_slice),
            Some(&["get".to_string()][..]),
            "{u}"
        );
    }
    // Nothing beyond: the tool's kinds (+status, +scale for four), namespaces, finalize,
    // rolebindings, clusterroles, CRDs, two APF types.
    let scale = tool_pairs
        .iter()
        .filter(|(_, p)| {
            [
                "machinedeployments",
                "machinesets",
                "kubeadmcontrolplanes",
                "machinepools",
            ]
            .contains(&p.as_str())
        })
        .count();
    let tool_entries = tool_pairs.len() * LOADTEST_GROUPS.len() * 2 + scale * LOADTEST_GROUPS.len();
    assert_eq!(granted.len(), tool_entries + 7, "{granted:?}");
    assert_eq!(urls.len(), 2, "{urls:?}");

    // In the namespaces it creates: Secrets, and list (only) on built-in types.
    let (ns_granted, ns_urls) = grants(ns_role);
    assert!(ns_urls.is_empty());
    for ((g, res), (v, names)) in &ns_granted {
        assert!(names.is_empty());
        if (g.as_str(), res.as_str()) == ("", "secrets") {
            assert_eq!(
                v,
                &WRITE_VERBS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
            );
        } else {
            assert_eq!(v, &["list"], "{g}/{res}");
            assert!(!LOADTEST_GROUPS.contains(&g.as_str()));
        }
    }
    // The admission policy that keeps RoleBindings and namespace deletes to its namespaces.
    let vap = find(&docs, "ValidatingAdmissionPolicy");
    let vapb = find(&docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(
        str_at(vapb, "/spec/policyName"),
        str_at(vap, "/metadata/name")
    );
    assert!(vap
        .to_string()
        .contains("system:serviceaccount:capi-loadgen-system:capi-loadgen"));
}

#[test]
fn indexed_job_shards_match_and_use_the_load_identity() {
    let rbac = documents(&read("deploy/rbac.yaml"), "deploy/rbac.yaml");
    let sa = find(&rbac, "ServiceAccount");
    let docs = documents(&read("deploy/indexed-job.yaml"), "deploy/indexed-job.yaml");
    assert_eq!(docs.len(), 2);
    let job = find(&docs, "Job");
    let cm = find(&docs, "ConfigMap");
    assert_eq!(str_at(job, "/apiVersion"), Some("batch/v1"));
    assert_eq!(
        str_at(job, "/metadata/namespace"),
        str_at(sa, "/metadata/namespace")
    );
    assert_eq!(
        str_at(cm, "/metadata/namespace"),
        str_at(sa, "/metadata/namespace")
    );
    assert_eq!(str_at(job, "/spec/completionMode"), Some("Indexed"));
    assert_eq!(
        job.pointer("/spec/backoffLimit").and_then(Value::as_u64),
        Some(0)
    );
    let completions = job
        .pointer("/spec/completions")
        .and_then(Value::as_u64)
        .unwrap();
    let parallelism = job
        .pointer("/spec/parallelism")
        .and_then(Value::as_u64)
        .unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        str_at(pod, "/serviceAccountName"),
        str_at(sa, "/metadata/name")
    );
    assert_eq!(str_at(pod, "/restartPolicy"), Some("Never"));
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args = strings(c.get("args"));
    let after = |flag: &str| -> String {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
        args.get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{flag} has no value"))
    };
    assert_eq!(args[0], "run");
    // A bare count: the index comes from JOB_COMPLETION_INDEX.
    let shards: u64 = after("--shard").parse().expect("--shard N, a bare count");
    assert_eq!(completions, 4);
    assert_eq!(parallelism, completions);
    assert_eq!(shards, completions);
    assert_eq!(after("--out"), "/results/$(JOB_COMPLETION_INDEX)");
    assert_eq!(after("--allow-context"), "in-cluster");
    // Results outlive the pod in its log; the Job cleans up after itself; metrics served.
    assert_eq!(after("--output"), "archive");
    assert!(job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_u64)
        .is_some_and(|t| t >= 600));
    let port: u64 = after("--metrics-addr")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["containerPort"].as_u64() == Some(port) && p["name"] == "metrics"));
    let env_index = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| str_at(e, "/name") == Some("JOB_COMPLETION_INDEX"))
        .expect("JOB_COMPLETION_INDEX in env");
    assert_eq!(
        str_at(env_index, "/valueFrom/fieldRef/fieldPath"),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );

    // The profile path is in the ConfigMap mount, and the ConfigMap holds it.
    let profile_path = args[1].clone();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let volumes = pod["volumes"].as_array().unwrap();
    let volume_at = |dir: &str| -> &Value {
        let m = mounts
            .iter()
            .find(|m| str_at(m, "/mountPath") == Some(dir))
            .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
        let name = str_at(m, "/name").unwrap();
        volumes
            .iter()
            .find(|v| str_at(v, "/name") == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let (dir, key) = profile_path.rsplit_once('/').unwrap();
    assert_eq!(
        str_at(volume_at(dir), "/configMap/name"),
        Some("capi-loadgen-profile")
    );
    assert_eq!(str_at(cm, "/metadata/name"), Some("capi-loadgen-profile"));
    assert!(volume_at("/results").get("emptyDir").is_some());

    // The shipped profile is valid for the tool, targets the cluster it runs in, and the run
    // id is one the tool accepts.
    let text =
        str_at(cm, &format!("/data/{key}")).unwrap_or_else(|| panic!("ConfigMap has no {key}"));
    let overrides = capi_loadgen::profile::Overrides {
        run_id: Some(after("--run-id")),
        ..Default::default()
    };
    let plan = capi_loadgen::profile::parse_str(Path::new(&profile_path), text, &overrides)
        .unwrap_or_else(|e| panic!("{profile_path} in the ConfigMap: {e}"));
    assert!(
        matches!(plan.target, capi_loadgen::profile::TargetPlan::Kube { .. }),
        "the Job's profile must target kube (the cluster the pods run in)"
    );
}
