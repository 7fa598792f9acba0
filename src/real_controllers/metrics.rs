//! What a manager says about itself on `/metrics`: client-go's request counter and (with the
//! tool's build) its rate-limiter wait, controller-runtime's reconciles and work queues, and
//! the process's CPU and memory. Snapshots are taken at each step's edges; a step's numbers
//! are the difference.

use prometheus_parse::{Scrape, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// A cumulative histogram: (upper bound, count up to it), sum and count.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Buckets {
    le: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Buckets {
    fn minus(&self, earlier: &Buckets) -> Buckets {
        Buckets {
            le: self
                .le
                .iter()
                .map(|(b, c)| {
                    let before = earlier
                        .le
                        .iter()
                        .find(|(eb, _)| eb == b)
                        .map_or(0.0, |(_, ec)| *ec);
                    (*b, (c - before).max(0.0))
                })
                .collect(),
            sum: (self.sum - earlier.sum).max(0.0),
            count: (self.count - earlier.count).max(0.0),
        }
    }

    fn add(&mut self, other: &Buckets) {
        if self.le.is_empty() {
            self.le = other.le.clone();
        } else {
            for (b, c) in &mut self.le {
                if let Some((_, oc)) = other.le.iter().find(|(ob, _)| ob == b) {
                    *c += oc;
                }
            }
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// Observations.
    pub(crate) fn count(&self) -> f64 {
        self.count
    }

    /// Observations at most `bound` (the bucket with that upper bound; 0 without one).
    pub(crate) fn count_within(&self, bound: f64) -> f64 {
        self.le
            .iter()
            .find(|(b, _)| *b == bound)
            .map_or(0.0, |(_, c)| *c)
    }

    /// Sum of the observations.
    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    /// The upper bound of the bucket holding quantile `q` (None: no observation).
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = q * self.count;
        self.le.iter().find(|(_, c)| *c >= rank).map(|(b, _)| *b)
    }
}

/// One scrape of one manager.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Requests to the management cluster, by HTTP method.
    pub calls: BTreeMap<String, f64>,
    /// Requests to the management cluster, by status code.
    pub codes: BTreeMap<String, f64>,
    /// Requests to workload clusters (every other host).
    pub workload_calls: f64,
    /// Reconciles by controller and result.
    pub reconciles: BTreeMap<String, BTreeMap<String, f64>>,
    /// Reconcile errors by controller.
    pub errors: BTreeMap<String, f64>,
    /// Work queue depth by queue (a gauge).
    pub depth: BTreeMap<String, f64>,
    /// Time items waited in the queue, by queue.
    pub queue_wait: BTreeMap<String, Buckets>,
    /// Retries by queue.
    pub retries: BTreeMap<String, f64>,
    /// Client-side rate-limiter wait of requests to the management cluster.
    pub throttle: Buckets,
    /// Whether the manager exposes the rate-limiter wait at all.
    pub has_throttle: bool,
    /// CPU seconds used since start.
    pub cpu_seconds: f64,
    /// Resident memory.
    pub rss_bytes: f64,
}

fn label<'a>(s: &'a prometheus_parse::Sample, k: &str) -> &'a str {
    s.labels.get(k).unwrap_or("")
}

fn scalar(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        _ => 0.0,
    }
}

fn buckets(v: &Value) -> Buckets {
    match v {
        Value::Histogram(hs) => {
            let mut le: Vec<(f64, f64)> = hs.iter().map(|h| (h.less_than, h.count)).collect();
            le.sort_by(|a, b| a.0.total_cmp(&b.0));
            let count = le.last().map_or(0.0, |l| l.1);
            Buckets {
                le,
                sum: 0.0,
                count,
            }
        }
        _ => Buckets::default(),
    }
}

