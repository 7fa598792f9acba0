//! Reading the observations from a user's Prometheus instead of scraping `/metrics`.
//!
//! Where a Prometheus already scrapes the management cluster (kube-prometheus-stack, or any
//! Prometheus with the apiserver and etcd among its targets), `observe.prometheus_url` makes
//! every observation snapshot an HTTP API query
//! (`/api/v1/query`, "HTTP API", <https://prometheus.io/docs/prometheus/latest/querying/api/>):
//! instant vectors of the same raw counters, gauges and histogram buckets the scraper reads,
//! one per `instance` label, turned into the same
//! [`Snapshot`](crate::measure::metrics::Snapshot)s ([`snapshot`]). Deltas are taken per
//! instance as for direct scraping, so the rest of the pipeline (verdicts, `observed.csv`,
//! the report) cannot tell where the values came from; the summary says it
//! (`observed.source`).
//!
//! **Staleness.** Prometheus holds what it scraped last, up to one scrape interval old. A
//! snapshot asked for at time *t* therefore waits until Prometheus holds a sample of every
//! apiserver and etcd instance taken at or after *t* (polling `timestamp()` every
//! [`FRESHNESS_POLL`], at most [`FRESH_SAMPLE_DEADLINE`]), so the snapshot after the load's
//! end counts every request of the load. An instance seen before whose series are missing
//! (a failed scrape makes them stale) is waited for the same way. Each observation is then
//! late by up to one scrape interval, and the points are at least one scrape interval apart.
//! An instance without a fresh sample by the deadline is named in the report and not waited
//! for again.

pub mod snapshot;

use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The longest a snapshot waits for Prometheus to hold samples newer than the moment it
/// was asked for: twice kube-prometheus-stack's default 30 s scrape interval.
pub const FRESH_SAMPLE_DEADLINE: Duration = Duration::from_secs(60);
/// Between two looks at the newest samples' timestamps while waiting.
pub const FRESHNESS_POLL: Duration = Duration::from_millis(250);
/// How long one HTTP API request may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// What can go wrong talking to a Prometheus.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrometheusError {
    /// No usable client for the URL (it did not parse, or TLS could not be set up).
    #[error("Prometheus {url}: {why}")]
    Client {
        /// The Prometheus URL.
        url: String,
        /// Why.
        why: String,
    },
    /// No answer (connection refused, DNS, TLS, timeout).
    #[error("Prometheus {url} unreachable: {why}")]
    Unreachable {
        /// The Prometheus URL.
        url: String,
        /// Why.
        why: String,
    },
    /// An HTTP error answer (401/403: the bearer token; 404: not a Prometheus API).
    #[error("Prometheus {url}: HTTP {code} for {path}: {message}")]
    Http {
        /// The Prometheus URL.
        url: String,
        /// The API path asked.
        path: String,
        /// HTTP status.
        code: u16,
        /// The `error` of the answer, or its first line.
        message: String,
    },
    /// An answer that is not the HTTP API's JSON, or a query error.
    #[error("Prometheus {url}: {why}")]
    Answer {
        /// The Prometheus URL.
        url: String,
        /// Why.
        why: String,
    },
}

/// One series of an instant vector: its labels (`__name__` when the query kept it) and
/// value at the evaluation time.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Label name → value.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The sample's value.
    pub value: f64,
    /// The evaluation time (Unix seconds, Prometheus' clock).
    pub at: f64,
}

/// The HTTP API's envelope (`status`, `data`, or `errorType` and `error`).
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

/// How the observations were waited for, reported in `summary.json` `observed.source`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Snapshots read from Prometheus.
    pub snapshots: u32,
    /// Longest wait for samples newer than a snapshot's moment (seconds).
    pub wait_max_seconds: f64,
    /// Mean of those waits (seconds).
    pub wait_mean_seconds: f64,
}

