//! Simulated admission webhooks (`webhooks:` in a profile).
//!
//! Every Cluster API kind has a defaulting (mutating) and a validating admission webhook, so
//! every write makes kube-apiserver call out over HTTPS before the object is stored; a slow
//! or saturated webhook pod becomes apiserver latency and, with `failurePolicy: Fail`,
//! failed writes. The tool serves those webhooks itself: an HTTPS endpoint with its own CA
//! (`cert`), one path per kind and type answering AdmissionReview v1 (`server`) after a
//! drawn latency and outcome (`behaviour`), behind a concurrency limit, and the
//! Mutating/ValidatingWebhookConfiguration that points kube-apiserver at it (`install`).
//! What the server counted is reported beside kube-apiserver's own
//! `apiserver_admission_webhook_*` series (`crate::measure::admission`).

pub mod behaviour;
pub mod cert;
pub mod install;
pub mod server;

use crate::backend::kube::KubeTarget;
use crate::model::FleetSpec;
use crate::profile::WebhookPlan;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What can go wrong with the webhooks.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The certificates could not be made or loaded.
    #[error("webhook TLS: {0}")]
    Tls(String),
    /// The listen address could not be bound.
    #[error("webhook listen address {0}: {1}")]
    Bind(String, String),
    /// kube-apiserver refused or failed a request about the configurations.
    #[error("webhook configuration: {0}")]
    Api(String),
    /// kube-apiserver never called the webhook (it cannot reach the host, or does not trust
    /// the CA).
    #[error("kube-apiserver did not call the webhook at {url} within {}s of installing it (last probe: {last}); for kind, set --webhook-host to the address the node container reaches this machine at (docs/webhooks.md)", install::EFFECTIVE_DEADLINE.as_secs())]
    NotCalled {
        /// The base URL in the configurations.
        url: String,
        /// The last probe's answer.
        last: String,
    },
}

/// One webhook as the tool's server saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServedWebhook {
    /// Its name (kube-apiserver's `name` label).
    pub name: String,
    /// `admit` (mutating) or `validating`, as kube-apiserver's `type` label.
    #[serde(rename = "type")]
    pub kind_of_webhook: String,
    /// The fleet kind it is registered for (label, e.g. `machine`).
    pub kind: String,
    /// Calls received.
    pub calls: u64,
    /// Answered `allowed: true`.
    pub allowed: u64,
    /// Answered with the defaulting patch.
    pub patched: u64,
    /// Answered `allowed: false`.
    pub rejected: u64,
    /// Answered HTTP 500.
    pub errors: u64,
    /// Held past `timeoutSeconds`.
    pub timeouts: u64,
    /// Got a slot and were answered (a call kube-apiserver gave up on while it waited for
    /// a slot never is).
    #[serde(default)]
    pub completed: u64,
    /// Arrival to answer (ms), waiting for a slot included.
    pub mean_ms: f64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Largest (ms).
    pub max_ms: f64,
    /// 99th percentile of the wait for a slot (ms).
    pub queue_p99_ms: f64,
}

/// The tool's view of its webhooks over a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The base URL in the configurations.
    pub url: String,
    /// Per webhook.
    pub webhooks: Vec<ServedWebhook>,
    /// Most calls holding a slot at once.
    pub max_in_flight: u64,
    /// Dry-run probe calls before the load (not in `webhooks`; kube-apiserver's deltas
    /// start after them too).
    pub probe_calls: u64,
    /// Requests that were not AdmissionReviews for a known path.
    pub bad_requests: u64,
    /// Failed TLS handshakes.
    pub handshake_failures: u64,
    /// CPU seconds of the server's thread (TLS, JSON, timers), on the tool's machine.
    pub cpu_seconds: Option<f64>,
    /// Seconds from the first call's arrival to the last answer.
    #[serde(default)]
    pub busy_seconds: f64,
}

/// Webhooks being served and installed.
pub struct Running {
    server: server::Server,
    url: String,
    run_id: String,
    timeout: Duration,
}

