//! `run --dry-run` streams the plan: every object the create phase would send is generated
//! and serialized (nothing is sent), and `--objects-out` writes the create bodies, one per
//! line in creation order, as a baseline client replays them (scripts/bench.sh).

use capi_loadgen_test_support as common;

use std::collections::BTreeSet;

const FLEET: &str = "fleet: {clusters: 5, clusters_per_namespace: 2, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 2}\n";

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn dry_run_writes_every_create_body_in_creation_order() {
    let p = common::profile_file("dry-run", FLEET);
    let out = common::state_dir("dry-run-out");
    let file = out.join("objects.jsonl");
    let (p, f) = (p.to_str().unwrap(), file.to_str().unwrap());
    common::cli(&[
        "run",
        p,
        "--dry-run",
        "--run-id",
        "dry1",
        "--objects-out",
        f,
    ])
    .await
    .unwrap();
    let fleet = common::fleet("dry-run", FLEET, "dry1");
    let objs = lines(&file);
    assert_eq!(objs.len() as u64, fleet.total_objects());
    // Namespaces first (3 for 5 clusters, 2 per namespace), then cluster by cluster.
    let kinds: Vec<&str> = objs.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[..3], ["Namespace"; 3]);
    assert_eq!(kinds[3], "Cluster");
    let mut names = BTreeSet::new();
    for o in &objs {
        let md = &o["metadata"];
        assert_eq!(md["labels"]["capi-loadgen.io/run-id"], "dry1", "{o}");
        assert!(
            o.get("status").is_none(),
            "create bodies carry no status: {o}"
        );
        assert!(
            md.get("ownerReferences").is_none_or(|r| r.is_array()),
            "no `ownerReferences: null`: {o}"
        );
        assert!(names.insert((
            o["kind"].to_string(),
            md["namespace"].to_string(),
            md["name"].to_string()
        )));
        if o["kind"] != "Namespace" {
            assert!(
                md["namespace"].as_str().unwrap().starts_with("clg-dry1-"),
                "{o}"
            );
        }
    }

    // A shard streams only its own namespaces and clusters.
    let shard_file = out.join("shard.jsonl");
    let s = shard_file.to_str().unwrap();
    common::cli(&[
        "run",
        p,
        "--dry-run",
        "--run-id",
        "dry1",
        "--shard",
        "1/2",
        "--objects-out",
        s,
    ])
    .await
    .unwrap();
    let shard = lines(&shard_file);
    assert!(!shard.is_empty() && shard.len() < objs.len());
    let all: BTreeSet<String> = objs.iter().map(|o| o.to_string()).collect();
    assert!(shard.iter().all(|o| all.contains(&o.to_string())));

    // --plan-only generates nothing; --objects-out needs --dry-run.
    common::cli(&["run", p, "--dry-run", "--plan-only"])
        .await
        .unwrap();
    use clap::Parser;
    for args in [
        vec!["capi-loadgen", "run", p, "--objects-out", f],
        vec!["capi-loadgen", "run", p, "--plan-only"],
        vec![
            "capi-loadgen",
            "run",
            p,
            "--dry-run",
            "--plan-only",
            "--objects-out",
            f,
        ],
    ] {
        assert!(
            capi_loadgen::Cli::try_parse_from(&args).is_err(),
            "{args:?}"
        );
    }
}
