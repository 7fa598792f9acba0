//! Merging shards (`capi-loadgen merge <dir>…`): joins the results of the shards of one run (`run --shard
//! i/n`, e.g. the pods of a Kubernetes Indexed Job) into one results directory, as if one
//! process had generated the whole fleet:
//! - request counts, failures by kind, retries and 429s are summed;
//! - histograms are read back losslessly from each shard's `histograms.hlog` and added, so
//!   merged percentiles are exact (operations, controllers' queue wait / reconcile / lag,
//!   watch lag);
//! - time series are aligned on each shard's `load_started_at` (to the second) and summed;
//!   a merged second's p99 columns are the largest shard's p99 in that second (the series
//!   keeps no per-second histograms), an upper bound of the true p99;
//! - fleet, clients, workers and controller capacities are summed (each shard is one more
//!   controller with its own client); a controller's deepest queue is the deepest of any
//!   shard's queue;
//! - what was scraped from the shared server (`observed`) is taken from the shard that
//!   observed longest, and each health check keeps the worst shard's verdict.

use crate::measure::scrape::Observed;
use crate::measure::timeseries::{self, Point};
use crate::measure::{Measurements, OpStats, Verb};
use crate::model::Kind;
use crate::report::health::{Level, Verdict};
use crate::report::summary::{
    self, ControllerSummary, Distribution, PhaseSummary, RunStatus, Summary, ToolInfo,
};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One shard's results, read back.
struct ShardResult {
    dir: PathBuf,
    summary: Summary,
    histograms: BTreeMap<String, Histogram<u64>>,
    series: Vec<Point>,
    /// Load start, µs since the epoch.
    load_start_us: i64,
}

use super::merge_error::unreadable;
pub use super::merge_error::MergeError;

fn load(dir: &Path) -> Result<ShardResult, MergeError> {
    if !dir.is_dir() {
        return Err(MergeError::NotResults { path: dir.into() });
    }
    let summary = Summary::read(dir).map_err(|e| unreadable(dir.join("summary.json"), e))?;
    let histograms = crate::report::files::read_histograms(dir)
        .map_err(|e| unreadable(dir.join("histograms.hlog"), e))?
        .into_iter()
        .collect();
    let csv = dir.join("timeseries.csv");
    let series = std::fs::read_to_string(&csv)
        .map_err(|e| unreadable(csv.clone(), e))
        .and_then(|t| timeseries::read_csv(&t).map_err(|e| unreadable(csv.clone(), e)))?;
    let start = summary
        .load_started_at
        .as_deref()
        .unwrap_or(&summary.started_at);
    let load_start_us = chrono::DateTime::parse_from_rfc3339(start)
        .map_err(|e| {
            unreadable(
                dir.join("summary.json"),
                format!("load_started_at {start:?}: {e}"),
            )
        })?
        .timestamp_micros();
    Ok(ShardResult {
        dir: dir.to_path_buf(),
        summary,
        histograms,
        series,
        load_start_us,
    })
}

/// Checks that the directories are distinct shards of one run; with `allow_partial`, a
/// missing shard is allowed (and said).
fn check(shards: &[ShardResult], allow_partial: bool) -> Result<(), MergeError> {
    let first = &shards[0];
    let mut seen = BTreeSet::new();
    let count = first.summary.shard.as_ref().map(|s| s.count);
    for s in shards {
        let Some(info) = &s.summary.shard else {
            return Err(MergeError::NotAShard {
                path: s.dir.clone(),
            });
        };
        if s.summary.run_id != first.summary.run_id {
            return Err(MergeError::RunId {
                path: s.dir.clone(),
                run_id: s.summary.run_id.clone(),
                first: first.summary.run_id.clone(),
                first_dir: first.dir.clone(),
            });
        }
        if Some(info.count) != count {
            return Err(MergeError::Count {
                path: s.dir.clone(),
                index: info.index,
                count: info.count,
                others: count.unwrap_or(0),
            });
        }
        if !seen.insert(info.index) {
            return Err(MergeError::Twice {
                path: s.dir.clone(),
                index: info.index,
            });
        }
    }
    let count = count.unwrap_or(0);
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() && !allow_partial {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
        });
    }
    Ok(())
}

/// A phase name as the `'static` key measurements use.
fn static_phase(name: &str) -> &'static str {
    const KNOWN: [&str; 6] = [
        "namespaces",
        "create",
        "steady",
        "churn",
        "delete",
        "cleanup",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == name)
        .unwrap_or_else(|| Box::leak(name.to_string().into_boxed_str()))
}

fn add(into: &mut BTreeMap<String, Histogram<u64>>, tag: &str, h: &Histogram<u64>) {
    match into.get_mut(tag) {
        Some(m) => {
            if m.add(h).is_err() {
                tracing::warn!("merge: histogram {tag} could not be added (value out of range)");
            }
        }
        None => {
            into.insert(tag.to_string(), h.clone());
        }
    }
}

