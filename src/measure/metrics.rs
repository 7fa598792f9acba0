//! Reading apiserver and etcd `/metrics` (Prometheus text format, parsed by
//! [`super::exposition`]) into a [`Snapshot`], and turning two snapshots into the values of one
//! interval: histogram p99s from bucket deltas (as Prometheus' `histogram_quantile` does),
//! counter deltas, gauges. Metric names differ across Kubernetes and etcd versions: every known name
//! is accepted.

use super::exposition::{HistogramCount, Scrape, Value};
use std::collections::BTreeMap;

pub use super::buckets::{quantile_of_delta, Buckets};

/// Each kube-apiserver instance's latest snapshot, by instance (its URL when scraped
/// directly, its `instance` label when read from Prometheus).
pub type InstanceSnapshots = BTreeMap<String, Snapshot>;

/// Object-count metric names across Kubernetes versions.
pub const OBJECT_COUNT_METRICS: [&str; 3] = [
    "etcd_object_counts",
    "apiserver_storage_objects",
    "apiserver_resource_objects",
];
/// Watch-count metric names across versions: `apiserver_registered_watchers` (watchers the
/// watch cache holds; gone by v1.35), then the WATCH requests being served
/// (`apiserver_longrunning_requests{verb="WATCH"}`, `apiserver_longrunning_gauge` before
/// v1.23). The first one exported wins.
pub const WATCHER_METRICS: [&str; 3] = [
    "apiserver_registered_watchers",
    "apiserver_longrunning_requests",
    "apiserver_longrunning_gauge",
];
/// Apiserver-side db size metric names across versions.
pub const APISERVER_DB_SIZE_METRICS: [&str; 3] = [
    "etcd_db_total_size_in_bytes",
    "apiserver_storage_db_total_size_in_bytes",
    "apiserver_storage_size_bytes",
];

/// What one scrape of the apiserver and etcd said (absent = not exported / not reachable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// etcd `etcd_mvcc_db_total_size_in_bytes` (or Status `db_size`).
    pub etcd_db_size: Option<f64>,
    /// etcd `etcd_mvcc_db_total_size_in_use_in_bytes` (or Status).
    pub etcd_db_in_use: Option<f64>,
    /// `etcd_disk_wal_fsync_duration_seconds`.
    pub wal_fsync: Option<Buckets>,
    /// `etcd_disk_backend_commit_duration_seconds`.
    pub backend_commit: Option<Buckets>,
    /// `etcd_server_leader_changes_seen_total`.
    pub leader_changes: Option<f64>,
    /// `etcd_server_proposals_failed_total`.
    pub proposals_failed: Option<f64>,
    /// `etcd_server_has_leader`.
    pub has_leader: Option<f64>,
    /// `apiserver_request_duration_seconds` of mutating verbs, by resource.
    pub mutating: BTreeMap<String, Buckets>,
    /// `apiserver_request_total{code="429"}`.
    pub code_429: Option<f64>,
    /// `apiserver_flowcontrol_rejected_requests_total` by `priority_level/reason`.
    pub rejected: BTreeMap<String, f64>,
    /// `apiserver_current_inflight_requests` by request kind.
    pub inflight: BTreeMap<String, f64>,
    /// Watches, all kinds together: `apiserver_registered_watchers` where the server has
    /// it, else the WATCH requests in flight (see [`WATCHER_METRICS`]).
    pub watchers: Option<f64>,
    /// WATCH requests in flight (`apiserver_longrunning_*{verb="WATCH"}`), merged into
    /// `watchers` when the server has no `apiserver_registered_watchers`.
    watch_requests: Option<f64>,
    /// Object counts by resource (any of [`OBJECT_COUNT_METRICS`]).
    pub objects: BTreeMap<String, f64>,
    /// The apiserver's metrics were read.
    pub apiserver_seen: bool,
    /// kube-apiserver's `process_resident_memory_bytes` (bytes).
    pub apiserver_resident: Option<f64>,
    /// kube-apiserver's `go_memstats_heap_inuse_bytes` (bytes in in-use heap spans).
    pub apiserver_heap_inuse: Option<f64>,
    /// kube-apiserver's `go_memstats_alloc_bytes` (bytes of allocated heap objects; after a
    /// garbage collection, the live heap).
    pub apiserver_heap_alloc: Option<f64>,
    /// kube-apiserver's resident set from `/proc/<pid>/status` `VmRSS` (bytes; only where
    /// the tool runs the apiserver itself).
    pub apiserver_rss: Option<f64>,
    /// Admission webhook series and kube-apiserver's CPU seconds.
    pub admission: super::admission::AdmissionSnapshot,
}

