//! Scaling the generator out: three `run --shard i/3` processes against the shared local
//! environment, merged with `merge`, must equal one process's run of the same fleet, and
//! no object may be created twice.

use capi_loadgen_test_support as common;

use capi_loadgen::report::Summary;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the parallel shard processes may take together.
const SHARDS_DEADLINE: Duration = Duration::from_secs(120);
/// Between two looks at whether the shard processes exited.
const POLL: Duration = Duration::from_millis(100);

/// 10 clusters in 5 namespaces: three shards own 1, 2 and 2 namespaces.
const FLEET: &str = "fleet: {clusters: 10, clusters_per_namespace: 2, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 2}
client: {pool_size: 2, qps: -1}
observe: {enabled: false}
watchers: {count: 1, kinds: [machine]}
phases:
  create: {concurrency: 3}
  steady: {duration_seconds: 3, sync_period_seconds: 2, jitter: 0, concurrency: 2, calls_per_reconcile: {get: 1, patch_status: 1}, client_qps: 500, machine_controller: {concurrency: 2}}
";

/// Runs the shards as separate processes, in parallel; shard 2 takes its index from
/// $JOB_COMPLETION_INDEX as in an Indexed Job. Bounded: killed after 120 s. Returns each
/// shard's results folder and stderr.
fn run_shards(profile: &Path, kubeconfig: &Path, base: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut children = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..3 {
        let out = base.join(format!("shard-{i}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"));
        cmd.args(["run", profile.to_str().unwrap(), "--kubeconfig"])
            .arg(kubeconfig)
            .args(["--run-id", "sh-shards", "--out"])
            .arg(&out)
            .env_remove("CAPI_LOADGEN_SHARD")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if i == 2 {
            cmd.args(["--shard", "3"]).env("JOB_COMPLETION_INDEX", "2");
        } else {
            cmd.args(["--shard", &format!("{i}/3")]);
        }
        children.push(cmd.spawn().expect("the binary starts"));
        dirs.push(out);
    }
    let deadline = Instant::now() + SHARDS_DEADLINE;
    let mut logs = Vec::new();
    for (i, mut c) in children.into_iter().enumerate() {
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                assert!(status.success(), "shard {i} failed: {status}: {err}");
                logs.push(err);
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("shard {i} did not finish within 120 s");
            }
            std::thread::sleep(POLL);
        }
    }
    (dirs, logs)
}

