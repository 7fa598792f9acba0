//! Watchers: W long-lived watches held for the whole run, as controllers' informers hold
//! them (the watch count is one of the axes a management cluster scales along). Each measures the event delivery lag: from
//! the moment a write was acknowledged to the moment the watch delivered that object at
//! that resourceVersion. Watches resume from the last resourceVersion seen after a
//! disconnect, and restart from the current version when it is too old (410 / compaction).

use super::Stop;
use crate::backend::{Target, WatchItem};
use crate::measure::new_histogram;
use crate::model::{ApiRef, Kind};
use futures::StreamExt;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long an acknowledged write waits to be matched before it is forgotten.
const ACK_TTL: Duration = Duration::from_secs(120);

enum Entry {
    /// The write was acknowledged at this time.
    Acked(Instant),
    /// Watches delivered it this many times before the acknowledgement arrived.
    Seen(u32, Instant),
}

/// Matches write acknowledgements with watch events; keeps the lag histogram.
pub struct AckBook {
    kinds: Vec<Kind>,
    entries: Mutex<HashMap<(Kind, String, String), Entry>>,
    lag: Mutex<Histogram<u64>>,
    /// Events delivered before their write was acknowledged (lag recorded as 0).
    pub early: AtomicU64,
    /// Events matched to a write.
    pub matched: AtomicU64,
    /// Events delivered in total.
    pub events: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AckBook {
    /// A book for writes of `kinds`.
    pub fn new(kinds: Vec<Kind>) -> AckBook {
        AckBook {
            kinds,
            entries: Mutex::new(HashMap::new()),
            lag: Mutex::new(new_histogram()),
            early: AtomicU64::new(0),
            matched: AtomicU64::new(0),
            events: AtomicU64::new(0),
        }
    }

    /// True when writes of `kind` are watched.
    pub fn watches(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    fn record(&self, d: Duration) {
        let _ = lock(&self.lag).record(crate::measure::micros(d));
        self.matched.fetch_add(1, Ordering::Relaxed);
    }

    /// A write of `key` (`ns/name`) at `rv` was acknowledged now.
    pub fn ack(&self, kind: Kind, key: String, rv: String) {
        let now = Instant::now();
        let mut e = lock(&self.entries);
        // Later deliveries (other watches) measure from now on.
        if let Some(Entry::Seen(n, _)) = e.insert((kind, key, rv), Entry::Acked(now)) {
            drop(e);
            for _ in 0..n {
                self.record(Duration::ZERO);
            }
        }
    }

    /// A watch delivered `key` at `rv` now.
    pub fn seen(&self, kind: Kind, key: String, rv: String) {
        let now = Instant::now();
        self.events.fetch_add(1, Ordering::Relaxed);
        let mut e = lock(&self.entries);
        let k = (kind, key, rv);
        match e.get_mut(&k) {
            Some(Entry::Acked(at)) => {
                let d = now.saturating_duration_since(*at);
                drop(e);
                self.record(d);
            }
            Some(Entry::Seen(n, _)) => {
                *n += 1;
                self.early.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.early.fetch_add(1, Ordering::Relaxed);
                e.insert(k, Entry::Seen(1, now));
            }
        }
    }

    /// Forgets entries older than the TTL (writes nobody watches, events of foreign writes).
    pub fn purge(&self) {
        let now = Instant::now();
        lock(&self.entries).retain(|_, v| match v {
            Entry::Acked(t) | Entry::Seen(_, t) => now.saturating_duration_since(*t) < ACK_TTL,
        });
    }

    /// The lag histogram so far.
    pub fn lag(&self) -> Histogram<u64> {
        lock(&self.lag).clone()
    }
}

/// Counters of the watchers.
#[derive(Debug, Default)]
pub struct WatchCounters {
    /// Watch streams opened (first opens and re-opens).
    pub opened: AtomicU64,
    /// Re-opens after a stream ended or failed, resuming from the last resourceVersion.
    pub reconnects: AtomicU64,
    /// Restarts because the resourceVersion was too old (410 Gone / compacted).
    pub too_old: AtomicU64,
    /// Stream errors.
    pub errors: AtomicU64,
}

/// One watcher: watches `api` (in `namespace`, or everywhere) until `done` or `stop`.
pub struct Watcher<T> {
    /// The client it watches through.
    pub target: T,
    /// Kind watched.
    pub kind: Kind,
    /// Where that kind is served.
    pub api: ApiRef,
    /// One namespace, or None for all.
    pub namespace: Option<String>,
    /// Label selector (the run's objects).
    pub selector: String,
    /// Where write acknowledgements are matched.
    pub book: Arc<AckBook>,
    /// Shared counters.
    pub counters: Arc<WatchCounters>,
    /// Flips to true when the run is over.
    pub done: tokio::sync::watch::Receiver<bool>,
    /// The run's stop signal.
    pub stop: Stop,
}

impl<T: Target> Watcher<T> {
    /// Watches until the run is over, resuming after disconnects.
    pub async fn run(self) {
        let Watcher {
            target,
            kind,
            api,
            namespace,
            selector,
            book,
            counters,
            mut done,
            stop,
        } = self;
        let ns = namespace.as_deref();
        let mut rv: Option<String> = None;
        let mut first = true;
        while !*done.borrow() && !stop.is_stopped() {
            let from = match &rv {
                Some(v) => v.clone(),
                None => match target.current_version(&api, ns).await {
                    Ok(v) => v,
                    Err(_) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            if !first {
                counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            let mut stream = match target.watch(&api, ns, &selector, &from).await {
                Ok(s) => s,
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            counters.opened.fetch_add(1, Ordering::Relaxed);
            rv = Some(from);
            loop {
                let item = tokio::select! {
                    i = stream.next() => i,
                    _ = done.changed() => None,
                };
                match item {
                    None => break,
                    Some(Ok(WatchItem::Changed {
                        key,
                        resource_version,
                    })) => {
                        rv = Some(resource_version.clone());
                        book.seen(kind, key, resource_version);
                    }
                    Some(Ok(
                        WatchItem::Deleted { resource_version }
                        | WatchItem::Bookmark { resource_version },
                    )) => rv = Some(resource_version),
                    Some(Ok(WatchItem::Gone)) => {
                        counters.too_old.fetch_add(1, Ordering::Relaxed);
                        rv = None;
                        break;
                    }
                    Some(Err(_)) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_events_before_and_after_the_ack() {
        let b = AckBook::new(vec![Kind::Machine]);
        // Two watches deliver before the write's answer, one after.
        b.seen(Kind::Machine, "ns/m".into(), "7".into());
        b.seen(Kind::Machine, "ns/m".into(), "7".into());
        b.ack(Kind::Machine, "ns/m".into(), "7".into());
        b.seen(Kind::Machine, "ns/m".into(), "7".into());
        assert_eq!(b.matched.load(Ordering::Relaxed), 3);
        assert_eq!(b.early.load(Ordering::Relaxed), 2);
        assert_eq!(b.events.load(Ordering::Relaxed), 3);
        assert_eq!(b.lag().len(), 3);
        // A foreign event never matches.
        b.seen(Kind::Machine, "ns/other".into(), "9".into());
        assert_eq!(b.matched.load(Ordering::Relaxed), 3);
        assert!(b.watches(Kind::Machine) && !b.watches(Kind::Cluster));
    }
}