/// Parses a manager's `/metrics`; `management` is the management apiserver's `host:port`.
pub(crate) fn parse(text: &str, management: &str) -> Snapshot {
    let mut s = Snapshot::default();
    let Ok(scrape) = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))) else {
        return s;
    };
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for x in &scrape.samples {
        let v = &x.value;
        match x.metric.as_str() {
            "rest_client_requests_total" => {
                if label(x, "host") == management {
                    *s.calls.entry(label(x, "method").to_string()).or_default() += scalar(v);
                    *s.codes.entry(label(x, "code").to_string()).or_default() += scalar(v);
                } else {
                    s.workload_calls += scalar(v);
                }
            }
            "rest_client_rate_limiter_duration_seconds" if label(x, "host") == management => {
                s.has_throttle = true;
                s.throttle.add(&buckets(v));
            }
            "rest_client_rate_limiter_duration_seconds_sum" if label(x, "host") == management => {
                *sums.entry("throttle".into()).or_default() += scalar(v);
            }
            "controller_runtime_reconcile_total" => {
                *s.reconciles
                    .entry(label(x, "controller").to_string())
                    .or_default()
                    .entry(label(x, "result").to_string())
                    .or_default() += scalar(v);
            }
            "controller_runtime_reconcile_errors_total" => {
                *s.errors
                    .entry(label(x, "controller").to_string())
                    .or_default() += scalar(v);
            }
            "workqueue_depth" => {
                *s.depth.entry(label(x, "name").to_string()).or_default() += scalar(v);
            }
            "workqueue_queue_duration_seconds" => {
                s.queue_wait
                    .entry(label(x, "name").to_string())
                    .or_default()
                    .add(&buckets(v));
            }
            "workqueue_retries_total" => {
                *s.retries.entry(label(x, "name").to_string()).or_default() += scalar(v);
            }
            "process_cpu_seconds_total" => s.cpu_seconds = scalar(v),
            "process_resident_memory_bytes" => s.rss_bytes = scalar(v),
            _ => {}
        }
    }
    s.throttle.sum = sums.get("throttle").copied().unwrap_or(0.0);
    s
}