/// Starts the server, installs the configurations and waits until kube-apiserver calls
/// them (a dry-run probe), so the load starts with the webhooks in effect.
pub async fn start(
    plan: &WebhookPlan,
    fleet: &FleetSpec,
    admin: &KubeTarget,
) -> Result<Running, WebhookError> {
    let tls = cert::generate(&plan.host)?;
    let hooks = install::hooks(plan, fleet);
    let server = server::Server::start(plan, hooks.clone(), tls.config)?;
    let host = if plan.host.contains(':') {
        format!("[{}]", plan.host)
    } else {
        plan.host.clone()
    };
    let url = format!("https://{host}:{}", server.addr.port());
    let configs = install::configurations(plan, fleet, &hooks, &url, &tls.ca_pem);
    install::install(admin, &configs).await?;
    let shared = server.shared.clone();
    let seen = || {
        (
            shared.probes[0].load(Ordering::Relaxed),
            shared.probes[1].load(Ordering::Relaxed),
        )
    };
    if let Err(e) = install::wait_effective(admin, plan, fleet, seen, &url).await {
        let _ = install::remove(admin, &selector(&fleet.run_id)).await;
        return Err(e);
    }
    tracing::info!(%url, webhooks = hooks.len(), listen = %server.addr, "admission webhooks in effect");
    Ok(Running {
        server,
        url,
        run_id: fleet.run_id.clone(),
        timeout: plan.timeout,
    })
}

/// The label selector of a run's configurations.
pub fn selector(run_id: &str) -> String {
    format!("{}={run_id}", crate::model::RUN_ID_LABEL)
}

impl Running {
    /// Removes the run's configurations, lets calls in progress end (at most the timeout
    /// and 2 s), stops the server and returns what it counted. A configuration that could
    /// not be removed is returned as the error beside it (`cleanup` removes it later).
    pub async fn finish(mut self, admin: &KubeTarget) -> (Served, Option<WebhookError>) {
        let removed = install::remove(admin, &selector(&self.run_id)).await;
        let shared = self.server.shared.clone();
        let deadline = Instant::now() + self.timeout + Duration::from_secs(2);
        let pending = || {
            shared
                .stats
                .iter()
                .map(|s| {
                    let s = s.lock().unwrap_or_else(|p| p.into_inner());
                    s.calls - s.latency.len()
                })
                .sum::<u64>()
        };
        while pending() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu_seconds = self.server.cpu_seconds();
        self.server.stop();
        let ms = |us: u64| us as f64 / 1e3;
        let webhooks = shared
            .hooks
            .iter()
            .zip(&shared.stats)
            .map(|(h, s)| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                ServedWebhook {
                    name: h.name.clone(),
                    kind_of_webhook: if h.validating { "validating" } else { "admit" }.into(),
                    kind: h.kind.label().into(),
                    calls: s.calls,
                    allowed: s.allowed,
                    patched: s.patched,
                    rejected: s.rejected,
                    errors: s.errors,
                    timeouts: s.timeouts,
                    completed: s.completed,
                    mean_ms: s.latency.mean() / 1e3,
                    p50_ms: ms(s.latency.value_at_quantile(0.5)),
                    p99_ms: ms(s.latency.value_at_quantile(0.99)),
                    max_ms: ms(s.latency.max()),
                    queue_p99_ms: ms(s.queue.value_at_quantile(0.99)),
                }
            })
            .collect();
        let served = Served {
            url: self.url.clone(),
            webhooks,
            max_in_flight: shared.max_in_flight.load(Ordering::Relaxed),
            probe_calls: shared
                .probes
                .iter()
                .map(|p| p.load(Ordering::Relaxed))
                .sum(),
            bad_requests: shared.bad_requests.load(Ordering::Relaxed),
            handshake_failures: shared.handshake_failures.load(Ordering::Relaxed),
            cpu_seconds,
            busy_seconds: match *shared.span.lock().unwrap_or_else(|p| p.into_inner()) {
                (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
                _ => 0.0,
            },
        };
        (served, removed.err())
    }
}
