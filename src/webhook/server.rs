//! The HTTPS admission endpoint: one path per webhook (`/mutate/<kind>`,
//! `/validate/<kind>`), AdmissionReview v1 in and out, a concurrency limit (a webhook
//! pod's capacity: calls beyond it wait for a slot, and that wait is part of the call's
//! time), and counters and latency histograms per webhook.
//!
//! The server runs on its own thread with a single-threaded runtime, so its CPU time can be
//! read from `/proc/self/task/<tid>/stat` and it competes with the load generator (and, on
//! one machine, with kube-apiserver) as a webhook pod would.

use super::behaviour::{draw, Outcome};
use super::WebhookError;
use crate::model::Kind;
use crate::profile::WebhookPlan;
use base64::Engine;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The annotation the defaulting webhook adds when `webhooks.patch` is on.
pub const DEFAULTED_ANNOTATION: &str = "capi-loadgen.io/defaulted";

/// One webhook the server answers.
#[derive(Clone, Debug)]
pub struct Hook {
    /// The name in the configuration (and kube-apiserver's `name` label).
    pub name: String,
    /// Validating (else mutating/defaulting).
    pub validating: bool,
    /// The kind it is registered for.
    pub kind: Kind,
    /// The URL path.
    pub path: String,
}

/// One webhook's counters.
pub struct HookStats {
    /// Calls received (dry-run probes not counted).
    pub calls: u64,
    /// Answered `allowed: true`.
    pub allowed: u64,
    /// Of those, with the defaulting patch.
    pub patched: u64,
    /// Answered `allowed: false`.
    pub rejected: u64,
    /// Answered HTTP 500.
    pub errors: u64,
    /// Held past the timeout.
    pub timeouts: u64,
    /// Calls that got a slot and were answered (a call kube-apiserver gave up on while it
    /// waited for a slot never is).
    pub completed: u64,
    /// Arrival to answer, µs (waiting for a slot included).
    pub latency: Histogram<u64>,
    /// Waiting for a slot, µs.
    pub queue: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits; saturating so nothing is dropped.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

impl Default for HookStats {
    fn default() -> Self {
        HookStats {
            calls: 0,
            allowed: 0,
            patched: 0,
            rejected: 0,
            errors: 0,
            timeouts: 0,
            completed: 0,
            latency: histogram(),
            queue: histogram(),
        }
    }
}

/// State shared by the connections.
pub struct Shared {
    /// The webhooks, by position.
    pub hooks: Vec<Hook>,
    /// Their counters.
    pub stats: Vec<Mutex<HookStats>>,
    /// Dry-run probes seen: [mutating, validating].
    pub probes: [AtomicU64; 2],
    /// Calls holding a slot now.
    pub in_flight: AtomicU64,
    /// Most calls holding a slot at once.
    pub max_in_flight: AtomicU64,
    /// Requests that were not AdmissionReviews for a known path.
    pub bad_requests: AtomicU64,
    /// TLS handshakes that failed (a client that does not trust the CA, a port scan).
    pub handshake_failures: AtomicU64,
    /// The server thread's id (for its CPU time), 0 until it runs.
    pub tid: AtomicI64,
    /// First arrival and last answer of a counted call: the time the webhooks were busy.
    pub span: Mutex<(Option<Instant>, Option<Instant>)>,
    plan: WebhookPlan,
    slots: Option<Arc<tokio::sync::Semaphore>>,
}

/// A running server.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state and counters.
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn text(code: u16, msg: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(msg.to_string())));
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_REQUEST);
    r
}

fn review(uid: &str, response: Value) -> Response<Full<Bytes>> {
    let mut body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    });
    body["response"]["uid"] = json!(uid);
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The defaulting patch: one annotation, added to the map or with it.
fn patch_for(object: &Value) -> String {
    let ops = if object["metadata"]["annotations"].is_object() {
        json!([{
            "op": "add",
            "path": format!("/metadata/annotations/{}", DEFAULTED_ANNOTATION.replace('~', "~0").replace('/', "~1")),
            "value": "true",
        }])
    } else {
        json!([{"op": "add", "path": "/metadata/annotations", "value": {DEFAULTED_ANNOTATION: "true"}}])
    };
    base64::engine::general_purpose::STANDARD.encode(ops.to_string())
}

