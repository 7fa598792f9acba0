//! The steady phase with the reference controller (`phases.steady.controller: reference`):
//! starts `capi-loadgen-reference-controller` (servers/reference-controller, a
//! controller-runtime manager built by scripts/setup.sh) against the run's target with flags
//! derived from the steady plan, lets it run for the phase, then reads what the simulation
//! measures from its `/metrics` (work queue, reconciles, queue wait, client wait) and the
//! apiserver's own request counts.
//!
//! Flags: `--kube-api-qps` = client QPS x time scale x pool size, `--kube-api-burst` = burst
//! x pool size, `--cluster-concurrency` / `--machine-concurrency` = the plan's wall workers,
//! `--sync-period` = the wall period, `--stop-calls-after` = the phase's duration (the
//! simulation's workers also stop calling at the phase's end).

use crate::engine::steady::{Controller, SteadyResult};
use crate::engine::Stop;
use crate::measure::new_histogram;
use crate::measure::scrape::http_get;
use crate::model::FleetSpec;
use crate::profile::phases::{CallMix, SteadyPlan};
use crate::profile::RateLimiterScope;
use crate::report::summary::{Distribution, ReferenceMeasures, VerbCounts};
use hdrhistogram::Histogram;
use prometheus_parse::{Sample, Scrape, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// The reference controller's binary name (looked up like etcd and kube-apiserver).
pub const BINARY: &str = "capi-loadgen-reference-controller";
/// How long the controller may take to serve its first `/metrics`.
const METRICS_UP_DEADLINE: Duration = Duration::from_secs(60);
/// How long calls in flight at the phase's end may take to finish.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);
/// Between scrapes of the controller during the phase (queue depth).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why the reference controller cannot run on a bare etcd.
const NO_APISERVER: &str =
    "controller: reference needs a kube-apiserver target (local or kube), not a bare etcd";

/// What went wrong with the reference controller.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The binary is not built.
    #[error("{BINARY} not found in $KUBEBUILDER_ASSETS, $PATH or the cache: run scripts/setup.sh (it builds servers/reference-controller)")]
    Missing,
    /// It could not be started or stopped answering.
    #[error("reference controller: {0}")]
    Failed(String),
    /// This target has no apiserver for it.
    #[error("{NO_APISERVER}")]
    NoApiserver,
}

/// Where the reference controller connects, and the admin client that reads the
/// apiserver's metrics.
pub struct ReferenceConn {
    /// Kubeconfig for the controller (the load identity's).
    pub kubeconfig: Option<PathBuf>,
    /// Context in it.
    pub context: Option<String>,
    /// Admin client for the apiserver's `/metrics`.
    pub admin: Option<kube::Client>,
}

/// Where the reference controller of `plan` connects, checked before any phase runs (None
/// when the plan runs the simulation).
pub fn conn_for(
    plan: &crate::profile::RunPlan,
    c: &super::connect::Connected,
) -> Result<Option<ReferenceConn>, crate::error::Error> {
    use crate::profile::{ControllerKind, TargetPlan};
    let env_err =
        |e: ReferenceError| crate::error::Error::Env(crate::env::EnvError::Asset(e.to_string()));
    match &plan.phases.steady {
        Some(s) if s.controller == ControllerKind::Reference => {}
        _ => return Ok(None),
    }
    crate::env::assets::find(BINARY).ok_or_else(|| env_err(ReferenceError::Missing))?;
    let admin = c.admin.as_ref().map(|a| a.client().clone());
    let (kubeconfig, context) = match (&plan.target, c.local_kubeconfig()) {
        (TargetPlan::Local(_), Some(k)) => (
            Some(k.to_path_buf()),
            Some(crate::env::local::LOAD_CONTEXT.to_string()),
        ),
        (
            TargetPlan::Kube {
                kubeconfig,
                context,
                ..
            },
            _,
        ) => (kubeconfig.clone(), context.clone()),
        _ => {
            return Err(crate::error::Error::Usage(
                crate::error::UsageError::Combination(NO_APISERVER),
            ))
        }
    };
    Ok(Some(ReferenceConn {
        kubeconfig,
        context,
        admin,
    }))
}

