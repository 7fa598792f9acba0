//! The phase driver: runs a plan's phases in order (create, steady, churn, delete) on one kind of target,
//! each with its own pool (token buckets start full) and progress bar, all feeding one
//! collector.

use crate::backend::Target;
use crate::engine::pool::ClientPool;
use crate::engine::request::DEFAULT_DRAIN;
use crate::engine::request::{PhaseContext, Progress};
use crate::engine::watch::{self, AckBook, WatchCounters};
use crate::engine::{churn, create, delete, steady, Stop, StopHandle};
use crate::measure::Sample;
use crate::model::{self, Kind};
use crate::profile::phases::Rate;
use crate::profile::{ClientPlan, ControllerKind, RunPlan};
use crate::report::summary::{ControllerSummary, Distribution, PhaseSummary, WatchSummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

/// Live progress of one phase, fed from the shared counters: a progress bar when stderr is
/// a terminal, else (CI logs, `kubectl logs` of a Job's pod) one structured log line every
/// `log_every`, so a log shows the run moving.
struct Bar {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

/// The counters a progress line shows.
struct Line {
    rate: f64,
    p99_ms: f64,
    in_flight: u64,
    queue: u64,
    responses_429: u64,
    failed: u64,
}

impl Line {
    fn read(progress: &Progress, last: &mut (u64, Instant)) -> Line {
        let done = progress.done.load(Ordering::Relaxed);
        let rate = (done - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-3);
        *last = (done, Instant::now());
        Line {
            rate,
            p99_ms: progress.last_second_p99_us.load(Ordering::Relaxed) as f64 / 1000.0,
            in_flight: progress.in_flight(),
            queue: progress.queue_depth.load(Ordering::Relaxed),
            responses_429: progress.responses_429.load(Ordering::Relaxed),
            failed: progress.failed.load(Ordering::Relaxed),
        }
    }
}

impl Bar {
    fn new(
        name: &str,
        total: Option<u64>,
        unit: &'static str,
        progress: Arc<Progress>,
        by_time: bool,
        log_every: Duration,
    ) -> Bar {
        use std::io::IsTerminal;
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = format!(
            "{{prefix:>7}} [{{bar:30}}] {{pos}}/{{len}} {unit} {}{{msg}}",
            if by_time { "" } else { "{per_sec} eta {eta} " }
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        let base = progress.done.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let b = bar.clone();
        let terminal = std::io::stderr().is_terminal();
        let phase = name.to_string();
        let ticker = tokio::spawn(async move {
            let mut last = (base, Instant::now());
            if !terminal {
                tracing::info!(phase, total, unit, "phase started");
                let mut tick = tokio::time::interval_at(Instant::now() + log_every, log_every);
                loop {
                    tick.tick().await;
                    let l = Line::read(&progress, &mut last);
                    let done = if by_time {
                        t0.elapsed().as_secs()
                    } else {
                        progress.done.load(Ordering::Relaxed) - base
                    };
                    tracing::info!(
                        phase,
                        done,
                        total,
                        unit,
                        rate = format!("{:.1}", l.rate),
                        p99_ms = format!("{:.1}", l.p99_ms),
                        in_flight = l.in_flight,
                        queue_depth = l.queue,
                        responses_429 = l.responses_429,
                        failed = l.failed,
                        "progress"
                    );
                }
            }
            loop {
                let done = progress.done.load(Ordering::Relaxed);
                b.set_position(if by_time {
                    t0.elapsed().as_secs()
                } else {
                    done - base
                });
                let l = Line::read(&progress, &mut last);
                b.set_message(format!(
                    "| {:.0} req/s, p99 {:.0} ms, in flight {}, queue {}, 429s {}, failed {}",
                    l.rate, l.p99_ms, l.in_flight, l.queue, l.responses_429, l.failed
                ));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Bar { bar, ticker }
    }

    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// Everything the phases produced besides the samples.
pub struct PhasesOutcome {
    /// What the watchers saw.
    pub watch: Option<WatchSummary>,
    /// The phases as they ran.
    pub phases: Vec<PhaseSummary>,
    /// The controllers of the steady phase, if it ran.
    pub controllers: Vec<ControllerSummary>,
    /// Why the reference controller could not run, if it was asked for and failed.
    pub reference_error: Option<super::reference::ReferenceError>,
    /// Their histograms and the watch lag's (µs), tagged `controller/<name>/<metric>` and
    /// `watch/lag`, for `histograms.hlog` (what `merge` adds up).
    pub histograms: Vec<(String, hdrhistogram::Histogram<u64>)>,
}

fn ctx<T: Clone>(
    load: &[T],
    client: &ClientPlan,
    samples: &Sender<Sample>,
    stop: &Stop,
    stopper: &StopHandle,
    progress: &Arc<Progress>,
    acks: &Option<Arc<AckBook>>,
) -> PhaseContext<T> {
    PhaseContext {
        pool: Arc::new(ClientPool::new(load.to_vec(), client)),
        samples: samples.clone(),
        stop: stop.clone(),
        progress: progress.clone(),
        max_retries: client.max_retries,
        stopper: stopper.clone(),
        drain: DEFAULT_DRAIN,
        acks: acks.clone(),
        on_failure: Default::default(),
        missing: Default::default(),
    }
}

/// Runs every phase of `plan` in order; stops early when `stop` fires. `reference` is where
/// the reference controller connects (`phases.steady.controller: reference`).
#[allow(clippy::too_many_arguments)]
pub async fn run<T: Target>(
    plan: &RunPlan,
    load: Vec<T>,
    samples: Sender<Sample>,
    stop: Stop,
    stopper: StopHandle,
    progress: Arc<Progress>,
    reference: Option<super::reference::ReferenceConn>,
    observer: &crate::measure::self_observe::SelfObserver,
) -> PhasesOutcome {
    let fleet = Arc::new(plan.fleet.clone());
    let mut out = PhasesOutcome {
        watch: None,
        phases: Vec::new(),
        controllers: Vec::new(),
        reference_error: None,
        histograms: Vec::new(),
    };
    let watchers = start_watchers(plan, &load, &stop);
    let acks = watchers.as_ref().map(|w| w.book.clone());
    // One account of missing objects for every phase: a create that failed leaves its
    // object (and its dependents) out of the later phases.
    let missing = Arc::new(crate::engine::missing::MissingObjects::default());
    let make = |client: &ClientPlan| PhaseContext {
        on_failure: plan.on_target_failure,
        missing: missing.clone(),
        ..ctx(&load, client, &samples, &stop, &stopper, &progress, &acks)
    };
    let sent = |p: &Progress| p.started.load(Ordering::Relaxed);
    let summary = |name: &str,
                   mode: &str,
                   rate: Option<(f64, &str)>,
                   concurrency,
                   qps,
                   t0: Instant,
                   before: u64,
                   p: &Progress| {
        // Closes the tool's own account of this phase (CPU, memory, scheduling delay).
        observer.end_phase(name);
        PhaseSummary {
            name: name.into(),
            mode: mode.into(),
            target_rate: rate.map(|r| r.0),
            rate_unit: rate.map(|r| r.1.to_string()),
            concurrency,
            client_qps: qps,
            duration_seconds: t0.elapsed().as_secs_f64(),
            sent: sent(p) - before,
            machines_churned: None,
            skipped_missing: None,
        }
    };

    if let Some(c) = &plan.phases.create {
        let (t0, before) = (Instant::now(), sent(&progress));
        let bar = Bar::new(
            "create",
            Some(fleet.shard_objects()),
            "objects",
            progress.clone(),
            false,
            plan.log_progress,
        );
        create::run(&fleet, &make(&plan.client), c).await;
        bar.finish();
        let (mode, rate) = match c.rate {
            None => ("closed", None),
            Some(Rate::ObjectsPerSecond(r)) => ("open", Some((r, "objects/s"))),
            Some(Rate::ClustersPerSecond(r)) => ("open", Some((r, "clusters/s"))),
        };
        out.phases.push(summary(
            "create",
            mode,
            rate,
            c.concurrency,
            plan.client.qps,
            t0,
            before,
            &progress,
        ));
    }
    if let (Some(s), false) = (&plan.phases.steady, stop.is_stopped()) {
        let (t0, before) = (Instant::now(), sent(&progress));
        let scaled = ClientPlan {
            qps: s.client_qps.map(|q| q * s.time_scale),
            burst: s.client_burst,
            ..plan.client.clone()
        };
        let bar = Bar::new(
            "steady",
            Some(s.duration.as_secs()),
            "s",
            progress.clone(),
            true,
            plan.log_progress,
        );
        let r: Vec<_> = match s.controller {
            ControllerKind::Simulated => steady::run(&fleet, &make(&scaled), s)
                .await
                .into_iter()
                .map(|(w, r)| (w, r, None))
                .collect(),
            ControllerKind::Reference => {
                let conn = reference
                    .as_ref()
                    .ok_or(super::reference::ReferenceError::NoApiserver);
                let dir = plan.out_dir.clone();
                let ran = match conn {
                    Ok(conn) => {
                        let pool = plan.client.pool_size;
                        super::reference::run(&fleet, s, pool, &fleet.run_id, conn, &stop, &dir)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match ran {
                    Ok(v) => v.into_iter().map(|(w, r, m)| (w, r, Some(m))).collect(),
                    Err(e) => {
                        out.reference_error = Some(e);
                        Vec::new()
                    }
                }
            }
        };
        bar.finish();
        let mut steady = summary(
            "steady",
            "timed",
            None,
            s.wall_workers(s.concurrency),
            scaled.qps,
            t0,
            before,
            &progress,
        );
        steady.skipped_missing = Some(missing.len());
        out.phases.push(steady);
        let period = s.sync_period.as_secs_f64();
        let capacity = s.client_qps.map(|q| q * plan.client.pool_size as f64);
        // Calls one cluster costs per period, every controller together (they share the client).
        let per_cluster = f64::from(s.mix.total())
            + s.machine
                .map(|m| f64::from(m.mix.total()) * fleet.machines_per_cluster() as f64)
                .unwrap_or(0.0);
        for (which, r, measures) in r {
            let (concurrency, mix, items) = match which {
                steady::Controller::Cluster => (s.concurrency, s.mix, fleet.shard_clusters()),
                steady::Controller::Machine => {
                    let m = s
                        .machine
                        .unwrap_or(crate::profile::phases::MachineControllerPlan {
                            concurrency: 1,
                            mix: s.mix,
                        });
                    (
                        m.concurrency,
                        m.mix,
                        fleet.shard_clusters() * fleet.machines_per_cluster(),
                    )
                }
            };
            let calls = mix.total();
            out.controllers.push(ControllerSummary {
                name: which.label().into(),
                sync_period_seconds: period,
                time_scale: s.time_scale,
                wall_period_seconds: s.wall_period().as_secs_f64(),
                enqueue: format!("{:?}", s.enqueue).to_lowercase(),
                concurrency,
                wall_workers: s.wall_workers(concurrency),
                think_ms: if matches!(which, steady::Controller::Cluster) {
                    s.think.as_secs_f64() * 1000.0
                } else {
                    0.0
                },
                calls_per_reconcile: calls,
                get_calls: mix.get,
                list_calls: mix.list,
                patch_status_calls: mix.patch_status,
                events_per_second: s.events_per_second,
                items,
                clusters: fleet.shard_clusters(),
                demand_calls_per_second: (items as f64 / period + s.events_per_second)
                    * f64::from(calls),
                capacity_calls_per_second: capacity,
                predicted_breakpoint_clusters: capacity.map(|q| q * period / per_cluster),
                predicted_concurrency_breakpoint_clusters: {
                    // Per item: a Machine controller covers machines, not clusters.
                    let d = Distribution::of(&r.reconcile).mean / 1000.0;
                    let per_cluster_items =
                        (items as f64 / fleet.shard_clusters().max(1) as f64).max(1.0);
                    (r.reconciles > 0 && d > 0.0)
                        .then(|| concurrency as f64 * period / d / per_cluster_items)
                },
                reconciles: r.reconciles,
                periodic_enqueues: r.periodic_enqueues,
                event_enqueues: r.event_enqueues,
                missed_periods: r.missed_periods,
                queue_wait_ms: Distribution::of(&r.queue_wait),
                reconcile_ms: Distribution::of(&r.reconcile),
                lag_ms: Distribution::of(&r.lag),
                final_queue_depth: r.final_queue_depth,
                final_in_progress: r.final_in_progress,
                unserved_reconciles: r.unserved,
                max_queue_depth: r.max_queue_depth,
                reference: measures,
            });
            for (metric, h) in [
                ("queue_wait", &r.queue_wait),
                ("reconcile", &r.reconcile),
                ("lag", &r.lag),
            ] {
                out.histograms
                    .push((format!("controller/{}/{metric}", which.label()), h.clone()));
            }
        }
    }
    if let (Some(c), false) = (&plan.phases.churn, stop.is_stopped()) {
        let (t0, before) = (Instant::now(), sent(&progress));
        let bar = Bar::new(
            "churn",
            Some(c.duration.as_secs()),
            "s",
            progress.clone(),
            true,
            plan.log_progress,
        );
        let n = churn::run(&fleet, &make(&plan.client), c).await;
        bar.finish();
        let mut p = summary(
            "churn",
            "timed",
            None,
            c.concurrency,
            plan.client.qps,
            t0,
            before,
            &progress,
        );
        p.machines_churned = Some(n);
        out.phases.push(p);
    }
    if let (Some(d), false) = (&plan.phases.delete, stop.is_stopped()) {
        let (t0, before) = (Instant::now(), sent(&progress));
        let bar = Bar::new(
            "delete",
            Some(fleet.shard_objects()),
            "objects",
            progress.clone(),
            false,
            plan.log_progress,
        );
        delete::run(&fleet, &make(&plan.client), d).await;
        bar.finish();
        let rate = d.rate.map(|r| (r, "objects/s"));
        out.phases.push(summary(
            "delete",
            if rate.is_some() { "open" } else { "closed" },
            rate,
            d.concurrency,
            plan.client.qps,
            t0,
            before,
            &progress,
        ));
    }
    if let Some(w) = watchers {
        let (summary, lag) = w.finish().await;
        out.watch = Some(summary);
        out.histograms.push(("watch/lag".into(), lag));
    }
    out
}

/// Running watchers.
struct Watchers {
    book: Arc<AckBook>,
    counters: Arc<WatchCounters>,
    done: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    purge: tokio::task::JoinHandle<()>,
    count: usize,
    kinds: Vec<Kind>,
    per_namespace: bool,
}

fn start_watchers<T: Target>(plan: &RunPlan, load: &[T], stop: &Stop) -> Option<Watchers> {
    let w = plan.watchers.as_ref()?;
    let book = Arc::new(AckBook::new(w.kinds.clone()));
    let counters = Arc::new(WatchCounters::default());
    let (done, rx) = tokio::sync::watch::channel(false);
    let selector = format!("{}={}", model::RUN_ID_LABEL, plan.run_id);
    // A shard watches its own namespaces.
    let owned = plan.fleet.namespace_range();
    let namespaces = (owned.end - owned.start).max(1);
    let mut tasks = Vec::new();
    for kind in &w.kinds {
        let api = plan.fleet.api_ref(*kind);
        for i in 0..w.count {
            let ns = (w.per_namespace && api.namespaced).then(|| {
                plan.fleet
                    .namespace_name(owned.start + i as u64 % namespaces)
            });
            let target = load[i % load.len()].clone();
            let w = watch::Watcher {
                target,
                kind: *kind,
                api: api.clone(),
                namespace: ns,
                selector: selector.clone(),
                book: book.clone(),
                counters: counters.clone(),
                done: rx.clone(),
                stop: stop.clone(),
            };
            tasks.push(tokio::spawn(w.run()));
        }
    }
    let purge = {
        let book = book.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                book.purge();
            }
        })
    };
    Some(Watchers {
        book,
        counters,
        done,
        tasks,
        purge,
        count: w.count * w.kinds.len(),
        kinds: w.kinds.clone(),
        per_namespace: w.per_namespace,
    })
}

impl Watchers {
    /// Lets the watchers catch up with the last writes (until no event arrives for 1 s,
    /// at most 10 s), then stops them and summarises.
    async fn finish(self) -> (WatchSummary, hdrhistogram::Histogram<u64>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.book.events.load(Ordering::Relaxed);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.book.events.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
        let _ = self.done.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.purge.abort();
        let c = &self.counters;
        let lag = self.book.lag();
        let summary = WatchSummary {
            watchers: self.count,
            kinds: self.kinds.iter().map(|k| k.label().to_string()).collect(),
            scope: if self.per_namespace {
                "namespace"
            } else {
                "cluster"
            }
            .into(),
            events: self.book.events.load(Ordering::Relaxed),
            matched: self.book.matched.load(Ordering::Relaxed),
            before_ack: self.book.early.load(Ordering::Relaxed),
            lag_ms: Distribution::of(&lag),
            opened: c.opened.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            too_old_restarts: c.too_old.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        };
        (summary, lag)
    }
}
