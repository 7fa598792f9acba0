//! Watching the target like an SRE would: every `interval`, scrape kube-apiserver's
//! `/metrics` (with the kubeconfig's credentials), etcd's `/metrics` and etcd's `Status`,
//! and turn consecutive snapshots into per-interval values. What cannot be reached or is
//! not exported is listed as not observed; the run goes on either way.

use super::metrics::{quantile_of_delta, InstanceSnapshots, Snapshot};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

pub use super::sources::Sources;

/// One kube-apiserver instance's values in an interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstancePoint {
    /// Its URL.
    pub instance: String,
    /// Worst mutating-request p99 over resources (ms).
    pub mutating_p99_ms: Option<f64>,
    /// Mutating requests it served.
    pub mutating_requests: Option<f64>,
    /// HTTP 429 answers.
    pub responses_429: Option<f64>,
    /// Requests in flight.
    pub inflight: Option<f64>,
}

/// One scrape interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedPoint {
    /// Seconds since the load started.
    pub second: f64,
    /// etcd db size (bytes).
    pub etcd_db_size: Option<f64>,
    /// etcd db size in use (bytes).
    pub etcd_db_in_use: Option<f64>,
    /// WAL fsync p99 over the interval (ms).
    pub wal_fsync_p99_ms: Option<f64>,
    /// Backend commit p99 over the interval (ms).
    pub backend_commit_p99_ms: Option<f64>,
    /// Leader changes in the interval.
    pub leader_changes: Option<f64>,
    /// Failed proposals in the interval.
    pub proposals_failed: Option<f64>,
    /// Worst mutating-request p99 over resources in the interval (ms).
    pub apiserver_mutating_p99_ms: Option<f64>,
    /// HTTP 429 answers in the interval.
    pub apiserver_429: Option<f64>,
    /// APF rejections in the interval.
    pub flowcontrol_rejected: Option<f64>,
    /// Requests in flight (all kinds).
    pub apiserver_inflight: Option<f64>,
    /// Registered watchers.
    pub apiserver_watchers: Option<f64>,
    /// Objects stored, all resources.
    pub objects_total: Option<f64>,
    /// kube-apiserver resident set from `/proc/<pid>/status` VmRSS (bytes; local
    /// environment only).
    #[serde(default)]
    pub apiserver_rss_bytes: Option<f64>,
    /// kube-apiserver `process_resident_memory_bytes` (bytes).
    #[serde(default)]
    pub apiserver_resident_bytes: Option<f64>,
    /// kube-apiserver `go_memstats_heap_inuse_bytes` (bytes).
    #[serde(default)]
    pub apiserver_heap_inuse_bytes: Option<f64>,
    /// kube-apiserver `go_memstats_alloc_bytes` (bytes of allocated heap objects).
    #[serde(default)]
    pub apiserver_heap_alloc_bytes: Option<f64>,
    /// Mutating requests the apiservers served in the interval (all instances).
    #[serde(default)]
    pub apiserver_mutating_requests: Option<f64>,
    /// Per instance, when each kube-apiserver is scraped directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apiservers: Vec<InstancePoint>,
}

/// How the apiserver's and etcd's series were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Their `/metrics` scraped by the tool.
    Scrape,
    /// Queried from a Prometheus (`observe.prometheus_url`).
    Prometheus,
}

/// Where the observations came from (`summary.json` `observed.source`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedSource {
    /// `scrape` or `prometheus`.
    pub kind: SourceKind,
    /// The Prometheus queried.
    pub prometheus_url: Option<String>,
    /// How long the snapshots waited for Prometheus to hold fresh samples.
    pub prometheus_freshness: Option<super::prometheus::Freshness>,
}

