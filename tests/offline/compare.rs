//! `capi-loadgen compare` on the committed reference results and on copies of them made
//! worse: exit OK when nothing regressed, `Error::Regressed` (exit 1) when something did,
//! exit 2 on bad input.

use capi_loadgen_test_support as common;

use capi_loadgen::exit;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn reference(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("results/reference")
        .join(dir)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of a reference folder in a temp dir, its JSON `file` changed by `edit`.
fn edited(
    tmp: &Path,
    name: &str,
    from: &Path,
    file: &str,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    let dir = tmp.join(name);
    copy_dir(from, &dir);
    let path = dir.join(file);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `compare` with --out and returns (result, the Markdown written).
async fn compare(b: &Path, c: &Path, extra: &[&str]) -> (Result<(), capi_loadgen::Error>, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec!["compare", s(b), s(c), "--out", s(out.path())];
    args.extend_from_slice(extra);
    let r = common::cli(&args).await;
    (r, std::fs::read_to_string(out.path()).unwrap_or_default())
}

fn row<'a>(md: &'a str, metric: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(&format!("| {metric} |")))
        .unwrap_or_else(|| panic!("no row {metric} in\n{md}"))
}

fn assert_regressed(r: Result<(), capi_loadgen::Error>, count: usize) {
    let e = r.expect_err("a regression");
    assert_eq!(e.exit_code(), exit::REGRESSION, "{e}");
    assert!(
        matches!(e, capi_loadgen::Error::Regressed { count: c, .. } if c == count),
        "{e}"
    );
    assert!(
        e.to_string().contains("metrics regressed beyond tolerance"),
        "{e}"
    );
}

#[tokio::test]
async fn a_breakpoints_suite_compared_with_itself_has_no_regression() {
    let bp = reference("breakpoints");
    let (r, md) = compare(&bp, &bp, &[]).await;
    r.expect("nothing regressed");
    assert!(
        md.starts_with("# compare breakpoints suite: baseline `ref`"),
        "{md}"
    );
    assert!(md.contains(", tolerance 10%\n"), "{md}");
    assert!(
        row(&md, "breakpoint client-qps").ends_with("| ok |"),
        "{md}"
    );
    assert!(md.ends_with("\n7 metrics, 0 regressed\n"), "{md}");
}

#[tokio::test]
async fn a_lowered_breakpoint_regresses_unless_the_tolerance_allows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = reference("breakpoints");
    let worse = edited(tmp.path(), "worse", &bp, "breakpoints.json", |d| {
        let rows = d["rows"].as_array_mut().unwrap();
        let r = rows.iter_mut().find(|r| r["id"] == "client-qps").unwrap();
        r["measured"] = (r["measured"].as_f64().unwrap() * 0.7).into();
    });
    let (r, md) = compare(&bp, &worse, &[]).await;
    assert_regressed(r, 1);
    let line = row(&md, "breakpoint client-qps");
    assert!(
        line.contains("| 597.2 | 418 | -30.0% | 10% | **REGRESSED** |"),
        "{line}"
    );
    assert!(row(&md, "breakpoint apf").ends_with("| ok |"), "{md}");
    assert!(md.ends_with("\n7 metrics, 1 regressed\n"), "{md}");
    // The other way round it is an improvement.
    let (r, md) = compare(&worse, &bp, &[]).await;
    r.expect("better is not a regression");
    assert!(
        row(&md, "breakpoint client-qps").ends_with("| better |"),
        "{md}"
    );
    // A tolerance for the family lets it pass.
    let (r, md) = compare(&bp, &worse, &["--tolerance-for", "breakpoint=35"]).await;
    r.expect("within 35%");
    assert!(md.contains("tolerance 10% (breakpoint 35%)"), "{md}");
}