/// Every metric family [`Snapshot`] reads; `parse` skips the others (an apiserver's
/// `/metrics` is ~10,000 lines).
const READ: [&str; 14] = [
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_failed_total",
    "etcd_server_has_leader",
    "apiserver_request_duration_seconds",
    "apiserver_request_total",
    "apiserver_flowcontrol_rejected_requests_total",
    "apiserver_current_inflight_requests",
    "process_resident_memory_bytes",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_alloc_bytes",
];

fn is_read(family: &str) -> bool {
    READ.contains(&family)
        || super::admission::FAMILIES.contains(&family)
        || WATCHER_METRICS.contains(&family)
        || OBJECT_COUNT_METRICS.contains(&family)
        || APISERVER_DB_SIZE_METRICS.contains(&family)
}

/// Whether a line of the exposition belongs to a family [`Snapshot`] reads: `# TYPE`
/// lines (histograms need theirs) and samples, `_bucket`/`_sum`/`_count` included.
fn wanted(line: &str) -> bool {
    let name = match line.strip_prefix("# TYPE ") {
        Some(rest) => rest.split(' ').next().unwrap_or(""),
        None if line.starts_with('#') => return false,
        None => line.split(['{', ' ']).next().unwrap_or(""),
    };
    let family = if is_read(name) {
        name
    } else {
        match ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| is_read(f)))
        {
            Some(f) => f,
            None => return false,
        }
    };
    // The two big apiserver families: only the series add_apiserver keeps (mutating verbs'
    // durations, 429s), checked on the text before any parsing.
    match family {
        _ if line.starts_with('#') => true,
        "apiserver_request_duration_seconds" => line
            .split_once("verb=\"")
            .and_then(|(_, rest)| rest.split('"').next())
            .is_some_and(|verb| MUTATING_VERBS.contains(&verb)),
        "apiserver_request_total" => line.contains("code=\"429\""),
        "apiserver_longrunning_requests" | "apiserver_longrunning_gauge" => {
            line.contains("verb=\"WATCH\"")
        }
        _ => true,
    }
}

/// The verbs whose request durations the snapshot keeps.
const MUTATING_VERBS: [&str; 7] = [
    "POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE",
];

/// Parses Prometheus text exposition: the families [`Snapshot`] reads.
pub fn parse(text: &str) -> Scrape {
    super::exposition::parse(text, wanted)
}

fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => Some(*x),
        _ => None,
    }
}

fn add_buckets(into: &mut Buckets, h: &[HistogramCount]) {
    for b in h {
        match into.iter_mut().find(|(le, _)| *le == b.less_than) {
            Some(e) => e.1 += b.count,
            None => into.push((b.less_than, b.count)),
        }
    }
    into.sort_by(|a, b| a.0.total_cmp(&b.0));
}

