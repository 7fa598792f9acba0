//! `webhooks:` simulated admission webhooks for the fleet's kinds, as written in the profile
//! and validated into a [`WebhookPlan`].
//!
//! Every Cluster API kind has a defaulting (mutating) and a validating webhook; each write
//! makes kube-apiserver call out over HTTPS before it is stored. The tool serves those
//! webhooks itself (`crate::webhook`) with a configurable latency, failure and capacity.

use super::ProfileError;
use crate::model::Kind;
use serde::Deserialize;
use std::time::Duration;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// `webhooks:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    /// Kinds with webhooks, by label (default: every custom kind of the fleet).
    pub kinds: Option<Vec<String>>,
    /// Serve a defaulting (mutating) webhook per kind (default true).
    pub mutating: Option<bool>,
    /// Serve a validating webhook per kind (default true).
    pub validating: Option<bool>,
    /// Operations the webhooks are called for (default `[CREATE, UPDATE]`, as Cluster API's).
    pub operations: Option<Vec<String>>,
    /// The defaulting webhook answers with a small JSON patch (an annotation) instead of
    /// accepting the object unchanged (default false).
    pub patch: Option<bool>,
    /// Time the webhook takes per call, after waiting for a free slot.
    #[serde(default)]
    pub latency: LatencySection,
    /// Fraction of validating calls answered `allowed: false` (a rejection; default 0).
    pub reject_rate: Option<f64>,
    /// Fraction of calls answered HTTP 500 (a webhook error; `failure_policy` decides).
    pub error_rate: Option<f64>,
    /// Fraction of calls not answered before `timeout_seconds` (`failure_policy` decides).
    pub timeout_rate: Option<f64>,
    /// The configurations' `timeoutSeconds`, 1-30 (default 10, the API's default).
    pub timeout_seconds: Option<u64>,
    /// `Fail` (default, Cluster API's) or `Ignore`.
    pub failure_policy: Option<FailurePolicy>,
    /// Calls served at once (a webhook pod's capacity); more wait for a slot (default:
    /// unlimited).
    pub concurrency: Option<u64>,
    /// The address kube-apiserver reaches the webhook at: it goes into the configurations'
    /// URLs and the serving certificate (default 127.0.0.1; for kind, the node container's
    /// route to the host, e.g. the docker bridge gateway 172.18.0.1; `--webhook-host` wins).
    pub host: Option<String>,
    /// Where the webhook listens, `ip:port` (default `127.0.0.1:0` for a loopback host,
    /// else `0.0.0.0:0`; port 0 = any free port).
    pub listen: Option<String>,
}

/// `webhooks.latency:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySection {
    /// `fixed` (default), `normal` or `histogram`.
    pub distribution: Option<LatencyKind>,
    /// The fixed latency, or the normal distribution's mean, in ms (default 0).
    pub ms: Option<f64>,
    /// The normal distribution's standard deviation in ms (required for `normal`).
    pub stddev_ms: Option<f64>,
    /// A recorded histogram (required for `histogram`): buckets with an upper bound in ms
    /// and the count observed in it (not cumulative), e.g. from
    /// `apiserver_admission_webhook_admission_duration_seconds`.
    pub buckets: Option<Vec<BucketSection>>,
}

/// One recorded latency bucket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSection {
    /// Upper bound, ms.
    pub le_ms: f64,
    /// Calls observed in (previous bound, le_ms].
    pub count: f64,
}

/// Latency distribution kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyKind {
    /// Always `ms`.
    #[default]
    Fixed,
    /// Normal with mean `ms` and `stddev_ms`, cut at 0.
    Normal,
    /// Sampled from recorded buckets, uniform within a bucket.
    Histogram,
}

/// What kube-apiserver does when a webhook call fails or times out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum FailurePolicy {
    /// The write fails (HTTP 500 to the client).
    #[default]
    Fail,
    /// The call is ignored and the write goes on.
    Ignore,
}

