//! The per-second time series: throughput, failures, 429s, p99 latency and throttle wait
//! of the requests finishing in each second, plus in-flight requests and queue depth
//! sampled once a second. Old seconds are folded into small points as time moves on, so
//! memory grows by one small point per second, not per request.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::io::Write;
use tokio::time::Instant;

/// Seconds kept open for late samples before they are folded into points.
const OPEN_SECONDS: u64 = 3;

/// One second of the run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Seconds since the load started.
    pub second: u64,
    /// Requests that finished in this second.
    pub completed: u64,
    /// Of those, successful.
    pub ok: u64,
    /// Of those, failed (429 included).
    pub failed: u64,
    /// HTTP 429 answers received in this second (every attempt).
    pub responses_429: u64,
    /// p99 latency (intended start → done) of the requests finishing in this second, ms.
    pub p99_ms: f64,
    /// p99 client-side throttle wait of those requests, ms.
    pub throttle_wait_p99_ms: f64,
    /// Requests in flight (started, not finished) when sampled.
    pub in_flight: u64,
    /// Work-queue depth when sampled (steady phase).
    pub queue_depth: u64,
}

struct Bucket {
    point: Point,
    latency: Histogram<u64>,
    wait: Histogram<u64>,
}

/// A 2-significant-digit histogram (a few KiB) for short windows.
pub fn small_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, super::MAX_MICROS, 2).expect("valid histogram bounds")
}

impl Bucket {
    fn new(second: u64) -> Bucket {
        Bucket {
            point: Point {
                second,
                ..Default::default()
            },
            latency: small_histogram(),
            wait: small_histogram(),
        }
    }

    fn fold(mut self) -> Point {
        let q = |h: &Histogram<u64>| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(0.99) as f64 / 1000.0
            }
        };
        self.point.p99_ms = q(&self.latency);
        self.point.throttle_wait_p99_ms = q(&self.wait);
        self.point
    }
}

/// Builds the series as samples and gauges arrive.
pub struct TimeSeries {
    start: Instant,
    open: BTreeMap<u64, Bucket>,
    done: Vec<Point>,
}