#[tokio::test]
async fn a_row_not_reached_beyond_the_baselines_breakpoint_is_better_not_regressed() {
    let tmp = tempfile::tempdir().unwrap();
    let bp = reference("breakpoints");
    let held = edited(tmp.path(), "held", &bp, "breakpoints.json", |d| {
        let rows = d["rows"].as_array_mut().unwrap();
        let r = rows.iter_mut().find(|r| r["id"] == "client-qps").unwrap();
        r["status"] = "not_reached".into();
        r["measured"] = Value::Null;
    });
    // The client-qps experiment swept 300 → 900 clusters, past the baseline's 597.
    let (r, md) = compare(&bp, &held, &[]).await;
    r.expect("not reached beyond 597 is no regression");
    let line = row(&md, "breakpoint client-qps");
    assert!(
        line.contains("| 597.2 | not reached (> 900) | - |"),
        "{line}"
    );
    assert!(line.ends_with("| better |"), "{line}");
    // The other way round: the baseline held to 900, the candidate broke at 597.
    let (r, md) = compare(&held, &bp, &[]).await;
    assert_regressed(r, 1);
    assert!(
        row(&md, "breakpoint client-qps").ends_with("| **REGRESSED** |"),
        "{md}"
    );
}

#[tokio::test]
async fn a_sweep_with_a_lowered_knee_regresses() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = reference("throttle-600");
    let (r, md) = compare(&sweep, &sweep, &[]).await;
    r.expect("a sweep compared with itself");
    assert!(
        md.starts_with("# compare sweep: baseline `throttle-600`"),
        "{md}"
    );
    assert!(row(&md, "knee queue_backlog").ends_with("| ok |"), "{md}");
    assert!(
        row(&md, "knee write_p99").contains("| not reached (> 1,000) | not reached (> 1,000) |"),
        "{md}"
    );
    let worse = edited(tmp.path(), "worse", &sweep, "sweep.json", |d| {
        let curves = d["curves"].as_array_mut().unwrap();
        let c = curves
            .iter_mut()
            .find(|c| c["metric"] == "queue_backlog")
            .unwrap();
        c["knee"]["x"] = (c["knee"]["x"].as_f64().unwrap() * 0.7).into();
    });
    let (r, md) = compare(&sweep, &worse, &[]).await;
    assert_regressed(r, 1);
    assert!(
        row(&md, "knee queue_backlog").ends_with("| **REGRESSED** |"),
        "{md}"
    );
}

/// The committed run summary (the etcd-size experiment) as a run folder of its own.
fn run_dir(tmp: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let src = reference("breakpoints/etcd-size/summary.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(dir.join("summary.json"), doc.to_string()).unwrap();
    dir
}

fn op<'a>(d: &'a mut Value, kind: &str) -> &'a mut Value {
    d["operations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["kind"] == kind)
        .unwrap()
}

#[tokio::test]
async fn runs_compare_per_operation_with_direction_floor_and_sample_minimum() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_dir(tmp.path(), "base", |d| {
        // Too few samples: left out with a footnote.
        op(d, "namespace")["latency_ms"]["count"] = 5.into();
    });
    let (r, md) = compare(&base, &base, &[]).await;
    r.expect("a run compared with itself");
    assert!(md.starts_with("# compare run: baseline `ref-size`"), "{md}");
    assert!(
        !md.contains("| latency_p99 create/create/namespace |"),
        "{md}"
    );
    assert!(md.contains("fewer than 20 samples"), "{md}");
    assert!(md.contains("create/create/namespace (5 vs 5)"), "{md}");
    assert!(
        row(&md, "bytes_per_cluster (etcd db growth / clusters created)").contains("| 173,383 |")
    );
    let cand = run_dir(tmp.path(), "cand", |d| {
        op(d, "namespace")["latency_ms"]["count"] = 5.into();
        // Slower machines (p99 x3: beyond the 100% of latency tails), a throttle wait up
        // from 0.001 to 0.9 ms (under the 1 ms floor), fewer failures (better).
        let m = op(d, "machine");
        m["latency_ms"]["p99"] = (m["latency_ms"]["p99"].as_f64().unwrap() * 3.0).into();
        m["throttle_wait_ms"]["p99"] = 0.9.into();
        d["totals"]["failed"] = 0.into();
    });
    let (r, md) = compare(&base, &cand, &[]).await;
    assert_regressed(r, 1);
    assert!(
        row(&md, "latency_p99 create/create/machine").ends_with("| **REGRESSED** |"),
        "{md}"
    );
    assert!(
        row(&md, "throttle_wait_p99 create/create/machine").ends_with("| ok |"),
        "{md}"
    );
    let fail = row(&md, "failure_rate ((failed + 429) / sent)");
    assert!(
        fail.contains("| -0.25 pp (-100.0%) |") && fail.ends_with("| better |"),
        "{fail}"
    );
    assert!(md.ends_with("regressed\n"), "{md}");
    let (r, _) = compare(&base, &cand, &["--tolerance-for", "latency_p99=210"]).await;
    r.expect("within 210%");
    let (r, _) = compare(&base, &cand, &["--tolerance", "205"]).await;
    r.expect("within 205%");
}

