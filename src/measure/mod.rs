//! Measurement: every request becomes a [`Sample`] sent over a channel to one
//! [`Collector`], which keeps HDR histograms (µs, 3 significant digits) and counters per
//! (phase, verb, kind), and a per-second [`timeseries`]. Nothing here keeps per-request
//! vectors: memory is flat in run size.

pub mod admission;
pub mod apf;
pub mod buckets;
pub mod created;
pub mod etcd_members;
pub mod expose;
pub mod exposition;
pub mod instances;
pub mod memory;
pub mod metrics;
pub mod prometheus;
pub mod scrape;
pub mod self_observe;
pub mod sources;
pub mod timeseries;

use crate::backend::RequestError;
use crate::model::Kind;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Highest latency a histogram records (1 hour); larger values are clamped.
pub const MAX_MICROS: u64 = 3_600_000_000;

/// The API verb of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// POST a new object.
    Create,
    /// GET one object.
    Get,
    /// PATCH an object or its status.
    Patch,
    /// DELETE an object.
    Delete,
    /// LIST objects.
    List,
}

impl Verb {
    /// Every verb.
    pub const ALL: [Verb; 5] = [
        Verb::Create,
        Verb::Get,
        Verb::Patch,
        Verb::Delete,
        Verb::List,
    ];

    /// The verb with this [`label`](Verb::label).
    pub fn from_label(label: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.label() == label)
    }

    /// Lower-case name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Get => "get",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::List => "list",
        }
    }
}

/// One finished logical request (all its attempts).
#[derive(Clone, Debug)]
pub struct Sample {
    /// Phase name (`namespaces`, `create`, `cleanup` …).
    pub phase: &'static str,
    /// Verb.
    pub verb: Verb,
    /// Object kind.
    pub kind: Kind,
    /// Intended start → final answer: what a caller experiences (no coordinated omission).
    pub latency: Duration,
    /// Time spent waiting for client tokens, all attempts together.
    pub throttle_wait: Duration,
    /// Time on the wire and in the server, all attempts together.
    pub server: Duration,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// HTTP 429 answers among the attempts.
    pub responses_429: u32,
    /// The first attempt's result.
    pub first: Result<(), RequestError>,
    /// The final result.
    pub outcome: Result<(), RequestError>,
    /// When the final answer arrived (places the sample in the time series).
    pub done: tokio::time::Instant,
}

/// Live counters and gauges shared by workers, the progress display and the collector.
#[derive(Debug, Default)]
pub struct Progress {
    /// Logical requests started.
    pub started: AtomicU64,
    /// Logical requests finished (any outcome).
    pub done: AtomicU64,
    /// Requests that finally failed (including 429).
    pub failed: AtomicU64,
    /// HTTP 429 answers seen (every attempt).
    pub responses_429: AtomicU64,
    /// Current work-queue depth (steady phase).
    pub queue_depth: AtomicU64,
    /// Requests in a row that got no answer or a 5xx (reset by any other answer).
    pub consecutive_unanswered: AtomicU64,
    /// p99 latency of the last full second, µs (for the progress display).
    pub last_second_p99_us: AtomicU64,
    /// Objects the create phase was told were created.
    pub created: created::CreatedObjects,
}

impl Progress {
    /// Requests started and not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.started
            .load(Ordering::Relaxed)
            .saturating_sub(self.done.load(Ordering::Relaxed))
    }
}

/// A new histogram with the tool's bounds.
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants known to be valid.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

pub(crate) fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// Histograms and counters of one (phase, verb, kind).
#[derive(Clone, Debug)]
pub struct OpStats {
    /// Logical requests sent.
    pub sent: u64,
    /// Requests that finally succeeded.
    pub ok: u64,
    /// Requests whose final answer was 429 (server-side throttling, retries exhausted).
    pub throttled: u64,
    /// Other final failures by label (`http_500`, `etcd_nospace`, `timeout` …).
    pub failed: BTreeMap<String, u64>,
    /// Requests whose first attempt succeeded.
    pub first_attempt_ok: u64,
    /// Requests whose first attempt was answered 429.
    pub first_attempt_throttled: u64,
    /// Retries made (attempts beyond the first).
    pub retries: u64,
    /// All 429 answers, every attempt counted (compare with the apiserver's rejections).
    pub responses_429: u64,
    /// Intended start → done (what a caller experiences, no coordinated omission).
    pub latency: Histogram<u64>,
    /// Time on the wire and in the server.
    pub server: Histogram<u64>,
    /// Client-side throttle wait.
    pub throttle_wait: Histogram<u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            sent: 0,
            ok: 0,
            throttled: 0,
            failed: BTreeMap::new(),
            first_attempt_ok: 0,
            first_attempt_throttled: 0,
            retries: 0,
            responses_429: 0,
            latency: new_histogram(),
            server: new_histogram(),
            throttle_wait: new_histogram(),
        }
    }
}

