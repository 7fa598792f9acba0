//! One logical request through the pool: wait for a token, send, retry like client-go
//! (on 429 and on 5xx carrying `Retry-After`, sleeping `Retry-After` seconds, up to
//! `max_retries` times, each attempt taking a new token), then record one [`Sample`] with
//! the first attempt's and the final outcome.

use super::pool::ClientPool;
use super::{Stop, StopHandle, StopReason};
use crate::backend::RequestError;
pub use crate::measure::Progress;
use crate::measure::{Sample, Verb};
use crate::model::Kind;
use crate::profile::OnTargetFailure;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

/// Longest Retry-After honoured (APF sends at most 32 s).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(32);

/// What a phase needs, shared by its workers.
pub struct PhaseContext<T> {
    /// The rate-limited clients.
    pub pool: Arc<ClientPool<T>>,
    /// Where samples go.
    pub samples: Sender<Sample>,
    /// Stop signal.
    pub stop: Stop,
    /// Live counters.
    pub progress: Arc<Progress>,
    /// Retries per request (0 = none).
    pub max_retries: u32,
    /// Raises the stop signal when the target fails (no answers, quota full).
    pub stopper: StopHandle,
    /// How long requests in flight may still finish after a stop.
    pub drain: Duration,
    /// Where acknowledged writes are noted for the watchers' lag measurement.
    pub acks: Option<Arc<super::watch::AckBook>>,
    /// Stop when the target fails, or back off and keep going.
    pub on_failure: OnTargetFailure,
    /// Objects whose create failed, and their dependents: later phases leave them out.
    pub missing: Arc<super::missing::MissingObjects>,
}

/// Requests in a row without any answer (or with a 5xx) after which the target counts as
/// failed.
pub const FATAL_UNANSWERED: u64 = 25;
/// First back-off after a failed request under `on_target_failure: continue`; it doubles
/// with every failure in a row up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// True for what a failed or failing target answers: nothing, or a 5xx (an apiserver
/// whose etcd is gone answers 500/503/504).
fn is_target_failure(e: &RequestError) -> bool {
    e.is_unanswered() || matches!(e, RequestError::Http { code, .. } if *code >= 500)
}
/// Default time in-flight requests get to finish after a stop.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

impl<T> Clone for PhaseContext<T> {
    fn clone(&self) -> Self {
        PhaseContext {
            pool: self.pool.clone(),
            samples: self.samples.clone(),
            stop: self.stop.clone(),
            progress: self.progress.clone(),
            max_retries: self.max_retries,
            stopper: self.stopper.clone(),
            drain: self.drain,
            acks: self.acks.clone(),
            on_failure: self.on_failure,
            missing: self.missing.clone(),
        }
    }
}

fn retry_delay(e: &RequestError) -> Option<Duration> {
    match e {
        RequestError::Http {
            code,
            retry_after: Some(s),
        } if *code == 429 || *code >= 500 => {
            Some(Duration::from_secs(u64::from(*s)).min(MAX_RETRY_AFTER))
        }
        _ => None,
    }
}

impl<T> PhaseContext<T> {
    /// Stops the run when the target is gone (many requests in a row without an answer or
    /// with a 5xx) or its storage is full; under `on_target_failure: continue` returns how
    /// long the worker backs off instead.
    fn judge_target(&self, outcome: &Result<(), RequestError>) -> Option<Duration> {
        match outcome {
            Err(RequestError::Etcd(crate::backend::EtcdError::NoSpace)) => {
                self.stopper.stop(StopReason::QuotaFull(
                    "etcd NOSPACE: mvcc: database space exceeded".into(),
                ));
                None
            }
            Err(e) if is_target_failure(e) => {
                let n = self
                    .progress
                    .consecutive_unanswered
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                match self.on_failure {
                    OnTargetFailure::Abort if n >= FATAL_UNANSWERED => {
                        self.stopper.stop(StopReason::TargetFailed(format!(
                            "{n} requests in a row failed without an answer or with a 5xx (last: {})",
                            e.label()
                        )));
                        None
                    }
                    OnTargetFailure::Abort => None,
                    OnTargetFailure::Continue => {
                        if n == FATAL_UNANSWERED {
                            tracing::warn!(
                                "the target is failing ({n} requests in a row, last: {}); continuing with back-off (on_target_failure: continue)",
                                e.label()
                            );
                        }
                        let doublings = (n - 1).min(10) as u32;
                        Some((FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF))
                    }
                }
            }
            Err(RequestError::Aborted) => None,
            _ => {
                let n = self
                    .progress
                    .consecutive_unanswered
                    .swap(0, Ordering::Relaxed);
                if n >= FATAL_UNANSWERED && self.on_failure == OnTargetFailure::Continue {
                    tracing::warn!("the target answers again after {n} failed requests in a row");
                }
                None
            }
        }
    }
}

impl<T: Clone> PhaseContext<T> {
    /// Runs `op` against pool clients with retries and records the result. Returns the
    /// final value on success. Latency counts from now (closed loop).
    pub async fn call<R, F, Fut>(
        &self,
        phase: &'static str,
        verb: Verb,
        kind: Kind,
        op: F,
    ) -> Option<R>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<R, RequestError>>,
    {
        self.call_from(Instant::now(), phase, verb, kind, op).await
    }

