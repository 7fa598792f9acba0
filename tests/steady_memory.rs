//! The steady phase's memory does not grow with the simulated workers: the built binary
//! runs the same steady phase at 10 and at 2,000 workers (a concurrency of 50 compressed
//! 40x) against the shared local environment, and its own peak resident set
//! (`/proc/<pid>/status` VmHWM, read while it runs) must stay within the bound below.
//! Before the workers shared their controller's histograms, each worker held three
//! full-range HDR histograms (~0.5 MiB), so 2,000 workers took about 1 GiB more.

use capi_loadgen_test_support as common;

use capi_loadgen::report::Summary;
use common::own_memory::{run_measured, OwnMemory};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longest a run (20 clusters created, 8 s steady phase, results written) may take.
const RUN_DEADLINE: Duration = Duration::from_secs(240);
/// Allowed growth of the tool's peak RSS from 10 to 2,000 workers: 10%, the goal of the
/// steady-phase memory benchmark (bench/steady_memory.py) ...
const GROWTH_FRACTION: f64 = 0.10;
/// ... plus this much for allocator noise on a debug build shared with other processes
/// (2,000 idle worker tasks, their timers and queue waiters need well under 1 MiB).
const GROWTH_SLACK_KIB: u64 = 4 * 1024;

/// A steady phase of `concurrency x time_scale` workers with a 4 s wall sync period, so
/// both runs make the same requests at the same rate.
fn profile(concurrency: u32, time_scale: u32) -> String {
    format!(
        "fleet: {{clusters: 20, control_plane_replicas: 1, machine_deployments: 1, workers_per_machine_deployment: 1}}\n\
         client: {{pool_size: 2, qps: -1}}\n\
         phases:\n  create: {{concurrency: 8}}\n  steady: {{duration_seconds: 8, sync_period_seconds: {}, time_scale: {time_scale}, concurrency: {concurrency}, calls_per_reconcile: {{get: 4, list: 1, patch_status: 2}}}}\n",
        4 * time_scale
    )
}

fn run(name: &str, concurrency: u32, time_scale: u32) -> (OwnMemory, Summary) {
    let env = common::shared_env();
    let p = common::profile_file(name, &profile(concurrency, time_scale));
    let out = common::state_dir(&format!("out-{name}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capi-loadgen"));
    cmd.arg("run")
        .arg(&p)
        .args(["--run-id", name, "--out"])
        .arg(&out)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let m = run_measured(cmd, RUN_DEADLINE);
    assert!(m.status.success(), "{name}: {:?}", m.status);
    assert!(m.reads > 10, "{name}: memory read only {} times", m.reads);
    common::assert_valid_summary(&out.join("summary.json"));
    (m, Summary::read(&out).unwrap())
}

#[test]
fn peak_rss_is_flat_from_10_to_2000_steady_workers() {
    // The 10-worker peak varies by several MiB from run to run (77-88 MiB on a debug build,
    // allocator and thread timing), about as much as the bound allows: the baseline is the
    // larger of two runs, so the bound compares 2,000 workers with 10, not with a low draw.
    let (first, s_few) = run("mem-10-workers", 10, 1);
    let (second, _) = run("mem-10-workers-again", 10, 1);
    let few = if second.peak_kib > first.peak_kib {
        second
    } else {
        first
    };
    let (many, s_many) = run("mem-2000-workers", 50, 40);
    for (s, workers) in [(&s_few, 10), (&s_many, 2000)] {
        let c = &s.controllers[0];
        assert_eq!(c.wall_workers, workers);
        assert!(c.reconciles >= 20, "{workers} workers: {c:?}");
        assert!(s.totals.ok > 0 && s.totals.failed == 0, "{:?}", s.totals);
    }
    let bound = (few.peak_kib as f64 * (1.0 + GROWTH_FRACTION)) as u64 + GROWTH_SLACK_KIB;
    eprintln!(
        "tool peak RSS: {} KiB at 10 workers, {} KiB at 2,000 (bound {bound} KiB)",
        few.peak_kib, many.peak_kib
    );
    assert!(
        many.peak_kib <= bound,
        "peak RSS {} KiB at 2,000 workers exceeds {bound} KiB (10 workers: {} KiB)",
        many.peak_kib,
        few.peak_kib
    );
}
