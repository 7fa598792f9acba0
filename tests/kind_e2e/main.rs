//! End to end on a real kind cluster, as a user runs the tool there (`scripts/kind-e2e.sh`):
//! the cluster from `scripts/kind-up.sh kind-configs/tuned.yaml` (node image from
//! `$CAPI_LOADGEN_KIND_IMAGE`, e.g. the one `scripts/kind-node-image.sh` builds), then
//!
//! 1. the quickstart through `$KUBECONFIG` and `$CAPI_LOADGEN_ETCD_METRICS_URL` from
//!    `.kind/<name>.env`, every etcd verdict observed;
//! 2. the least-privilege ServiceAccount identity that run used;
//! 3. `deploy/indexed-job.yaml` as an Indexed Job of 3 shards running the tool's image
//!    (`scripts/kind-tool-image.sh`) inside the cluster, its logs `merge`d, the merged
//!    counts equal to the shards' sums exactly (`job.rs`);
//! 4. `cleanup` of a fleet left in place: no object and no namespace of the run remain;
//! 5. `scripts/nightly.sh` run as the workflow runs it, its `compare` passing against the
//!    previous night and failing against a doctored one (`nightly.rs`);
//! 6. the webhook path: kube-apiserver inside the node calls the tool's webhook server on the
//!    host through the docker network's gateway.
//!
//! Skipped, saying so, unless `CAPI_LOADGEN_KIND_E2E=1` (a run takes minutes and needs
//! Docker); with it set and no Docker daemon answering, it fails. Every wait has a named
//! deadline; the cluster is deleted (`scripts/kind-down.sh`) however the test ends.

mod job;
mod nightly;
mod run;

use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;
use run::{cmd, read_summary, Cluster, ROOT};
use std::path::Path;
use std::time::Duration;

/// One `capi-loadgen run` of a small fleet on a loaded 2-core machine.
const RUN_DEADLINE: Duration = Duration::from_secs(600);
/// `cleanup` of a 20-cluster fleet, namespaces included.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn kind_end_to_end() {
    if std::env::var("CAPI_LOADGEN_KIND_E2E").as_deref() != Ok("1") {
        eprintln!(
            "kind_e2e: skipped: set CAPI_LOADGEN_KIND_E2E=1 to run it (scripts/kind-e2e.sh does, \
             after building the node image; it needs Docker and takes minutes)"
        );
        return;
    }
    let docker = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        docker,
        "kind_e2e: CAPI_LOADGEN_KIND_E2E=1 but no Docker daemon answers `docker info` \
         (scripts/kind-node-image.sh starts one)"
    );
    let cluster = Cluster::up();
    let out = cluster.out.clone();

    let t = std::time::Instant::now();
    quickstart(&cluster, &out.join("quickstart"));
    service_account(&cluster);
    eprintln!(
        "kind_e2e: quickstart and identity: {:.0} s",
        t.elapsed().as_secs_f64()
    );

    let t = std::time::Instant::now();
    job::indexed_job_of_3_shards_merges_exactly(&cluster, &out.join("job"));
    eprintln!("kind_e2e: indexed job: {:.0} s", t.elapsed().as_secs_f64());

    let t = std::time::Instant::now();
    cleanup_leaves_nothing(&cluster, &out.join("cleanup"));
    eprintln!("kind_e2e: cleanup: {:.0} s", t.elapsed().as_secs_f64());

    let t = std::time::Instant::now();
    nightly::nightly_compare_gates(&cluster, &out.join("nightly"));
    eprintln!("kind_e2e: nightly: {:.0} s", t.elapsed().as_secs_f64());

    let t = std::time::Instant::now();
    webhooks_from_inside_kind(&cluster, &out.join("webhooks"));
    eprintln!("kind_e2e: webhooks: {:.0} s", t.elapsed().as_secs_f64());
}

/// The quickstart as the README says: `source .kind/<name>.env && capi-loadgen run ...`.
fn quickstart(c: &Cluster, out: &Path) {
    let profile = ROOT.join("profiles/quickstart.yaml");
    let mut run = c.tool(&["run"]);
    run.arg(&profile)
        .args(["--run-id", &c.run_id("qs")])
        .arg("--out")
        .arg(out);
    let stdout = cmd(run, RUN_DEADLINE, "quickstart run");
    eprintln!("kind_e2e: quickstart on kind:\n{stdout}");
    let s = read_summary(out);
    assert_eq!(s.totals.failed, 0, "{:?}", s.totals);
    assert_eq!(s.totals.ok, s.totals.sent, "{:?}", s.totals);
    assert!(s.totals.sent > 0);
    assert_eq!(s.target.kind, "kube", "{:?}", s.target);
    etcd_observed(&s);
}

