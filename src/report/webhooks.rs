//! The run's admission webhooks in `summary.json` (`webhooks`) and `report.md` (the
//! "Webhooks" section): what was configured, what the tool's server counted and how long
//! it took, what kube-apiserver counted (`apiserver_admission_webhook_*`) beside it, and
//! the creates that went through the webhooks against those that did not.

use crate::measure::admission::WebhookObserved;
use crate::profile::WebhookPlan;
use crate::webhook::Served;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// What the profile configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookSetup {
    /// Kinds with webhooks (labels).
    pub kinds: Vec<String>,
    /// Defaulting webhooks served.
    pub mutating: bool,
    /// Validating webhooks served.
    pub validating: bool,
    /// Operations they are called for.
    pub operations: Vec<String>,
    /// The defaulting webhook patches.
    pub patch: bool,
    /// The latency model, e.g. `fixed 20 ms`.
    pub latency: String,
    /// Its mean (ms).
    pub mean_latency_ms: f64,
    /// Fractions of calls rejected, answered 500, left to time out.
    pub reject_rate: f64,
    /// See `reject_rate`.
    pub error_rate: f64,
    /// See `reject_rate`.
    pub timeout_rate: f64,
    /// `timeoutSeconds`.
    pub timeout_seconds: u64,
    /// `failurePolicy`.
    pub failure_policy: String,
    /// Calls served at once (None: unlimited).
    pub concurrency: Option<u64>,
    /// Little's law: concurrency / mean latency, calls per second (None: unlimited).
    pub capacity_calls_per_second: Option<f64>,
}

/// The `webhooks` object of `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhooksSummary {
    /// Configuration.
    pub setup: WebhookSetup,
    /// The tool's server's view.
    pub served: Served,
    /// kube-apiserver's view of the same webhooks (empty when its metrics were not read).
    pub apiserver: Vec<WebhookObserved>,
    /// Calls the tool's server counted, all webhooks.
    pub calls_tool: u64,
    /// Calls kube-apiserver counted for them (None: not observed).
    pub calls_apiserver: Option<f64>,
    /// Calls per second over the load.
    pub calls_per_second: f64,
    /// Calls answered after holding a slot, per second the webhooks were busy (first
    /// arrival to last answer): the throughput Little's law bounds by concurrency /
    /// latency. Calls kube-apiserver gave up on while they waited are not in it.
    #[serde(default)]
    pub completed_per_second: f64,
    /// Create p99 (ms) of the kinds with webhooks, all phases.
    pub create_p99_ms_with: Option<f64>,
    /// Create p99 (ms) of the kinds without (Secrets, Namespaces).
    pub create_p99_ms_without: Option<f64>,
    /// Creates of kinds with webhooks that failed.
    pub creates_failed_with: u64,
    /// Why the configurations could not be removed at the end (`cleanup` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_error: Option<String>,
}

/// The configured side of the summary.
pub fn setup(p: &WebhookPlan) -> WebhookSetup {
    let mean = p.latency.mean().as_secs_f64();
    WebhookSetup {
        kinds: p.kinds.iter().map(|k| k.label().to_string()).collect(),
        mutating: p.mutating,
        validating: p.validating,
        operations: p.operations.clone(),
        patch: p.patch,
        latency: p.latency.describe(),
        mean_latency_ms: mean * 1e3,
        reject_rate: p.reject_rate,
        error_rate: p.error_rate,
        timeout_rate: p.timeout_rate,
        timeout_seconds: p.timeout.as_secs(),
        failure_policy: p.failure_policy.as_str().into(),
        concurrency: p.concurrency.map(|c| c as u64),
        capacity_calls_per_second: p
            .concurrency
            .filter(|_| mean > 0.0)
            .map(|c| c as f64 / mean),
    }
}

/// One kind's creates in the run, as the summary's operations table counts them.
#[derive(Clone, Copy, Debug)]
pub struct KindCreates<'a> {
    /// The kind's label.
    pub kind: &'a str,
    /// Creates sent.
    pub sent: u64,
    /// Creates failed.
    pub failed: u64,
    /// Their p99 latency (ms).
    pub p99_ms: f64,
}

