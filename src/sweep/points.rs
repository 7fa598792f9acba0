//! One sweep point's metrics, taken from its run's summary, and the curves they form.

use super::knee::{knee, plateau, threshold_crossing, Breakpoint};
use serde::{Deserialize, Serialize};

/// What one point of a sweep measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The swept field's value.
    pub x: f64,
    /// The point's run id.
    pub run_id: String,
    /// How the run ended.
    pub status: String,
    /// Client-side throttle wait p99, worst operation (ms).
    pub throttle_wait_p99_ms: f64,
    /// The Cluster controller's queue wait p99 (wall ms), when a steady phase ran.
    pub queue_wait_p99_ms: Option<f64>,
    /// Periods a cluster waited through unreconciled.
    pub missed_periods: Option<u64>,
    /// Create latency p99 (from the intended start), worst kind (ms).
    pub write_p99_ms: Option<f64>,
    /// 429 answers per 100 requests.
    pub rate_429_percent: f64,
    /// etcd db size at the end (bytes), when observed.
    pub db_size_bytes: Option<f64>,
    /// Requests per second achieved over the load phases.
    pub achieved_rps: f64,
    /// N* = QPS x period / calls per cluster, when a steady phase ran with a client limit.
    pub predicted_breakpoint: Option<f64>,
    /// N* = concurrency x period / reconcile duration (this point's mean duration).
    #[serde(default)]
    pub predicted_concurrency_breakpoint: Option<f64>,
    /// Reconciles' worth of work the Cluster controller owed when the steady phase ended
    /// (reconciles asked for minus calls made / calls per reconcile).
    #[serde(default)]
    pub queue_backlog: Option<f64>,
    /// Enqueue → reconcile end p99 (wall ms), Cluster controller.
    #[serde(default)]
    pub lag_p99_ms: Option<f64>,
    /// Create requests answered OK per second of the create phase.
    #[serde(default)]
    pub writes_per_second: Option<f64>,
    /// The create phase's scheduled rate (objects/s), when open loop.
    #[serde(default)]
    pub offered_writes_per_second: Option<f64>,
    /// The controller's sync period on the wall clock (ms), when a steady phase ran.
    pub wall_period_ms: Option<f64>,
    /// The tool's own CPU at this point: the busiest judged stretch (the whole run, or a
    /// phase of at least 2 s) as % of the cores it may use.
    #[serde(default)]
    pub tool_cpu_percent: Option<f64>,
    /// Whether the tool was saturated at this point (its generator verdict).
    #[serde(default)]
    pub tool_saturated: Option<bool>,
    /// Requests/s the client limit allows in the point's main phase (steady if it ran, else
    /// create): QPS x pool; None when unlimited.
    #[serde(default)]
    pub client_limit_rps: Option<f64>,
    /// Requests/s achieved in that phase.
    #[serde(default)]
    pub phase_rps: Option<f64>,
    /// Server latency (sent → answered) p99 in that phase, worst operation (ms).
    #[serde(default)]
    pub server_p99_ms: Option<f64>,
    /// etcd's WAL fsync and kube-apiserver's memory limit at this point
    /// ([`super::constraints`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<super::constraints::ConstraintsPoint>,
}

/// One metric over the swept values, with its breakpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// The SLO-like threshold; infinite (written as null) when the curve has none.
    #[serde(deserialize_with = "null_is_infinite")]
    pub threshold: f64,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// First threshold crossing.
    pub crossing: Breakpoint,
    /// Knee of the curve (for a throughput curve: where it flattens).
    pub knee: Breakpoint,
    /// The ceiling a throughput curve flattens at.
    #[serde(default)]
    pub ceiling: Option<f64>,
    /// The model's breakpoint for this curve, when it has one.
    #[serde(default)]
    pub prediction: Option<f64>,
    /// How the prediction is computed.
    #[serde(default)]
    pub prediction_formula: Option<String>,
}