impl FailurePolicy {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

/// The latency model, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum LatencyPlan {
    /// Always this long.
    Fixed(Duration),
    /// Normal(mean, stddev), cut at 0.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// (upper bound, count) per bucket, ascending bounds.
    Histogram(Vec<(Duration, f64)>),
}

impl LatencyPlan {
    /// The distribution's mean (for a histogram, each bucket at its midpoint).
    pub fn mean(&self) -> Duration {
        match self {
            LatencyPlan::Fixed(d) => *d,
            LatencyPlan::Normal { mean, .. } => *mean,
            LatencyPlan::Histogram(b) => {
                let total: f64 = b.iter().map(|x| x.1).sum();
                let mut lo = 0.0;
                let mut sum = 0.0;
                for (le, c) in b {
                    sum += (lo + le.as_secs_f64()) / 2.0 * c;
                    lo = le.as_secs_f64();
                }
                Duration::from_secs_f64(sum / total)
            }
        }
    }

    /// A short description for reports, e.g. `fixed 20 ms`.
    pub fn describe(&self) -> String {
        match self {
            LatencyPlan::Fixed(d) => format!("fixed {} ms", ms(*d)),
            LatencyPlan::Normal { mean, stddev } => {
                format!("normal {} ms ± {} ms", ms(*mean), ms(*stddev))
            }
            LatencyPlan::Histogram(b) => format!(
                "recorded histogram, {} buckets, mean {:.1} ms",
                b.len(),
                self.mean().as_secs_f64() * 1e3
            ),
        }
    }
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The webhooks of a run, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookPlan {
    /// Kinds with webhooks (custom kinds only).
    pub kinds: Vec<Kind>,
    /// Serve defaulting webhooks.
    pub mutating: bool,
    /// Serve validating webhooks.
    pub validating: bool,
    /// Operations (`CREATE`, `UPDATE`, `DELETE`).
    pub operations: Vec<String>,
    /// The defaulting webhook patches the object.
    pub patch: bool,
    /// Latency per call.
    pub latency: LatencyPlan,
    /// Fraction of validating calls rejected.
    pub reject_rate: f64,
    /// Fraction of calls answered HTTP 500.
    pub error_rate: f64,
    /// Fraction of calls left unanswered past the timeout.
    pub timeout_rate: f64,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `failurePolicy`.
    pub failure_policy: FailurePolicy,
    /// Calls served at once; None = unlimited.
    pub concurrency: Option<usize>,
    /// Host (IP or DNS name) in the URLs and the certificate.
    pub host: String,
    /// Listen address.
    pub listen: std::net::SocketAddr,
}

/// The kinds that can have webhooks: every kind the tool installs a CRD for.
pub const WEBHOOK_KINDS: [Kind; 16] = crate::model::CUSTOM_KINDS;

fn rate(err: Err, field: &str, v: Option<f64>) -> Result<f64, ProfileError> {
    let v = v.unwrap_or(0.0);
    if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
        return Err(err(
            field,
            format!("{v} must be a fraction between 0 and 1"),
        ));
    }
    Ok(v)
}