/// Everything observed in a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Where the series came from (absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ObservedSource>,
    /// Seconds between scrapes.
    pub interval_seconds: f64,
    /// One point per scrape interval.
    pub points: Vec<ObservedPoint>,
    /// Sources or metrics that could not be observed, with why.
    pub not_observed: Vec<String>,
    /// Mutating-request p99 per resource over the whole run (ms).
    pub mutating_p99_ms_by_resource: BTreeMap<String, f64>,
    /// APF rejections over the run by `priority_level/reason`.
    pub rejected_by_priority_level: BTreeMap<String, f64>,
    /// Object counts per resource at the end.
    pub objects_by_resource: BTreeMap<String, f64>,
    /// etcd db size before the load (bytes).
    pub etcd_db_size_start: Option<f64>,
    /// etcd db size at the end (bytes).
    pub etcd_db_size_end: Option<f64>,
    /// kube-apiserver memory before the load and, after a settle, at its end (absent in
    /// results written before it was measured).
    #[serde(default)]
    pub apiserver_memory: Option<super::memory::ApiserverMemory>,
    /// A controller's informer-cache memory: filled by a run with a reference controller,
    /// else "not measured" with the reason (absent in results written before).
    #[serde(default)]
    pub controller_cache_memory: Option<super::memory::ControllerCacheMemory>,
    /// Admission webhooks kube-apiserver called during the load, as it counted them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admission_webhooks: Vec<super::admission::WebhookObserved>,
    /// kube-apiserver CPU seconds over the load (`process_cpu_seconds_total`, all
    /// instances scraped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apiserver_cpu_seconds: Option<f64>,
}

/// How long an etcd cluster member's `/metrics` may take to answer.
const ETCD_MEMBER_ANSWER: Duration = Duration::from_millis(800);

/// GET of a plain-HTTP URL with a 5 s deadline (etcd's and the reference controller's `/metrics`).
pub(crate) async fn http_get(url: &str) -> Result<String, String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let resp = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .map_err(|_| format!("{url}: no answer within 5 s"))?
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

impl Sources {
    /// Takes one snapshot; problems are returned beside it, not raised. `last` holds each
    /// apiserver instance's latest snapshot (updated here). With a Prometheus, its series
    /// stand in for every `/metrics` scrape ([`super::prometheus`]).
    pub async fn snapshot(&self, last: &mut InstanceSnapshots) -> (Snapshot, Vec<String>) {
        let (mut s, mut problems) = match &self.prometheus {
            Some(p) => p.snapshot(last).await,
            None => self.scrape(last).await,
        };
        if let Some(etcd) = &self.etcd {
            match etcd.status().await {
                Ok(st) => {
                    s.etcd_db_size = Some(st.db_size as f64);
                    s.etcd_db_in_use = Some(st.db_size_in_use as f64);
                }
                Err(e) => problems.push(format!("etcd Status: {}", e.label())),
            }
        } else if self.etcd_metrics_url.is_some() || self.prometheus.is_some() {
            // db size comes from /metrics too (etcd_mvcc_db_total_size_in_bytes); Status
            // adds nothing essential, so its absence is not worth a line.
        } else {
            problems
                .push("etcd Status: no etcd endpoint for this target (set observe.etcd)".into());
        }
        if let Some(pid) = self.apiserver_pid {
            match super::memory::vm_rss_bytes(pid) {
                Ok(b) => s.apiserver_rss = Some(b),
                Err(e) => problems.push(format!("kube-apiserver VmRSS: {e}")),
            }
        }
        (s, problems)
    }

    /// The `/metrics` part of a snapshot, scraped: etcd's and each apiserver instance's.
    async fn scrape(&self, last: &mut InstanceSnapshots) -> (Snapshot, Vec<String>) {
        let mut s = Snapshot::default();
        let mut problems = Vec::new();
        match &self.etcd_metrics_url {
            _ if !self.etcd_members.is_empty() => {
                let reads: Vec<_> = self
                    .etcd_members
                    .iter()
                    .map(|u| {
                        let u = u.clone();
                        // A stopped member (SIGSTOP) never answers: a short wait.
                        async move {
                            tokio::time::timeout(ETCD_MEMBER_ANSWER, http_get(&u))
                                .await
                                .map_err(|_| format!("{u}: no answer"))?
                        }
                    })
                    .collect();
                let reads = futures::future::join_all(reads).await;
                let Ok(mut last) = self.etcd_member_readings.lock() else {
                    return (s, problems);
                };
                for (url, r) in self.etcd_members.iter().zip(reads) {
                    match r {
                        Ok(t) => {
                            let mut one = Snapshot::default();
                            one.add_etcd(&super::metrics::parse(&t));
                            last.insert(url.clone(), one);
                        }
                        Err(e) => problems.push(format!("etcd member /metrics: {e}")),
                    }
                }
                let members: Vec<Snapshot> = last.values().cloned().collect();
                drop(last);
                absorb_etcd(&mut s, super::prometheus::snapshot::combine_etcd(&members));
            }
            Some(url) => match http_get(url).await.map(|t| super::metrics::parse(&t)) {
                Ok(scrape) => s.add_etcd(&scrape),
                Err(e) => problems.push(format!("etcd /metrics: {e}")),
            },
            None => problems.push(
                "etcd /metrics: no etcd metrics URL for this target (set observe.etcd_metrics_url or --etcd-metrics-url)".into(),
            ),
        }
        match &self.apiserver {
            _ if !self.apiserver_instances.is_empty() => {
                for (url, c) in &self.apiserver_instances {
                    match apiserver_metrics(c).await {
                        Ok(scrape) => {
                            let mut one = Snapshot::default();
                            one.add_apiserver(&scrape);
                            last.insert(url.clone(), one);
                        }
                        // Its last reading stands in: its counters only grow, so the sum
                        // over instances stays a sum of each one's own series.
                        Err(e) => {
                            last.entry(url.clone()).or_default();
                            problems.push(format!("kube-apiserver {url} /metrics: {e}"))
                        }
                    }
                }
                let mut all = Snapshot::sum_apiservers(&last.values().cloned().collect::<Vec<_>>());
                std::mem::swap(&mut all, &mut s);
                absorb_etcd(&mut s, all);
            }
            Some(c) => match apiserver_metrics(c).await {
                Ok(scrape) => s.add_apiserver(&scrape),
                Err(e) => problems.push(format!("kube-apiserver /metrics: {e}")),
            },
            None => problems.push("kube-apiserver /metrics: no apiserver for this target".into()),
        }
        (s, problems)
    }
}