/// The model's breakpoint for the queue curves: the smaller of the client limit's
/// N* = QPS x period / calls and the workers' N* = concurrency x period / reconcile
/// duration (taken at the first, least loaded point).
pub fn model_prediction(points: &[SweepPoint]) -> Option<(f64, String)> {
    let qps = points.iter().find_map(|p| p.predicted_breakpoint);
    let conc = points
        .iter()
        .find_map(|p| p.predicted_concurrency_breakpoint);
    match (qps, conc) {
        (Some(q), Some(c)) if c < q => {
            Some((c, "N* = concurrency x period / reconcile duration".into()))
        }
        (Some(q), _) => Some((q, "N* = QPS x period / calls".into())),
        (None, Some(c)) => Some((c, "N* = concurrency x period / reconcile duration".into())),
        (None, None) => None,
    }
}

fn curve(
    metric: &str,
    unit: &str,
    threshold: f64,
    points: Vec<(f64, f64)>,
    min_rise: f64,
) -> Option<Curve> {
    (!points.is_empty()).then(|| Curve {
        metric: metric.into(),
        unit: unit.into(),
        threshold,
        crossing: threshold_crossing(&points, threshold),
        knee: knee(&points, 3.0, min_rise),
        ceiling: None,
        prediction: None,
        prediction_formula: None,
        points,
    })
}

/// The curves a sweep yields: each metric that was measured at every point.
pub fn curves(points: &[SweepPoint]) -> Vec<Curve> {
    let all = |f: &dyn Fn(&SweepPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        let v: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((p.x, f(p)?))).collect();
        if v.len() == points.len() {
            v
        } else {
            Vec::new()
        }
    };
    // A reconcile that waits a whole sync period has missed it: the natural threshold.
    let period = points
        .iter()
        .filter_map(|p| p.wall_period_ms)
        .next()
        .unwrap_or(1000.0);
    let model = model_prediction(points);
    let predicted = |c: Option<Curve>| {
        c.map(|mut c| {
            if let Some((x, f)) = &model {
                c.prediction = Some(*x);
                c.prediction_formula = Some(f.clone());
            }
            c
        })
    };
    // Achieved writes against the offered rate: where it stops keeping up.
    let throughput: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.offered_writes_per_second?, p.writes_per_second?)))
        .collect();
    let throughput = (!throughput.is_empty() && throughput.len() == points.len()).then(|| {
        let (flat, ceiling) = plateau(&throughput, 3.0);
        Curve {
            metric: "write_throughput".into(),
            unit: "writes/s".into(),
            threshold: f64::INFINITY,
            crossing: Breakpoint::NotReached,
            knee: flat,
            ceiling,
            prediction: None,
            prediction_formula: None,
            points: throughput,
        }
    });
    [
        predicted(curve(
            "queue_backlog",
            "reconciles owed",
            f64::INFINITY,
            all(&|p| p.queue_backlog),
            // Clearly more than the in-flight reconciles at the last point.
            points.last().map(|p| (p.x * 0.02).max(5.0)).unwrap_or(5.0),
        )),
        throughput,
        predicted(curve(
            "reconcile_lag_p99",
            "ms",
            period,
            all(&|p| p.lag_p99_ms),
            period / 10.0,
        )),
        predicted(curve(
            "queue_wait_p99",
            "ms",
            period,
            all(&|p| p.queue_wait_p99_ms),
            period / 10.0,
        )),
        predicted(curve(
            "throttle_wait_p99",
            "ms",
            1000.0,
            all(&|p| Some(p.throttle_wait_p99_ms)),
            100.0,
        )),
        predicted(curve(
            "missed_periods",
            "count",
            1.0,
            all(&|p| p.missed_periods.map(|m| m as f64)),
            1.0,
        )),
        curve("write_p99", "ms", 1000.0, all(&|p| p.write_p99_ms), 100.0),
        curve(
            "rate_429",
            "% of requests",
            1.0,
            all(&|p| Some(p.rate_429_percent)),
            0.5,
        ),
        curve(
            "etcd_db_size",
            "bytes",
            f64::INFINITY,
            all(&|p| p.db_size_bytes),
            f64::INFINITY,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// JSON has no infinity: serde_json writes it as null; read null back as infinity.
fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}
