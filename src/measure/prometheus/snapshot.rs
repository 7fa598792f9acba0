//! One observation snapshot from Prometheus: wait until it holds samples newer than the
//! moment asked for, query the raw series the scraper reads, split them by `instance`, and
//! turn each instance's series into a [`Snapshot`] with the scraper's own parser
//! ([`crate::measure::metrics`]), so names, labels and versions are handled in one place.
//!
//! Instances are told apart by what they export: an instance with `apiserver_*` series is a
//! kube-apiserver, one with etcd's server series (`etcd_server_*`, `etcd_disk_*`,
//! `etcd_mvcc_*`) an etcd member. kube-apiserver instances are summed as the scraper sums
//! them ([`Snapshot::sum_apiservers`], each instance's own cumulative series), an instance
//! that disappears keeping its last reading. Several etcd members are combined: histogram
//! buckets and failed proposals summed, leader changes, db sizes the largest (each member
//! sees every leader change and holds its own copy of the db).

use super::{Prometheus, PrometheusError, Series, FRESHNESS_POLL, FRESH_SAMPLE_DEADLINE};
use crate::measure::metrics::{
    InstanceSnapshots, Snapshot, APISERVER_DB_SIZE_METRICS, OBJECT_COUNT_METRICS, WATCHER_METRICS,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// What a [`Prometheus`] remembers between snapshots.
#[derive(Debug, Default)]
pub struct State {
    /// Instances that had no fresh sample by the deadline once: not waited for again.
    lagging: BTreeSet<String>,
    /// Every instance seen so far: one missing from a look (a failed scrape made its series
    /// stale) is waited for like one whose sample is old.
    known: BTreeSet<String>,
    /// Each snapshot's wait for fresh samples.
    waits: Vec<Duration>,
}

impl State {
    /// The waits so far.
    pub fn freshness(&self) -> super::Freshness {
        let n = self.waits.len();
        let secs = |d: &Duration| d.as_secs_f64();
        super::Freshness {
            snapshots: n as u32,
            wait_max_seconds: self.waits.iter().map(secs).fold(0.0, f64::max),
            wait_mean_seconds: if n == 0 {
                0.0
            } else {
                self.waits.iter().map(secs).sum::<f64>() / n as f64
            },
        }
    }
}

/// The histogram families read (their `_bucket` series).
const HISTOGRAMS: [&str; 3] = [
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "apiserver_request_duration_seconds",
];
/// etcd's own series, read raw.
const ETCD_SERIES: [&str; 7] = [
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_disk_wal_fsync_duration_seconds_bucket",
    "etcd_disk_backend_commit_duration_seconds_bucket",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_failed_total",
    "etcd_server_has_leader",
];
/// Small kube-apiserver families, read raw (besides object counts, watchers, db size).
const APISERVER_SMALL: [&str; 2] = [
    "apiserver_flowcontrol_rejected_requests_total",
    "apiserver_current_inflight_requests",
];
/// The Go process memory gauges, kept for kube-apiserver instances only.
const MEMORY: [&str; 3] = [
    "process_resident_memory_bytes",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_alloc_bytes",
];
/// One gauge every kube-apiserver and one every etcd exports: their newest timestamps say
/// how fresh Prometheus' view of each instance is.
const PRESENCE: [&str; 2] = [
    "apiserver_current_inflight_requests",
    "etcd_server_has_leader",
];

/// The queries of one snapshot, each with the metric name its results are rendered under
/// when the query aggregated the name away. `selector` is extra label matchers
/// (`observe.prometheus_selector`), possibly empty.
pub fn queries(selector: &str) -> Vec<(String, Option<&'static str>)> {
    let sel = if selector.is_empty() {
        String::new()
    } else {
        format!(",{selector}")
    };
    let names = |v: &[&str]| v.join("|");
    let raw: Vec<&str> = ETCD_SERIES
        .iter()
        .chain(&APISERVER_SMALL)
        .chain(&OBJECT_COUNT_METRICS)
        .chain(&WATCHER_METRICS)
        .chain(&APISERVER_DB_SIZE_METRICS)
        .copied()
        .collect();
    vec![
        (format!("{{__name__=~\"{}\"{sel}}}", names(&raw)), None),
        // The two big families, summed over the labels the scraper does not read (scope,
        // component, subresource, dry_run …); instance by instance, so still each
        // instance's own cumulative counts.
        (
            format!("sum by (instance, verb, group, resource, le) (apiserver_request_duration_seconds_bucket{{verb=~\"POST|PUT|PATCH|DELETE|APPLY|CREATE|UPDATE\"{sel}}})"),
            Some("apiserver_request_duration_seconds_bucket"),
        ),
        (
            format!("sum by (instance, code) (apiserver_request_total{{code=\"429\"{sel}}})"),
            Some("apiserver_request_total"),
        ),
        (
            format!(
                "{{__name__=~\"{}\"{sel}}} and on (instance) apiserver_current_inflight_requests{{{selector}}}",
                names(&MEMORY)
            ),
            None,
        ),
    ]
}

/// The freshness query: the newest sample's timestamp per instance.
pub fn freshness_query(selector: &str) -> String {
    let sel = if selector.is_empty() {
        String::new()
    } else {
        format!(",{selector}")
    };
    format!(
        "min by (instance) (timestamp({{__name__=~\"{}\"{sel}}}))",
        PRESENCE.join("|")
    )
}

/// What kind of server an instance is, from the names of its series.
fn kinds(series: &[(String, &Series)]) -> (bool, bool) {
    let apiserver = series.iter().any(|(n, _)| n.starts_with("apiserver_"));
    let etcd = series.iter().any(|(n, _)| {
        ["etcd_server_", "etcd_disk_", "etcd_mvcc_"]
            .iter()
            .any(|p| n.starts_with(p))
    });
    (apiserver, etcd)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One instance's series in the Prometheus text format, each family under its `# TYPE`
/// line, for [`crate::measure::metrics::parse`].
pub fn exposition(series: &[(String, &Series)]) -> String {
    let mut by_family: BTreeMap<&str, Vec<(&str, &Series)>> = BTreeMap::new();
    for (name, s) in series {
        let family = HISTOGRAMS
            .iter()
            .find(|h| name.strip_suffix("_bucket") == Some(**h))
            .copied()
            .unwrap_or(name.as_str());
        by_family.entry(family).or_default().push((name, s));
    }
    let mut out = String::new();
    for (family, lines) in by_family {
        let kind = if HISTOGRAMS.contains(&family) {
            "histogram"
        } else {
            "gauge"
        };
        let _ = writeln!(out, "# TYPE {family} {kind}");
        for (name, s) in lines {
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let value = match s.value {
                v if v == f64::INFINITY => "+Inf".to_string(),
                v if v == f64::NEG_INFINITY => "-Inf".to_string(),
                v => format!("{v}"),
            };
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
    out
}

/// Results of the snapshot queries, split by instance: for each, its kube-apiserver and
/// etcd snapshots (None where it is not one).
pub fn by_instance(
    results: &[(Vec<Series>, Option<&'static str>)],
) -> BTreeMap<String, (Option<Snapshot>, Option<Snapshot>)> {
    let mut grouped: BTreeMap<String, Vec<(String, &Series)>> = BTreeMap::new();
    for (series, name) in results {
        for s in series {
            let Some(n) = s.labels.get("__name__").map(String::as_str).or(*name) else {
                continue;
            };
            let instance = s.labels.get("instance").cloned().unwrap_or_default();
            grouped
                .entry(instance)
                .or_default()
                .push((n.to_string(), s));
        }
    }
    grouped
        .into_iter()
        .map(|(instance, series)| {
            let (is_apiserver, is_etcd) = kinds(&series);
            let scrape = Some(crate::measure::metrics::parse(&exposition(&series)));
            let read = |f: fn(&mut Snapshot, &crate::measure::exposition::Scrape)| {
                scrape.as_ref().map(|sc| {
                    let mut s = Snapshot::default();
                    f(&mut s, sc);
                    s
                })
            };
            let api = if is_apiserver {
                read(Snapshot::add_apiserver)
            } else {
                None
            };
            let etcd = if is_etcd {
                read(Snapshot::add_etcd)
            } else {
                None
            };
            (instance, (api, etcd))
        })
        .collect()
}

/// Several etcd members' readings as one (see the module's documentation).
pub fn combine_etcd(members: &[Snapshot]) -> Snapshot {
    let mut out = Snapshot::default();
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let add_buckets = |into: &mut Option<Vec<(f64, f64)>>, from: &Option<Vec<(f64, f64)>>| {
        let Some(from) = from else { return };
        let into = into.get_or_insert_with(Vec::new);
        for (le, c) in from {
            match into.iter_mut().find(|(l, _)| l == le) {
                Some(e) => e.1 += c,
                None => into.push((*le, *c)),
            }
        }
        into.sort_by(|a, b| a.0.total_cmp(&b.0));
    };
    for m in members {
        add_buckets(&mut out.wal_fsync, &m.wal_fsync);
        add_buckets(&mut out.backend_commit, &m.backend_commit);
        out.proposals_failed = match (out.proposals_failed, m.proposals_failed) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        out.leader_changes = max(out.leader_changes, m.leader_changes);
        out.etcd_db_size = max(out.etcd_db_size, m.etcd_db_size);
        out.etcd_db_in_use = max(out.etcd_db_in_use, m.etcd_db_in_use);
        out.has_leader = match (out.has_leader, m.has_leader) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Prometheus {
    /// Waits until every instance not yet known to lag has a sample taken at or after
    /// the moment asked (at most [`FRESH_SAMPLE_DEADLINE`]); problems are returned. The
    /// moment is the first look's evaluation time, on Prometheus' clock, so a clock
    /// difference between this machine and Prometheus does not matter.
    async fn wait_fresh(&self) -> Result<Vec<String>, PrometheusError> {
        let selector = self.selector.as_str();
        let started = tokio::time::Instant::now();
        let query = freshness_query(selector);
        let mut asked: Option<f64> = None;
        loop {
            let newest = self.query(&query).await?;
            let t = *asked.get_or_insert_with(|| {
                newest
                    .first()
                    .map(|s| s.at)
                    .unwrap_or_else(|| unix_seconds(SystemTime::now()))
            });
            let (lagging, known) = self
                .state
                .lock()
                .map(|s| (s.lagging.clone(), s.known.clone()))
                .unwrap_or_default();
            let mut newest_of: BTreeMap<String, f64> =
                known.into_iter().map(|i| (i, f64::NEG_INFINITY)).collect();
            for s in &newest {
                let i = s.labels.get("instance").cloned().unwrap_or_default();
                newest_of.insert(i, s.value);
            }
            let behind: Vec<(String, f64)> = newest_of
                .iter()
                .filter(|(i, ts)| **ts < t && !lagging.contains(*i))
                .map(|(i, ts)| (i.clone(), *ts))
                .collect();
            let waited = started.elapsed();
            if behind.is_empty() || waited >= FRESH_SAMPLE_DEADLINE {
                let mut problems = Vec::new();
                if let Ok(mut st) = self.state.lock() {
                    st.waits.push(waited);
                    st.known.extend(newest_of.keys().cloned());
                    for (i, ts) in &behind {
                        st.lagging.insert(i.clone());
                        let newest = if ts.is_finite() {
                            format!("its newest was {:.0} s old", t - ts)
                        } else {
                            "it has no current series: its scrapes fail".to_string()
                        };
                        problems.push(format!(
                            "Prometheus {}: no sample of instance {i} newer than the observation after {} s ({newest}), so its values lag; not waited for again",
                            self.url,
                            FRESH_SAMPLE_DEADLINE.as_secs(),
                        ));
                    }
                }
                return Ok(problems);
            }
            tokio::time::sleep(FRESHNESS_POLL).await;
        }
    }

    /// One snapshot, read from Prometheus as the scraper reads `/metrics`: apiserver
    /// instances into `last` (an instance without series keeps its last reading), etcd
    /// members combined; problems beside it.
    pub async fn snapshot(&self, last: &mut InstanceSnapshots) -> (Snapshot, Vec<String>) {
        let selector = self.selector.as_str();
        let mut problems = Vec::new();
        let mut s = Snapshot::sum_apiservers(&last.values().cloned().collect::<Vec<_>>());
        match self.wait_fresh().await {
            Ok(p) => problems.extend(p),
            Err(e) => {
                problems.push(e.to_string());
                return (s, problems);
            }
        }
        let mut results = Vec::new();
        for (q, name) in queries(selector) {
            match self.query(&q).await {
                Ok(r) => results.push((r, name)),
                Err(e) => {
                    problems.push(e.to_string());
                    return (s, problems);
                }
            }
        }
        let mut members = Vec::new();
        let mut seen = BTreeSet::new();
        for (instance, (api, etcd)) in by_instance(&results) {
            if let Some(a) = api {
                seen.insert(instance.clone());
                last.insert(instance, a);
            } else if let Some(e) = etcd {
                members.push(e);
            }
        }
        for i in last.keys().filter(|i| !seen.contains(*i)) {
            problems.push(format!(
                "Prometheus {}: no kube-apiserver series of instance {i} (its last reading stands in)",
                self.url
            ));
        }
        s = Snapshot::sum_apiservers(&last.values().cloned().collect::<Vec<_>>());
        if last.is_empty() {
            problems.push(format!(
                "kube-apiserver /metrics: Prometheus {} holds no kube-apiserver series (apiserver_current_inflight_requests){}",
                self.url,
                hint(selector)
            ));
        }
        if members.is_empty() {
            problems.push(format!(
                "etcd /metrics: Prometheus {} holds no etcd series (etcd_server_has_leader); add etcd's metrics URL to its scrape targets (kube-prometheus-stack: kubeEtcd){}",
                self.url,
                hint(selector)
            ));
        } else {
            let e = combine_etcd(&members);
            s.wal_fsync = e.wal_fsync;
            s.backend_commit = e.backend_commit;
            s.leader_changes = e.leader_changes;
            s.proposals_failed = e.proposals_failed;
            s.has_leader = e.has_leader;
            s.etcd_db_in_use = e.etcd_db_in_use;
            s.etcd_db_size = e.etcd_db_size.or(s.etcd_db_size);
        }
        (s, problems)
    }
}

fn hint(selector: &str) -> String {
    if selector.is_empty() {
        String::new()
    } else {
        format!(" matching observe.prometheus_selector `{selector}`")
    }
}