impl TimeSeries {
    /// A series whose second 0 starts at `start`.
    pub fn new(start: Instant) -> TimeSeries {
        TimeSeries {
            start,
            open: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    fn bucket(&mut self, at: Instant) -> &mut Bucket {
        let second = at.saturating_duration_since(self.start).as_secs();
        // Fold seconds that can no longer receive samples.
        while let Some((&s, _)) = self.open.first_key_value() {
            if s + OPEN_SECONDS > second {
                break;
            }
            if let Some((_, b)) = self.open.pop_first() {
                self.done.push(b.fold());
            }
        }
        self.open
            .entry(second)
            .or_insert_with(|| Bucket::new(second))
    }

    /// Adds one finished request.
    pub fn record(&mut self, s: &super::Sample) {
        let b = self.bucket(s.done);
        b.point.completed += 1;
        if s.outcome.is_ok() {
            b.point.ok += 1;
        } else {
            b.point.failed += 1;
        }
        b.point.responses_429 += u64::from(s.responses_429);
        let _ = b.latency.record(super::micros(s.latency));
        let _ = b.wait.record(super::micros(s.throttle_wait));
    }

    /// Adds the once-a-second gauges.
    pub fn gauge(&mut self, at: Instant, in_flight: u64, queue_depth: u64) {
        let b = self.bucket(at);
        b.point.in_flight = b.point.in_flight.max(in_flight);
        b.point.queue_depth = b.point.queue_depth.max(queue_depth);
    }

    /// Every second up to the last one seen, gaps filled with empty points.
    pub fn finish(mut self) -> Vec<Point> {
        let open = std::mem::take(&mut self.open);
        self.done.extend(open.into_values().map(Bucket::fold));
        let mut out: Vec<Point> = Vec::with_capacity(self.done.len());
        for p in self.done {
            while out.last().is_some_and(|l| l.second + 1 < p.second) {
                let s = out.last().map(|l| l.second + 1).unwrap_or(0);
                out.push(Point {
                    second: s,
                    ..Default::default()
                });
            }
            out.push(p);
        }
        out
    }
}

/// The CSV header of `timeseries.csv`.
pub const CSV_HEADER: &str =
    "second,completed,ok,failed,responses_429,p99_ms,throttle_wait_p99_ms,in_flight,queue_depth";

/// Writes `timeseries.csv`.
pub fn write_csv(points: &[Point], w: &mut impl Write) -> std::io::Result<()> {
    writeln!(w, "{CSV_HEADER}")?;
    for p in points {
        writeln!(
            w,
            "{},{},{},{},{},{:.3},{:.3},{},{}",
            p.second,
            p.completed,
            p.ok,
            p.failed,
            p.responses_429,
            p.p99_ms,
            p.throttle_wait_p99_ms,
            p.in_flight,
            p.queue_depth
        )?;
    }
    Ok(())
}

/// Reads `timeseries.csv` back.
pub fn read_csv(text: &str) -> Result<Vec<Point>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(CSV_HEADER) {
        return Err("not a capi-loadgen timeseries.csv (header differs)".into());
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            let bad = || format!("line {}: malformed row", i + 2);
            if f.len() != 9 {
                return Err(bad());
            }
            let u = |j: usize| f[j].parse::<u64>().map_err(|_| bad());
            let x = |j: usize| f[j].parse::<f64>().map_err(|_| bad());
            Ok(Point {
                second: u(0)?,
                completed: u(1)?,
                ok: u(2)?,
                failed: u(3)?,
                responses_429: u(4)?,
                p99_ms: x(5)?,
                throttle_wait_p99_ms: x(6)?,
                in_flight: u(7)?,
                queue_depth: u(8)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{Sample, Verb};
    use crate::model::Kind;
    use std::time::Duration;

    fn sample(done: Instant, ms: u64, ok: bool) -> Sample {
        Sample {
            phase: "create",
            verb: Verb::Create,
            kind: Kind::Machine,
            latency: Duration::from_millis(ms),
            throttle_wait: Duration::from_millis(ms / 2),
            server: Duration::from_millis(ms / 2),
            attempts: 1,
            responses_429: u32::from(!ok),
            first: Ok(()),
            outcome: if ok {
                Ok(())
            } else {
                Err(crate::backend::RequestError::http(429))
            },
            done,
        }
    }

    #[test]
    fn buckets_by_second_and_fills_gaps() {
        let t0 = Instant::now();
        let mut ts = TimeSeries::new(t0);
        for i in 0..100 {
            ts.record(&sample(t0 + Duration::from_millis(i * 5), 10 + i, true));
        }
        ts.gauge(t0 + Duration::from_millis(900), 7, 3);
        ts.record(&sample(
            t0 + Duration::from_secs(4) + Duration::from_millis(1),
            1000,
            false,
        ));
        let points = ts.finish();
        assert_eq!(points.len(), 5);
        assert_eq!(
            (
                points[0].completed,
                points[0].ok,
                points[0].in_flight,
                points[0].queue_depth
            ),
            (100, 100, 7, 3)
        );
        assert!(
            (points[0].p99_ms - 109.0).abs() < 1.5,
            "{}",
            points[0].p99_ms
        );
        assert_eq!(
            points[2],
            Point {
                second: 2,
                ..Default::default()
            }
        );
        assert_eq!((points[4].failed, points[4].responses_429), (1, 1));
        let mut csv = Vec::new();
        write_csv(&points, &mut csv).unwrap();
        let back = read_csv(std::str::from_utf8(&csv).unwrap()).unwrap();
        assert_eq!(back.len(), points.len());
        assert_eq!(back[4].responses_429, 1);
        assert!(read_csv("nope\n1,2").is_err());
    }
}