async fn apiserver_metrics(c: &kube::Client) -> Result<super::exposition::Scrape, String> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = tokio::time::timeout(Duration::from_secs(10), c.request_text(req))
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(super::metrics::parse(&text))
}

/// Puts etcd's readings (`from`) into an apiserver-side snapshot (`into`).
fn absorb_etcd(into: &mut Snapshot, from: Snapshot) {
    into.etcd_db_size = from.etcd_db_size.or(into.etcd_db_size);
    into.etcd_db_in_use = from.etcd_db_in_use;
    into.wal_fsync = from.wal_fsync;
    into.backend_commit = from.backend_commit;
    into.leader_changes = from.leader_changes;
    into.proposals_failed = from.proposals_failed;
    into.has_leader = from.has_leader;
}

impl Sources {
    fn instance_point(url: &str, prev: &Snapshot, cur: &Snapshot) -> InstancePoint {
        let p = point(0.0, prev, cur);
        InstancePoint {
            instance: url.to_string(),
            mutating_p99_ms: p.apiserver_mutating_p99_ms,
            mutating_requests: p.apiserver_mutating_requests,
            responses_429: p.apiserver_429,
            inflight: p.apiserver_inflight,
        }
    }
}

/// Each instance's values between two readings of every instance.
fn instance_points(prev: &InstanceSnapshots, cur: &InstanceSnapshots) -> Vec<InstancePoint> {
    cur.iter()
        .map(|(name, b)| {
            let a = prev.get(name).cloned().unwrap_or_default();
            Sources::instance_point(name, &a, b)
        })
        .collect()
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some((b? - a.unwrap_or(0.0)).max(0.0))
}

fn sum_delta(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Option<f64> {
    (!b.is_empty()).then(|| {
        b.iter()
            .map(|(k, v)| (v - a.get(k).copied().unwrap_or(0.0)).max(0.0))
            .sum()
    })
}

/// The values of the interval between two snapshots.
pub fn point(second: f64, prev: &Snapshot, cur: &Snapshot) -> ObservedPoint {
    let ms = |x: Option<f64>| x.map(|s| s * 1000.0);
    ObservedPoint {
        second,
        etcd_db_size: cur.etcd_db_size,
        etcd_db_in_use: cur.etcd_db_in_use,
        wal_fsync_p99_ms: ms(cur
            .wal_fsync
            .as_ref()
            .and_then(|b| quantile_of_delta(prev.wal_fsync.as_ref(), b, 0.99))),
        backend_commit_p99_ms: ms(cur
            .backend_commit
            .as_ref()
            .and_then(|b| quantile_of_delta(prev.backend_commit.as_ref(), b, 0.99))),
        leader_changes: delta(prev.leader_changes, cur.leader_changes),
        proposals_failed: delta(prev.proposals_failed, cur.proposals_failed),
        apiserver_mutating_p99_ms: cur
            .mutating
            .iter()
            .filter_map(|(r, b)| quantile_of_delta(prev.mutating.get(r), b, 0.99))
            .map(|s| s * 1000.0)
            .reduce(f64::max),
        apiserver_429: delta(prev.code_429, cur.code_429),
        flowcontrol_rejected: sum_delta(&prev.rejected, &cur.rejected)
            .or(cur.apiserver_seen.then_some(0.0)),
        apiserver_inflight: (!cur.inflight.is_empty()).then(|| cur.inflight.values().sum()),
        apiserver_watchers: cur.watchers,
        objects_total: (!cur.objects.is_empty()).then(|| cur.objects.values().sum()),
        apiserver_rss_bytes: cur.apiserver_rss,
        apiserver_resident_bytes: cur.apiserver_resident,
        apiserver_heap_inuse_bytes: cur.apiserver_heap_inuse,
        apiserver_heap_alloc_bytes: cur.apiserver_heap_alloc,
        apiserver_mutating_requests: cur
            .mutating_count()
            .map(|c| (c - prev.mutating_count().unwrap_or(0.0)).max(0.0)),
        apiservers: Vec::new(),
    }
}

/// How the load ended, as the scraper is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The load is still running.
    Running,
    /// The load ended normally: settle, then take the end memory samples.
    Settle,
    /// The load was stopped (interrupted, target failed): one last scrape, no settle.
    Now,
}