/// The `total` of the create phase's "phase started" log line.
fn create_total(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("phase started") && l.contains("create"))
        .unwrap_or_else(|| panic!("no create 'phase started' line in\n{log}"));
    let rest = &line[line.find("total=").expect("a total") + "total=".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merge_into_the_single_process_run() {
    let env = common::shared_env();
    let profile = common::profile_file("shard-fleet", FLEET);
    let kc = env.kubeconfig.clone();
    let base = common::state_dir("shards");

    // The reference: one process, the whole fleet.
    let single = base.join("single");
    common::cli(&[
        "run",
        profile.to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--run-id",
        "sh-single",
        "--out",
        single.to_str().unwrap(),
    ])
    .await
    .expect("the single-process run succeeds");
    let one = Summary::read(&single).unwrap();

    let (p, k, b) = (profile.clone(), kc.clone(), base.clone());
    let (dirs, logs) = tokio::task::spawn_blocking(move || run_shards(&p, &k, &b))
        .await
        .unwrap();
    // Each shard's progress counts its own objects, not the whole fleet's.
    let whole = common::fleet("shard-fleet-spec", FLEET, "sh-shards").total_objects();
    let totals: Vec<u64> = logs.iter().map(|l| create_total(l)).collect();
    assert_eq!(totals.iter().sum::<u64>(), whole, "{totals:?}");
    assert!(totals.iter().all(|t| *t < whole), "{totals:?}");
    let shards: Vec<Summary> = dirs
        .iter()
        .map(|d| {
            common::assert_valid_summary(&d.join("summary.json"));
            Summary::read(d).unwrap()
        })
        .collect();
    // Shards split by namespace: 1, 2 and 2 of the 5 namespaces.
    let slices: Vec<(u64, u64, u64)> = shards
        .iter()
        .map(|s| {
            let i = s.shard.as_ref().expect("a shard says which it is");
            (i.index, i.first_cluster, s.fleet.clusters)
        })
        .collect();
    assert_eq!(slices, vec![(0, 0, 2), (1, 2, 4), (2, 6, 4)]);
    for s in &shards {
        common::accounted(&serde_json::to_value(s).unwrap());
        assert_eq!(
            s.totals.failed, 0,
            "no name created twice: {:?}",
            s.operations
        );
        assert_eq!(s.shard.as_ref().unwrap().fleet_clusters, 10);
    }

    // What the apiserver holds: every object once, the same fleet as the single run.
    for (path, n) in [
        ("/api/v1/namespaces", 5),
        ("/apis/loadtest.cluster.x-k8s.io/v1beta1/clusters", 10),
        ("/apis/loadtest.cluster.x-k8s.io/v1beta1/machines", 30),
        ("/api/v1/secrets", 10 * 5 + 30),
    ] {
        let sharded = common::names_with_label(&kc, path, "sh-shards").await;
        let unique: std::collections::BTreeSet<&String> = sharded.iter().collect();
        assert_eq!((sharded.len(), unique.len()), (n, n), "{path}");
        assert_eq!(
            common::names_with_label(&kc, path, "sh-single").await.len(),
            n,
            "{path}"
        );
    }

    // Merge, and compare with the single run.
    let merged = base.join("merged");
    let mut args = vec!["merge"];
    let dir_strs: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    args.extend(dir_strs.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    common::cli(&args).await.expect("merge succeeds");
    common::assert_valid_summary(&merged.join("summary.json"));
    let m = Summary::read(&merged).unwrap();
    assert_eq!(m.merged_from.len(), 3);
    assert!(
        m.merged_from[0].ends_with("shard-0"),
        "in shard order: {:?}",
        m.merged_from
    );
    assert!(m.shard.is_none());
    assert_eq!(m.run_id, "sh-shards");
    assert_eq!(
        (
            m.fleet.clusters,
            m.fleet.namespaces,
            m.fleet.objects_planned
        ),
        (
            one.fleet.clusters,
            one.fleet.namespaces,
            one.fleet.objects_planned
        )
    );
    common::accounted(&serde_json::to_value(&m).unwrap());
    let creates = |s: &Summary| -> Vec<(String, u64, u64)> {
        s.operations
            .iter()
            .filter(|o| o.phase == "create")
            .map(|o| (o.kind.clone(), o.counts.sent, o.counts.ok))
            .collect()
    };
    assert_eq!(creates(&m), creates(&one));
    assert_eq!(m.totals.failed, 0);
    let sum = |f: &dyn Fn(&Summary) -> u64| shards.iter().map(f).sum::<u64>();
    assert_eq!(m.totals.sent, sum(&|s| s.totals.sent));
    assert_eq!(m.totals.ok, sum(&|s| s.totals.ok));
    // Controllers: the shards together reconcile the single run's items.
    let items = |s: &Summary| -> Vec<(String, u64)> {
        s.controllers
            .iter()
            .map(|c| (c.name.clone(), c.items))
            .collect()
    };
    assert_eq!(items(&m), items(&one));
    assert_eq!(
        m.controllers[0].reconciles,
        sum(&|s| s.controllers[0].reconciles)
    );
    assert_eq!(
        m.controllers[0].queue_wait_ms.count,
        sum(&|s| s.controllers[0].queue_wait_ms.count),
        "controller histograms are added, not averaged"
    );
    let w = m.watch.as_ref().expect("watch merged");
    assert_eq!(w.watchers, 3);
    assert_eq!(w.events, sum(&|s| s.watch.as_ref().unwrap().events));

    // Histograms are added losslessly: counts and extremes are the shards'.
    let hists = capi_loadgen::report::files::read_histograms(&merged).unwrap();
    let tag = "create/create/machine/latency";
    let (_, h) = hists.iter().find(|(t, _)| t == tag).unwrap();
    let parts: Vec<_> = dirs
        .iter()
        .map(|d| {
            let hs = capi_loadgen::report::files::read_histograms(d).unwrap();
            hs.into_iter().find(|(t, _)| t == tag).unwrap().1
        })
        .collect();
    assert_eq!(h.len(), parts.iter().map(|p| p.len()).sum::<u64>());
    assert_eq!(h.max(), parts.iter().map(|p| p.max()).max().unwrap());
    let machine = m
        .operations
        .iter()
        .find(|o| {
            (o.phase.as_str(), o.verb.as_str(), o.kind.as_str()) == ("create", "create", "machine")
        })
        .unwrap();
    assert_eq!(machine.latency_ms.count, 30);
    // The series, aligned on the shards' start times, holds every request once.
    let csv = std::fs::read_to_string(merged.join("timeseries.csv")).unwrap();
    let series = capi_loadgen::measure::timeseries::read_csv(&csv).unwrap();
    assert_eq!(
        series.iter().map(|p| p.completed).sum::<u64>(),
        m.totals.sent
    );
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(md.contains("# capi-loadgen run sh-shards"), "{md}");

    // Refusals: a missing shard, a directory given twice, a whole run that is no shard.
    let d = |i: usize| dirs[i].to_str().unwrap();
    let refused = |r: Result<(), capi_loadgen::Error>| match r {
        Err(e @ capi_loadgen::Error::Usage(_)) => e.to_string(),
        other => panic!("expected a usage error, got {other:?}"),
    };
    let other = base.join("partial");
    let msg = refused(common::cli(&["merge", d(0), d(2), "--out", other.to_str().unwrap()]).await);
    assert!(msg.contains("shard(s) 1 of 3 missing"), "{msg}");
    common::cli(&[
        "merge",
        d(0),
        d(2),
        "--allow-partial",
        "--out",
        other.to_str().unwrap(),
    ])
    .await
    .expect("--allow-partial merges what there is");
    let msg = refused(common::cli(&["merge", d(0), d(0), d(1)]).await);
    assert!(msg.contains("given twice"), "{msg}");
    let msg = refused(common::cli(&["merge", single.to_str().unwrap(), d(1)]).await);
    assert!(msg.contains("is not a shard"), "{msg}");
    let msg =
        refused(common::cli(&["merge", d(0), d(1), d(2), "--out", merged.to_str().unwrap()]).await);
    assert!(msg.contains("--force"), "{msg}");

    for run in ["sh-shards", "sh-single"] {
        common::cli(&[
            "cleanup",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--run-id",
            run,
        ])
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn shard_flags_are_checked_before_anything_is_sent() {
    let profile = common::profile_file("shard-flags", FLEET);
    let p = profile.to_str().unwrap();
    let usage = |r: Result<(), capi_loadgen::Error>| match r {
        Err(e @ capi_loadgen::Error::Usage(_)) => e.to_string(),
        other => panic!("expected a usage error, got {other:?}"),
    };
    let msg = usage(common::cli(&["run", p, "--dry-run", "--shard", "1/3"]).await);
    assert!(msg.contains("needs --run-id"), "{msg}");
    let msg = usage(common::cli(&["run", p, "--dry-run", "--run-id", "x", "--shard", "0/6"]).await);
    assert!(msg.contains("5 namespace(s)"), "{msg}");
    common::cli(&["run", p, "--dry-run", "--run-id", "x", "--shard", "4/5"])
        .await
        .expect("the last of 5 shards owns one namespace");
    // Malformed values are flag errors (clap exits 2 for them).
    use clap::Parser;
    for bad in ["3/3", "x/3", "0/0"] {
        let r = capi_loadgen::Cli::try_parse_from(["capi-loadgen", "run", p, "--shard", bad]);
        assert!(r.is_err(), "{bad} accepted");
    }
}
