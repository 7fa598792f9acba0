//! The in-cluster manifests (`deploy/`), checked statically like the kind configs:
//! `deploy/rbac.yaml` and `deploy/indexed-job.yaml` agree (ServiceAccount, namespace,
//! completions = parallelism = `--shard` count) and the ClusterRole covers every API group
//! the tool writes, without wildcards beyond the tool's own groups.

use super::kind_configs::{documents, read, str_at};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

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

    // In the namespaces it creates: Secrets, list (only) on built-in types, and delete of
    // its own RoleBinding there.
    let (ns_granted, ns_urls) = grants(ns_role);
    assert!(ns_urls.is_empty());
    for ((g, res), (v, names)) in &ns_granted {
        if (g.as_str(), res.as_str()) == ("rbac.authorization.k8s.io", "rolebindings") {
            assert_eq!(names, &["delete capi-loadgen"]);
        } else {
            assert!(names.is_empty(), "{g}/{res}: {names:?}");
        }
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
    // Three or more shards fit on a 2-core kind node beside its control plane (about 1 CPU
    // of requests): at most 250m each.
    let cpu = str_at(c, "/resources/requests/cpu").expect("a CPU request");
    let millis: u64 = cpu
        .strip_suffix('m')
        .map(|m| m.parse().unwrap())
        .unwrap_or_else(|| cpu.parse::<u64>().unwrap() * 1000);
    assert!(millis * 4 <= 1000, "CPU request {cpu} x 4 shards");
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
