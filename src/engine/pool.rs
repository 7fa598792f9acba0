//! The client pool: N clients, each with its own token bucket (`qps` refill, `burst`
//! capacity, starting full), like N client-go `rest.Config`s. Requests take clients
//! round-robin; the time spent waiting for a token is the client-side throttle wait.

use crate::profile::ClientPlan;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct PoolClient<T> {
    target: T,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// A pool of rate-limited clients over targets of type `T`.
pub struct ClientPool<T> {
    clients: Vec<PoolClient<T>>,
    next: AtomicUsize,
}

fn limiter(qps: Option<f64>, burst: u32) -> Option<DefaultDirectRateLimiter> {
    let qps = qps?;
    let period = Duration::from_secs_f64(1.0 / qps).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)?.allow_burst(burst);
    Some(RateLimiter::direct(quota))
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
        for _ in 0..5 {
            assert!(l.check().is_ok());
        }
        assert!(l.check().is_err(), "the 6th token must not be there yet");
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
