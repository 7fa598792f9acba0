//! kube-apiserver's own view of admission webhooks, from its `/metrics`:
//!
//! - `apiserver_admission_webhook_admission_duration_seconds{name,type,operation,rejected}`
//!   (histogram, buckets 5 ms … 25 s; every call, whatever its outcome),
//! - `apiserver_admission_webhook_request_total{name,type,operation,code,rejected}` (v1.24+),
//! - `apiserver_admission_webhook_rejection_count{name,type,operation,error_type,rejection_code}`
//!   (`calling_webhook_error`: the call failed with `failurePolicy: Fail`; `no_error`: the
//!   webhook said no; `apiserver_internal_error`),
//! - `apiserver_admission_webhook_fail_open_count{name,type}` (calls that failed and were
//!   ignored, `failurePolicy: Ignore`; v1.23+).
//!
//! v1.20 exports the duration histogram (buckets up to 2.5 s) and the rejection counter only.
//! `type` is `admit` for mutating webhooks and `validating` for validating ones.

use super::buckets::{quantile_of_delta, Buckets};
use super::exposition::{Sample, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The families read here.
pub const FAMILIES: [&str; 5] = [
    "apiserver_admission_webhook_admission_duration_seconds",
    "apiserver_admission_webhook_request_total",
    "apiserver_admission_webhook_rejection_count",
    "apiserver_admission_webhook_fail_open_count",
    "process_cpu_seconds_total",
];

/// One webhook's cumulative series (key: `type/name`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookSeries {
    /// Duration buckets over every operation and outcome.
    pub duration: Buckets,
    /// Sum of the durations (seconds).
    pub duration_sum: f64,
    /// Calls whose outcome was a rejection (`rejected="true"` of the histogram's count).
    pub rejected: f64,
    /// `webhook_request_total` by HTTP code (None: not exported).
    pub by_code: Option<BTreeMap<String, f64>>,
    /// `webhook_rejection_count` by `error_type`.
    pub rejections: BTreeMap<String, f64>,
    /// `webhook_fail_open_count` (None: not exported or never seen).
    pub fail_open: Option<f64>,
}

/// What one scrape says about admission webhooks, by `type/name`, and the server's CPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdmissionSnapshot {
    /// Per webhook.
    pub webhooks: BTreeMap<String, WebhookSeries>,
    /// kube-apiserver's `process_cpu_seconds_total`.
    pub cpu_seconds: Option<f64>,
}

fn scalar(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        _ => 0.0,
    }
}

impl AdmissionSnapshot {
    /// Takes one sample of the families in [`FAMILIES`] (others are ignored).
    pub fn add(&mut self, x: &Sample) {
        let label = |k: &str| x.labels.get(k).unwrap_or("").to_string();
        let key = || format!("{}/{}", label("type"), label("name"));
        let m = x.metric.as_str();
        if m == "process_cpu_seconds_total" {
            self.cpu_seconds = Some(scalar(&x.value));
            return;
        }
        let Some(rest) = m.strip_prefix("apiserver_admission_webhook_") else {
            return;
        };
        match (rest, &x.value) {
            ("admission_duration_seconds", Value::Histogram(h)) => {
                let s = self.webhooks.entry(key()).or_default();
                for b in h {
                    match s.duration.iter_mut().find(|(le, _)| *le == b.less_than) {
                        Some(e) => e.1 += b.count,
                        None => s.duration.push((b.less_than, b.count)),
                    }
                }
                s.duration.sort_by(|a, b| a.0.total_cmp(&b.0));
                if label("rejected") == "true" {
                    s.rejected += h
                        .iter()
                        .filter(|b| b.less_than.is_infinite())
                        .map(|b| b.count)
                        .sum::<f64>();
                }
            }
            ("admission_duration_seconds_sum", v) => {
                self.webhooks.entry(key()).or_default().duration_sum += scalar(v);
            }
            ("request_total", v) => {
                *self
                    .webhooks
                    .entry(key())
                    .or_default()
                    .by_code
                    .get_or_insert_with(BTreeMap::new)
                    .entry(label("code"))
                    .or_default() += scalar(v);
            }
            ("rejection_count", v) => {
                *self
                    .webhooks
                    .entry(key())
                    .or_default()
                    .rejections
                    .entry(label("error_type"))
                    .or_default() += scalar(v);
            }
            ("fail_open_count", v) => {
                *self
                    .webhooks
                    .entry(key())
                    .or_default()
                    .fail_open
                    .get_or_insert(0.0) += scalar(v);
            }
            _ => {}
        }
    }