/// Takes a first snapshot, the baseline, and says so on `baseline_taken` (the load should
/// start then: the points' seconds count from it); then scrapes every `interval` until
/// `done` leaves [`Finish::Running`]; on [`Finish::Settle`] the apiserver's end memory is
/// taken after `settle` (see [`super::memory::settled`]). Returns what was observed.
pub async fn run(
    sources: Sources,
    interval: Duration,
    settle: Duration,
    baseline_taken: tokio::sync::oneshot::Sender<()>,
    mut done: tokio::sync::watch::Receiver<Finish>,
) -> Observed {
    let mut last = InstanceSnapshots::new();
    let (first, mut problems) = sources.snapshot(&mut last).await;
    let start = Instant::now();
    let _ = baseline_taken.send(());
    let mut not_observed: BTreeSet<String> = problems.drain(..).collect();
    not_observed.extend(sources.unreachable.iter().cloned());
    let mut prev = first.clone();
    let mut prev_instances = last.clone();
    let mut points = Vec::new();
    let (mut intervals, mut backwards) = (0usize, 0usize);
    loop {
        let finished = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            r = done.changed() => r.is_err() || *done.borrow() != Finish::Running,
        };
        let (cur, problems) = sources.snapshot(&mut last).await;
        not_observed.extend(problems);
        intervals += 1;
        // A counter that only grows read smaller: another instance answered (or it restarted).
        if let (Some(a), Some(b)) = (prev.mutating_count(), cur.mutating_count()) {
            backwards += usize::from(b < a);
        }
        let mut p = point(start.elapsed().as_secs_f64(), &prev, &cur);
        p.apiservers = instance_points(&prev_instances, &last);
        points.push(p);
        prev_instances.clone_from(&last);
        prev = cur;
        if finished || *done.borrow() != Finish::Running {
            break;
        }
    }
    // Before the settle (which forces a garbage collection on the apiserver): the load's own
    // webhook calls and CPU.
    let at_load_end = prev.admission.clone();
    let finish = *done.borrow();
    let end = match finish {
        Finish::Settle => {
            let (end, samples) =
                super::memory::settled(&sources, &mut last, settle, start, &mut not_observed).await;
            for (second, cur) in samples {
                points.push(point(second, &prev, &cur));
                prev = cur;
            }
            // Each instance's part of the settle, on its last point (the settle's snapshots
            // update the instances' readings together).
            if let Some(p) = points.last_mut().filter(|_| !last.is_empty()) {
                p.apiservers = instance_points(&prev_instances, &last);
            }
            Some(end)
        }
        _ => None,
    };
    if backwards > 0 {
        not_observed.insert(format!(
            "kube-apiserver counters went backwards in {backwards} of {intervals} intervals: the scrapes reached different instances (behind a load balancer) or one restarted, so the apiserver deltas are unreliable; name the instances in observe.apiserver_urls"
        ));
    }
    for (what, missing) in [
        ("etcd_disk_wal_fsync_duration_seconds", first.wal_fsync.is_none() && match sources.prometheus {
            // Prometheus without etcd series is reported as such (prometheus::snapshot).
            Some(_) => first.leader_changes.is_some(),
            None => sources.etcd_metrics_url.is_some(),
        }),
        ("apiserver_request_duration_seconds (mutating)", prev.mutating.is_empty() && sources.apiserver.is_some()),
        ("object counts (etcd_object_counts / apiserver_storage_objects / apiserver_resource_objects)", prev.objects.is_empty() && sources.apiserver.is_some()),
    ] {
        if missing {
            not_observed.insert(format!("{what}: not exported"));
        }
    }
    Observed {
        source: Some(match &sources.prometheus {
            Some(p) => ObservedSource {
                kind: SourceKind::Prometheus,
                prometheus_url: Some(p.url().to_string()),
                prometheus_freshness: Some(p.freshness()),
            },
            None => ObservedSource {
                kind: SourceKind::Scrape,
                prometheus_url: None,
                prometheus_freshness: None,
            },
        }),
        interval_seconds: interval.as_secs_f64(),
        points,
        not_observed: not_observed.into_iter().collect(),
        mutating_p99_ms_by_resource: prev
            .mutating
            .iter()
            .filter_map(|(r, b)| {
                Some((
                    r.clone(),
                    quantile_of_delta(first.mutating.get(r), b, 0.99)? * 1000.0,
                ))
            })
            .collect(),
        rejected_by_priority_level: prev
            .rejected
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    (v - first.rejected.get(k).copied().unwrap_or(0.0)).max(0.0),
                )
            })
            .filter(|(_, v)| *v > 0.0)
            .collect(),
        objects_by_resource: prev.objects.clone(),
        etcd_db_size_start: first.etcd_db_size,
        etcd_db_size_end: prev.etcd_db_size,
        apiserver_memory: super::memory::ApiserverMemory::from_scrapes(&first, &prev, end),
        controller_cache_memory: Some(super::memory::ControllerCacheMemory::not_measured(
            super::memory::NO_REFERENCE_CONTROLLER,
        )),
        admission_webhooks: super::admission::observed(&first.admission, &at_load_end, |_| true),
        apiserver_cpu_seconds: match (first.admission.cpu_seconds, at_load_end.cpu_seconds) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        },
    }
}

