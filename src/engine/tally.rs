//! A controller's reconcile measurements, shared by all of its workers: one set of
//! histograms (queue wait, reconcile duration, lag) whatever the number of workers.
//!
//! Under time compression a controller runs `concurrency x time_scale` workers (2,000 for a
//! concurrency of 50 compressed 40x). A full-range histogram ([`new_histogram`]: 1 µs to
//! one hour at 3 significant digits) is about 180 KB, so three per worker cost half a
//! megabyte each; three per controller cost the same at 10 workers as at 2,000. Recording
//! takes a lock twice per reconcile (start, end): a few tens of nanoseconds against the
//! reconcile's own API calls, each tens of microseconds of CPU, so one lock per controller
//! is cheaper than sharding and the values are exactly those per-worker histograms merged.

use crate::measure::{micros, new_histogram};
use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::time::Duration;

/// What a controller's workers measured, once they are done.
#[derive(Clone, Debug)]
pub struct Tallied {
    /// Enqueue → reconcile start (µs).
    pub queue_wait: Histogram<u64>,
    /// Reconcile start → end (µs), finished reconciles only.
    pub reconcile: Histogram<u64>,
    /// Enqueue → reconcile end (µs), finished reconciles only.
    pub lag: Histogram<u64>,
    /// Reconciles finished.
    pub reconciles: u64,
}

impl Default for Tallied {
    fn default() -> Self {
        Tallied {
            queue_wait: new_histogram(),
            reconcile: new_histogram(),
            lag: new_histogram(),
            reconciles: 0,
        }
    }
}

/// The shared recorder: workers call [`Tally::started`] and [`Tally::finished`].
#[derive(Debug, Default)]
pub struct Tally {
    inner: Mutex<Tallied>,
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tallied> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A reconcile started after waiting `queue_wait` in the queue.
    pub fn started(&self, queue_wait: Duration) {
        let _ = self.lock().queue_wait.record(micros(queue_wait));
    }

    /// A reconcile finished: it took `took`, `lag` after its item was queued.
    pub fn finished(&self, took: Duration, lag: Duration) {
        let mut t = self.lock();
        let _ = t.reconcile.record(micros(took));
        let _ = t.lag.record(micros(lag));
        t.reconciles += 1;
    }

    /// Everything recorded so far, leaving the tally empty.
    pub fn take(&self) -> Tallied {
        std::mem::take(&mut *self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn shared_recording_equals_merged_per_worker_histograms() {
        // The same samples recorded by 8 threads into one tally, and into one histogram
        // set per worker merged afterwards (the per-worker way): identical results.
        let sample = |w: u64, i: u64| {
            (
                Duration::from_micros(1 + (w * 7919 + i * 104_729) % 5_000_000),
                Duration::from_micros(3 + (w * 31 + i * 2_654_435_761) % 90_000_000),
            )
        };
        let tally = Arc::new(Tally::default());
        let threads: Vec<_> = (0..8u64)
            .map(|w| {
                let tally = tally.clone();
                std::thread::spawn(move || {
                    let mut own = Tallied::default();
                    for i in 0..2_000u64 {
                        let (wait, took) = sample(w, i);
                        tally.started(wait);
                        let _ = own.queue_wait.record(micros(wait));
                        if i % 3 != 0 {
                            tally.finished(took, wait + took);
                            let _ = own.reconcile.record(micros(took));
                            let _ = own.lag.record(micros(wait + took));
                            own.reconciles += 1;
                        }
                    }
                    own
                })
            })
            .collect();
        let mut merged = Tallied::default();
        for t in threads {
            let own = t.join().unwrap();
            merged.queue_wait.add(&own.queue_wait).unwrap();
            merged.reconcile.add(&own.reconcile).unwrap();
            merged.lag.add(&own.lag).unwrap();
            merged.reconciles += own.reconciles;
        }
        let got = tally.take();
        assert_eq!(got.reconciles, merged.reconciles);
        assert_eq!(got.reconciles, 8 * 1_333);
        assert_eq!(got.queue_wait.len(), 8 * 2_000);
        for (a, b) in [
            (&got.queue_wait, &merged.queue_wait),
            (&got.reconcile, &merged.reconcile),
            (&got.lag, &merged.lag),
        ] {
            assert_eq!(a, b);
            assert_eq!(a.value_at_quantile(0.99), b.value_at_quantile(0.99));
            assert_eq!((a.min(), a.max(), a.mean()), (b.min(), b.max(), b.mean()));
        }
        // The bounds are the tool's: an hour-long lag is recorded, not dropped.
        tally.finished(Duration::from_secs(3_000), Duration::from_secs(3_599));
        assert_eq!(tally.take().lag.len(), 1);
        assert!(tally.take().queue_wait.is_empty(), "take leaves it empty");
    }
}
