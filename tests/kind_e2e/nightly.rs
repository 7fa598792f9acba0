//! `scripts/nightly.sh` against kind as `.github/workflows/nightly.yml` runs it (the binary
//! in `$CAPI_LOADGEN`, the load identity's kubeconfig and the kind context; the fleet suite),
//! twice: the second night compared with the first passes. The same night compared with a
//! doctored baseline (every latency a tenth of what was measured) fails.
//!
//! The nights are compared at `--tolerance 300`: on a shared 2-core machine the kind node's
//! apiserver competes with everything else, and two identical nights' steady GET p99 read
//! 105 ms and 229 ms (+118%, over the workflow's default 100% for latency tails). The
//! doctored baseline (+900%) is compared with compare's own defaults.

use crate::run::{command, run_bounded, Cluster, ROOT};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// One night: the quickstart fleet on kind, then `compare`.
const NIGHT_DEADLINE: Duration = Duration::from_secs(900);

/// The second night's tolerance on a shared machine (see above).
const TOLERANCE: &str = "300";

fn night(c: &Cluster, out: &Path, baseline: Option<&Path>) -> (i32, String) {
    let mut n = command("bash");
    n.arg(ROOT.join("scripts/nightly.sh"))
        .args(["--suite", "fleet", "--tolerance", TOLERANCE, "--out"])
        .arg(out)
        .arg("--kubeconfig")
        .arg(c.load_kubeconfig())
        .args(["--context", &format!("kind-{}", c.name)])
        .env("CAPI_LOADGEN", crate::run::tool_binary())
        .env_remove("CAPI_LOADGEN_BASELINE")
        .env_remove("KUBECONFIG")
        .env("RUST_LOG", "warn")
        .current_dir(&*ROOT);
    if let Some(b) = baseline {
        n.env("CAPI_LOADGEN_BASELINE", b);
    }
    let (status, stdout, stderr) = run_bounded(n, NIGHT_DEADLINE, "scripts/nightly.sh");
    (status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

pub fn nightly_compare_gates(c: &Cluster, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let first = dir.join("night-1");
    let (rc, said) = night(c, &first, None);
    assert_eq!(rc, 0, "the first night failed:\n{said}");
    assert!(said.contains("nothing compared"), "{said}");

    let second = dir.join("night-2");
    let (rc, said) = night(c, &second, Some(&first));
    let md = std::fs::read_to_string(second.join("compare.md")).unwrap_or_default();
    eprintln!("kind_e2e: nightly compare against the previous night (exit {rc}):\n{md}");
    assert_eq!(
        rc, 0,
        "the second night failed against the first:\n{said}\n{md}"
    );
    assert!(md.contains("fleet: no regression"), "{md}");

    // The first night doctored: every latency of every operation a tenth of what it was.
    let doctored = dir.join("night-1-doctored");
    copy_dir(&first, &doctored);
    let summary = doctored.join("fleet/summary.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let mut scaled = 0;
    for op in v["operations"].as_array_mut().expect("operations") {
        for (k, x) in op["latency_ms"].as_object_mut().expect("latency_ms") {
            if k != "count" {
                if let Some(f) = x.as_f64() {
                    *x = Value::from(f / 10.0);
                    scaled += 1;
                }
            }
        }
    }
    assert!(scaled > 0, "no latency to doctor in {}", summary.display());
    std::fs::write(&summary, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let mut compare = command(&crate::run::tool_binary().to_string_lossy());
    compare
        .arg("compare")
        .arg(doctored.join("fleet"))
        .arg(second.join("fleet"));
    let (status, stdout, stderr) = run_bounded(compare, Duration::from_secs(60), "compare");
    let regressions = stdout.lines().filter(|l| l.contains("REGRESS")).count();
    eprintln!(
        "kind_e2e: compare against the doctored baseline: exit {:?}, {regressions} regression line(s)\n{}",
        status.code(),
        stdout.lines().take(30).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        status.code(),
        Some(1),
        "compare against a baseline with a tenth of the latencies did not fail:\n{stdout}\n{stderr}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
