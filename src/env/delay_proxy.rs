//! `local.etcd_rtt_ms`: a TCP proxy that delays every byte by a fixed one-way time, in
//! both directions, to put network latency between kube-apiserver and etcd and between
//! etcd members on loopback (where a kernel without `sch_netem` offers no `tc qdisc netem`).
//!
//! Each direction of a connection is two tasks: a reader that stamps every chunk it reads
//! with its arrival time and queues it, and a writer that sends each chunk once its arrival
//! time plus the delay has passed. Chunks leave in the order they came (one queue per
//! direction), and the reader never waits for the writer's delay: the delay adds latency,
//! not a bandwidth limit (up to [`CHUNKS_IN_FLIGHT`] chunks of up to [`CHUNK_BYTES`] are in
//! flight per direction, 4 MiB, far above what a delay of milliseconds needs at loopback
//! rates; beyond that the reader waits, which is TCP's own back-pressure).
//!
//! The proxies run on a runtime of their own (two worker threads), so their timing does not
//! depend on how busy the caller's runtime is. tokio's timer fires on millisecond ticks and
//! rounds up, so a wait is a timer sleep to within a timer tick (2 ms) of the deadline and then a
//! precise thread sleep for the rest (`block_in_place`, which hands the worker's other tasks
//! to another thread meanwhile): a delay of 50 µs stays about 50 µs, not 1 ms.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest chunk read at once.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks queued per direction before the reader waits.
pub const CHUNKS_IN_FLIGHT: usize = 64;
/// Below this much time left, a wait sleeps the thread instead of using tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(2);

/// A set of delaying proxies sharing one runtime. Dropping it closes every listener and
/// every proxied connection.
pub struct DelayProxies {
    runtime: Option<tokio::runtime::Runtime>,
    one_way: Duration,
}

impl DelayProxies {
    /// A set whose proxies delay each direction by `one_way`.
    pub fn new(one_way: Duration) -> std::io::Result<DelayProxies> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("delay-proxy")
            .enable_all()
            .build()?;
        Ok(DelayProxies {
            runtime: Some(runtime),
            one_way,
        })
    }

    /// The one-way delay of every proxy in the set.
    pub fn one_way(&self) -> Duration {
        self.one_way
    }

    /// Listens on a free 127.0.0.1 port and forwards every connection to `upstream`
    /// (connected when a client arrives, so the upstream may start later). Returns the
    /// listening address.
    pub fn add(&self, upstream: SocketAddr) -> std::io::Result<SocketAddr> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| std::io::Error::other("proxies stopped"))?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let delay = self.one_way;
        rt.spawn(async move {
            let Ok(listener) = TcpListener::from_std(std_listener) else {
                return;
            };
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, delay), pump(sr, cw, delay));
                });
            }
        });
        Ok(addr)
    }
}

impl Drop for DelayProxies {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Sleeps until `deadline`: tokio's timer for the bulk, a thread sleep for the last part.
async fn wait_until(deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    if left > TIMER_TICK {
        tokio::time::sleep(left - TIMER_TICK).await;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        tokio::task::block_in_place(|| std::thread::sleep(left));
    }
}

/// Copies `from` to `to`, each chunk leaving `delay` after it arrived; a closed read side
/// is passed on (after the delay) as a closed write side.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(CHUNKS_IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let chunk = match from.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            };
            let end = chunk.is_none();
            if tx.send((Instant::now(), chunk)).await.is_err() || end {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((arrived, chunk)) = rx.recv().await {
            wait_until(arrived + delay).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server on a free port (a thread per connection); returns its address.
    fn echo_server() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let _ = s.set_nodelay(true);
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(s: &mut std::net::TcpStream) -> Duration {
        let t0 = Instant::now();
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        t0.elapsed()
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    #[test]
    fn every_round_trip_takes_at_least_twice_the_one_way_delay() {
        let one_way = Duration::from_millis(5);
        let proxies = DelayProxies::new(one_way).unwrap();
        let addr = proxies.add(echo_server()).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let rtts: Vec<Duration> = (0..20).map(|_| round_trip(&mut s)).collect();
        // Each direction waits at least the delay: no round trip may be shorter.
        for r in &rtts {
            assert!(*r >= 2 * one_way, "round trip {r:?} under 2 x {one_way:?}");
        }
        // And the delay is what is added, not a multiple of it (a generous bound for a
        // busy shared machine).
        let m = median(rtts);
        assert!(m < 2 * one_way + Duration::from_millis(8), "median {m:?}");
    }

    #[test]
    fn a_sub_millisecond_delay_is_not_rounded_up_to_the_timer_tick() {
        let proxies = DelayProxies::new(Duration::from_micros(50)).unwrap();
        let addr = proxies.add(echo_server()).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let rtts: Vec<Duration> = (0..50).map(|_| round_trip(&mut s)).collect();
        assert!(rtts.iter().all(|r| *r >= Duration::from_micros(100)));
        // tokio's timer alone would make this at least 2 ms (one tick each way).
        let m = median(rtts);
        assert!(m < Duration::from_micros(1500), "median {m:?}");
    }

    #[test]
    fn bytes_arrive_complete_and_in_order_without_a_bandwidth_limit() {
        let one_way = Duration::from_millis(50);
        let proxies = DelayProxies::new(one_way).unwrap();
        let addr = proxies.add(echo_server()).unwrap();
        let s = std::net::TcpStream::connect(addr).unwrap();
        let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut w = s.try_clone().unwrap();
        let sent = data.clone();
        let t0 = Instant::now();
        let writer = std::thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        let mut r = s;
        r.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        let took = t0.elapsed();
        assert!(back == data, "the echoed bytes differ from the sent ones");
        // A proxy that paid the delay per chunk (at least 128 chunks of 64 KiB, 50 ms each,
        // both ways) would need over 12 s; pipelined it is the delay plus the copying.
        assert!(took >= 2 * one_way, "took {took:?}");
        assert!(took < Duration::from_secs(4), "took {took:?}");
    }
}