/// Operations of every shard (counts summed, histograms added) and the time series; also
/// returns the other merged histograms (controllers', the watch lag) by tag.
fn measurements(shards: &[ShardResult]) -> Result<(Measurements, Histograms), MergeError> {
    let mut m = Measurements::default();
    let mut hists: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for s in shards {
        for (tag, h) in &s.histograms {
            add(&mut hists, tag, h);
        }
        for o in &s.summary.operations {
            let bad = || MergeError::Operation {
                path: s.dir.join("summary.json"),
                operation: format!("{}/{}/{}", o.phase, o.verb, o.kind),
            };
            let key = (
                static_phase(&o.phase),
                Verb::from_label(&o.verb).ok_or_else(bad)?,
                Kind::from_label(&o.kind).ok_or_else(bad)?,
            );
            let st = m.ops.entry(key).or_insert_with(OpStats::default);
            st.sent += o.counts.sent;
            st.ok += o.counts.ok;
            st.throttled += o.counts.throttled;
            for (k, v) in &o.failed_by {
                *st.failed.entry(k.clone()).or_default() += v;
            }
            st.first_attempt_ok += o.first_attempt_ok;
            st.first_attempt_throttled += o.first_attempt_throttled;
            st.retries += o.retries;
            st.responses_429 += o.responses_429;
        }
    }
    for ((phase, verb, kind), st) in m.ops.iter_mut() {
        let tag = |metric: &str| format!("{phase}/{}/{}/{metric}", verb.label(), kind.label());
        for (metric, h) in [
            ("latency", &mut st.latency),
            ("server", &mut st.server),
            ("throttle_wait", &mut st.throttle_wait),
        ] {
            if let Some(merged) = hists.remove(&tag(metric)) {
                *h = merged;
            }
        }
    }
    m.series = merge_series(shards);
    Ok((m, hists))
}

/// Seconds of shard `s` after the earliest load start.
fn offset(s: &ShardResult, t0: i64) -> u64 {
    ((s.load_start_us - t0) as f64 / 1e6).round().max(0.0) as u64
}

fn merge_series(shards: &[ShardResult]) -> Vec<Point> {
    let t0 = shards.iter().map(|s| s.load_start_us).min().unwrap_or(0);
    let mut out: BTreeMap<u64, Point> = BTreeMap::new();
    for s in shards {
        let off = offset(s, t0);
        for p in &s.series {
            let second = p.second + off;
            let m = out.entry(second).or_insert_with(|| Point {
                second,
                ..Default::default()
            });
            m.completed += p.completed;
            m.ok += p.ok;
            m.failed += p.failed;
            m.responses_429 += p.responses_429;
            m.in_flight += p.in_flight;
            m.queue_depth += p.queue_depth;
            m.p99_ms = m.p99_ms.max(p.p99_ms);
            m.throttle_wait_p99_ms = m.throttle_wait_p99_ms.max(p.throttle_wait_p99_ms);
        }
    }
    out.into_values().collect()
}

fn phases(shards: &[ShardResult]) -> Vec<PhaseSummary> {
    let mut out: Vec<PhaseSummary> = Vec::new();
    for s in shards {
        for p in &s.summary.phases {
            match out.iter_mut().find(|m| m.name == p.name) {
                None => out.push(p.clone()),
                Some(m) => {
                    m.target_rate = sum_opt(m.target_rate, p.target_rate);
                    m.concurrency += p.concurrency;
                    m.duration_seconds = m.duration_seconds.max(p.duration_seconds);
                    m.sent += p.sent;
                    m.machines_churned = sum_opt(m.machines_churned, p.machines_churned);
                    m.skipped_missing = sum_opt(m.skipped_missing, p.skipped_missing);
                }
            }
        }
    }
    out
}

