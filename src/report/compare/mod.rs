//! Comparing two results folders metric by metric: the families a metric belongs to (its
//! direction, tolerance and noise floor), the verdict for one metric and the Markdown table
//! `capi-loadgen compare` prints. Works on values; [`inputs`] reads the files.

pub mod inputs;
pub mod likeness;
pub mod tolerances;

pub use tolerances::{percent, Tolerances};

use super::breakpoints::group;
use std::fmt::Write;

/// What a metric measures, which decides its direction, tolerance and noise floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Request latency p99 from the intended start (ms); higher is worse.
    LatencyP99,
    /// Client-side throttle wait p99 (ms); higher is worse.
    ThrottleWaitP99,
    /// OK requests or writes per second; lower is worse.
    Throughput,
    /// (failed + throttled) / sent, in percent; higher is worse.
    FailureRate,
    /// Controller queue wait p99 (ms); higher is worse.
    QueueWaitP99,
    /// Controller enqueue → reconcile end p99 (ms); higher is worse.
    LagP99,
    /// etcd db growth per cluster created (bytes); higher is worse.
    BytesPerCluster,
    /// Where a curve breaks (clusters, writes/s, requests in flight …); lower is worse.
    Breakpoint,
}

impl Family {
    /// Every family, in the order the help text lists them.
    pub const ALL: [Family; 8] = [
        Family::LatencyP99,
        Family::ThrottleWaitP99,
        Family::Throughput,
        Family::FailureRate,
        Family::QueueWaitP99,
        Family::LagP99,
        Family::BytesPerCluster,
        Family::Breakpoint,
    ];

    /// The name `--tolerance-for` takes.
    pub fn name(self) -> &'static str {
        match self {
            Family::LatencyP99 => "latency_p99",
            Family::ThrottleWaitP99 => "throttle_wait_p99",
            Family::Throughput => "throughput",
            Family::FailureRate => "failure_rate",
            Family::QueueWaitP99 => "queue_wait_p99",
            Family::LagP99 => "lag_p99",
            Family::BytesPerCluster => "bytes_per_cluster",
            Family::Breakpoint => "breakpoint",
        }
    }

    /// The family with this name.
    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether a higher value is worse (latencies, waits, failures, bytes) or a lower one
    /// (throughput, breakpoint positions).
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Family::Throughput | Family::Breakpoint)
    }

    /// The absolute change below which a metric never regresses (nor counts as better), in
    /// the metric's unit: tiny noise on near-zero values must not flag. A controller's queue
    /// wait is measured inside the generator, so on a busy machine it holds the generator's
    /// own scheduling delay: two identical nights on kind on a shared 2-core machine read
    /// 0.02 ms and 4.9 ms (+22,000%) while the tool's scheduling-delay p99 was 14-19 ms.
    pub fn floor(self) -> f64 {
        match self {
            Family::QueueWaitP99 => 10.0,
            Family::FailureRate => 0.1,
            Family::BytesPerCluster => 1024.0,
            _ => 1.0,
        }
    }
}

/// One side's value of a metric.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A measured number.
    Exact(f64),
    /// A breakpoint not reached in the swept range: it lies beyond the range's end, when
    /// known.
    Beyond(Option<f64>),
    /// Not there, with the word the table shows (`-`, `skipped`, `failed`).
    Absent(String),
}

impl Value {
    /// No value: `-`.
    pub fn none() -> Value {
        Value::Absent("-".into())
    }

    /// `Exact(x)`, or `-` when there is none.
    pub fn of(v: Option<f64>) -> Value {
        v.filter(|x| x.is_finite())
            .map(Value::Exact)
            .unwrap_or_else(Value::none)
    }

    /// The smallest and largest value this could be (None: unknown below, unbounded above).
    fn bounds(&self) -> (Option<f64>, Option<f64>) {
        match self {
            Value::Exact(x) => (Some(*x), Some(*x)),
            Value::Beyond(end) => (*end, None),
            Value::Absent(_) => (None, None),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Exact(x) => num(*x),
            Value::Beyond(Some(end)) => format!("not reached (> {})", num(*end)),
            Value::Beyond(None) => "not reached".into(),
            Value::Absent(s) => s.clone(),
        }
    }
}

/// One metric of both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// What the table calls it, e.g. `latency_p99 create/create/machine`.
    pub name: String,
    /// Its family.
    pub family: Family,
    /// Unit of both values.
    pub unit: String,
    /// The baseline's value.
    pub baseline: Value,
    /// The candidate's value.
    pub candidate: Value,
}