/// A Prometheus to query: its base URL (a path prefix is kept, e.g. an apiserver service
/// proxy) and, when given, the bearer token file, read (whitespace trimmed, as Prometheus
/// reads its own `credentials_file`) for every request, so a rotated token (a projected
/// ServiceAccount token) is picked up. The token is sent as `Authorization: Bearer`,
/// marked sensitive, and never logged or written anywhere.
#[derive(Clone)]
pub struct Prometheus {
    url: String,
    client: kube::Client,
    token_file: Option<PathBuf>,
    /// Extra label matchers for every query (`observe.prometheus_selector`), or empty.
    selector: String,
    /// Instances not waited for any more, and the waits so far.
    state: std::sync::Arc<std::sync::Mutex<snapshot::State>>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("url", &self.url)
            .field("selector", &self.selector)
            .finish()
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Prometheus {
    /// A client for `url` (http or https; https verified against the system's roots),
    /// sending the token in `token_file` when given.
    pub fn new(url: &str, token_file: Option<&PathBuf>) -> Result<Prometheus, PrometheusError> {
        let url = url.trim_end_matches('/').to_string();
        let client_err = |why: String| PrometheusError::Client {
            url: url.clone(),
            why,
        };
        let uri: http::Uri = url.parse().map_err(|e| client_err(format!("{e}")))?;
        let mut config = kube::Config::new(uri);
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(QUERY_TIMEOUT);
        let client = kube::Client::try_from(config).map_err(|e| client_err(e.to_string()))?;
        Ok(Prometheus {
            url,
            client,
            token_file: token_file.cloned(),
            selector: String::new(),
            state: Default::default(),
        })
    }

    /// Adds label matchers to every query, e.g. `cluster="mgmt"` where one Prometheus holds
    /// several clusters, or `job="apiserver"` to leave aggregated apiservers out.
    pub fn with_selector(mut self, selector: &str) -> Prometheus {
        self.selector = selector.trim().to_string();
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The waits for fresh samples so far.
    pub fn freshness(&self) -> Freshness {
        self.state.lock().map(|s| s.freshness()).unwrap_or_default()
    }

    /// GET of an API path; the body on a 2xx answer.
    async fn get(&self, path_and_query: &str) -> Result<String, PrometheusError> {
        let path = path_and_query.split('?').next().unwrap_or("").to_string();
        let client_err = |why: String| PrometheusError::Client {
            url: self.url.clone(),
            why,
        };
        let mut req = http::Request::get(path_and_query)
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::from(Vec::new()))
            .map_err(|e| client_err(e.to_string()))?;
        if let Some(f) = &self.token_file {
            let token = std::fs::read_to_string(f)
                .map_err(|e| client_err(format!("bearer token file {}: {e}", f.display())))?;
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| {
                    client_err(format!(
                        "bearer token file {}: not a valid header value",
                        f.display()
                    ))
                })?;
            value.set_sensitive(true);
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        let unreachable = |why: String| PrometheusError::Unreachable {
            url: self.url.clone(),
            why,
        };
        let res = tokio::time::timeout(QUERY_TIMEOUT, self.client.send(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", QUERY_TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(one_line(&e.to_string())))?;
        let code = res.status();
        let body = tokio::time::timeout(QUERY_TIMEOUT, res.into_body().collect())
            .await
            .map_err(|_| unreachable("the answer did not finish in time".into()))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if code.is_success() {
            return Ok(text);
        }
        let message = serde_json::from_str::<Envelope>(&text)
            .ok()
            .and_then(|e| e.error)
            .unwrap_or_else(|| one_line(&text));
        Err(PrometheusError::Http {
            url: self.url.clone(),
            path,
            code: code.as_u16(),
            message,
        })
    }

    /// Checks that the URL answers as a Prometheus HTTP API (`/api/v1/status/buildinfo`,
    /// then a query): the Prometheus version.
    pub async fn check(&self) -> Result<String, PrometheusError> {
        let text = self.get("/api/v1/status/buildinfo").await?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["data"]["version"].as_str().map(str::to_string))
            .ok_or_else(|| PrometheusError::Answer {
                url: self.url.clone(),
                why: format!(
                    "/api/v1/status/buildinfo is not a Prometheus answer: {}",
                    one_line(&text)
                ),
            })?;
        self.query("vector(1)").await?;
        Ok(version)
    }

    /// Evaluates an instant query now: its instant vector.
    pub async fn query(&self, promql: &str) -> Result<Vec<Series>, PrometheusError> {
        let text = self
            .get(&format!("/api/v1/query?query={}", encode(promql)))
            .await?;
        parse_vector(&text).map_err(|why| PrometheusError::Answer {
            url: self.url.clone(),
            why: format!("query `{promql}`: {why}"),
        })
    }
}

/// The first line of a text, at most 200 characters.
fn one_line(s: &str) -> String {
    let l = s.trim().lines().next().unwrap_or("");
    l.chars().take(200).collect()
}

/// The instant vector of a `/api/v1/query` answer.
pub fn parse_vector(text: &str) -> Result<Vec<Series>, String> {
    let e: Envelope =
        serde_json::from_str(text).map_err(|e| format!("not the HTTP API's JSON ({e})"))?;
    if e.status != "success" {
        return Err(e.error.unwrap_or_else(|| format!("status {}", e.status)));
    }
    let data = e.data.ok_or("no data in the answer")?;
    match data.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorItem> =
                serde_json::from_value(data.result).map_err(|e| e.to_string())?;
            items
                .into_iter()
                .map(|i| {
                    // Prometheus writes NaN and ±Inf as "NaN", "+Inf", "-Inf".
                    let value = match i.value.1.as_str() {
                        "+Inf" => f64::INFINITY,
                        "-Inf" => f64::NEG_INFINITY,
                        v => v.parse().map_err(|_| format!("value `{v}`"))?,
                    };
                    Ok(Series {
                        labels: i.metric,
                        value,
                        at: i.value.0,
                    })
                })
                .collect()
        }
        "scalar" => Ok(Vec::new()),
        other => Err(format!("a {other}, not an instant vector")),
    }
}

#[cfg(test)]
mod tests;