fn sum_opt<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn controllers(
    shards: &[ShardResult],
    hists: &BTreeMap<String, Histogram<u64>>,
) -> Vec<ControllerSummary> {
    let mut out: Vec<ControllerSummary> = Vec::new();
    for s in shards {
        for c in &s.summary.controllers {
            let Some(m) = out.iter_mut().find(|m| m.name == c.name) else {
                out.push(c.clone());
                continue;
            };
            m.concurrency += c.concurrency;
            m.wall_workers += c.wall_workers;
            m.events_per_second += c.events_per_second;
            m.items += c.items;
            m.clusters += c.clusters;
            m.demand_calls_per_second += c.demand_calls_per_second;
            m.capacity_calls_per_second =
                sum_opt(m.capacity_calls_per_second, c.capacity_calls_per_second);
            // Both predictions are linear in the shard's client capacity / workers.
            m.predicted_breakpoint_clusters = sum_opt(
                m.predicted_breakpoint_clusters,
                c.predicted_breakpoint_clusters,
            );
            m.predicted_concurrency_breakpoint_clusters = sum_opt(
                m.predicted_concurrency_breakpoint_clusters,
                c.predicted_concurrency_breakpoint_clusters,
            );
            m.reconciles += c.reconciles;
            m.periodic_enqueues += c.periodic_enqueues;
            m.event_enqueues += c.event_enqueues;
            m.missed_periods += c.missed_periods;
            m.final_queue_depth += c.final_queue_depth;
            m.final_in_progress += c.final_in_progress;
            m.unserved_reconciles += c.unserved_reconciles;
            m.max_queue_depth = m.max_queue_depth.max(c.max_queue_depth);
        }
    }
    for m in &mut out {
        let d = |metric: &str| {
            hists
                .get(&format!("controller/{}/{metric}", m.name))
                .map(Distribution::of)
        };
        if let Some(x) = d("queue_wait") {
            m.queue_wait_ms = x;
        }
        if let Some(x) = d("reconcile") {
            m.reconcile_ms = x;
        }
        if let Some(x) = d("lag") {
            m.lag_ms = x;
        }
    }
    out
}

fn watch(
    shards: &[ShardResult],
    hists: &BTreeMap<String, Histogram<u64>>,
) -> Option<summary::WatchSummary> {
    let mut all = shards.iter().filter_map(|s| s.summary.watch.as_ref());
    let mut m = all.next()?.clone();
    for w in all {
        m.watchers += w.watchers;
        m.events += w.events;
        m.matched += w.matched;
        m.before_ack += w.before_ack;
        m.opened += w.opened;
        m.reconnects += w.reconnects;
        m.too_old_restarts += w.too_old_restarts;
        m.errors += w.errors;
    }
    if let Some(h) = hists.get("watch/lag") {
        m.lag_ms = Distribution::of(h);
    }
    Some(m)
}

/// The server as the shard that observed longest saw it, on the merged clock; db size at
/// the start from the first shard to start, at the end from the last to finish.
fn observed(shards: &[ShardResult], t0: i64) -> Option<Observed> {
    let with: Vec<&ShardResult> = shards
        .iter()
        .filter(|s| s.summary.observed.is_some())
        .collect();
    let longest = with
        .iter()
        .max_by_key(|s| s.summary.observed.as_ref().map(|o| o.points.len()))?;
    let mut o = longest.summary.observed.clone()?;
    let off = offset(longest, t0) as f64;
    o.points.iter_mut().for_each(|p| p.second += off);
    let end_us = |s: &ShardResult| s.load_start_us + (s.summary.duration_seconds * 1e6) as i64;
    let memory = |s: &ShardResult| {
        s.summary
            .observed
            .as_ref()
            .and_then(|x| x.apiserver_memory.clone())
    };
    if let Some(first) = with.iter().min_by_key(|s| s.load_start_us) {
        o.etcd_db_size_start = first
            .summary
            .observed
            .as_ref()
            .and_then(|x| x.etcd_db_size_start);
        if let (Some(m), Some(f)) = (o.apiserver_memory.as_mut(), memory(first)) {
            m.start = f.start;
        }
    }
    if let Some(last) = with.iter().max_by_key(|s| end_us(s)) {
        o.etcd_db_size_end = last
            .summary
            .observed
            .as_ref()
            .and_then(|x| x.etcd_db_size_end);
        // The server's memory after the last shard finished (and settled).
        if let (Some(m), Some(l)) = (o.apiserver_memory.as_mut(), memory(last)) {
            (m.end, m.settled, m.forced_gc) = (l.end, l.settled, l.forced_gc);
            (m.settle_seconds, m.settle_samples) = (l.settle_seconds, l.settle_samples);
        }
    }
    if let Some(m) = o.apiserver_memory.as_mut() {
        m.growth = m.end.minus(&m.start);
    }
    Some(o)
}

/// Per health check, the worst shard's verdict (an observed one over "not observed").
fn health(shards: &[ShardResult]) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    let rank = |v: &Verdict| match v.level {
        Level::NotObserved => -1,
        l => l as i32,
    };
    for v in shards.iter().flat_map(|s| &s.summary.health) {
        match out.iter_mut().find(|m| m.check == v.check) {
            None => out.push(v.clone()),
            Some(m) => {
                let worse = rank(v) > rank(m)
                    || (rank(v) == rank(m)
                        && v.value.unwrap_or(f64::MIN) > m.value.unwrap_or(f64::MIN));
                if worse {
                    *m = v.clone();
                }
            }
        }
    }
    out
}

/// Histograms by tag.
type Histograms = BTreeMap<String, Histogram<u64>>;

