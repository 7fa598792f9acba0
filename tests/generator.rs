//! The generator verdict: the tool records its own CPU, peak memory, threads and runtime
//! scheduling delay, and calls itself `saturated` when it ran short. A run whose process is
//! put into a CPU cgroup allowed 5% of one core must get that verdict; a light run on an
//! unrestricted process must not. Its own binary: it measures the tool's CPU, which a
//! neighbouring test would disturb.

use capi_loadgen_test_support as common;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one run may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(240);
/// The tiny cgroup's CPU quota per period (µs): 5% of one core.
const QUOTA_US: u64 = 5_000;
const PERIOD_US: u64 = 100_000;

const PROFILE: &str = "fleet: {clusters: 15, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 2, cluster_secrets: [kubeconfig]}\nclient: {pool_size: 4, qps: -1}\nobserve: {enabled: false}\nphases:\n  create: {concurrency: 16}\n  delete: {concurrency: 16}\n";

/// A CPU cgroup allowed `QUOTA_US` per `PERIOD_US`, under cgroup v1's `cpu` controller or
/// cgroup v2; removed on drop. None (with the reason) when neither can be made here.
struct TinyCgroup {
    dir: PathBuf,
}

impl TinyCgroup {
    fn make(name: &str) -> Result<TinyCgroup, String> {
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let (dir, files) = if v1.join("cpu.cfs_quota_us").exists() {
            (
                v1.join(name),
                vec![
                    ("cpu.cfs_period_us", PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", QUOTA_US.to_string()),
                ],
            )
        } else if v2.join("cgroup.controllers").exists() {
            // The cpu controller must be enabled for the children of the parent.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+cpu");
            (
                v2.join(name),
                vec![("cpu.max", format!("{QUOTA_US} {PERIOD_US}"))],
            )
        } else {
            return Err("no cgroup v1 cpu controller or cgroup v2 mounted".into());
        };
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cg = TinyCgroup { dir };
        for (f, v) in files {
            std::fs::write(cg.dir.join(f), v)
                .map_err(|e| format!("{}: {e}", cg.dir.join(f).display()))?;
        }
        Ok(cg)
    }
}

impl Drop for TinyCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Runs the binary (inside `cgroup` when given) with `--output json` and returns the
/// summary it printed.
async fn run(cgroup: Option<&TinyCgroup>, run_id: &str) -> serde_json::Value {
    let env = common::shared_env();
    let p = common::profile_file(run_id, PROFILE);
    let out = common::state_dir(&format!("{run_id}-out"));
    let bin = env!("CARGO_BIN_EXE_capi-loadgen");
    let args = [
        "run",
        p.to_str().unwrap(),
        "--kubeconfig",
        env.kubeconfig.to_str().unwrap(),
        "--run-id",
        run_id,
        "--out",
        out.to_str().unwrap(),
        "--output",
        "json",
    ];
    let mut cmd = match cgroup {
        // The shell joins the cgroup, then becomes the tool: every thread it starts is in it.
        Some(cg) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c")
                .arg(format!(
                    "echo $$ > '{}/cgroup.procs' && exec \"$0\" \"$@\"",
                    cg.dir.display()
                ))
                .arg(bin)
                .args(args);
            c
        }
        None => {
            let mut c = tokio::process::Command::new(bin);
            c.args(args);
            c
        }
    };
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("the tool starts");
    let output = tokio::time::timeout(RUN_DEADLINE, child.wait_with_output())
        .await
        .expect("the run ends within its deadline")
        .unwrap();
    assert!(output.status.success(), "run {run_id}: {:?}", output.status);
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let written = common::assert_valid_summary(&out.join("summary.json"));
    assert_eq!(printed["generator"], written["generator"]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Generator"), "{report}");
    written
}

#[tokio::test]
async fn a_tool_starved_of_cpu_calls_itself_saturated_and_a_light_run_does_not() {
    let light = run(None, "gen-light").await;
    let g = &light["generator"];
    // The light run never uses most of its CPU budget. Its runtime's scheduling delay is
    // the machine's too: on a machine whose load average exceeds its CPUs (other work
    // running), the tool is rightly called saturated by delay alone, and the report says why.
    let contended = g["machine_load_average"].as_f64().unwrap_or(0.0)
        > g["machine_cpus"].as_f64().unwrap_or(f64::INFINITY);
    let reasons: Vec<&str> = g["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().all(|r| !r.contains("cores, ")),
        "the light run is not short of CPU: {g:#}"
    );
    if contended {
        eprintln!("the machine is contended (load above its CPUs): the light run's scheduling delay is not judged");
        assert!(
            g["verdict"] == "ok" || reasons.iter().any(|r| r.contains("load average")),
            "{g:#}"
        );
    } else {
        assert_eq!(g["verdict"], "ok", "{g:#}");
    }
    let phases: Vec<&str> = g["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["create", "delete"], "{g:#}");
    let whole = &g["whole"];
    assert!(whole["cpu_seconds"].as_f64().unwrap() > 0.0, "{g:#}");
    assert!(whole["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{g:#}");
    assert!(whole["max_threads"].as_u64().unwrap() >= 2, "{g:#}");
    assert!(
        whole["sched_delay_ms"]["count"].as_u64().unwrap() > 10,
        "{g:#}"
    );

    let cg = match TinyCgroup::make(&format!("capi-loadgen-test-{}", std::process::id())) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipping the saturated half: cannot make a CPU cgroup here ({why})");
            return;
        }
    };
    let starved = run(Some(&cg), "gen-starved").await;
    let g = &starved["generator"];
    assert_eq!(g["verdict"], "saturated", "{g:#}");
    assert!(
        g["cpu_budget"]["source"]
            .as_str()
            .unwrap()
            .starts_with("cgroup"),
        "{g:#}"
    );
    let budget = g["cpu_budget"]["cores"].as_f64().unwrap();
    assert!((budget - 0.05).abs() < 1e-9, "{g:#}");
    assert!(!g["reasons"].as_array().unwrap().is_empty(), "{g:#}");
}