#[tokio::test]
async fn bad_input_is_a_usage_error_naming_the_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (bp, sweep) = (reference("breakpoints"), reference("throttle-600"));
    let e = common::cli(&["compare", s(&bp), s(&sweep)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(s(&bp)) && msg.contains(s(&sweep)), "{msg}");
    assert!(msg.contains("same kind") && !msg.contains('\n'), "{msg}");

    let missing = tmp.path().join("no-such-dir");
    let e = common::cli(&["compare", s(&missing), s(&bp)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    assert!(e.to_string().contains(s(&missing)), "{e}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = common::cli(&["compare", s(&bp), s(&empty)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    assert!(e.to_string().contains("not a results directory"), "{e}");

    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("sweep.json"), "{\"sweep_id\": 3").unwrap();
    let e = common::cli(&["compare", s(&sweep), s(&broken)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(s(&broken.join("sweep.json"))) && !msg.contains('\n'),
        "{msg}"
    );

    let e = common::cli(&["compare", s(&bp), s(&bp), "--tolerance-for", "latency=5"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE, "{e}");
    assert!(e.to_string().contains("latency_p99"), "{e}");
}

/// A controller entry for summary.json with these queue wait and lag distributions.
fn controller(name: &str, queue_wait: (u64, f64), lag: (u64, f64)) -> Value {
    let dist = |(count, p99): (u64, f64)| {
        serde_json::json!({"count": count, "min": 0.0, "mean": p99 / 2.0, "p50": p99 / 2.0,
            "p90": p99 * 0.9, "p99": p99, "p999": p99, "max": p99})
    };
    serde_json::json!({
        "name": name, "sync_period_seconds": 600.0, "time_scale": 20.0,
        "wall_period_seconds": 30.0, "enqueue": "spread", "concurrency": 10,
        "wall_workers": 200, "think_ms": 0.0, "calls_per_reconcile": 20, "get_calls": 10,
        "list_calls": 0, "patch_status_calls": 10, "events_per_second": 0.0, "items": 100,
        "clusters": 100, "demand_calls_per_second": 3.3, "capacity_calls_per_second": 20.0,
        "predicted_breakpoint_clusters": 600.0,
        "predicted_concurrency_breakpoint_clusters": null, "reconciles": 100,
        "periodic_enqueues": 100, "event_enqueues": 0, "missed_periods": 0,
        "queue_wait_ms": dist(queue_wait), "reconcile_ms": dist((100, 50.0)),
        "lag_ms": dist(lag), "final_queue_depth": 0, "final_in_progress": 0,
        "unserved_reconciles": 0.0, "max_queue_depth": 3
    })
}

#[tokio::test]
async fn controllers_compare_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_dir(tmp.path(), "base", |d| {
        d["controllers"] = serde_json::json!([
            controller("cluster", (100, 100.0), (100, 400.0)),
            controller("machine", (100, 10.0), (100, 40.0)),
        ]);
    });
    let cand = run_dir(tmp.path(), "cand", |d| {
        d["controllers"] = serde_json::json!([controller("cluster", (100, 300.0), (10, 900.0))]);
    });
    let (r, md) = compare(&base, &cand, &[]).await;
    assert_regressed(r, 1);
    let q = row(&md, "queue_wait_p99 cluster controller");
    assert!(
        q.contains("| ms | 100 | 300 | +200.0% | 100% | **REGRESSED** |"),
        "{q}"
    );
    assert!(!md.contains("| lag_p99 cluster controller |"), "{md}");
    assert!(
        md.contains("lag_p99 cluster controller (100 vs 10)"),
        "{md}"
    );
    assert!(
        row(&md, "queue_wait_p99 machine controller").ends_with("| 10 | - | - | 100% | missing |")
    );
    assert!(row(&md, "lag_p99 machine controller").ends_with("| missing |"));
}

/// The nightly's gate: two healthy runs of one profile differ in their tails by tens of
/// percent and must pass; a tripled p99 or halved ok count must not.
#[tokio::test]
async fn the_gate_passes_noise_and_fails_real_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_dir(tmp.path(), "base", |_| {});
    let noisy = run_dir(tmp.path(), "noisy", |d| {
        // A steady GET-like tail +87%, a throughput 10% lower: what identical runs show.
        let m = op(d, "machine");
        m["latency_ms"]["p99"] = (m["latency_ms"]["p99"].as_f64().unwrap() * 1.87).into();
        d["duration_seconds"] = (d["duration_seconds"].as_f64().unwrap() * 1.1).into();
    });
    let (r, md) = compare(&base, &noisy, &[]).await;
    r.expect("noise is no regression");
    assert!(md.contains("latency_p99 100%"), "{md}");
    let tripled = run_dir(tmp.path(), "tripled", |d| {
        let m = op(d, "machine");
        m["latency_ms"]["p99"] = (m["latency_ms"]["p99"].as_f64().unwrap() * 3.0).into();
    });
    let (r, md) = compare(&base, &tripled, &[]).await;
    assert_regressed(r, 1);
    assert!(
        row(&md, "latency_p99 create/create/machine").ends_with("| **REGRESSED** |"),
        "{md}"
    );
    let halved = run_dir(tmp.path(), "halved", |d| {
        d["totals"]["ok"] = (d["totals"]["ok"].as_u64().unwrap() / 2).into();
    });
    let (r, md) = compare(&base, &halved, &[]).await;
    assert!(r.is_err(), "{md}");
    assert!(md.contains("| **REGRESSED** |"), "{md}");
}

/// Runs that are not alike are refused with one line and their own exit code.
#[tokio::test]
async fn unlike_runs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let twenty = run_dir(tmp.path(), "twenty", |d| d["fleet"]["clusters"] = 20.into());
    let twelve = run_dir(tmp.path(), "twelve", |d| d["fleet"]["clusters"] = 12.into());
    let e = common::cli(&["compare", s(&twenty), s(&twelve)])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), exit::UNLIKE, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("fleet.clusters: 20 vs 12"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    for (name, edit) in [
        ("profile", ("profile", "name", "other")),
        ("target kind", ("target", "type", "kube")),
        (
            "kube-apiserver version",
            ("target", "server_version", "v1.36.0"),
        ),
    ] {
        let other = run_dir(tmp.path(), name, |d| d[edit.0][edit.1] = edit.2.into());
        let e = common::cli(&["compare", s(&twenty), s(&other)])
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), exit::UNLIKE, "{name}: {e}");
        let base = run_dir(tmp.path(), &format!("{name}-base"), |_| {});
        let e = common::cli(&["compare", s(&base), s(&other)])
            .await
            .unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}

/// `report` on a folder that does not exist is bad input (exit 2), naming the path.
#[tokio::test]
async fn report_on_a_missing_folder_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-results");
    let err = common::cli(&["report", s(&missing)]).await.unwrap_err();
    assert_eq!(err.exit_code(), capi_loadgen::exit::USAGE);
    let msg = err.to_string();
    assert!(msg.contains(s(&missing)) && !msg.contains('\n'), "{msg}");
}
