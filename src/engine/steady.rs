//! The steady phase: a controller simulation. Every cluster is enqueued once per sync
//! period (spread over the period or all at once, with jitter), plus event-driven extra
//! reconciles; `concurrency` workers take clusters off a client-go-like work queue and
//! reconcile each with a mix of GET / LIST / status PATCH calls through the rate-limited
//! pool. Above the capacity N* = QPS x period / calls, the queue grows without bound.
//!
//! `time_scale` compresses the model: the wall period is `sync_period / time_scale`, the
//! caller scales the pool's QPS by the same factor and each controller runs
//! `concurrency x time_scale` workers (a reconcile's API calls and think time take real
//! time, so the worker budget must grow with the compression). The client breakpoint
//! N* = QPS x period / calls and the concurrency breakpoint N* = concurrency x period /
//! reconcile duration are then unchanged while a 10-minute period is studied in seconds.

use super::queue::{Added, WorkQueue};
use super::request::PhaseContext;
use super::tally::{Tallied, Tally};
use crate::backend::Target;
use crate::measure::Verb;
use crate::model::{self, ApiRef, FleetSpec, Kind};
use crate::profile::phases::{CallMix, SteadyPlan};
use crate::profile::EnqueueMode;
use hdrhistogram::Histogram;
use rand::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What the controller simulation measured.
#[derive(Clone, Debug)]
pub struct SteadyResult {
    /// Reconciles completed.
    pub reconciles: u64,
    /// Periodic enqueues.
    pub periodic_enqueues: u64,
    /// Event-driven enqueues.
    pub event_enqueues: u64,
    /// Periodic enqueues that found the cluster still waiting from its previous period: a
    /// whole period passed without it being reconciled.
    pub missed_periods: u64,
    /// Enqueue → reconcile start (µs).
    pub queue_wait: Histogram<u64>,
    /// Reconcile start → end (µs).
    pub reconcile: Histogram<u64>,
    /// Enqueue → reconcile end (µs): how stale an item's status gets.
    pub lag: Histogram<u64>,
    /// Items still queued when the phase ended.
    pub final_queue_depth: u64,
    /// Reconciles in progress when the phase ended (under time compression the workers
    /// are many, so a client-limited backlog waits in the client, not in the queue).
    pub final_in_progress: u64,
    /// Reconciles' worth of work owed when the phase ended: reconciles asked for (periodic
    /// and event enqueues, less the ones that coalesced) minus API calls made / calls per
    /// reconcile. Unlike an item count it does not depend on how many workers share the
    /// client, so it grows as (N - N*) x duration / period above the breakpoint.
    pub unserved: f64,
    /// Deepest queue seen.
    pub max_queue_depth: u64,
}

/// Which objects a controller reconciles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    /// Every Cluster of the shard (items are cluster indices from the shard's first).
    Cluster,
    /// Every Machine of the shard (items are cluster x machines-per-cluster + machine, the
    /// cluster counted from the shard's first).
    Machine,
}

impl Controller {
    /// `cluster` or `machine`.
    pub fn label(self) -> &'static str {
        match self {
            Controller::Cluster => "cluster",
            Controller::Machine => "machine",
        }
    }
}

/// Items whose reconciles are counted one by one (4 bytes each); later items of a larger
/// shard are treated as long reconciled (complete status).
const MAX_COUNTED_ITEMS: u64 = 1 << 24;

/// What a controller's reconciles share: where each kind is served (resolved once per
/// controller, not per call) and how often each item was reconciled, which decides how far
/// its status has grown ([`model::status_patch`]).
struct Apis {
    refs: Vec<ApiRef>,
    reconciled: Vec<AtomicU32>,
}

impl Apis {
    fn new(fleet: &FleetSpec, items: u64) -> Apis {
        Apis {
            refs: Kind::ALL.iter().map(|k| fleet.api_ref(*k)).collect(),
            reconciled: (0..items.min(MAX_COUNTED_ITEMS))
                .map(|_| AtomicU32::new(0))
                .collect(),
        }
    }