/// An object-count key as the older metrics name a resource: `<resource>.<group>`, or the
/// bare resource for the core group.
fn resource_key(resource: &str, group: &str) -> String {
    if group.is_empty() || resource.ends_with(&format!(".{group}")) {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl Snapshot {
    /// Adds what an etcd `/metrics` scrape says.
    pub fn add_etcd(&mut self, s: &Scrape) {
        for x in &s.samples {
            match (x.metric.as_str(), &x.value) {
                ("etcd_mvcc_db_total_size_in_bytes", v) => self.etcd_db_size = scalar(v),
                ("etcd_mvcc_db_total_size_in_use_in_bytes", v) => self.etcd_db_in_use = scalar(v),
                ("etcd_disk_wal_fsync_duration_seconds", Value::Histogram(h)) => {
                    add_buckets(self.wal_fsync.get_or_insert_with(Vec::new), h)
                }
                ("etcd_disk_backend_commit_duration_seconds", Value::Histogram(h)) => {
                    add_buckets(self.backend_commit.get_or_insert_with(Vec::new), h)
                }
                ("etcd_server_leader_changes_seen_total", v) => self.leader_changes = scalar(v),
                ("etcd_server_proposals_failed_total", v) => self.proposals_failed = scalar(v),
                ("etcd_server_has_leader", v) => self.has_leader = scalar(v),
                _ => {}
            }
        }
    }

    /// Adds what a kube-apiserver `/metrics` scrape says.
    pub fn add_apiserver(&mut self, s: &Scrape) {
        // Reached: absent series mean zero, not "not observed".
        self.code_429.get_or_insert(0.0);
        self.apiserver_seen = true;
        for x in &s.samples {
            let label = |k: &str| x.labels.get(k).unwrap_or("").to_string();
            match (x.metric.as_str(), &x.value) {
                ("apiserver_request_duration_seconds", Value::Histogram(h))
                    if MUTATING_VERBS.contains(&label("verb").as_str()) =>
                {
                    let resource = match label("group").as_str() {
                        "" => label("resource"),
                        g => format!("{}.{g}", label("resource")),
                    };
                    add_buckets(self.mutating.entry(resource).or_default(), h);
                }
                ("apiserver_request_total", v) if label("code") == "429" => {
                    *self.code_429.get_or_insert(0.0) += scalar(v).unwrap_or(0.0);
                }
                ("apiserver_flowcontrol_rejected_requests_total", v) => {
                    *self
                        .rejected
                        .entry(format!("{}/{}", label("priority_level"), label("reason")))
                        .or_default() += scalar(v).unwrap_or(0.0);
                }
                ("apiserver_current_inflight_requests", v) => {
                    *self.inflight.entry(label("request_kind")).or_default() +=
                        scalar(v).unwrap_or(0.0);
                }
                ("apiserver_registered_watchers", v) => {
                    *self.watchers.get_or_insert(0.0) += scalar(v).unwrap_or(0.0)
                }
                ("apiserver_longrunning_requests" | "apiserver_longrunning_gauge", v)
                    if label("verb") == "WATCH" =>
                {
                    *self.watch_requests.get_or_insert(0.0) += scalar(v).unwrap_or(0.0)
                }
                ("process_resident_memory_bytes", v) => self.apiserver_resident = scalar(v),
                ("go_memstats_heap_inuse_bytes", v) => self.apiserver_heap_inuse = scalar(v),
                ("go_memstats_alloc_bytes", v) => self.apiserver_heap_alloc = scalar(v),
                (m, v) if OBJECT_COUNT_METRICS.contains(&m) => {
                    // Several names may be exported at once (v1.34-v1.36 export both
                    // `apiserver_storage_objects{resource="machines.cluster.x-k8s.io"}` and
                    // `apiserver_resource_objects{group="cluster.x-k8s.io",resource="machines"}`);
                    // they agree, so one key per resource keeps one of them.
                    self.objects.insert(
                        resource_key(&label("resource"), &label("group")),
                        scalar(v).unwrap_or(0.0),
                    );
                }
                (m, v) if APISERVER_DB_SIZE_METRICS.contains(&m) && self.etcd_db_size.is_none() => {
                    self.etcd_db_size = scalar(v);
                }
                (m, _)
                    if m.starts_with("apiserver_admission_webhook_")
                        || m == "process_cpu_seconds_total" =>
                {
                    self.admission.add(x)
                }
                _ => {}
            }
        }
        if self.watchers.is_none() {
            self.watchers = self.watch_requests;
        }
    }
}

fn add_cumulative(dst: &mut Buckets, src: &Buckets) {
    for (le, c) in src {
        match dst.iter_mut().find(|(l, _)| l == le) {
            Some(d) => d.1 += c,
            None => dst.push((*le, *c)),
        }
    }
    dst.sort_by(|a, b| a.0.total_cmp(&b.0));
}

impl Snapshot {
    /// Several kube-apiserver instances' snapshots as one: counters, histogram buckets and
    /// gauges summed, object counts and the db size taken from the first instance that has
    /// them (every instance reads the same etcd), memory only when there is one instance. Summing each instance's own cumulative
    /// series is what keeps interval deltas right behind a load balancer; a delta between
    /// two different instances' counters means nothing.
    pub fn sum_apiservers(parts: &[Snapshot]) -> Snapshot {
        let mut s = Snapshot::default();
        for p in parts {
            for (r, b) in &p.mutating {
                add_cumulative(s.mutating.entry(r.clone()).or_default(), b);
            }
            let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            };
            s.code_429 = sum(s.code_429, p.code_429);
            s.watchers = sum(s.watchers, p.watchers);
            for (k, v) in &p.rejected {
                *s.rejected.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &p.inflight {
                *s.inflight.entry(k.clone()).or_default() += v;
            }
            if s.objects.is_empty() {
                s.objects = p.objects.clone();
            }
            s.etcd_db_size = s.etcd_db_size.or(p.etcd_db_size);
            s.apiserver_seen |= p.apiserver_seen;
            s.admission.add_all(&p.admission);
        }
        // One instance's memory is the apiserver's memory; several are not summed (each
        // holds its own watch cache of the same objects).
        if let [one] = parts {
            s.apiserver_resident = one.apiserver_resident;
            s.apiserver_heap_inuse = one.apiserver_heap_inuse;
            s.apiserver_heap_alloc = one.apiserver_heap_alloc;
        }
        s
    }

    /// Mutating requests counted so far, all resources (each histogram's largest bucket,
    /// `+Inf`, is its count). None when the apiserver was not read.
    pub fn mutating_count(&self) -> Option<f64> {
        self.apiserver_seen.then(|| {
            self.mutating
                .values()
                .filter_map(|b| b.iter().max_by(|x, y| x.0.total_cmp(&y.0)).map(|x| x.1))
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = "# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 10
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 60
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 100
etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 100
etcd_disk_wal_fsync_duration_seconds_sum 0.2
etcd_disk_wal_fsync_duration_seconds_count 100
# TYPE etcd_mvcc_db_total_size_in_bytes gauge
etcd_mvcc_db_total_size_in_bytes 2.097152e+06
# TYPE etcd_server_leader_changes_seen_total counter
etcd_server_leader_changes_seen_total 1
";

    const APISERVER: &str = "# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{group=\"\",resource=\"secrets\",verb=\"POST\",le=\"0.1\"} 9
apiserver_request_duration_seconds_bucket{group=\"\",resource=\"secrets\",verb=\"POST\",le=\"1\"} 10
apiserver_request_duration_seconds_bucket{group=\"\",resource=\"secrets\",verb=\"POST\",le=\"+Inf\"} 10
apiserver_request_duration_seconds_sum{group=\"\",resource=\"secrets\",verb=\"POST\"} 0.5
apiserver_request_duration_seconds_count{group=\"\",resource=\"secrets\",verb=\"POST\"} 10
apiserver_request_duration_seconds_bucket{group=\"\",resource=\"secrets\",verb=\"GET\",le=\"+Inf\"} 99
# TYPE apiserver_request_total counter
apiserver_request_total{code=\"429\",resource=\"secrets\",verb=\"POST\"} 3
apiserver_request_total{code=\"201\",resource=\"secrets\",verb=\"POST\"} 7
# TYPE apiserver_flowcontrol_rejected_requests_total counter
apiserver_flowcontrol_rejected_requests_total{flow_schema=\"service-accounts\",priority_level=\"workload-low\",reason=\"queue-full\"} 3
# TYPE etcd_object_counts gauge
etcd_object_counts{resource=\"machines.cluster.x-k8s.io\"} 42
# TYPE apiserver_storage_objects gauge
apiserver_storage_objects{resource=\"secrets\"} 5
# TYPE go_memstats_alloc_bytes gauge
go_memstats_alloc_bytes 1.5e+08
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 9.9e+10
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.75e+08
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.2e+08
";

    #[test]
    fn reads_etcd_and_apiserver_metrics() {
        let mut s = Snapshot::default();
        s.add_etcd(&parse(ETCD));
        s.add_apiserver(&parse(APISERVER));
        // The line filter drops only what the snapshot does not read.
        let mut all = Snapshot::default();
        let every = |t: &str| super::super::exposition::parse(t, |_| true);
        all.add_etcd(&every(ETCD));
        all.add_apiserver(&every(APISERVER));
        assert_eq!(all, s);
        let noisy = format!("# HELP x y\n# TYPE go_goroutines gauge\ngo_goroutines 7\n{APISERVER}");
        assert_eq!(parse(&noisy).samples.len(), parse(APISERVER).samples.len());
        assert_eq!(s.etcd_db_size, Some(2_097_152.0));
        assert_eq!(s.leader_changes, Some(1.0));
        assert_eq!(s.wal_fsync.as_ref().unwrap().len(), 4);
        assert_eq!(s.code_429, Some(3.0));
        assert_eq!(s.rejected["workload-low/queue-full"], 3.0);
        assert_eq!(s.objects["machines.cluster.x-k8s.io"], 42.0);
        assert_eq!(s.objects["secrets"], 5.0);
        assert_eq!(s.mutating.len(), 1, "GETs are not mutating");
        // Memory, in bytes: the allocated heap is the gauge, not the cumulative counter.
        assert_eq!(s.apiserver_heap_alloc, Some(1.5e8));
        assert_eq!(s.apiserver_heap_inuse, Some(1.75e8));
        assert_eq!(s.apiserver_resident, Some(3.2e8));
        // etcd exports the same Go runtime families: they are not the apiserver's.
        let mut e = Snapshot::default();
        e.add_etcd(&parse(APISERVER));
        assert_eq!((e.apiserver_resident, e.apiserver_heap_alloc), (None, None));
        let p99 = quantile_of_delta(None, &s.mutating["secrets"], 0.99).unwrap();
        assert!(p99 > 0.1 && p99 <= 1.0, "{p99}");
    }

    #[test]
    fn object_counts_are_not_double_counted_across_metric_names() {
        // v1.34-v1.36 export the deprecated and the new family side by side; v1.37 only
        // the new one, with the group in its own label.
        let both = "# TYPE apiserver_storage_objects gauge
apiserver_storage_objects{resource=\"machines.cluster.x-k8s.io\"} 42
apiserver_storage_objects{resource=\"secrets\"} 5
# TYPE apiserver_resource_objects gauge
apiserver_resource_objects{group=\"cluster.x-k8s.io\",resource=\"machines\"} 42
apiserver_resource_objects{group=\"\",resource=\"secrets\"} 5
";
        let only_new = "# TYPE apiserver_resource_objects gauge
apiserver_resource_objects{group=\"cluster.x-k8s.io\",resource=\"machines\"} 42
apiserver_resource_objects{group=\"\",resource=\"secrets\"} 5
";
        for text in [both, only_new] {
            let mut s = Snapshot::default();
            s.add_apiserver(&parse(text));
            assert_eq!(s.objects.len(), 2, "{:?}", s.objects);
            assert_eq!(s.objects["machines.cluster.x-k8s.io"], 42.0);
            assert_eq!(s.objects.values().sum::<f64>(), 47.0);
        }
    }

    #[test]
    fn watches_are_counted_on_servers_without_registered_watchers() {
        let old = "# TYPE apiserver_registered_watchers gauge
apiserver_registered_watchers{group=\"\",kind=\"Secret\",version=\"v1\"} 3
# TYPE apiserver_longrunning_gauge gauge
apiserver_longrunning_gauge{resource=\"secrets\",verb=\"WATCH\"} 9
";
        let new = "# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"secrets\",verb=\"WATCH\"} 2
apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"pods\",verb=\"WATCH\"} 3
apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"pods\",verb=\"CONNECT\"} 7
";
        for (text, want) in [(old, 3.0), (new, 5.0)] {
            let mut s = Snapshot::default();
            s.add_apiserver(&parse(text));
            assert_eq!(s.watchers, Some(want), "{text}");
        }
    }

    #[test]
    fn quantiles_come_from_bucket_deltas() {
        let before: Buckets = vec![
            (0.001, 10.0),
            (0.002, 60.0),
            (0.004, 100.0),
            (f64::INFINITY, 100.0),
        ];
        // 100 more observations, all between 2 and 4 ms.
        let after: Buckets = vec![
            (0.001, 10.0),
            (0.002, 60.0),
            (0.004, 200.0),
            (f64::INFINITY, 200.0),
        ];
        let p99 = quantile_of_delta(Some(&before), &after, 0.99).unwrap();
        assert!((p99 - 0.00398).abs() < 1e-4, "{p99}");
        assert_eq!(
            quantile_of_delta(Some(&after), &after, 0.99),
            None,
            "nothing new"
        );
        let all = quantile_of_delta(None, &before, 0.5).unwrap();
        assert!((all - 0.0018).abs() < 1e-9, "{all}");
    }
}