/// Writes `observed.csv` (empty cells for values not observed), with four columns per
/// kube-apiserver instance when each was scraped directly (`apiserver_<i>_…`, in the order
/// of the first point's instances).
pub fn write_csv(points: &[ObservedPoint], w: &mut impl std::io::Write) -> std::io::Result<()> {
    let instances: Vec<String> = points
        .first()
        .map(|p| p.apiservers.iter().map(|i| i.instance.clone()).collect())
        .unwrap_or_default();
    let mut header = String::from("second,etcd_db_size,etcd_db_in_use,wal_fsync_p99_ms,backend_commit_p99_ms,leader_changes,proposals_failed,apiserver_mutating_p99_ms,apiserver_429,flowcontrol_rejected,apiserver_inflight,apiserver_watchers,objects_total,apiserver_rss_bytes,apiserver_resident_bytes,apiserver_heap_inuse_bytes,apiserver_heap_alloc_bytes,apiserver_mutating_requests");
    for i in 0..instances.len() {
        for c in ["mutating_p99_ms", "mutating_requests", "429", "inflight"] {
            header.push_str(&format!(",apiserver_{i}_{c}"));
        }
    }
    writeln!(w, "{header}")?;
    let f = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    for p in points {
        write!(
            w,
            "{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.second,
            f(p.etcd_db_size),
            f(p.etcd_db_in_use),
            f(p.wal_fsync_p99_ms),
            f(p.backend_commit_p99_ms),
            f(p.leader_changes),
            f(p.proposals_failed),
            f(p.apiserver_mutating_p99_ms),
            f(p.apiserver_429),
            f(p.flowcontrol_rejected),
            f(p.apiserver_inflight),
            f(p.apiserver_watchers),
            f(p.objects_total),
            f(p.apiserver_rss_bytes),
            f(p.apiserver_resident_bytes),
            f(p.apiserver_heap_inuse_bytes),
            f(p.apiserver_heap_alloc_bytes)
        )?;
        let mut extra = format!(",{}", f(p.apiserver_mutating_requests));
        for url in &instances {
            let i = p.apiservers.iter().find(|x| &x.instance == url);
            for v in [
                i.and_then(|x| x.mutating_p99_ms),
                i.and_then(|x| x.mutating_requests),
                i.and_then(|x| x.responses_429),
                i.and_then(|x| x.inflight),
            ] {
                extra.push(',');
                extra.push_str(&f(v));
            }
        }
        writeln!(w, "{extra}")?;
    }
    Ok(())
}
