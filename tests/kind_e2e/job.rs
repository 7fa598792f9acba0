//! `deploy/indexed-job.yaml` inside kind: the tool's image (`scripts/kind-tool-image.sh`,
//! `kind load image-archive`), an Indexed Job of 3 shards, the shards' logs collected and
//! `merge`d, and the merged counts equal to the sums of the shards', exactly.

use crate::run::{cmd, read_summary, Cluster, KUBECTL_DEADLINE, ROOT};
use capi_loadgen::report::Summary;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Building the image (the binary under test, no compile) and loading it into the node.
const IMAGE_DEADLINE: Duration = Duration::from_secs(300);
/// The Job: 3 pods each creating, steadying and deleting 10 clusters.
const JOB_DEADLINE: Duration = Duration::from_secs(900);
const SHARDS: u64 = 3;

pub fn indexed_job_of_3_shards_merges_exactly(c: &Cluster, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut image = crate::run::command("bash");
    image
        .arg(ROOT.join("scripts/kind-tool-image.sh"))
        .args(["--name", &c.name, "--binary"])
        .arg(crate::run::tool_binary());
    eprintln!(
        "kind_e2e: {}",
        cmd(image, IMAGE_DEADLINE, "scripts/kind-tool-image.sh").trim()
    );

    // The committed manifest, with 3 shards, this test's run id and a 30-cluster fleet.
    let id = c.run_id("job");
    let manifest = std::fs::read_to_string(ROOT.join("deploy/indexed-job.yaml")).unwrap();
    let edited = manifest
        .replace("completions: 4", &format!("completions: {SHARDS}"))
        .replace("parallelism: 4", &format!("parallelism: {SHARDS}"))
        .replace(
            "- --shard\n            - \"4\"",
            &format!("- --shard\n            - \"{SHARDS}\""),
        )
        .replace("- job-run-1", &format!("- {id}"))
        .replace("clusters: 100", "clusters: 30")
        .replace("duration_seconds: 60", "duration_seconds: 20");
    for (what, changed) in [
        (
            "completions",
            edited.contains(&format!("completions: {SHARDS}")),
        ),
        ("shards", edited.contains(&format!("- \"{SHARDS}\""))),
        ("run id", edited.contains(&id)),
        ("fleet", edited.contains("clusters: 30")),
    ] {
        assert!(
            changed,
            "deploy/indexed-job.yaml changed shape: no {what} to set"
        );
    }
    let file = dir.join("indexed-job.yaml");
    std::fs::write(&file, &edited).unwrap();
    let mut apply = c.kubectl_admin();
    apply.args(["apply", "-f"]).arg(&file);
    cmd(apply, KUBECTL_DEADLINE, "kubectl apply indexed-job.yaml");

    let mut wait = c.kubectl_admin();
    wait.args([
        "-n",
        "capi-loadgen-system",
        "wait",
        "--for=condition=complete",
    ])
    .args([
        "job/capi-loadgen",
        &format!("--timeout={}s", JOB_DEADLINE.as_secs()),
    ]);
    let (status, _, err) = crate::run::run_bounded(
        wait,
        JOB_DEADLINE + Duration::from_secs(30),
        "kubectl wait job",
    );
    let log = dir.join("job.log");
    let mut logs = c.kubectl_admin();
    logs.args(["-n", "capi-loadgen-system", "logs", "--prefix", "-l"])
        .args([
            "job-name=capi-loadgen",
            "--tail=-1",
            "--max-log-requests=10",
        ]);
    let text = cmd(logs, KUBECTL_DEADLINE, "kubectl logs");
    std::fs::write(&log, &text).unwrap();
    if !status.success() {
        let mut pods = c.kubectl_admin();
        pods.args(["-n", "capi-loadgen-system", "get", "pods", "-o", "wide"]);
        let pods = crate::run::output_even_if_failed(pods, KUBECTL_DEADLINE);
        panic!(
            "the Job did not complete: {err}\n{pods}\n--- logs (head)\n{}",
            &text[..text.len().min(4000)]
        );
    }

    let merged = dir.join("merged");
    let mut merge = c.tool(&["merge"]);
    merge.arg(&log).arg("--out").arg(&merged);
    let table = cmd(merge, KUBECTL_DEADLINE, "capi-loadgen merge");
    eprintln!("kind_e2e: merge of the Job's {SHARDS} shards:\n{table}");

    let m = read_summary(&merged);
    assert_eq!(m.merged_from.len() as u64, SHARDS, "{:?}", m.merged_from);
    let shards: Vec<Summary> = m
        .merged_from
        .iter()
        .map(|d| read_summary(&resolve(&merged, d)))
        .collect();
    let mut indexes: Vec<u64> = shards
        .iter()
        .map(|s| s.shard.as_ref().expect("a shard without shard info").index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..SHARDS).collect::<Vec<_>>());
    for s in &shards {
        assert_eq!(s.run_id, id);
        assert!(s.totals.sent > 0, "shard {:?} sent nothing", s.shard);
    }
    let sum = |f: fn(&Summary) -> u64| shards.iter().map(f).sum::<u64>();
    assert_eq!(m.totals.sent, sum(|s| s.totals.sent));
    assert_eq!(m.totals.ok, sum(|s| s.totals.ok));
    assert_eq!(m.totals.failed, sum(|s| s.totals.failed));
    assert_eq!(m.totals.throttled, sum(|s| s.totals.throttled));
    assert_eq!(m.fleet.clusters, sum(|s| s.fleet.clusters));
    // Every operation's counts and latency sample count: the merged = the shards' sum.
    let mut by_op: BTreeMap<(String, String, String), [u64; 4]> = BTreeMap::new();
    for s in &shards {
        for o in &s.operations {
            let e = by_op
                .entry((o.phase.clone(), o.verb.clone(), o.kind.clone()))
                .or_default();
            e[0] += o.counts.sent;
            e[1] += o.counts.ok;
            e[2] += o.counts.failed;
            e[3] += o.latency_ms.count;
        }
    }
    assert_eq!(m.operations.len(), by_op.len());
    for o in &m.operations {
        let want = by_op[&(o.phase.clone(), o.verb.clone(), o.kind.clone())];
        let got = [
            o.counts.sent,
            o.counts.ok,
            o.counts.failed,
            o.latency_ms.count,
        ];
        assert_eq!(got, want, "{} {} {}", o.phase, o.verb, o.kind);
    }
    let per_shard: Vec<String> = shards
        .iter()
        .map(|s| format!("{}/{}", s.totals.sent, s.totals.ok))
        .collect();
    eprintln!(
        "kind_e2e: Indexed Job of {SHARDS} shards, run {id}: shards sent/ok {} -> merged {}/{} ({} failed), {} operations equal to the shards' sums",
        per_shard.join(" + "),
        m.totals.sent,
        m.totals.ok,
        m.totals.failed,
        m.operations.len()
    );
    let mut delete = c.kubectl_admin();
    delete.args([
        "-n",
        "capi-loadgen-system",
        "delete",
        "job",
        "capi-loadgen",
        "--wait",
    ]);
    cmd(delete, KUBECTL_DEADLINE, "kubectl delete job");
    let mut cleanup = c.tool(&["cleanup"]);
    cleanup.args(["--run-id", &id]);
    cmd(cleanup, KUBECTL_DEADLINE * 5, "cleanup of the Job's run");
    let left = c.labelled(&id);
    assert!(left.is_empty(), "the Job's run left: {left:?}");
}

/// A `merged_from` entry: absolute, or relative to the merged folder or the repository.
fn resolve(merged: &Path, d: &str) -> std::path::PathBuf {
    let p = Path::new(d);
    if p.is_absolute() || p.join("summary.json").is_file() {
        p.to_path_buf()
    } else if merged.join(p).join("summary.json").is_file() {
        merged.join(p)
    } else {
        ROOT.join(p)
    }
}
