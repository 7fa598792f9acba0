//! Every etcd member's own `/metrics`, read once a second during a run on an etcd cluster
//! (`local.etcd_members`): leader changes each member saw
//! (`etcd_server_leader_changes_seen_total`), failed proposals
//! (`etcd_server_proposals_failed_total`) and the write latency members served
//! (`grpc_server_handling_seconds` of the KV service's `Txn` and `Put`, which etcd exports
//! with `--metrics=extensive`; kube-apiserver writes through `Txn`).
//!
//! A killed or stopped member does not answer: its last reading stands in until it answers
//! again. A restarted member starts its counters from zero; a reading below the last one
//! is taken as a restart and the last value is kept as an offset, so every member's
//! counts only grow.

use super::exposition::{Scrape, Value};
use super::metrics::{quantile_of_delta, Buckets};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// One member's cumulative readings (offsets for restarts applied).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberReading {
    /// Leader changes it saw.
    pub leader_changes: f64,
    /// Proposals that failed on it.
    pub proposals_failed: f64,
    /// Its KV write latency histogram (seconds).
    pub writes: Buckets,
}

/// One second of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberPoint {
    /// Seconds since the load started.
    pub second: f64,
    /// Write p99 over every member that answered (ms; none without writes).
    pub write_p99_ms: Option<f64>,
    /// Leader changes in the interval (the most any member saw).
    pub leader_changes: f64,
    /// Failed proposals in the interval (all members).
    pub proposals_failed: f64,
    /// Members that answered.
    pub members_answering: u32,
}

/// What the poller saw.
#[derive(Clone, Debug, Default)]
pub struct MemberSeries {
    /// One point per interval.
    pub points: Vec<MemberPoint>,
    /// Each member's first and last reading (by index).
    pub first: Vec<Option<MemberReading>>,
    /// Each member's last reading.
    pub last: Vec<Option<MemberReading>>,
    /// Readings that failed, by member index.
    pub failed_reads: Vec<u64>,
}

fn keep(line: &str) -> bool {
    line.starts_with("# TYPE grpc_server_handling_seconds ")
        || line.starts_with("etcd_server_leader_changes_seen_total")
        || line.starts_with("etcd_server_proposals_failed_total")
        || (line.starts_with("grpc_server_handling_seconds_bucket")
            && line.contains("grpc_service=\"etcdserverpb.KV\"")
            && (line.contains("grpc_method=\"Txn\"") || line.contains("grpc_method=\"Put\"")))
}

/// Reads one member's exposition.
pub fn reading(text: &str) -> MemberReading {
    let s: Scrape = super::exposition::parse(text, keep);
    let mut r = MemberReading::default();
    for x in &s.samples {
        match (x.metric.as_str(), &x.value) {
            ("etcd_server_leader_changes_seen_total", v) => r.leader_changes = value(v),
            ("etcd_server_proposals_failed_total", v) => r.proposals_failed = value(v),
            ("grpc_server_handling_seconds", Value::Histogram(h)) => {
                for b in h {
                    match r.writes.iter_mut().find(|(le, _)| *le == b.less_than) {
                        Some(e) => e.1 += b.count,
                        None => r.writes.push((b.less_than, b.count)),
                    }
                }
                r.writes.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            _ => {}
        }
    }
    r
}

fn value(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        Value::Histogram(_) => 0.0,
    }
}

/// Whether `new` comes from a restarted process: a counter below the last raw reading.
fn restarted(last_raw: &MemberReading, new: &MemberReading) -> bool {
    let total = |r: &MemberReading| r.writes.iter().map(|b| b.1).fold(0.0, f64::max);
    new.leader_changes < last_raw.leader_changes
        || new.proposals_failed < last_raw.proposals_failed
        || total(new) < total(last_raw)
}

/// `a + b`, counter by counter and bucket by bucket.
fn plus(a: &MemberReading, b: &MemberReading) -> MemberReading {
    let mut writes = a.writes.clone();
    for (le, c) in &b.writes {
        match writes.iter_mut().find(|(l, _)| l == le) {
            Some(e) => e.1 += c,
            None => writes.push((*le, *c)),
        }
    }
    writes.sort_by(|x, y| x.0.total_cmp(&y.0));
    MemberReading {
        leader_changes: a.leader_changes + b.leader_changes,
        proposals_failed: a.proposals_failed + b.proposals_failed,
        writes,
    }
}

/// One member's counters across restarts: its raw readings plus what its earlier
/// processes had counted.
#[derive(Clone, Debug, Default)]
struct Continued {
    last_raw: Option<MemberReading>,
    offset: MemberReading,
}

impl Continued {
    /// The member's cumulative reading given a new raw one.
    fn next(&mut self, raw: MemberReading) -> MemberReading {
        if let Some(last) = self.last_raw.take() {
            if restarted(&last, &raw) {
                self.offset = plus(&self.offset, &last);
            }
        }
        let out = plus(&self.offset, &raw);
        self.last_raw = Some(raw);
        out
    }
}

/// How long a member's `/metrics` may take to answer.
pub const MEMBER_ANSWER_DEADLINE: Duration = Duration::from_millis(800);

/// A member's `/metrics`; a stopped member (SIGSTOP) accepts the connection and never
/// answers, so the wait is short, well inside one poll interval.
pub async fn read_member(url: &str) -> Result<String, String> {
    tokio::time::timeout(MEMBER_ANSWER_DEADLINE, super::scrape::http_get(url))
        .await
        .map_err(|_| format!("{url}: no answer within {MEMBER_ANSWER_DEADLINE:?}"))?
}

