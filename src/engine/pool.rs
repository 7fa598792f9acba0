//! The client pool: N clients, each with its own token bucket (`qps` refill, `burst`
//! capacity, starting full), like N client-go `rest.Config`s. Requests take clients
//! round-robin; the time spent waiting for a token is the client-side throttle wait.

use crate::profile::ClientPlan;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A token bucket that hands out reservations, like golang.org/x/time/rate's `Wait` that
/// client-go's limiter uses: each caller takes the next free slot under a lock and sleeps
/// until exactly that slot. Waiters are served in order and each sleeps once, so a
/// hundred waiting workers cost a hundred timers, not a hundred wake-ups per token
/// (generic cell-rate algorithm: emission interval 1/qps, tolerance burst - 1 intervals).
pub struct Bucket {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next request (None: never used, bucket full).
    tat: Mutex<Option<Instant>>,
}

impl Bucket {
    /// A full bucket of `burst` tokens refilled at `qps`.
    pub fn new(qps: f64, burst: u32) -> Bucket {
        let interval = Duration::from_secs_f64(1.0 / qps).max(Duration::from_nanos(1));
        Bucket {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            tat: Mutex::new(None),
        }
    }

    /// Reserves the next token: the instant the caller may send (now, if a token is free).
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let t = tat.unwrap_or(now).max(now);
        let at = now.max(t.checked_sub(self.tolerance).unwrap_or(now));
        *tat = Some(t.max(at) + self.interval);
        at
    }

    /// Waits for a token.
    pub async fn until_ready(&self) {
        let at = self.reserve(Instant::now());
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }
}

struct PoolClient<T> {
    target: T,
    limiter: Option<Bucket>,
}

/// A pool of rate-limited clients over targets of type `T`.
pub struct ClientPool<T> {
    clients: Vec<PoolClient<T>>,
    next: AtomicUsize,
}

fn limiter(qps: Option<f64>, burst: u32) -> Option<Bucket> {
    let qps = qps.filter(|q| q.is_finite() && *q > 0.0)?;
    Some(Bucket::new(qps, burst))
}

impl<T> ClientPool<T> {
    /// One pool client per target, each limited by `plan.qps` / `plan.burst`.
    pub fn new(targets: Vec<T>, plan: &ClientPlan) -> ClientPool<T> {
        let clients = targets
            .into_iter()
            .map(|target| PoolClient {
                target,
                limiter: limiter(plan.qps, plan.burst),
            })
            .collect();
        ClientPool {
            clients,
            next: AtomicUsize::new(0),
        }
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// True when the pool has no clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Picks the next client and waits until its bucket has a token.
    pub async fn acquire(&self) -> &T {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let c = &self.clients[i];
        if let Some(l) = &c.limiter {
            l.until_ready().await;
        }
        &c.target
    }

    /// The first client, without waiting (set-up calls that are not part of the load).
    pub fn first(&self) -> &T {
        &self.clients[0].target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn plan(qps: Option<f64>, burst: u32, pool: usize) -> ClientPlan {
        ClientPlan {
            pool_size: pool,
            qps,
            burst,
            timeout: Duration::from_secs(1),
            preset: None,
            max_retries: 10,
        }
    }

    #[test]
    fn bucket_starts_full_with_burst_tokens() {
        let l = limiter(Some(2.0), 5).unwrap();
        let now = tokio::time::Instant::now();
        for _ in 0..5 {
            assert_eq!(l.reserve(now), now, "a burst token is free");
        }
        // Then one token every 500 ms, in order.
        assert_eq!(l.reserve(now), now + Duration::from_millis(500));
        assert_eq!(l.reserve(now), now + Duration::from_millis(1000));
        // Idle time refills the bucket, never beyond the burst.
        let later = now + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(l.reserve(later), later);
        }
        assert!(
            l.reserve(later) > later,
            "the 6th token must not be there yet"
        );
        assert!(limiter(None, 0).is_none(), "qps -1 means no limiter");
    }

    #[tokio::test]
    async fn refills_at_qps() {
        // 20 qps, burst 5: the 5 tokens after the burst cannot arrive before 250 ms.
        let p = ClientPool::new(vec![()], &plan(Some(20.0), 5, 1));
        let t = Instant::now();
        for _ in 0..10 {
            p.acquire().await;
        }
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(240), "{e:?}");
    }

    #[tokio::test]
    async fn pool_round_robins() {
        let p = ClientPool::new(vec![0u8, 1, 2], &plan(None, 0, 3));
        let got: Vec<u8> =
            futures::future::join_all((0..6).map(|_| async { *p.acquire().await })).await;
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }
}