/// What comparing one metric concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within tolerance (or within the noise floor).
    Ok,
    /// Better beyond tolerance.
    Better,
    /// Worse beyond tolerance and beyond the noise floor.
    Regressed,
    /// Only the candidate has it.
    New,
    /// Only the baseline has it.
    Missing,
    /// A breakpoint not reached in range on one side, with ranges that leave open whether
    /// the change exceeds the tolerance, or no value on either side (never a regression).
    Inconclusive,
}

impl Verdict {
    /// The table's word.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Better => "better",
            Verdict::Regressed => "REGRESSED",
            Verdict::New => "new",
            Verdict::Missing => "missing",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Two exact values: regressed, better or ok.
fn exact(family: Family, tol: f64, b: f64, c: f64) -> Verdict {
    let worse_by = if family.higher_is_worse() {
        c - b
    } else {
        b - c
    };
    if worse_by.abs() < family.floor() {
        return Verdict::Ok;
    }
    let rel = if b != 0.0 {
        worse_by / b.abs() * 100.0
    } else {
        f64::INFINITY.copysign(worse_by)
    };
    if rel > tol {
        Verdict::Regressed
    } else if rel < -tol {
        Verdict::Better
    } else {
        Verdict::Ok
    }
}

/// The verdict on one metric at a tolerance in percent.
///
/// Exact values: worse by more than the tolerance (relative to the baseline) *and* by at
/// least the family's floor is `REGRESSED`; better by as much is `better`. A breakpoint "not
/// reached" lies somewhere beyond its range's end, so the verdict must hold for every value
/// it could be: `REGRESSED` only when even the most favourable reading regresses (the
/// candidate broke below the baseline's range end, minus tolerance), `better` or `ok` when
/// even the least favourable reading does not regress (e.g. the candidate's range went past
/// the baseline's breakpoint), `inconclusive` otherwise. Both not reached is `ok` unless the
/// candidate's range stopped short of the baseline's by more than the tolerance.
pub fn judge(m: &Metric, tol: f64) -> Verdict {
    use Value::*;
    let f = m.family;
    match (&m.baseline, &m.candidate) {
        (Absent(_), Absent(_)) => Verdict::Inconclusive,
        (Absent(_), _) => Verdict::New,
        (_, Absent(_)) => Verdict::Missing,
        (Exact(b), Exact(c)) => exact(f, tol, *b, *c),
        (Beyond(eb), Beyond(ec)) => match (eb, ec) {
            (Some(b), Some(c)) if exact(f, tol, *b, *c) == Verdict::Regressed => {
                Verdict::Inconclusive
            }
            _ => Verdict::Ok,
        },
        _ if f.higher_is_worse() => Verdict::Inconclusive,
        (b, c) => {
            let ((b_lo, b_hi), (c_lo, c_hi)) = (b.bounds(), c.bounds());
            // Most favourable to the candidate: the baseline as low, the candidate as
            // high as they could be.
            if let (Some(b), Some(c)) = (b_lo, c_hi) {
                if exact(f, tol, b, c) == Verdict::Regressed {
                    return Verdict::Regressed;
                }
            }
            // Least favourable: the baseline as high, the candidate as low as they could be.
            match b_hi {
                None => Verdict::Inconclusive,
                Some(b) => match exact(f, tol, b, c_lo.unwrap_or(0.0)) {
                    Verdict::Regressed => Verdict::Inconclusive,
                    v => v,
                },
            }
        }
    }
}

/// Relative change in percent, when both values are exact and the baseline is not zero.
pub fn change(m: &Metric) -> Option<f64> {
    match (&m.baseline, &m.candidate) {
        (Value::Exact(b), Value::Exact(c)) if *b != 0.0 => Some((c - b) / b.abs() * 100.0),
        _ => None,
    }
}

fn change_text(m: &Metric) -> String {
    let rel = change(m).map(|r| format!("{r:+.1}%"));
    match (&m.baseline, &m.candidate, m.family) {
        (Value::Exact(b), Value::Exact(c), Family::FailureRate) => {
            let pp = format!("{:+.2} pp", c - b);
            rel.map(|r| format!("{pp} ({r})")).unwrap_or(pp)
        }
        (Value::Exact(b), Value::Exact(c), _) if *b == 0.0 && *c == 0.0 => "+0.0%".into(),
        (Value::Exact(b), Value::Exact(_), _) if *b == 0.0 => "from 0".into(),
        _ => rel.unwrap_or_else(|| "-".into()),
    }
}

/// A number for the table: grouped thousands from 1,000, fewer decimals as it grows.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        return group(x);
    }
    let decimals = if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{x:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Who is compared with whom.
#[derive(Clone, Debug)]
pub struct Sides {
    /// `run`, `sweep` or `breakpoints suite`.
    pub kind: String,
    /// The baseline's run (or sweep / suite) id.
    pub baseline_id: String,
    /// The baseline's directory as given.
    pub baseline_path: String,
    /// The candidate's id.
    pub candidate_id: String,
    /// The candidate's directory as given.
    pub candidate_path: String,
}

/// The rendered comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The Markdown, ending with `N metrics, K regressed`.
    pub markdown: String,
    /// Metrics compared (rows of the table).
    pub total: usize,
    /// Metrics regressed beyond tolerance.
    pub regressed: usize,
}