fn sum_buckets(rs: &[Option<MemberReading>]) -> Buckets {
    let mut out: Buckets = Vec::new();
    for r in rs.iter().flatten() {
        for (le, c) in &r.writes {
            match out.iter_mut().find(|(l, _)| l == le) {
                Some(e) => e.1 += c,
                None => out.push((*le, *c)),
            }
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The interval between two sets of readings.
pub fn point(
    second: f64,
    prev: &[Option<MemberReading>],
    cur: &[Option<MemberReading>],
    answering: u32,
) -> MemberPoint {
    let pairs = || {
        prev.iter()
            .zip(cur)
            .filter_map(|(a, b)| Some((a.as_ref()?, b.as_ref()?)))
    };
    let writes = sum_buckets(cur);
    MemberPoint {
        second,
        write_p99_ms: quantile_of_delta(Some(&sum_buckets(prev)), &writes, 0.99)
            .map(|s| s * 1000.0),
        leader_changes: pairs()
            .map(|(a, b)| (b.leader_changes - a.leader_changes).max(0.0))
            .fold(0.0, f64::max),
        proposals_failed: pairs()
            .map(|(a, b)| (b.proposals_failed - a.proposals_failed).max(0.0))
            .sum(),
        members_answering: answering,
    }
}

/// [`read_member`] of an owned URL (a future that borrows nothing).
pub async fn read_owned(url: String) -> Result<String, String> {
    read_member(&url).await
}

/// Reads every member's `/metrics` each `interval` until `done` turns true (then once more).
pub async fn poll(
    urls: Vec<String>,
    interval: Duration,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> MemberSeries {
    let n = urls.len();
    let mut s = MemberSeries {
        failed_reads: vec![0; n],
        last: vec![None; n],
        ..Default::default()
    };
    let mut counters = vec![Continued::default(); n];
    let start = Instant::now();
    loop {
        let reads: Vec<_> = urls.iter().map(|u| read_owned(u.clone())).collect();
        let reads = futures::future::join_all(reads).await;
        let mut cur = s.last.clone();
        let mut answering = 0;
        for (i, r) in reads.into_iter().enumerate() {
            match r {
                Ok(text) => {
                    answering += 1;
                    cur[i] = Some(counters[i].next(reading(&text)));
                }
                Err(_) => s.failed_reads[i] += 1,
            }
        }
        if s.first.is_empty() {
            s.first = cur.clone();
        } else {
            s.points.push(point(
                start.elapsed().as_secs_f64(),
                &s.last,
                &cur,
                answering,
            ));
        }
        // A member first seen later (it was down at the start) starts its account then.
        for (f, c) in s.first.iter_mut().zip(&cur) {
            if f.is_none() {
                f.clone_from(c);
            }
        }
        s.last = cur;
        if *done.borrow() {
            return s;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            r = done.changed() => if r.is_err() { return s; },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE etcd_server_leader_changes_seen_total counter
etcd_server_leader_changes_seen_total 2
# TYPE etcd_server_proposals_failed_total counter
etcd_server_proposals_failed_total 1
# TYPE grpc_server_handling_seconds histogram
grpc_server_handling_seconds_bucket{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\",le=\"0.005\"} 100
grpc_server_handling_seconds_bucket{grpc_method=\"Txn\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\",le=\"0.005\"} 3
grpc_server_handling_seconds_bucket{grpc_method=\"Txn\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\",le=\"0.01\"} 4
grpc_server_handling_seconds_bucket{grpc_method=\"Txn\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\",le=\"+Inf\"} 4
";

    #[test]
    fn reads_writes_but_not_reads_and_the_counters() {
        let r = reading(TEXT);
        assert_eq!((r.leader_changes, r.proposals_failed), (2.0, 1.0));
        assert_eq!(
            r.writes,
            vec![(0.005, 3.0), (0.01, 4.0), (f64::INFINITY, 4.0)]
        );
    }

    #[test]
    fn a_restarted_member_keeps_counting_from_its_last_reading() {
        let last = MemberReading {
            leader_changes: 3.0,
            proposals_failed: 5.0,
            writes: vec![(0.005, 10.0), (f64::INFINITY, 10.0)],
        };
        let fresh = MemberReading {
            leader_changes: 1.0,
            proposals_failed: 0.0,
            writes: vec![(0.005, 1.0), (f64::INFINITY, 2.0)],
        };
        let mut counters = Continued::default();
        assert_eq!(counters.next(last.clone()), last);
        let c = counters.next(fresh.clone());
        assert_eq!((c.leader_changes, c.proposals_failed), (4.0, 5.0));
        assert_eq!(c.writes, vec![(0.005, 11.0), (f64::INFINITY, 12.0)]);
        // The restarted process counts on from its own start: added once, not again.
        let later = MemberReading {
            leader_changes: 2.0,
            ..fresh
        };
        assert_eq!(counters.next(later).leader_changes, 5.0);
        let p = point(1.0, &[Some(last)], &[Some(c)], 1);
        assert_eq!((p.leader_changes, p.proposals_failed), (1.0, 0.0));
        // One write under 5 ms and one above the largest finite bucket in the interval: the
        // p99 is reported at that bucket's bound.
        assert!(p.write_p99_ms.is_some_and(|ms| (ms - 5.0).abs() < 1e-9));
    }
}
