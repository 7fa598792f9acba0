//! `local.apiserver_memory_limit` end to end: kube-apiserver in a 400 MiB memory cgroup
//! while the fleet grows without a client limit. The kernel OOM-kills it within a minute
//! or so; the tool survives, stops the run at once with exit code 14 and partial results
//! in which every request is accounted for, and summary.json records the OOM kill, the
//! cluster count at death (which the acknowledged creates bear out) and the fitted memory
//! line's prediction for the same limit. The cgroup is gone afterwards. Needs root and a
//! cgroup memory controller; skipped, saying so, without them.

use capi_loadgen_test_support as common;

/// The limit: above the apiserver's start-up needs, below a few hundred clusters.
const LIMIT_MIB: u64 = 400;

fn memory_cgroup_root() -> Option<std::path::PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    capi_loadgen::env::memory_cgroup::memory_hierarchy(&mountinfo).map(|(_, p)| p)
}

fn our_cgroups(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let me = format!("capi-loadgen-apiserver-{}-", std::process::id());
    walkdir(root, 3)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&me))
        })
        .collect()
}

fn walkdir(dir: &std::path::Path, depth: u32) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
            if depth > 0 {
                out.extend(walkdir(&e.path(), depth - 1));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_over_its_memory_limit_is_oom_killed_at_a_reported_cluster_count() {
    let Some(root) = memory_cgroup_root() else {
        println!("skipped: the apiserver's memory cgroup needs root and a memory controller");
        return;
    };
    let profile = common::profile_file(
        "memory-limit",
        &format!(
            "local: {{apiserver_memory_limit: {LIMIT_MIB}Mi}}
fleet: {{clusters: 5000}}
client: {{pool_size: 4, qps: -1, timeout_seconds: 10}}
observe: {{interval_seconds: 2}}
phases:
  create: {{concurrency: 32}}
"
        ),
    );
    let out = common::state_dir("memory-limit-out");
    let e = common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--run-id",
        "it-memory-limit",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .expect_err("the apiserver dies before 5,000 clusters");
    assert_eq!(e.exit_code(), capi_loadgen::exit::APISERVER_OOM, "{e}");
    let s = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(s["status"], "aborted");
    let (_, ok, failed, _) = common::accounted(&s);
    assert!(ok > 0 && failed > 0, "{}", s["totals"]);
    let m = &s["apiserver_memory_limit"];
    assert_eq!(m["outcome"], "oom_killed", "{m}");
    assert_eq!(m["apiserver_exit"], "signal 9 (SIGKILL)", "{m}");
    assert!(m["oom_kills"].as_u64().unwrap_or(1) >= 1, "{m}");
    assert_eq!(m["limit_bytes"], LIMIT_MIB * 1048576);
    assert_eq!(
        m["objects_acknowledged"], ok,
        "every acknowledged create: {m}"
    );
    let clusters = m["clusters"].as_u64().unwrap();
    assert!(clusters > 0 && clusters < 5000, "{m}");
    let per_cluster = s["fleet"]["objects_per_cluster"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "namespace")
        .map(|(_, v)| v.as_u64().unwrap())
        .sum::<u64>();
    assert!(
        clusters * per_cluster <= ok,
        "{clusters} clusters of {per_cluster} objects, {ok} acknowledged"
    );
    assert!(m["predicted_clusters"].as_f64().unwrap() > 0.0, "{m}");
    assert!(
        s["stop_reason"].as_str().unwrap().contains("OOM-killed"),
        "{}",
        s["stop_reason"]
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("OOM-killed"), "{report}");
    println!(
        "OOM-killed under {LIMIT_MIB} MiB after {} s at {clusters} clusters (fit predicts {:.0}), peak {} bytes; {ok} ok, {failed} failed",
        m["died_after_seconds"], m["predicted_clusters"].as_f64().unwrap(), m["peak_bytes"]
    );
    assert!(
        our_cgroups(&root).is_empty(),
        "cgroups left: {:?}",
        our_cgroups(&root)
    );
}