fn minus_map(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    a.iter()
        .map(|(k, v)| (k.clone(), (v - b.get(k).copied().unwrap_or(0.0)).max(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// What one manager did during one step.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StepCalls {
    /// Requests to the management cluster, by HTTP method.
    pub calls: BTreeMap<String, u64>,
    /// Requests to the management cluster, by status code.
    pub codes: BTreeMap<String, u64>,
    /// Requests to the management cluster in all.
    pub total_calls: u64,
    /// Requests to workload clusters.
    pub workload_calls: u64,
    /// Reconciles by controller.
    pub reconciles: BTreeMap<String, u64>,
    /// Reconciles in all.
    pub total_reconciles: u64,
    /// Reconciles that ended in an error.
    pub reconcile_errors: u64,
    /// Reconciles that asked to be requeued (`requeue`, `requeue_after`).
    pub requeues: u64,
    /// Management calls per reconcile (None: no reconcile).
    pub calls_per_reconcile: Option<f64>,
    /// Work-queue retries.
    pub retries: u64,
    /// Items that left a work queue, and the 99th percentile of their wait (s, bucket bound).
    pub queue_items: u64,
    /// p99 queue wait across the manager's queues (bucket upper bound, seconds).
    pub queue_wait_p99_seconds: Option<f64>,
    /// Requests that waited more than 1 ms in the client-side rate limiter (None: the
    /// manager does not expose the wait).
    pub throttled_requests: Option<u64>,
    /// Total client-side rate-limiter wait (s).
    pub throttle_wait_seconds: Option<f64>,
    /// p99 rate-limiter wait (bucket upper bound, s).
    pub throttle_wait_p99_seconds: Option<f64>,
    /// CPU seconds the manager used.
    pub cpu_seconds: f64,
}

/// The step between two snapshots.
pub(crate) fn step(before: &Snapshot, after: &Snapshot) -> StepCalls {
    let round = |m: BTreeMap<String, f64>| -> BTreeMap<String, u64> {
        m.into_iter().map(|(k, v)| (k, v.round() as u64)).collect()
    };
    let calls = round(minus_map(&after.calls, &before.calls));
    let codes = round(minus_map(&after.codes, &before.codes));
    let mut reconciles = BTreeMap::new();
    let (mut errors, mut requeues) = (0u64, 0u64);
    for (c, results) in &after.reconciles {
        let empty = BTreeMap::new();
        let d = minus_map(results, before.reconciles.get(c).unwrap_or(&empty));
        let n: f64 = d.values().sum();
        if n > 0.0 {
            reconciles.insert(c.clone(), n.round() as u64);
        }
        errors += d.get("error").copied().unwrap_or(0.0).round() as u64;
        requeues += (d.get("requeue").copied().unwrap_or(0.0)
            + d.get("requeue_after").copied().unwrap_or(0.0))
        .round() as u64;
    }
    let total_calls: u64 = calls.values().sum();
    let total_reconciles: u64 = reconciles.values().sum();
    let mut wait = Buckets::default();
    for (q, b) in &after.queue_wait {
        let d = b.minus(before.queue_wait.get(q).unwrap_or(&Buckets::default()));
        wait.add(&d);
    }
    let throttle = after.throttle.minus(&before.throttle);
    StepCalls {
        total_calls,
        calls,
        codes,
        workload_calls: (after.workload_calls - before.workload_calls)
            .max(0.0)
            .round() as u64,
        total_reconciles,
        reconciles,
        reconcile_errors: errors,
        requeues,
        calls_per_reconcile: (total_reconciles > 0)
            .then(|| total_calls as f64 / total_reconciles as f64),
        retries: minus_map(&after.retries, &before.retries)
            .values()
            .sum::<f64>()
            .round() as u64,
        queue_items: wait.count().round() as u64,
        queue_wait_p99_seconds: wait.quantile(0.99),
        throttled_requests: after.has_throttle.then(|| {
            (throttle.count() - throttle.count_within(0.001))
                .max(0.0)
                .round() as u64
        }),
        throttle_wait_seconds: after.has_throttle.then(|| throttle.sum()),
        throttle_wait_p99_seconds: if after.has_throttle {
            throttle.quantile(0.99)
        } else {
            None
        },
        cpu_seconds: (after.cpu_seconds - before.cpu_seconds).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "127.0.0.1:6443";

    fn text(calls: u64, reconciles: u64, waits: u64) -> String {
        format!(
            "# TYPE rest_client_requests_total counter
rest_client_requests_total{{code=\"200\",host=\"{M}\",method=\"PATCH\"}} {calls}
rest_client_requests_total{{code=\"200\",host=\"127.0.0.1:20000\",method=\"GET\"}} 7
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{{controller=\"cluster\",result=\"success\"}} {reconciles}
controller_runtime_reconcile_total{{controller=\"cluster\",result=\"requeue_after\"}} 2
# TYPE rest_client_rate_limiter_duration_seconds histogram
rest_client_rate_limiter_duration_seconds_bucket{{host=\"{M}\",verb=\"PATCH\",le=\"0.001\"}} {waits}
rest_client_rate_limiter_duration_seconds_bucket{{host=\"{M}\",verb=\"PATCH\",le=\"1\"}} {}
rest_client_rate_limiter_duration_seconds_bucket{{host=\"{M}\",verb=\"PATCH\",le=\"+Inf\"}} {}
rest_client_rate_limiter_duration_seconds_sum{{host=\"{M}\",verb=\"PATCH\"}} 0.5
rest_client_rate_limiter_duration_seconds_count{{host=\"{M}\",verb=\"PATCH\"}} {}
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 3.5
",
            waits + 1,
            waits + 1,
            waits + 1
        )
    }

    #[test]
    fn a_step_is_the_difference_of_two_scrapes() {
        let a = parse(&text(10, 4, 0), M);
        let b = parse(&text(15, 14, 9), M);
        assert_eq!(b.workload_calls, 7.0);
        let s = step(&a, &b);
        assert_eq!(s.total_calls, 5);
        assert_eq!(s.calls["PATCH"], 5);
        assert_eq!(s.workload_calls, 0);
        assert_eq!(s.total_reconciles, 10);
        assert_eq!(s.calls_per_reconcile, Some(0.5));
        assert_eq!(s.throttled_requests, Some(0));
        assert_eq!(s.throttle_wait_p99_seconds, Some(0.001));
        assert_eq!(s.throttle_wait_p99_seconds, Some(0.001));
    }
}