fn latency(l: &LatencySection, err: Err) -> Result<LatencyPlan, ProfileError> {
    let millis = |field: &str, v: f64| -> Result<Duration, ProfileError> {
        if v.is_finite() && (0.0..=60_000.0).contains(&v) {
            Ok(Duration::from_secs_f64(v / 1e3))
        } else {
            Err(err(field, format!("{v} must be between 0 and 60000 ms")))
        }
    };
    let kind = l.distribution.unwrap_or_default();
    if kind != LatencyKind::Normal && l.stddev_ms.is_some() {
        return Err(err(
            "webhooks.latency.stddev_ms",
            "only for `distribution: normal`".into(),
        ));
    }
    if kind != LatencyKind::Histogram && l.buckets.is_some() {
        return Err(err(
            "webhooks.latency.buckets",
            "only for `distribution: histogram`".into(),
        ));
    }
    match kind {
        LatencyKind::Fixed => Ok(LatencyPlan::Fixed(millis(
            "webhooks.latency.ms",
            l.ms.unwrap_or(0.0),
        )?)),
        LatencyKind::Normal => {
            let Some(sd) = l.stddev_ms else {
                return Err(err(
                    "webhooks.latency.stddev_ms",
                    "is required for `distribution: normal`".into(),
                ));
            };
            Ok(LatencyPlan::Normal {
                mean: millis("webhooks.latency.ms", l.ms.unwrap_or(0.0))?,
                stddev: millis("webhooks.latency.stddev_ms", sd)?,
            })
        }
        LatencyKind::Histogram => {
            if l.ms.is_some() {
                return Err(err(
                    "webhooks.latency.ms",
                    "not with `distribution: histogram` (the buckets give the latency)".into(),
                ));
            }
            let field = "webhooks.latency.buckets";
            let b = match &l.buckets {
                Some(b) if !b.is_empty() && b.len() <= 100 => b,
                _ => {
                    return Err(err(
                        field,
                        "1 to 100 buckets are required for `distribution: histogram`, e.g. [{le_ms: 10, count: 90}, {le_ms: 50, count: 10}]".into(),
                    ))
                }
            };
            let mut out = Vec::new();
            for (i, x) in b.iter().enumerate() {
                let le = millis(field, x.le_ms)?;
                if out.last().is_some_and(|(prev, _)| *prev >= le) {
                    return Err(err(
                        field,
                        format!(
                            "bucket {i}: le_ms {} is not above the previous bound",
                            x.le_ms
                        ),
                    ));
                }
                if !(x.count.is_finite() && x.count >= 0.0) {
                    return Err(err(
                        field,
                        format!("bucket {i}: count {} must be >= 0", x.count),
                    ));
                }
                out.push((le, x.count));
            }
            if out.iter().all(|x| x.1 == 0.0) {
                return Err(err(field, "every count is 0".into()));
            }
            Ok(LatencyPlan::Histogram(out))
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Keeps the webhooks on the kinds `fleet` writes: by default every one of them; a kind
/// listed in `webhooks.kinds` that the fleet does not write is an error.
pub(super) fn fit_to_fleet(
    w: &mut WebhookPlan,
    section: &WebhooksSection,
    fleet: &crate::model::FleetSpec,
    err: Err,
) -> Result<(), ProfileError> {
    let written = fleet.custom_kinds();
    if section.kinds.is_some() {
        if let Some(k) = w.kinds.iter().find(|k| !written.contains(k)) {
            return Err(err(
                "webhooks.kinds",
                format!(
                    "`{}` is not in the fleet (it writes {})",
                    k.label(),
                    written
                        .iter()
                        .map(|k| k.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    } else {
        w.kinds.retain(|k| written.contains(k));
    }
    Ok(())
}

/// Validates `webhooks:`; `host_flag` is `--webhook-host`, which wins over `webhooks.host`.
pub(super) fn webhook_plan(
    w: Option<&WebhooksSection>,
    host_flag: Option<&str>,
    err: Err,
) -> Result<Option<WebhookPlan>, ProfileError> {
    let Some(w) = w else { return Ok(None) };
    let mut kinds = Vec::new();
    match &w.kinds {
        None => kinds = WEBHOOK_KINDS.to_vec(),
        Some(list) => {
            for k in list {
                match Kind::from_label(k) {
                    Some(kind) if kinds.contains(&kind) => {
                        return Err(err("webhooks.kinds", format!("`{k}` is listed twice")))
                    }
                    Some(kind) if WEBHOOK_KINDS.contains(&kind) => kinds.push(kind),
                    _ => {
                        let all: Vec<&str> = WEBHOOK_KINDS.iter().map(|k| k.label()).collect();
                        return Err(err(
                            "webhooks.kinds",
                            format!(
                                "`{}` has no webhook (one of {}; Cluster API serves none for Namespaces and Secrets)",
                                k.escape_debug(),
                                all.join(", ")
                            ),
                        ));
                    }
                }
            }
            if kinds.is_empty() {
                return Err(err("webhooks.kinds", "is empty".into()));
            }
        }
    }
    let mutating = w.mutating.unwrap_or(true);
    let validating = w.validating.unwrap_or(true);
    if !mutating && !validating {
        return Err(err(
            "webhooks.validating",
            "mutating and validating are both false: no webhook to serve".into(),
        ));
    }
    let mut operations = Vec::new();
    for op in w
        .operations
        .clone()
        .unwrap_or_else(|| vec!["CREATE".into(), "UPDATE".into()])
    {
        if !["CREATE", "UPDATE", "DELETE"].contains(&op.as_str()) {
            return Err(err(
                "webhooks.operations",
                format!("`{}` must be CREATE, UPDATE or DELETE", op.escape_debug()),
            ));
        }
        if operations.contains(&op) {
            return Err(err(
                "webhooks.operations",
                format!("`{op}` is listed twice"),
            ));
        }
        operations.push(op);
    }
    if operations.is_empty() {
        return Err(err("webhooks.operations", "is empty".into()));
    }
    let patch = w.patch.unwrap_or(false);
    if patch && !mutating {
        return Err(err(
            "webhooks.patch",
            "needs the defaulting webhook (webhooks.mutating is false)".into(),
        ));
    }
    let reject_rate = rate(err, "webhooks.reject_rate", w.reject_rate)?;
    if reject_rate > 0.0 && !validating {
        return Err(err(
            "webhooks.reject_rate",
            "rejections come from the validating webhook (webhooks.validating is false)".into(),
        ));
    }
    let error_rate = rate(err, "webhooks.error_rate", w.error_rate)?;
    let timeout_rate = rate(err, "webhooks.timeout_rate", w.timeout_rate)?;
    if reject_rate + error_rate + timeout_rate > 1.0 {
        return Err(err(
            "webhooks.timeout_rate",
            "reject_rate + error_rate + timeout_rate is more than 1".into(),
        ));
    }
    let timeout = match w.timeout_seconds.unwrap_or(10) {
        t @ 1..=30 => Duration::from_secs(t),
        t => {
            return Err(err(
                "webhooks.timeout_seconds",
                format!("{t} must be between 1 and 30 (the API's limits)"),
            ))
        }
    };
    let concurrency = match w.concurrency {
        None => None,
        Some(c) if (1..=100_000).contains(&c) => Some(c as usize),
        Some(c) => {
            return Err(err(
                "webhooks.concurrency",
                format!("{c} must be between 1 and 100000"),
            ))
        }
    };
    let (host_field, host) = match (host_flag, &w.host) {
        (Some(h), _) => ("--webhook-host", h.to_string()),
        (None, Some(h)) => ("webhooks.host", h.clone()),
        (None, None) => ("webhooks.host", "127.0.0.1".to_string()),
    };
    let dns_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !(host.parse::<std::net::IpAddr>().is_ok() || dns_ok) {
        return Err(err(
            host_field,
            format!(
                "`{}` must be an IP address or a DNS name (where kube-apiserver reaches this machine)",
                host.escape_debug()
            ),
        ));
    }
    let default_listen = if is_loopback(&host) {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    };
    let listen_text = w.listen.as_deref().unwrap_or(default_listen);
    let listen = listen_text.parse().map_err(|_| {
        err(
            "webhooks.listen",
            format!(
                "`{}` must be ip:port, e.g. 0.0.0.0:9443 (port 0: any free port)",
                listen_text.escape_debug()
            ),
        )
    })?;
    Ok(Some(WebhookPlan {
        kinds,
        mutating,
        validating,
        operations,
        patch,
        latency: latency(&w.latency, err)?,
        reject_rate,
        error_rate,
        timeout_rate,
        timeout,
        failure_policy: w.failure_policy.unwrap_or_default(),
        concurrency,
        host,
        listen,
    }))
}