    /// Like [`PhaseContext::call`] for a request scheduled at `intended` (open loop): waits
    /// until then if it is still ahead, and counts latency from `intended` even when the
    /// worker got there late, so a slow target cannot hide its slowness.
    pub async fn call_from<R, F, Fut>(
        &self,
        intended: Instant,
        phase: &'static str,
        verb: Verb,
        kind: Kind,
        op: F,
    ) -> Option<R>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<R, RequestError>>,
    {
        tokio::time::sleep_until(intended).await;
        self.progress.started.fetch_add(1, Ordering::Relaxed);
        let (mut throttle_wait, mut server) = (Duration::ZERO, Duration::ZERO);
        let (mut attempts, mut responses_429) = (0u32, 0u32);
        let mut first: Option<Result<(), RequestError>> = None;
        loop {
            let t0 = Instant::now();
            let target = self.pool.acquire().await;
            let t1 = Instant::now();
            throttle_wait += t1 - t0;
            let result = {
                let mut stop = self.stop.clone();
                let drain = self.drain;
                tokio::select! {
                    // Boxed: the request's state exists only while it is sent, so a caller
                    // waiting for a token (or a reconcile holding several calls) stays small.
                    r = Box::pin(op(target.clone())) => r,
                    _ = async move { stop.stopped().await; tokio::time::sleep(drain).await } => Err(RequestError::Aborted),
                }
            };
            server += t1.elapsed();
            attempts += 1;
            let unit = result.as_ref().map(|_| ()).map_err(Clone::clone);
            if unit.as_ref().is_err_and(RequestError::is_throttled) {
                responses_429 += 1;
                self.progress.responses_429.fetch_add(1, Ordering::Relaxed);
            }
            first.get_or_insert_with(|| unit.clone());
            if let Err(e) = &unit {
                if let Some(delay) = retry_delay(e).filter(|_| attempts <= self.max_retries) {
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = stop.stopped() => {}
                    }
                }
            }
            self.progress.done.fetch_add(1, Ordering::Relaxed);
            let backoff = self.judge_target(&unit);
            if unit.is_err() {
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            let sample = Sample {
                phase,
                verb,
                kind,
                latency: intended.elapsed(),
                throttle_wait,
                server,
                attempts,
                responses_429,
                first: first.unwrap_or_else(|| unit.clone()),
                outcome: unit,
                done: Instant::now(),
            };
            // The collector outlives the workers; a closed channel only happens on shutdown.
            let _ = self.samples.send(sample).await;
            if let Some(pause) = backoff {
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.stopped() => {}
                }
            }
            return result.ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stop_signal;
    use crate::profile::ClientPlan;
    use std::sync::atomic::AtomicU64;

    #[tokio::test(start_paused = true)]
    async fn retries_429_with_retry_after_then_records_once() {
        let plan = ClientPlan {
            pool_size: 1,
            qps: None,
            burst: 0,
            timeout: Duration::from_secs(1),
            preset: None,
            max_retries: 10,
        };
        let (tx, collector) = crate::measure::channel(16);
        let (stopper, stop) = stop_signal();
        let ctx = PhaseContext {
            pool: Arc::new(ClientPool::new(vec![()], &plan)),
            samples: tx,
            stop,
            progress: Arc::new(Progress::default()),
            max_retries: 10,
            stopper,
            drain: DEFAULT_DRAIN,
            acks: None,
            on_failure: OnTargetFailure::Abort,
            missing: Default::default(),
        };
        let calls = AtomicU64::new(0);
        // Two 429s with Retry-After: 1, then success.
        let r = ctx
            .call("create", Verb::Create, Kind::Machine, |_| {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n < 2 {
                        Err(RequestError::Http {
                            code: 429,
                            retry_after: Some(1),
                        })
                    } else {
                        Ok(7)
                    }
                }
            })
            .await;
        assert_eq!(r, Some(7));
        // A 500 without Retry-After is final, like client-go.
        let r: Option<()> = ctx
            .call("create", Verb::Create, Kind::Machine, |_| async {
                Err(RequestError::http(500))
            })
            .await;
        assert_eq!(r, None);
        // 429s forever: 1 + 10 attempts, then the 429 is the final outcome.
        let r: Option<()> = ctx
            .call("create", Verb::Create, Kind::Secret, |_| async {
                Err(RequestError::Http {
                    code: 429,
                    retry_after: Some(1),
                })
            })
            .await;
        assert_eq!(r, None);
        drop(ctx);
        let m = collector
            .run(Arc::new(Progress::default()), Instant::now())
            .await;
        let s = &m.ops[&("create", Verb::Create, Kind::Machine)];
        assert_eq!(
            (
                s.sent,
                s.ok,
                s.retries,
                s.responses_429,
                s.first_attempt_throttled
            ),
            (2, 1, 2, 2, 1)
        );
        assert_eq!(s.failed["http_500"], 1);
        // Latency includes the two 1 s Retry-After sleeps (paused clock: exact).
        assert!(s.latency.max() >= 2_000_000, "{}", s.latency.max());
        let s = &m.ops[&("create", Verb::Create, Kind::Secret)];
        assert_eq!(
            (s.sent, s.throttled, s.retries, s.responses_429),
            (1, 1, 10, 11)
        );
    }
}