/// Puts the views together. `observed` is kube-apiserver's list of webhooks called during
/// the load (None: not scraped); `seconds` the load's length.
pub fn summarize(
    plan: &WebhookPlan,
    served: Served,
    removal_error: Option<String>,
    observed: Option<&[WebhookObserved]>,
    creates_by_kind: &[KindCreates<'_>],
    seconds: f64,
) -> WebhooksSummary {
    let apiserver: Vec<WebhookObserved> = observed
        .unwrap_or_default()
        .iter()
        .filter(|o| {
            served
                .webhooks
                .iter()
                .any(|s| s.name == o.name && s.kind_of_webhook == o.kind)
        })
        .cloned()
        .collect();
    let calls_tool = served.webhooks.iter().map(|w| w.calls).sum();
    let labels: Vec<&str> = plan.kinds.iter().map(|k| k.label()).collect();
    let kinds = &labels;
    let creates = |with: bool| {
        creates_by_kind
            .iter()
            .filter(move |c| kinds.contains(&c.kind) == with)
            .filter(|c| c.sent > 0)
    };
    let worst = |with: bool| creates(with).map(|c| c.p99_ms).reduce(f64::max);
    WebhooksSummary {
        setup: setup(plan),
        calls_apiserver: observed.map(|_| apiserver.iter().map(|o| o.calls).sum()),
        apiserver,
        calls_tool,
        calls_per_second: calls_tool as f64 / seconds.max(1e-9),
        completed_per_second: if served.busy_seconds > 0.0 {
            served.webhooks.iter().map(|w| w.completed).sum::<u64>() as f64 / served.busy_seconds
        } else {
            0.0
        },
        create_p99_ms_with: worst(true),
        create_p99_ms_without: worst(false),
        creates_failed_with: creates(true).map(|c| c.failed).sum(),
        served,
        removal_error,
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "n/o".into())
}

/// The "Webhooks" section of `report.md`.
pub fn render(o: &mut String, w: &WebhooksSummary) {
    let s = &w.setup;
    let cap = match (s.concurrency, s.capacity_calls_per_second) {
        (Some(c), Some(x)) => {
            format!("{c} in flight, capacity {x:.0} calls/s (concurrency / mean latency)")
        }
        (Some(c), None) => format!("{c} in flight"),
        _ => "unlimited concurrency".into(),
    };
    let _ = writeln!(o, "## Webhooks\n");
    let _ = writeln!(o, "The tool served {} webhooks for {} on {} ({}; {}), `failurePolicy: {}`, `timeoutSeconds: {}`; rejected {:.1}%, HTTP 500 {:.1}%, held past the timeout {:.1}% of calls{}. kube-apiserver called them {:.1} times a second; the server answered {:.1} calls a second after holding a slot (over the {:.1} s it was busy).\n",
        match (s.mutating, s.validating) { (true, true) => "defaulting and validating", (true, false) => "defaulting", _ => "validating" },
        s.kinds.join(", "), s.operations.join("/"), s.latency, cap, s.failure_policy, s.timeout_seconds,
        s.reject_rate * 100.0, s.error_rate * 100.0, s.timeout_rate * 100.0,
        if s.patch { "; the defaulting webhook adds an annotation (a JSON patch)" } else { "; objects accepted unchanged" },
        w.calls_per_second, w.completed_per_second, w.served.busy_seconds);
    let total = match w.calls_apiserver {
        Some(a) if a == w.calls_tool as f64 => format!("**equal** ({a:.0})"),
        Some(a) => format!("**differ** (kube-apiserver {a:.0})"),
        None => "not observed on the apiserver side".into(),
    };
    let _ = writeln!(o, "Calls: the tool's server counted {}, kube-apiserver's `apiserver_admission_webhook_admission_duration_seconds` counted: {total}.\n", w.calls_tool);
    let _ = writeln!(o, "| webhook | type | tool calls | apiserver calls | allowed | patched | rejected | HTTP 500 | timed out | tool p50 ms | tool p99 ms | tool max ms | slot wait p99 ms | apiserver mean ms | apiserver p99 ms | apiserver rejected | fail open |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for h in &w.served.webhooks {
        let a = w
            .apiserver
            .iter()
            .find(|a| a.name == h.name && a.kind == h.kind_of_webhook);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |",
            h.name,
            h.kind_of_webhook,
            h.calls,
            opt(a.map(|a| a.calls), 0),
            h.allowed,
            h.patched,
            h.rejected,
            h.errors,
            h.timeouts,
            h.p50_ms,
            h.p99_ms,
            h.max_ms,
            h.queue_p99_ms,
            opt(a.and_then(|a| a.mean_ms), 1),
            opt(a.and_then(|a| a.p99_ms), 1),
            opt(a.map(|a| a.rejected), 0),
            opt(a.and_then(|a| a.fail_open), 0),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "- tool's latency: from the request's arrival to the answer, waiting for a slot included; kube-apiserver's: the whole call (TLS, network, JSON) in its buckets of 5, 25, 100, 500 ms, 1, 2.5, 10, 25 s, so its p99 is interpolated inside a bucket");
    let mut by_error: std::collections::BTreeMap<&str, f64> = Default::default();
    for a in &w.apiserver {
        for (e, n) in &a.rejections {
            *by_error.entry(e.as_str()).or_default() += n;
        }
    }
    if !by_error.is_empty() {
        let r: Vec<String> = by_error
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect();
        let _ = writeln!(o, "- kube-apiserver's rejections by error type (`apiserver_admission_webhook_rejection_count`): {}", r.join(", "));
    }
    let _ = writeln!(
        o,
        "- create p99 of the kinds with webhooks: {} ms; of the kinds without (Secrets, Namespaces): {} ms; creates with webhooks that failed: {}",
        opt(w.create_p99_ms_with, 1),
        opt(w.create_p99_ms_without, 1),
        w.creates_failed_with
    );
    let _ = writeln!(
        o,
        "- at most {} calls held a slot at once; {} dry-run probe calls before the load (not counted on either side); the server's thread used {} CPU seconds on this machine (with a local environment, CPU the apiserver did not get)",
        w.served.max_in_flight,
        w.served.probe_calls,
        opt(w.served.cpu_seconds, 2)
    );
    if w.served.bad_requests + w.served.handshake_failures > 0 {
        let _ = writeln!(
            o,
            "- {} requests were not AdmissionReviews for a known path; {} TLS handshakes failed",
            w.served.bad_requests, w.served.handshake_failures
        );
    }
    if let Some(e) = &w.removal_error {
        let _ = writeln!(o, "- the configurations could not be removed at the end ({e}); `capi-loadgen cleanup --run-id <id>` removes them");
    }
    let _ = writeln!(o);
}