impl OpStats {
    /// Final failures other than 429.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    fn record(&mut self, s: &Sample) {
        self.sent += 1;
        match &s.outcome {
            Ok(()) => self.ok += 1,
            Err(e) if e.is_throttled() => self.throttled += 1,
            Err(e) => *self.failed.entry(e.label()).or_default() += 1,
        }
        match &s.first {
            Ok(()) => self.first_attempt_ok += 1,
            Err(e) if e.is_throttled() => self.first_attempt_throttled += 1,
            Err(_) => {}
        }
        self.retries += u64::from(s.attempts.saturating_sub(1));
        self.responses_429 += u64::from(s.responses_429);
        let _ = self.latency.record(micros(s.latency));
        let _ = self.server.record(micros(s.server));
        let _ = self.throttle_wait.record(micros(s.throttle_wait));
    }
}

/// Key of one stats bucket.
pub type OpKey = (&'static str, Verb, Kind);

/// Everything measured in a run.
#[derive(Clone, Debug, Default)]
pub struct Measurements {
    /// Stats per (phase, verb, kind).
    pub ops: BTreeMap<OpKey, OpStats>,
    /// One point per second.
    pub series: Vec<timeseries::Point>,
}

impl Measurements {
    /// Adds one sample.
    pub fn record(&mut self, s: &Sample) {
        self.ops
            .entry((s.phase, s.verb, s.kind))
            .or_default()
            .record(s);
    }

    /// Totals over all buckets: (sent, ok, failed, throttled).
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        self.ops.values().fold((0, 0, 0, 0), |t, o| {
            (
                t.0 + o.sent,
                t.1 + o.ok,
                t.2 + o.failed_total(),
                t.3 + o.throttled,
            )
        })
    }
}

/// The receiving end: run it as a task; it returns the measurements when every sender is gone.
pub struct Collector {
    rx: tokio::sync::mpsc::Receiver<Sample>,
}

/// Creates a bounded channel (backpressure instead of unbounded memory) and its collector.
pub fn channel(capacity: usize) -> (tokio::sync::mpsc::Sender<Sample>, Collector) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    (tx, Collector { rx })
}

impl Collector {
    /// Consumes samples until all senders are dropped, sampling `progress` gauges once a
    /// second into the time series that starts at `start`.
    pub async fn run(self, progress: Arc<Progress>, start: tokio::time::Instant) -> Measurements {
        self.run_exposed(progress, start, None).await
    }

    /// [`Collector::run`], also feeding the tool's own Prometheus metrics.
    pub async fn run_exposed(
        mut self,
        progress: Arc<Progress>,
        start: tokio::time::Instant,
        exposed: Option<Arc<expose::ToolMetrics>>,
    ) -> Measurements {
        let mut m = Measurements::default();
        let mut series = timeseries::TimeSeries::new(start);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_second = timeseries::small_histogram();
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                s = self.rx.recv() => match s {
                    Some(s) => {
                        m.record(&s);
                        series.record(&s);
                        if let Some(e) = &exposed {
                            e.record(&s);
                        }
                        let _ = last_second.record(micros(s.latency));
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if !last_second.is_empty() {
                        progress.last_second_p99_us.store(last_second.value_at_quantile(0.99), Ordering::Relaxed);
                        last_second.reset();
                    }
                    series.gauge(tokio::time::Instant::now(), progress.in_flight(), progress.queue_depth.load(Ordering::Relaxed));
                }
            }
        }
        m.series = series.finish();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_agree() {
        let mut m = Measurements::default();
        let throttled = RequestError::Http {
            code: 429,
            retry_after: Some(1),
        };
        let outcomes = [
            (Ok(()), Ok(()), 1),
            (Err(throttled.clone()), Err(throttled.clone()), 11),
            (
                Err(RequestError::http(500)),
                Err(RequestError::http(500)),
                1,
            ),
            (Err(throttled.clone()), Ok(()), 2),
            (Err(RequestError::Timeout), Err(RequestError::Timeout), 1),
        ];
        for (i, (first, outcome, attempts)) in outcomes.into_iter().enumerate() {
            m.record(&Sample {
                phase: "create",
                verb: Verb::Create,
                kind: Kind::Machine,
                latency: Duration::from_millis(i as u64 * 10 + 5),
                throttle_wait: Duration::from_millis(i as u64 * 10),
                server: Duration::from_millis(5),
                attempts,
                responses_429: if first.as_ref().is_err_and(|e| e.is_throttled()) {
                    attempts.min(11) - u32::from(outcome.is_ok())
                } else {
                    0
                },
                first,
                outcome,
                done: tokio::time::Instant::now(),
            });
        }
        let s = &m.ops[&("create", Verb::Create, Kind::Machine)];
        assert_eq!((s.sent, s.ok, s.throttled, s.failed_total()), (5, 2, 1, 2));
        assert_eq!((s.first_attempt_ok, s.first_attempt_throttled), (1, 2));
        assert_eq!(s.retries, 10 + 1);
        assert_eq!(s.responses_429, 11 + 1);
        assert_eq!(s.latency.len(), 5);
        assert_eq!(s.throttle_wait.len(), 5);
        assert_eq!(m.totals(), (5, 2, 2, 1));
        // The worst throttle wait was 40 ms; the worst server time 5 ms.
        assert!(s.throttle_wait.max() >= 39_000 && s.throttle_wait.max() <= 41_000);
        assert!(s.server.max() < 6_000);
    }
}