    fn of(&self, kind: Kind) -> &ApiRef {
        let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &self.refs[i]
    }

    /// Counts a reconcile of `item`; returns how many came before it.
    fn reconcile_number(&self, item: u64) -> u32 {
        usize::try_from(item)
            .ok()
            .and_then(|i| self.reconciled.get(i))
            .map_or(model::RECONCILES_TO_FULL_STATUS, |c| {
                c.fetch_add(1, Ordering::Relaxed)
            })
    }
}

/// What one reconcile reads and writes, resolved before its first call: names only, so a
/// reconcile waiting for the client holds neither the cluster's model context nor object
/// bodies (thousands of workers may wait at once when the client is the bottleneck).
struct Work {
    ns: String,
    /// Label selector of the cluster's Machines (the LISTs).
    selector: String,
    /// The GETs' objects, read in turn: the cluster's first objects (up to 16), or the
    /// Machine, its bootstrap config and provider machine.
    gets: Vec<(Kind, String)>,
    /// What the status PATCHes write: the Machine, or the Cluster.
    patched: (Kind, String),
    /// The patched object's complete status (from its model body).
    status: serde_json::Value,
}

impl Work {
    fn new(fleet: &FleetSpec, cluster: u64, machine: Option<u64>, mix: CallMix) -> Work {
        let objs = model::cluster_objects(fleet, cluster);
        let name = objs.cluster_name().to_string();
        let machine_index = machine.and_then(|m| objs.machine_index(m));
        let gettable: Vec<u32> = match machine_index {
            Some(i) => vec![i, i + 1, i + 2],
            None => (0..objs.total().min(16) as u32).collect(),
        };
        // Only the objects the GETs reach (each built once, its body dropped here).
        let gets = gettable
            .iter()
            .take(mix.get as usize)
            .filter_map(|j| objs.get(*j))
            .map(|o| (o.kind, o.name))
            .collect();
        let target = match machine_index {
            Some(i) => objs.get(i),
            None => objs.get(0).filter(|o| o.kind == Kind::Cluster),
        };
        let (patched, status) = match target {
            Some(mut o) => {
                let status = o.body.get_mut("status").map(serde_json::Value::take);
                ((o.kind, o.name), status.unwrap_or_default())
            }
            None => ((Kind::Cluster, name.clone()), serde_json::Value::Null),
        };
        Work {
            ns: objs.namespace().to_string(),
            selector: format!("{}={name}", model::CLUSTER_NAME_LABEL),
            gets,
            patched,
            status,
        }
    }
}