/// The flags the controller runs with for `plan` over `fleet`.
pub fn flags(fleet: &FleetSpec, s: &SteadyPlan, pool_size: usize, run_id: &str) -> Vec<String> {
    let mix = |m: CallMix| format!("{},{},{}", m.get, m.list, m.patch_status);
    let n = pool_size.max(1) as f64;
    let mut f = vec![
        format!(
            "--kube-api-qps={}",
            s.client_qps.map(|q| q * s.time_scale * n).unwrap_or(-1.0)
        ),
        format!(
            "--kube-api-burst={}",
            (f64::from(s.client_burst) * n) as u64
        ),
        format!("--cluster-concurrency={}", s.wall_workers(s.concurrency)),
        format!("--cluster-calls={}", mix(s.mix)),
        format!("--sync-period={}ms", s.wall_period().as_millis().max(1)),
        format!("--think={}ms", s.think.as_millis()),
        format!("--api-group={}", fleet.api_group),
        format!("--capi-version={}", fleet.capi_version.as_str()),
        format!("--label-selector={}={run_id}", crate::model::RUN_ID_LABEL),
        format!("--stop-calls-after={}ms", s.duration.as_millis()),
    ];
    if let Some(m) = s.machine {
        f.push(format!(
            "--machine-concurrency={}",
            s.wall_workers(m.concurrency)
        ));
        f.push(format!("--machine-calls={}", mix(m.mix)));
    }
    if s.rate_limiter == RateLimiterScope::Shared {
        f.push("--shared-rate-limiter".into());
    }
    if s.jitter == 0.0 {
        // No jitter asked: the informers resync exactly every period, not 0.9-1.1 x drawn.
        f.push("--resync-jitter=false".into());
    }
    f
}

/// One controller's results: the simulation's fields and the reference's own.
pub type ReferenceRun = (Controller, SteadyResult, ReferenceMeasures);