fn us(d: Duration) -> u64 {
    d.as_micros().clamp(1, 600_000_000) as u64
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(i) = shared.hooks.iter().position(|h| h.path == req.uri().path()) else {
        shared.bad_requests.fetch_add(1, Ordering::Relaxed);
        return text(404, "no webhook at this path");
    };
    if req.method() != http::Method::POST {
        shared.bad_requests.fetch_add(1, Ordering::Relaxed);
        return text(405, "POST an AdmissionReview");
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        shared.bad_requests.fetch_add(1, Ordering::Relaxed);
        return text(400, "could not read the body");
    };
    let arrived = Instant::now();
    let hook = &shared.hooks[i];
    let Ok(review_in) = serde_json::from_slice::<Value>(&body) else {
        shared.bad_requests.fetch_add(1, Ordering::Relaxed);
        return text(400, "not an AdmissionReview");
    };
    let request = &review_in["request"];
    let Some(uid) = request["uid"].as_str() else {
        shared.bad_requests.fetch_add(1, Ordering::Relaxed);
        return text(400, "AdmissionReview without request.uid");
    };
    if request["dryRun"].as_bool() == Some(true) {
        // The readiness probe (`install::wait_effective`): answered at once, not counted.
        shared.probes[usize::from(hook.validating)].fetch_add(1, Ordering::Relaxed);
        return review(uid, json!({"allowed": true}));
    }
    let d = draw(&shared.plan, hook.validating, &mut rand::rng());
    {
        let mut span = shared.span.lock().unwrap_or_else(|p| p.into_inner());
        span.0.get_or_insert(arrived);
    }
    {
        let mut s = shared.stats[i].lock().unwrap_or_else(|p| p.into_inner());
        s.calls += 1;
        match d.outcome {
            Outcome::Allow => s.allowed += 1,
            Outcome::Reject => s.rejected += 1,
            Outcome::Error => s.errors += 1,
            Outcome::Timeout => s.timeouts += 1,
        }
    }
    let permit = match &shared.slots {
        Some(s) => s.clone().acquire_owned().await.ok(),
        None => None,
    };
    let queued = arrived.elapsed();
    let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
    tokio::time::sleep(d.latency).await;
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    drop(permit);
    let patch = (!hook.validating && shared.plan.patch && d.outcome != Outcome::Error)
        .then(|| patch_for(&request["object"]));
    {
        let mut s = shared.stats[i].lock().unwrap_or_else(|p| p.into_inner());
        s.patched += u64::from(patch.is_some() && d.outcome == Outcome::Allow);
        s.completed += 1;
        s.latency.saturating_record(us(arrived.elapsed()));
        s.queue.saturating_record(us(queued));
    }
    shared.span.lock().unwrap_or_else(|p| p.into_inner()).1 = Some(Instant::now());
    match d.outcome {
        Outcome::Error => text(500, "capi-loadgen: simulated webhook failure"),
        Outcome::Reject => review(
            uid,
            json!({
                "allowed": false,
                "status": {"code": 403, "reason": "Forbidden", "message": "capi-loadgen: simulated rejection"},
            }),
        ),
        Outcome::Allow | Outcome::Timeout => match patch {
            Some(p) => review(
                uid,
                json!({"allowed": true, "patchType": "JSONPatch", "patch": p}),
            ),
            None => review(uid, json!({"allowed": true})),
        },
    }
}

fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

impl Server {
    /// Binds `plan.listen` and serves `hooks` over TLS on a thread of its own.
    pub fn start(
        plan: &WebhookPlan,
        hooks: Vec<Hook>,
        tls: rustls::ServerConfig,
    ) -> Result<Server, WebhookError> {
        let listener = std::net::TcpListener::bind(plan.listen)
            .map_err(|e| WebhookError::Bind(plan.listen.to_string(), e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| WebhookError::Bind(plan.listen.to_string(), e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| WebhookError::Bind(plan.listen.to_string(), e.to_string()))?;
        let shared = Arc::new(Shared {
            stats: hooks.iter().map(|_| Mutex::default()).collect(),
            hooks,
            probes: Default::default(),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            tid: AtomicI64::new(0),
            span: Mutex::default(),
            plan: plan.clone(),
            slots: plan
                .concurrency
                .map(|c| Arc::new(tokio::sync::Semaphore::new(c))),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| WebhookError::Bind(addr.to_string(), e.to_string()))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || {
                s.tid.store(thread_id(), Ordering::Relaxed);
                runtime.block_on(serve(listener, acceptor, s, stopped));
            })
            .map_err(|e| WebhookError::Bind(addr.to_string(), e.to_string()))?;
        Ok(Server {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The server thread's CPU seconds so far (user + system), None when unreadable.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let tid = self.shared.tid.load(Ordering::Relaxed);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state is field 3, utime 14 and stime 15 (1-based, man proc).
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| ticks / hz as f64)
    }

    /// Stops accepting and ends the thread (calls still waiting are dropped).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let tcp = tokio::select! {
            _ = &mut stopped => return,
            a = listener.accept() => match a {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(_) => {
                    shared.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}