    /// Several apiserver instances' snapshots summed (each one's own cumulative series).
    pub fn add_all(&mut self, other: &AdmissionSnapshot) {
        for (k, o) in &other.webhooks {
            let s = self.webhooks.entry(k.clone()).or_default();
            for (le, c) in &o.duration {
                match s.duration.iter_mut().find(|(l, _)| l == le) {
                    Some(d) => d.1 += c,
                    None => s.duration.push((*le, *c)),
                }
            }
            s.duration.sort_by(|a, b| a.0.total_cmp(&b.0));
            s.duration_sum += o.duration_sum;
            s.rejected += o.rejected;
            if let Some(codes) = &o.by_code {
                let into = s.by_code.get_or_insert_with(BTreeMap::new);
                for (c, v) in codes {
                    *into.entry(c.clone()).or_default() += v;
                }
            }
            for (e, v) in &o.rejections {
                *s.rejections.entry(e.clone()).or_default() += v;
            }
            if let Some(f) = o.fail_open {
                *s.fail_open.get_or_insert(0.0) += f;
            }
        }
        self.cpu_seconds = match (self.cpu_seconds, other.cpu_seconds) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// One webhook as kube-apiserver saw it over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookObserved {
    /// The webhook's name (e.g. `validation.machine.loadtest.cluster.x-k8s.io`).
    pub name: String,
    /// `admit` (mutating) or `validating`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Calls (the duration histogram's count).
    pub calls: f64,
    /// Calls that ended in a rejection of the request.
    pub rejected: f64,
    /// Mean call duration (ms).
    pub mean_ms: Option<f64>,
    /// Median from the buckets (ms).
    pub p50_ms: Option<f64>,
    /// p99 from the buckets (ms; coarse: the buckets are 5, 25, 100, 500 ms …).
    pub p99_ms: Option<f64>,
    /// Calls by HTTP code (`webhook_request_total`; absent before v1.24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_code: Option<BTreeMap<String, f64>>,
    /// Rejections by `error_type`.
    #[serde(default)]
    pub rejections: BTreeMap<String, f64>,
    /// Failed calls ignored by `failurePolicy: Ignore` (absent before v1.23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<f64>,
}

fn top(b: &Buckets) -> f64 {
    b.iter()
        .filter(|x| x.0.is_infinite())
        .map(|x| x.1)
        .next()
        .unwrap_or(0.0)
}

/// The webhooks' values between two snapshots; only webhooks called in between, and only
/// those whose name `keep` accepts (the run's own).
pub fn observed(
    first: &AdmissionSnapshot,
    last: &AdmissionSnapshot,
    keep: impl Fn(&str) -> bool,
) -> Vec<WebhookObserved> {
    let mut out = Vec::new();
    let empty = WebhookSeries::default();
    for (key, cur) in &last.webhooks {
        let (kind, name) = key.split_once('/').unwrap_or(("", key));
        if !keep(name) {
            continue;
        }
        let prev = first.webhooks.get(key).unwrap_or(&empty);
        let calls = (top(&cur.duration) - top(&prev.duration)).max(0.0);
        if calls == 0.0 {
            continue;
        }
        let q = |q: f64| quantile_of_delta(Some(&prev.duration), &cur.duration, q).map(|s| s * 1e3);
        let diff =
            |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
                b.iter()
                    .map(|(k, v)| (k.clone(), (v - a.get(k).copied().unwrap_or(0.0)).max(0.0)))
                    .filter(|(_, v)| *v > 0.0)
                    .collect()
            };
        out.push(WebhookObserved {
            name: name.to_string(),
            kind: kind.to_string(),
            calls,
            rejected: (cur.rejected - prev.rejected).max(0.0),
            mean_ms: Some((cur.duration_sum - prev.duration_sum).max(0.0) / calls * 1e3),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            by_code: cur
                .by_code
                .as_ref()
                .map(|c| diff(prev.by_code.as_ref().unwrap_or(&BTreeMap::new()), c)),
            rejections: diff(&prev.rejections, &cur.rejections),
            fail_open: cur
                .fail_open
                .map(|f| (f - prev.fail_open.unwrap_or(0.0)).max(0.0)),
        });
    }
    out
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