/// Reconciles one item: the mix of calls on its objects. Calls stop when the phase ends
/// (`end`), so a throttled reconcile does not overrun it; returns whether it finished.
#[allow(clippy::too_many_arguments)]
async fn reconcile<T: Target>(
    fleet: &FleetSpec,
    apis: &Apis,
    ctx: &PhaseContext<T>,
    which: Controller,
    mix: CallMix,
    item: u64,
    end: Instant,
    calls: &AtomicU64,
) -> bool {
    let per_cluster = fleet.machines_per_cluster().max(1);
    // Items count from the shard's first cluster.
    let base = fleet.cluster_range().start;
    let (cluster, machine) = match which {
        Controller::Cluster => (base + item, None),
        Controller::Machine => (base + item / per_cluster, Some(item % per_cluster)),
    };
    let Work {
        ns,
        selector,
        gets,
        patched: (kind, patched),
        status,
    } = Work::new(fleet, cluster, machine, mix);
    // An item whose object was never stored is not in the fleet: no reconcile (it is not a
    // duration sample either), and no GETs of missing objects.
    if ctx.missing.contains(kind, &ns, &patched) {
        return false;
    }
    let live = || !ctx.stop.is_stopped() && Instant::now() < end;
    for i in 0..mix.get {
        if !live() {
            return false;
        }
        let Some((kind, on)) = gets.get(i as usize % gets.len().max(1)) else {
            continue;
        };
        if ctx.missing.contains(*kind, &ns, on) {
            continue;
        }
        let (api, ns, on) = (apis.of(*kind), Some(ns.as_str()), on.as_str());
        ctx.call("steady", Verb::Get, *kind, |t: T| async move {
            t.get(api, ns, on).await.map(|_| ())
        })
        .await;
        calls.fetch_add(1, Ordering::Relaxed);
    }
    for _ in 0..mix.list {
        if !live() {
            return false;
        }
        let (api, ns, sel) = (apis.of(Kind::Machine), ns.as_str(), selector.as_str());
        ctx.call("steady", Verb::List, Kind::Machine, |t: T| async move {
            t.list_names(api, Some(ns), sel).await.map(|_| ())
        })
        .await;
        calls.fetch_add(1, Ordering::Relaxed);
    }
    // Every status patch of one reconcile writes the same stage of the status.
    let number = (mix.patch_status > 0).then(|| apis.reconcile_number(item));
    for _ in 0..mix.patch_status {
        if !live() {
            return false;
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch = model::status_patch(&status, number.unwrap_or_default(), &now);
        let (api, ns, n, p) = (apis.of(kind), ns.as_str(), patched.as_str(), &patch);
        // A watched kind's status write is noted with the resourceVersion it was stored
        // at, so the watch event it causes is matched to it (not counted as foreign).
        let book = ctx.acks.as_deref().filter(|b| b.watches(kind));
        ctx.call("steady", Verb::Patch, kind, |t: T| async move {
            let rv = t.patch_versioned(api, Some(ns), n, p, true).await?;
            if let (Some(book), Some(rv)) = (book, rv) {
                book.ack(kind, format!("{ns}/{n}"), rv);
            }
            Ok(())
        })
        .await;
        calls.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// Runs the phase: the Cluster controller and, if planned, the Machine controller, side by
/// side on the same client pool, for `plan.duration`.
pub async fn run<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    plan: &SteadyPlan,
) -> Vec<(Controller, SteadyResult)> {
    let t0 = Instant::now();
    let mut runs = vec![run_controller(
        fleet,
        ctx,
        plan,
        Controller::Cluster,
        fleet.shard_clusters(),
        plan.wall_workers(plan.concurrency),
        plan.mix,
        plan.think,
        t0,
    )];
    if let Some(m) = plan.machine {
        let items = fleet.shard_clusters() * fleet.machines_per_cluster();
        runs.push(run_controller(
            fleet,
            ctx,
            plan,
            Controller::Machine,
            items,
            plan.wall_workers(m.concurrency),
            m.mix,
            Duration::ZERO,
            t0,
        ));
    }
    let results = futures::future::join_all(runs).await;
    ctx.progress.queue_depth.store(0, Ordering::Relaxed);
    results
}

/// When a controller's periodic enqueues fall, per [`EnqueueMode`].
#[derive(Clone, Copy, Debug)]
struct Schedule {
    mode: EnqueueMode,
    period: Duration,
    jitter: f64,
    /// The informer's period, drawn once (`Informer` mode).
    drawn: Duration,
}

impl Schedule {
    fn new(mode: EnqueueMode, period: Duration, jitter: f64) -> Self {
        Schedule {
            mode,
            period,
            jitter,
            drawn: period.mul_f64(1.0 + draw(jitter)),
        }
    }

    /// Offset of item `c`'s (of `n`) first enqueue from the phase's start.
    fn first(&self, c: u64, n: u64) -> Duration {
        match self.mode {
            EnqueueMode::Spread => self.period.mul_f64(c as f64 / n as f64),
            EnqueueMode::Burst | EnqueueMode::Informer => Duration::ZERO,
        }
    }

    /// Gap to an item's next enqueue; `initial` when the one just made was the first, at the
    /// phase's start.
    fn next(&self, initial: bool) -> Duration {
        match self.mode {
            EnqueueMode::Spread | EnqueueMode::Burst => {
                self.period.mul_f64(1.0 + draw(self.jitter))
            }
            // A handler added to a running informer sets its next resync to add time +
            // period, while the reflector's resync clock ticks every period from the
            // informer's start: the first tick falls just before the handler is due and is
            // skipped (client-go tools/cache shared_informer.go, shouldResync).
            EnqueueMode::Informer if initial => self.drawn * 2,
            EnqueueMode::Informer => self.drawn,
        }
    }
}

/// A uniform draw in [-jitter, jitter] (0 without jitter).
fn draw(jitter: f64) -> f64 {
    if jitter > 0.0 {
        rand::rng().random_range(-jitter..=jitter)
    } else {
        0.0
    }
}

/// One controller: enqueue every item once per period, reconcile with `concurrency` workers.
#[allow(clippy::too_many_arguments)]
async fn run_controller<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    plan: &SteadyPlan,
    which: Controller,
    n: u64,
    workers: usize,
    mix: CallMix,
    think: Duration,
    t0: Instant,
) -> (Controller, SteadyResult) {
    let queue = Arc::new(WorkQueue::new());
    let end = t0 + plan.duration;
    let period = plan.wall_period();
    let max_depth = Arc::new(AtomicU64::new(0));
    let note_depth = {
        let (queue, max_depth, progress) = (queue.clone(), max_depth.clone(), ctx.progress.clone());
        let last = Arc::new(AtomicU64::new(0));
        move || {
            // The progress gauge is the sum over controllers: add this queue's change.
            let d = queue.len() as u64;
            let before = last.swap(d, Ordering::Relaxed);
            if d >= before {
                progress
                    .queue_depth
                    .fetch_add(d - before, Ordering::Relaxed);
            } else {
                progress
                    .queue_depth
                    .fetch_sub(before - d, Ordering::Relaxed);
            }
            max_depth.fetch_max(d, Ordering::Relaxed);
        }
    };
    let scheduler = {
        let (queue, stop, plan, note_depth) = (
            queue.clone(),
            ctx.stop.clone(),
            plan.clone(),
            note_depth.clone(),
        );
        tokio::spawn(async move {
            let schedule = Schedule::new(plan.enqueue, period, plan.jitter);
            let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = (0..n)
                .map(|c| Reverse((t0 + schedule.first(c, n), c)))
                .collect();
            let (mut enqueues, mut missed) = (0u64, 0u64);
            while let Some(Reverse((due, c))) = heap.pop() {
                if due >= end || stop.is_stopped() {
                    break;
                }
                tokio::time::sleep_until(due).await;
                enqueues += 1;
                if queue.add(c) == Added::AlreadyQueued {
                    missed += 1;
                }
                note_depth();
                heap.push(Reverse((due + schedule.next(due == t0), c)));
            }
            (enqueues, missed)
        })
    };

    let events = {
        let (queue, stop, note_depth) = (queue.clone(), ctx.stop.clone(), note_depth.clone());
        let per_second = plan.events_per_second * plan.time_scale;
        tokio::spawn(async move {
            let mut count = 0u64;
            if per_second <= 0.0 || n == 0 {
                return count;
            }
            let mut at = t0;
            loop {
                // Poisson arrivals: exponential gaps.
                let u: f64 = rand::rng().random_range(f64::MIN_POSITIVE..1.0);
                at += Duration::from_secs_f64(-u.ln() / per_second);
                if at >= end || stop.is_stopped() {
                    return count;
                }
                tokio::time::sleep_until(at).await;
                queue.add(rand::rng().random_range(0..n));
                note_depth();
                count += 1;
            }
        })
    };

    let busy = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let apis = Arc::new(Apis::new(fleet, n));
    let workers: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, ctx, fleet, note_depth, busy, calls, tally, apis) = (
                queue.clone(),
                ctx.clone(),
                fleet.clone(),
                note_depth.clone(),
                busy.clone(),
                calls.clone(),
                tally.clone(),
                apis.clone(),
            );
            tokio::spawn(async move {
                while let Some((c, queued_at)) = queue.get().await {
                    note_depth();
                    let start = Instant::now();
                    if start >= end || ctx.stop.is_stopped() {
                        queue.done(c);
                        break;
                    }
                    tally.started(start - queued_at);
                    busy.fetch_add(1, Ordering::Relaxed);
                    if !think.is_zero() {
                        // Time spent off the management apiserver (workload cluster,
                        // infrastructure API): it holds the worker, not the client.
                        tokio::time::sleep_until((start + think).min(end)).await;
                    }
                    // Boxed: the reconcile's state lives only while it runs, so an idle
                    // worker (most of them, under time compression) is a small task.
                    let finished = start + think <= end
                        && Box::pin(reconcile(&fleet, &apis, &ctx, which, mix, c, end, &calls))
                            .await;
                    busy.fetch_sub(1, Ordering::Relaxed);
                    // A reconcile the phase's end cut short is not a duration sample.
                    if finished {
                        tally.finished(start.elapsed(), queued_at.elapsed());
                    }
                    queue.done(c);
                }
            })
        })
        .collect();

    // End of phase: stop scheduling, then stop the workers once their reconcile finishes.
    let mut stop = ctx.stop.clone();
    tokio::select! {
        _ = tokio::time::sleep_until(end) => {},
        _ = stop.stopped() => {},
    }
    let (periodic_enqueues, missed_periods) = scheduler.await.unwrap_or((0, 0));
    let event_enqueues = events.await.unwrap_or(0);
    let final_queue_depth = queue.len() as u64;
    let final_in_progress = busy.load(Ordering::Relaxed);
    let calls_by_end = calls.load(Ordering::Relaxed) as f64;
    queue.shut_down();
    for w in workers {
        let _ = w.await;
    }
    let Tallied {
        queue_wait,
        reconcile,
        lag,
        reconciles,
    } = tally.take();
    let r = SteadyResult {
        reconciles,
        periodic_enqueues,
        event_enqueues,
        missed_periods,
        queue_wait,
        reconcile,
        lag,
        final_queue_depth,
        final_in_progress,
        unserved: ((periodic_enqueues + event_enqueues).saturating_sub(missed_periods) as f64
            - calls_by_end / f64::from(mix.total().max(1)))
        .max(0.0),
        max_queue_depth: max_depth.load(Ordering::Relaxed),
    };
    (which, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Duration = Duration::from_secs(30);

    #[test]
    fn spread_staggers_the_first_enqueues_over_the_period() {
        let s = Schedule::new(EnqueueMode::Spread, P, 0.0);
        assert_eq!(s.first(0, 4), Duration::ZERO);
        assert_eq!(s.first(2, 4), P / 2);
        assert_eq!((s.next(true), s.next(false)), (P, P));
    }

    #[test]
    fn an_informer_lists_everything_then_skips_one_resync_tick() {
        let s = Schedule::new(EnqueueMode::Informer, P, 0.0);
        assert_eq!(
            (s.first(0, 4), s.first(3, 4)),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(
            s.next(true),
            2 * P,
            "first resync two periods after the list"
        );
        assert_eq!(s.next(false), P);
    }

    #[test]
    fn an_informer_draws_its_period_once() {
        let s = Schedule::new(EnqueueMode::Informer, P, 0.1);
        let gaps: Vec<Duration> = (0..20).map(|_| s.next(false)).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "{gaps:?}");
        assert!(gaps[0] >= P.mul_f64(0.9) && gaps[0] <= P.mul_f64(1.1));
        let b = Schedule::new(EnqueueMode::Burst, P, 0.1);
        let drawn: Vec<Duration> = (0..50).map(|_| b.next(false)).collect();
        assert!(
            drawn.iter().any(|g| *g != drawn[0]),
            "burst draws per period"
        );
    }
}