/// Runs the steady phase with the reference controller.
pub async fn run(
    fleet: &FleetSpec,
    s: &SteadyPlan,
    pool_size: usize,
    run_id: &str,
    conn: &ReferenceConn,
    stop: &Stop,
    log_dir: &Path,
) -> Result<Vec<ReferenceRun>, ReferenceError> {
    let bin = crate::env::assets::find(BINARY).ok_or(ReferenceError::Missing)?;
    let admin = conn.admin.as_ref().ok_or(ReferenceError::NoApiserver)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| ReferenceError::Failed(format!("no free port: {e}")))?
        .port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let flags = flags(fleet, s, pool_size, run_id);
    let before = apiserver_counts(admin, fleet).await;
    let _ = std::fs::create_dir_all(log_dir);
    let log_path = log_dir.join("reference-controller.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| ReferenceError::Failed(format!("{}: {e}", log_path.display())))?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(&flags)
        .arg(format!("--metrics-bind-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(k) = &conn.kubeconfig {
        cmd.arg(format!("--kubeconfig={}", k.display()));
    }
    if let Some(c) = &conn.context {
        cmd.arg(format!("--context={c}"));
    }
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| ReferenceError::Failed(format!("{}: {e}", bin.display())))?;
    let end = t0 + s.duration;
    let fail = |m: String| ReferenceError::Failed(format!("{m} (log: {})", log_path.display()));
    // Up: the first /metrics answer.
    let up_by = t0 + METRICS_UP_DEADLINE.min(s.duration);
    while http_get(&url).await.is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(fail(format!("exited with {st}")));
        }
        if Instant::now() >= up_by {
            return Err(fail(format!("no /metrics at {url} within {up_by:?}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<Controller> = std::iter::once(Controller::Cluster)
        .chain(s.machine.map(|_| Controller::Machine))
        .collect();
    let mut max_depth = vec![0u64; names.len()];
    let mut at_end: Option<Scrape> = None;
    let mut stop = stop.clone();
    while Instant::now() < end && !stop.is_stopped() {
        if let Ok(m) = scrape(&url).await {
            for (i, c) in names.iter().enumerate() {
                max_depth[i] =
                    max_depth[i].max(sum(&m, "workqueue_depth", &[("name", c.label())]) as u64);
            }
            at_end = Some(m);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL.min(end.saturating_duration_since(Instant::now()))) => {}
            _ = stop.stopped() => {}
        }
    }
    // The phase's end: the controller's calls close on its own clock (it started just
    // after t0); take the queue as it is, then let calls in flight finish.
    if let Ok(m) = scrape(&url).await {
        at_end = Some(m);
    }
    let drained_by = Instant::now() + DRAIN_DEADLINE;
    let last = loop {
        let m = scrape(&url).await.map_err(fail)?;
        let open = Instant::now() < t0 + s.duration + Duration::from_millis(200);
        if !open && sum(&m, "capi_loadgen_reference_calls_in_flight", &[]) == 0.0 {
            break m;
        }
        if Instant::now() >= drained_by {
            return Err(fail(
                "calls still in flight after the drain deadline".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = apiserver_counts(admin, fleet).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let at_end = at_end.unwrap_or_else(|| last.clone());
    let mut out = Vec::new();
    for (i, which) in names.into_iter().enumerate() {
        let mix = match which {
            Controller::Cluster => s.mix,
            Controller::Machine => s.machine.map(|m| m.mix).unwrap_or(s.mix),
        };
        out.push(result(
            which,
            mix,
            &last,
            &at_end,
            max_depth[i],
            s,
            &flags,
            &before,
            &after,
        ));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn result(
    which: Controller,
    mix: CallMix,
    last: &Scrape,
    at_end: &Scrape,
    max_depth: u64,
    s: &SteadyPlan,
    flags: &[String],
    before: &Option<ApiCounts>,
    after: &Option<ApiCounts>,
) -> ReferenceRun {
    let c = which.label();
    let by = |name: &str, extra: &[(&str, &str)]| {
        let mut l = vec![("controller", c)];
        l.extend_from_slice(extra);
        sum(last, name, &l) as u64
    };
    let enq = |reason| {
        by(
            "capi_loadgen_reference_enqueues_total",
            &[("reason", reason)],
        )
    };
    let periodic = enq("create") + enq("resync");
    let events = enq("update") + enq("delete") + enq("generic");
    let missed = by("capi_loadgen_reference_missed_periods_total", &[]);
    let calls = VerbCounts {
        get: by("capi_loadgen_reference_calls_total", &[("verb", "get")]),
        list: by("capi_loadgen_reference_calls_total", &[("verb", "list")]),
        patch: by("capi_loadgen_reference_calls_total", &[("verb", "patch")]),
    };
    let made = (calls.get + calls.list + calls.patch) as f64;
    let r = SteadyResult {
        reconciles: by("capi_loadgen_reference_reconciles_total", &[]),
        periodic_enqueues: periodic,
        event_enqueues: events,
        missed_periods: missed,
        queue_wait: histogram(
            last,
            "capi_loadgen_reference_queue_wait_seconds",
            &[("controller", c)],
        ),
        reconcile: histogram(
            last,
            "capi_loadgen_reference_reconcile_seconds",
            &[("controller", c)],
        ),
        lag: histogram(
            last,
            "capi_loadgen_reference_lag_seconds",
            &[("controller", c)],
        ),
        final_queue_depth: sum(at_end, "workqueue_depth", &[("name", c)]) as u64,
        final_in_progress: sum(
            at_end,
            "capi_loadgen_reference_reconciles_in_progress",
            &[("controller", c)],
        ) as u64,
        unserved: ((periodic + events).saturating_sub(missed) as f64
            - made / f64::from(mix.total().max(1)))
        .max(0.0),
        max_queue_depth: max_depth,
    };
    let resync = {
        let last_resync = sum(
            last,
            "capi_loadgen_reference_first_resync_after_seconds",
            &[("controller", c)],
        );
        (last_resync > 0.0).then_some(last_resync)
    };
    let api = match (before, after) {
        (Some(b), Some(a)) => Some(a.delta(b, which)),
        _ => None,
    };
    let m = ReferenceMeasures {
        rate_limiter: match s.rate_limiter {
            RateLimiterScope::Shared => "shared".into(),
            RateLimiterScope::PerKind => "per-kind".into(),
        },
        flags: flags.to_vec(),
        calls,
        call_errors: by(
            "capi_loadgen_reference_calls_total",
            &[("outcome", "error")],
        ),
        apiserver_requests: api,
        client_wait_ms: Distribution::of(&histogram(
            last,
            "rest_client_rate_limiter_duration_seconds",
            &[],
        )),
        workqueue_adds: sum(last, "workqueue_adds_total", &[("name", c)]) as u64,
        reconcile_total: sum(
            last,
            "controller_runtime_reconcile_total",
            &[("controller", c)],
        ) as u64,
        rest_client_requests: sum(last, "rest_client_requests_total", &[]) as u64,
        first_resync_after_seconds: resync,
        resync_period_seconds: {
            // The informer of the kind the controller reconciles: its label is the kind.
            let p = sum(
                last,
                "capi_loadgen_reference_resync_period_seconds",
                &[("kind", c)],
            );
            (p > 0.0).then_some(p)
        },
    };
    (which, r, m)
}

async fn scrape(url: &str) -> Result<Scrape, String> {
    let text = http_get(url).await?;
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| format!("{url}: {e}"))
}

fn matches(x: &Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))
}

/// Sum of a counter or gauge over the series with these labels.
fn sum(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name && matches(x, labels))
        .filter_map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .sum()
}

/// A Prometheus histogram (every series with these labels, added up) as an HDR histogram in
/// µs: each bucket's count recorded at the geometric middle of its bounds (the reference
/// controller's buckets are 5% apart, so a quantile is within about 2.5%).
pub(crate) fn histogram(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Histogram<u64> {
    let mut cumulative: Vec<(f64, f64)> = Vec::new();
    for x in s
        .samples
        .iter()
        .filter(|x| x.metric == name && matches(x, labels))
    {
        if let Value::Histogram(h) = &x.value {
            for b in h {
                match cumulative.iter_mut().find(|(le, _)| *le == b.less_than) {
                    Some(e) => e.1 += b.count,
                    None => cumulative.push((b.less_than, b.count)),
                }
            }
        }
    }
    cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut h = new_histogram();
    let (mut lo, mut below) = (0.0f64, 0.0f64);
    for (le, count) in cumulative {
        let n = (count - below).max(0.0) as u64;
        let at = match (lo > 0.0, le.is_finite()) {
            (true, true) => (lo * le).sqrt(),
            (false, true) => le / 2.0,
            (_, false) => lo,
        };
        if n > 0 {
            let _ = h.record_n(((at * 1e6) as u64).max(1), n);
        }
        (lo, below) = (le, count);
    }
    h
}

/// The apiserver's request counts for the kinds the reconciles touch.
#[derive(Clone, Debug, Default)]
struct ApiCounts {
    /// (verb, resource, subresource) -> count, for the fleet's API groups and Secrets.
    by: std::collections::BTreeMap<(String, String, String), f64>,
}

impl ApiCounts {
    fn get(&self, verb: &str, resource: Option<&str>, sub: Option<&str>) -> f64 {
        self.by
            .iter()
            .filter(|((v, r, s), _)| {
                v == verb && resource.is_none_or(|x| x == r) && sub.is_none_or(|x| x == s)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// What the apiserver counted between `before` and `self` for one controller's calls:
    /// every GET, LISTs of Machines, PATCHes of the reconciled kind's status. (With both
    /// controllers, GETs and Machine LISTs are shared: each controller is given them all.)
    fn delta(&self, before: &ApiCounts, which: Controller) -> VerbCounts {
        let d = |v, r, s| (self.get(v, r, s) - before.get(v, r, s)).max(0.0) as u64;
        let kind = match which {
            Controller::Cluster => "clusters",
            Controller::Machine => "machines",
        };
        VerbCounts {
            get: d("GET", None, None),
            list: d("LIST", Some("machines"), None),
            patch: d("PATCH", Some(kind), Some("status")),
        }
    }
}

async fn apiserver_counts(admin: &kube::Client, fleet: &FleetSpec) -> Option<ApiCounts> {
    let req = http::Request::get("/metrics").body(Vec::new()).ok()?;
    let text = tokio::time::timeout(Duration::from_secs(10), admin.request_text(req))
        .await
        .ok()?
        .ok()?;
    let groups: Vec<String> = ["", "bootstrap.", "controlplane.", "infrastructure."]
        .iter()
        .map(|p| format!("{p}{}", fleet.api_group))
        .collect();
    let lines = text.lines().filter(|l| {
        l.starts_with("apiserver_request_total{")
            || l.starts_with("# TYPE apiserver_request_total ")
    });
    let s = Scrape::parse(lines.map(|l| Ok(l.to_string()))).ok()?;
    let mut out = ApiCounts::default();
    for x in s
        .samples
        .iter()
        .filter(|x| x.metric == "apiserver_request_total")
    {
        let group = x.labels.get("group").unwrap_or("");
        let resource = x.labels.get("resource").unwrap_or("");
        let ours = groups.iter().any(|g| g == group) || (group.is_empty() && resource == "secrets");
        if !ours {
            continue;
        }
        let key = (
            x.labels.get("verb").unwrap_or("").to_string(),
            resource.to_string(),
            x.labels.get("subresource").unwrap_or("").to_string(),
        );
        if let Value::Counter(v) | Value::Untyped(v) = x.value {
            *out.by.entry(key).or_default() += v;
        }
    }
    Some(out)
}