/// Merges shard results (checked to be shards of one run) into one summary, its
/// measurements and the other histograms.
fn merge(shards: &[ShardResult]) -> Result<(Summary, Measurements, Histograms), MergeError> {
    let (m, hists) = measurements(shards)?;
    let t0 = shards.iter().map(|s| s.load_start_us).min().unwrap_or(0);
    let end = shards
        .iter()
        .map(|s| s.load_start_us + (s.summary.duration_seconds * 1e6) as i64)
        .max()
        .unwrap_or(t0);
    let first = &shards[0].summary;
    let mut fleet = first.fleet.clone();
    let mut client = first.client.clone();
    for s in &shards[1..] {
        fleet.clusters += s.summary.fleet.clusters;
        fleet.namespaces += s.summary.fleet.namespaces;
        fleet.objects_planned += s.summary.fleet.objects_planned;
        client.pool_size += s.summary.client.pool_size;
    }
    let status = shards
        .iter()
        .map(|s| s.summary.status)
        .max_by_key(|st| match st {
            RunStatus::Completed => 0,
            RunStatus::Failed => 1,
            RunStatus::Interrupted => 2,
            RunStatus::Aborted => 3,
        })
        .unwrap_or(RunStatus::Completed);
    let reasons: Vec<String> = shards
        .iter()
        .filter_map(|s| {
            let r = s.summary.stop_reason.as_ref()?;
            let i = s.summary.shard.as_ref().map(|x| x.index).unwrap_or(0);
            Some(format!("shard {i}: {r}"))
        })
        .collect();
    let time = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let (operations, totals) = summary::operations(&m);
    let s = Summary {
        schema_version: summary::SCHEMA_VERSION,
        tool: ToolInfo {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: first.run_id.clone(),
        profile: first.profile.clone(),
        status,
        stop_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        started_at: shards
            .iter()
            .map(|s| s.summary.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: shards
            .iter()
            .map(|s| s.summary.finished_at.clone())
            .max()
            .unwrap_or_default(),
        duration_seconds: (end - t0) as f64 / 1e6,
        load_started_at: Some(time(t0)),
        shard: None,
        merged_from: shards.iter().map(|s| s.dir.display().to_string()).collect(),
        target: first.target.clone(),
        fleet,
        client,
        phases: phases(shards),
        controllers: controllers(shards, &hists),
        watch: watch(shards, &hists),
        observed: observed(shards, t0),
        health: health(shards),
        totals,
        operations,
        webhooks: None,
        // The shard whose generator was worse: one saturated shard makes the whole suspect.
        generator: shards
            .iter()
            .filter_map(|s| s.summary.generator.clone())
            .max_by_key(|g| g.verdict == crate::report::generator::GeneratorVerdict::Saturated),
        warm_up: first.warm_up.clone(),
        // The memory limit is the local environment's, and shards run against one target.
        apiserver_memory_limit: None,
        etcd_cluster: None,
    };
    Ok((s, m, hists))
}

/// Merges the shard results in `dirs` into `out` (summary.json, report.md with a
/// per-shard table, timeseries.csv, histograms, observed.csv) and returns the merged summary.
pub fn merge_dirs(
    dirs: &[PathBuf],
    out: Option<&Path>,
    allow_partial: bool,
    force: bool,
) -> Result<(Summary, PathBuf), MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoInputs);
    }
    let mut shards = dirs
        .iter()
        .map(|d| load(d))
        .collect::<Result<Vec<_>, _>>()?;
    check(&shards, allow_partial)?;
    shards.sort_by_key(|s| s.summary.shard.as_ref().map(|x| x.index));
    let (s, m, hists) = merge(&shards)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("results").join(&s.run_id));
    if out.join("summary.json").exists() && !force {
        return Err(MergeError::OutputExists { path: out });
    }
    s.write(&out).map_err(|e| MergeError::Write {
        path: out.clone(),
        source: e,
    })?;
    let extra: Vec<(String, Histogram<u64>)> = hists.into_iter().collect();
    crate::report::files::write_measurements(&out, &m, &extra).map_err(|e| MergeError::Write {
        path: out.clone(),
        source: e,
    })?;
    let report = out.join("report.md");
    let parts: Vec<(String, &Summary)> = shards
        .iter()
        .map(|x| (x.dir.display().to_string(), &x.summary))
        .collect();
    let md =
        crate::report::markdown::render(&s, &m.series) + &crate::report::shards::markdown(&parts);
    std::fs::write(&report, md).map_err(|e| MergeError::Write {
        path: report.clone(),
        source: e,
    })?;
    if let Some(o) = &s.observed {
        let path = out.join("observed.csv");
        let mut f = std::fs::File::create(&path).map_err(|e| MergeError::Write {
            path: path.clone(),
            source: e,
        })?;
        crate::measure::scrape::write_csv(&o.points, &mut f).map_err(|e| MergeError::Write {
            path: path.clone(),
            source: e,
        })?;
    }
    Ok((s, out))
}