/// The noise floors, in words (the table's footnote and the `--help` text say the same).
pub const FLOORS: &str = "Changes smaller than a floor never regress: 1 ms for latencies, \
    throttle waits and lags, 10 ms for controller queue waits, 1 request (or write) per second for throughput, 0.1 percentage points \
    for the failure rate, 1 KiB per cluster for etcd bytes, 1 unit (cluster, write/s, \
    request) for breakpoints.";

/// Judges every metric and renders the table.
pub fn render(sides: &Sides, metrics: &[Metric], tol: &Tolerances, notes: &[String]) -> Comparison {
    let mut o = format!(
        "# compare {}: baseline `{}` ({}) vs candidate `{}` ({}), tolerance {}\n\n",
        sides.kind,
        sides.baseline_id,
        sides.baseline_path,
        sides.candidate_id,
        sides.candidate_path,
        tol.describe_for(metrics.iter().map(|m| m.family))
    );
    o += "| metric | unit | baseline | candidate | change | tolerance | verdict |\n";
    o += "|---|---|---:|---:|---:|---:|---|\n";
    let mut regressed = 0;
    for m in metrics {
        let t = tol.of(m.family);
        let v = judge(m, t);
        if v == Verdict::Regressed {
            regressed += 1;
        }
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {}% | {} |",
            m.name,
            m.unit,
            m.baseline.text(),
            m.candidate.text(),
            change_text(m),
            num(t),
            if v == Verdict::Regressed {
                "**REGRESSED**"
            } else {
                v.label()
            }
        );
    }
    o += "\n";
    for n in notes {
        let _ = writeln!(o, "- {n}");
    }
    let _ = writeln!(
        o,
        "- Direction: higher is worse for latencies, waits, lags, the failure rate and bytes \
         per cluster; lower is worse for throughput and breakpoint positions. {FLOORS}\n"
    );
    let _ = writeln!(o, "{} metrics, {regressed} regressed", metrics.len());
    Comparison {
        markdown: o,
        total: metrics.len(),
        regressed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(family: Family, b: Value, c: Value) -> Metric {
        Metric {
            name: "x".into(),
            family,
            unit: "u".into(),
            baseline: b,
            candidate: c,
        }
    }
    fn v(family: Family, b: f64, c: f64, tol: f64) -> Verdict {
        judge(&m(family, Value::Exact(b), Value::Exact(c)), tol)
    }

    #[test]
    fn direction_decides_which_way_regresses() {
        assert_eq!(
            v(Family::LatencyP99, 100.0, 130.0, 10.0),
            Verdict::Regressed
        );
        assert_eq!(v(Family::LatencyP99, 100.0, 70.0, 10.0), Verdict::Better);
        assert_eq!(v(Family::LatencyP99, 100.0, 105.0, 10.0), Verdict::Ok);
        assert_eq!(
            v(Family::Throughput, 400.0, 300.0, 10.0),
            Verdict::Regressed
        );
        assert_eq!(v(Family::Throughput, 400.0, 500.0, 10.0), Verdict::Better);
        assert_eq!(
            v(Family::Breakpoint, 613.0, 429.0, 10.0),
            Verdict::Regressed
        );
        assert_eq!(v(Family::Breakpoint, 613.0, 600.0, 10.0), Verdict::Ok);
        assert_eq!(
            v(Family::BytesPerCluster, 170e3, 200e3, 10.0),
            Verdict::Regressed
        );
        assert_eq!(v(Family::FailureRate, 1.0, 0.5, 10.0), Verdict::Better);
    }

    #[test]
    fn changes_below_the_floor_never_flag() {
        // 0.002 ms → 0.9 ms is +44,900% but under 1 ms.
        assert_eq!(v(Family::ThrottleWaitP99, 0.002, 0.9, 10.0), Verdict::Ok);
        assert_eq!(v(Family::LatencyP99, 0.0, 0.5, 10.0), Verdict::Ok);
        assert_eq!(v(Family::LatencyP99, 0.0, 5.0, 10.0), Verdict::Regressed);
        assert_eq!(v(Family::FailureRate, 0.0, 0.05, 10.0), Verdict::Ok);
        assert_eq!(v(Family::FailureRate, 0.0, 0.2, 10.0), Verdict::Regressed);
        assert_eq!(
            v(Family::BytesPerCluster, 2000.0, 2900.0, 10.0),
            Verdict::Ok
        );
        assert_eq!(v(Family::Throughput, 5.0, 4.2, 10.0), Verdict::Ok);
        // A queue wait from 0.02 ms to 4.9 ms is the generator's scheduling, not a backlog.
        assert_eq!(v(Family::QueueWaitP99, 0.022, 4.92, 100.0), Verdict::Ok);
        assert_eq!(
            v(Family::QueueWaitP99, 0.022, 12.0, 100.0),
            Verdict::Regressed
        );
    }

    #[test]
    fn new_and_missing_are_not_regressions() {
        let n = m(Family::LatencyP99, Value::none(), Value::Exact(1e6));
        assert_eq!(judge(&n, 10.0), Verdict::New);
        let n = m(Family::LatencyP99, Value::Exact(1.0), Value::none());
        assert_eq!(judge(&n, 10.0), Verdict::Missing);
        let n = m(
            Family::Breakpoint,
            Value::Absent("skipped".into()),
            Value::none(),
        );
        assert_eq!(judge(&n, 10.0), Verdict::Inconclusive);
    }

    #[test]
    fn not_reached_breakpoints_hold_for_every_value_they_could_be() {
        let bp = |b: Value, c: Value| judge(&m(Family::Breakpoint, b, c), 10.0);
        use Value::{Beyond, Exact};
        // The candidate held past where the baseline broke: better.
        assert_eq!(bp(Exact(613.0), Beyond(Some(1000.0))), Verdict::Better);
        // Its range ended just short of the baseline's breakpoint: within tolerance.
        assert_eq!(bp(Exact(613.0), Beyond(Some(600.0))), Verdict::Ok);
        // Ended far short, or the range is unknown: cannot tell, never a regression.
        assert_eq!(bp(Exact(613.0), Beyond(Some(300.0))), Verdict::Inconclusive);
        assert_eq!(bp(Exact(613.0), Beyond(None)), Verdict::Inconclusive);
        // The baseline held to 1,000, the candidate broke at 500: regressed.
        assert_eq!(bp(Beyond(Some(1000.0)), Exact(500.0)), Verdict::Regressed);
        // … at 950: maybe within tolerance, maybe not.
        assert_eq!(
            bp(Beyond(Some(1000.0)), Exact(950.0)),
            Verdict::Inconclusive
        );
        assert_eq!(bp(Beyond(None), Exact(500.0)), Verdict::Inconclusive);
        assert_eq!(bp(Beyond(Some(1000.0)), Beyond(Some(1000.0))), Verdict::Ok);
        assert_eq!(bp(Beyond(None), Beyond(None)), Verdict::Ok);
        assert_eq!(
            bp(Beyond(Some(1000.0)), Beyond(Some(500.0))),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn the_table_counts_and_shows_every_metric() {
        let sides = Sides {
            kind: "run".into(),
            baseline_id: "a".into(),
            baseline_path: "results/a".into(),
            candidate_id: "b".into(),
            candidate_path: "results/b".into(),
        };
        let metrics = [
            m(Family::LatencyP99, Value::Exact(100.0), Value::Exact(150.0)),
            m(Family::FailureRate, Value::Exact(0.5), Value::Exact(0.55)),
            m(Family::Throughput, Value::Exact(0.0), Value::Exact(3.0)),
        ];
        let tol = Tolerances::uniform(10.0);
        let c = render(&sides, &metrics, &tol, &["a note".into()]);
        assert_eq!((c.total, c.regressed), (3, 1));
        assert!(c.markdown.starts_with(
            "# compare run: baseline `a` (results/a) vs candidate `b` (results/b), tolerance 10%\n"
        ));
        assert!(c
            .markdown
            .contains("| x | u | 100 | 150 | +50.0% | 10% | **REGRESSED** |"));
        assert!(c
            .markdown
            .contains("| 0.5 | 0.55 | +0.05 pp (+10.0%) | 10% | ok |"));
        assert!(c.markdown.contains("| 0 | 3 | from 0 | 10% | better |"));
        assert!(c.markdown.contains("- a note\n"));
        assert!(c.markdown.ends_with("\n3 metrics, 1 regressed\n"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.002), "0.002");
        assert_eq!(num(7.139), "7.14");
        assert_eq!(num(153.343), "153.3");
        assert_eq!(num(613.04), "613");
        assert_eq!(num(173_000.0), "173,000");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.0001), "0");
    }
}
