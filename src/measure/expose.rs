//! The tool's own Prometheus metrics (`--metrics-addr`), so a user's Prometheus can scrape
//! the generator beside the apiserver: requests by phase/verb/kind/outcome, latency and
//! throttle-wait histograms, 429 answers, in-flight requests and queue depth. Exposed with
//! the official `prometheus-client` crate. Every series of a run carries `run_id` and
//! `shard` (`i/n`, `0/1` for a whole fleet), so the shards of an Indexed Job and
//! successive runs stay apart in one Prometheus.

use super::{Progress, Sample};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Labels of one operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// Phase.
    pub phase: String,
    /// Verb.
    pub verb: String,
    /// Kind label.
    pub kind: String,
}

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Phase.
    pub phase: String,
    /// Verb.
    pub verb: String,
    /// Kind label.
    pub kind: String,
    /// `ok`, `throttled` (final 429) or the failure label.
    pub outcome: String,
}

/// The metrics.
pub struct ToolMetrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    latency: Family<OpLabels, Histogram>,
    throttle_wait: Family<OpLabels, Histogram>,
    responses_429: Family<OpLabels, Counter>,
    in_flight: Gauge<i64, AtomicI64Compat>,
    queue_depth: Gauge<i64, AtomicI64Compat>,
    own: OwnGauges,
}

/// The tool's own resource use ([`super::self_observe`]).
#[derive(Default)]
struct OwnGauges {
    cpu_seconds: Gauge<f64, AtomicU64>,
    rss_bytes: Gauge<i64, AtomicI64Compat>,
    peak_rss_bytes: Gauge<i64, AtomicI64Compat>,
    threads: Gauge<i64, AtomicI64Compat>,
    sched_delay_p99: Gauge<f64, AtomicU64>,
}

impl OwnGauges {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "self_cpu_seconds",
            "CPU seconds (user + system) the tool's process has used",
            self.cpu_seconds.clone(),
        );
        registry.register(
            "self_resident_memory_bytes",
            "The tool's resident memory (VmRSS)",
            self.rss_bytes.clone(),
        );
        registry.register(
            "self_peak_resident_memory_bytes",
            "The tool's peak resident memory (VmHWM)",
            self.peak_rss_bytes.clone(),
        );
        registry.register("self_threads", "The tool's threads", self.threads.clone());
        registry.register(
            "self_sched_delay_p99_seconds",
            "How late the tool's runtime wakes a task due every 10 ms, p99 of the current phase",
            self.sched_delay_p99.clone(),
        );
    }
}

impl super::self_observe::SelfSink for ToolMetrics {
    fn self_reading(&self, r: &super::self_observe::ProcReading, p99_seconds: f64) {
        self.own.cpu_seconds.set(r.cpu_seconds);
        self.own.rss_bytes.set(r.rss_bytes as i64);
        self.own.peak_rss_bytes.set(r.hwm_bytes as i64);
        self.own.threads.set(r.threads as i64);
        self.own.sched_delay_p99.set(p99_seconds);
    }
}

/// `prometheus-client`'s default gauge atomic.
type AtomicI64Compat = std::sync::atomic::AtomicI64;

fn histogram() -> Histogram {
    // 1 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl ToolMetrics {
    /// Registers every metric, without run labels.
    pub fn new() -> ToolMetrics {
        Self::registered(Registry::with_prefix("capi_loadgen"))
    }

    /// Registers every metric with the labels `run_id` and `shard` on every series.
    pub fn for_run(run_id: &str, shard: &str) -> ToolMetrics {
        use std::borrow::Cow;
        Self::registered(Registry::with_prefix_and_labels(
            "capi_loadgen",
            [
                (Cow::Borrowed("run_id"), Cow::Owned(run_id.to_string())),
                (Cow::Borrowed("shard"), Cow::Owned(shard.to_string())),
            ]
            .into_iter(),
        ))
    }

    fn registered(mut registry: Registry) -> ToolMetrics {
        let requests = Family::<OutcomeLabels, Counter>::default();
        let latency =
            Family::<OpLabels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let throttle_wait =
            Family::<OpLabels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let responses_429 = Family::<OpLabels, Counter>::default();
        let in_flight = Gauge::<i64, AtomicI64Compat>::default();
        let queue_depth = Gauge::<i64, AtomicI64Compat>::default();
        registry.register(
            "requests",
            "Logical requests by final outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Latency from the intended start (no coordinated omission)",
            latency.clone(),
        );
        registry.register(
            "throttle_wait_seconds",
            "Client-side wait for a token",
            throttle_wait.clone(),
        );
        registry.register(
            "responses_429",
            "HTTP 429 answers, every attempt",
            responses_429.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests started and not finished",
            in_flight.clone(),
        );
        registry.register(
            "queue_depth",
            "Controller work-queue depth (steady phase)",
            queue_depth.clone(),
        );
        let own = OwnGauges::default();
        own.register(&mut registry);
        ToolMetrics {
            own,
            registry,
            requests,
            latency,
            throttle_wait,
            responses_429,
            in_flight,
            queue_depth,
        }
    }

    /// Records one sample.
    pub fn record(&self, s: &Sample) {
        let op = OpLabels {
            phase: s.phase.into(),
            verb: s.verb.label().into(),
            kind: s.kind.label().into(),
        };
        let outcome = match &s.outcome {
            Ok(()) => "ok".to_string(),
            Err(e) if e.is_throttled() => "throttled".to_string(),
            Err(e) => e.label(),
        };
        self.requests
            .get_or_create(&OutcomeLabels {
                phase: op.phase.clone(),
                verb: op.verb.clone(),
                kind: op.kind.clone(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&op)
            .observe(s.latency.as_secs_f64());
        self.throttle_wait
            .get_or_create(&op)
            .observe(s.throttle_wait.as_secs_f64());
        if s.responses_429 > 0 {
            self.responses_429
                .get_or_create(&op)
                .inc_by(u64::from(s.responses_429));
        }
    }

    /// Copies the live gauges.
    pub fn gauges(&self, p: &Progress) {
        self.in_flight.set(p.in_flight() as i64);
        self.queue_depth
            .set(p.queue_depth.load(Ordering::Relaxed) as i64);
        let r = super::self_observe::read_proc();
        self.own.cpu_seconds.set(r.cpu_seconds);
        self.own.rss_bytes.set(r.rss_bytes as i64);
        self.own.peak_rss_bytes.set(r.hwm_bytes as i64);
        self.own.threads.set(r.threads as i64);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

impl Default for ToolMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `GET /metrics` on `addr` until the returned handle is dropped or aborted.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<ToolMetrics>,
    progress: Arc<Progress>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let scrapes = Arc::new(AtomicU64::new(0));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (metrics, progress, scrapes) = (metrics.clone(), progress.clone(), scrapes.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (metrics, progress, scrapes) =
                        (metrics.clone(), progress.clone(), scrapes.clone());
                    async move {
                        let resp = if req.uri().path() == "/metrics" {
                            scrapes.fetch_add(1, Ordering::Relaxed);
                            metrics.gauges(&progress);
                            hyper::Response::builder()
                                .header(
                                    "content-type",
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )
                                .body(http_body_util::Full::new(bytes::Bytes::from(
                                    metrics.encode(),
                                )))
                        } else {
                            hyper::Response::builder()
                                .status(404)
                                .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"try /metrics\n",
                                )))
                        };
                        resp
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }))
}