/// Every etcd verdict from etcd's metrics has a value: they were reached through the host
/// port the config publishes (not "not observed"). The db size against the quota needs the
/// quota named in the profile on a kube target (`observe.etcd_quota_bytes`), which the
/// quickstart does not.
fn etcd_observed(s: &Summary) {
    let etcd: Vec<_> = s
        .health
        .iter()
        .filter(|v| v.check.starts_with("etcd") && v.check != "etcd_db_size_of_quota")
        .collect();
    assert!(!etcd.is_empty(), "no etcd verdicts: {:?}", s.health);
    for v in &etcd {
        assert_ne!(v.level, Level::NotObserved, "etcd not observed: {v:?}");
        eprintln!(
            "kind_e2e: verdict {} = {:?} {} -> {:?}",
            v.check, v.value, v.unit, v.level
        );
    }
}

/// The kubeconfig of `.kind/<name>.env` is the ServiceAccount of deploy/rbac.yaml, and it
/// may not do what a load generator never needs.
fn service_account(c: &Cluster) {
    let mut who = c.kubectl_as_load_identity();
    who.args([
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    let name = cmd(who, Duration::from_secs(30), "kubectl auth whoami");
    assert_eq!(
        name.trim(),
        "system:serviceaccount:capi-loadgen-system:capi-loadgen"
    );
    for (verb, resource) in [("create", "clusterrolebindings"), ("delete", "nodes")] {
        let mut can = c.kubectl_as_load_identity();
        can.args(["auth", "can-i", verb, resource]);
        let answer = run::output_even_if_failed(can, Duration::from_secs(30));
        assert_eq!(
            answer.trim(),
            "no",
            "the load identity may {verb} {resource}"
        );
    }
}

/// A fleet created and left in place (no steady, no delete phase), then `cleanup --run-id`
/// as the load identity: nothing labelled with the run id is left, namespaces included.
fn cleanup_leaves_nothing(c: &Cluster, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let profile = dir.join("create-only.yaml");
    let text = std::fs::read_to_string(ROOT.join("profiles/quickstart.yaml")).unwrap();
    let create_only = text
        .split("\nphases:")
        .next()
        .unwrap()
        .replace("name: quickstart", "name: kind-e2e-cleanup");
    std::fs::write(
        &profile,
        format!("{create_only}\nphases:\n  create:\n    concurrency: 10\n"),
    )
    .unwrap();
    let id = c.run_id("cl");
    let mut run = c.tool(&["run"]);
    run.arg(&profile)
        .args(["--run-id", &id, "--out"])
        .arg(dir.join("run"));
    cmd(run, RUN_DEADLINE, "create-only run");
    assert!(
        !c.labelled(&id).is_empty(),
        "the create-only run left nothing to clean up"
    );
    let mut clean = c.tool(&["cleanup"]);
    clean.args(["--run-id", &id]);
    let said = cmd(clean, CLEANUP_DEADLINE, "cleanup");
    eprintln!("kind_e2e: cleanup: {}", said.trim());
    let left = c.labelled(&id);
    assert!(left.is_empty(), "cleanup left: {left:?}");
}

/// A small fleet with the simulated webhooks, their host the docker network's gateway: every
/// create of a kind with a webhook went through kube-apiserver -> the tool on the host.
fn webhooks_from_inside_kind(c: &Cluster, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let gateway = c.gateway();
    let text = std::fs::read_to_string(ROOT.join("profiles/quickstart.yaml")).unwrap();
    let profile = out.join("webhooks.yaml");
    std::fs::write(
        &profile,
        format!(
            "{}\nwebhooks:\n  latency: {{distribution: fixed, ms: 2}}\n",
            text.replace("name: quickstart", "name: kind-e2e-webhooks")
        ),
    )
    .unwrap();
    // Installing webhook configurations is cluster-wide, beyond the load identity's
    // least-privilege role (deploy/rbac.yaml): this run uses kind's admin kubeconfig.
    let mut run = c.tool(&["run"]);
    run.env("KUBECONFIG", &c.admin)
        .arg(&profile)
        .args(["--clusters", "5", "--run-id", &c.run_id("wh")])
        .args(["--webhook-host", &gateway, "--out"])
        .arg(out.join("run"));
    cmd(run, RUN_DEADLINE, "webhooks run");
    let s = read_summary(&out.join("run"));
    let w = s.webhooks.as_ref().expect("no webhooks section");
    assert!(
        w.calls_tool > 0,
        "kube-apiserver never called the webhooks: {w:?}"
    );
    assert_eq!(s.totals.failed, 0, "{:?}", s.totals);
    eprintln!(
        "kind_e2e: webhooks via {gateway}: {} calls served, {} requests ok",
        w.calls_tool, s.totals.ok
    );
}
