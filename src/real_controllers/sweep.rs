//! A sweep with the real managers: one fresh local environment and set of managers per value
//! of one profile field (the fleet size, the creation rate, a manager flag), and the curves of
//! what provisioning took, with the knee, what bound it and what the client-limit model
//! predicts from the measured calls per cluster (`capi-sweep.json`, `capi-sweep.md`).

use super::result::{CapiRunResult, CapiStatus};
use crate::error::Error;
use crate::profile::{self, Overrides};
use crate::sweep::knee::{knee, plateau};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// One point of the sweep.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CapiPoint {
    /// The field's value.
    pub x: f64,
    /// How the point's run ended.
    pub status: CapiStatus,
    /// Clusters asked for, and Available at the end.
    pub clusters: u64,
    /// Available at the end.
    pub available: u64,
    /// First Cluster created → last Cluster Available (s).
    pub provision_seconds: Option<f64>,
    /// Clusters made Available per minute over that span.
    pub clusters_per_minute: Option<f64>,
    /// p99 Cluster created → Available (s).
    pub available_p99_seconds: Option<f64>,
    /// The core manager's management calls per cluster provisioned.
    pub core_calls_per_cluster: Option<f64>,
    /// The core manager's client-side rate-limiter wait while provisioning (s, summed).
    pub core_throttle_wait_seconds: Option<f64>,
    /// kube-apiserver CPU while provisioning, as a share of one core.
    pub apiserver_cores: Option<f64>,
    /// The four managers' CPU while provisioning, as a share of one core.
    pub managers_cores: f64,
    /// This tool's own CPU over the point, as a share of one core.
    pub tool_cores: Option<f64>,
    /// The `--kube-api-qps` of the point.
    pub kube_api_qps: f64,
    /// The manager and resource with the most calls per cluster (audit log), and that count:
    /// controller-runtime gives each resource kind its own token bucket, so this one binds.
    pub busiest: Option<(String, String, f64)>,
}

/// A finished sweep.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CapiSweep {
    /// The profile.
    pub profile: String,
    /// The field swept.
    pub field: String,
    /// The points, in order.
    pub points: Vec<CapiPoint>,
    /// Where `provision_seconds` turns from flat to rising (None: not in range).
    pub knee: Option<f64>,
    /// Where `clusters_per_minute` stops rising, and the ceiling.
    pub plateau: Option<f64>,
    /// The measured throughput ceiling (clusters per minute).
    pub ceiling_clusters_per_minute: Option<f64>,
    /// The client-limit model's ceiling: QPS × 60 / the busiest resource kind's calls per
    /// cluster (each kind has its own token bucket in controller-runtime's client).
    pub model_ceiling_clusters_per_minute: Option<f64>,
    /// The model's knee for clusters created at once: ceiling × the smallest point's
    /// provisioning time / 60.
    pub model_knee: Option<f64>,
    /// Which manager and resource the model's ceiling comes from.
    pub model_from: Option<String>,
    /// What bound the curve, from the data.
    pub bound_by: String,
    /// The machine's load average when the sweep ended.
    pub load_average: Option<String>,
}

fn self_cpu_seconds() -> Option<f64> {
    super::steps::proc_cpu_seconds("self")
}

fn point(x: f64, r: &CapiRunResult, tool_cpu: Option<f64>, wall: f64) -> CapiPoint {
    let prov = r.steps.iter().find(|s| s.name == "provision");
    let core = prov.and_then(|s| s.managers.get("core"));
    let secs = prov.map_or(0.0, |s| s.seconds).max(1e-9);
    let span = r.provisioned.to_available.max;
    CapiPoint {
        x,
        status: r.status,
        clusters: r.fleet.clusters,
        available: r.provisioned.available,
        provision_seconds: span,
        clusters_per_minute: span
            .filter(|s| *s > 0.0)
            .map(|s| r.provisioned.available as f64 * 60.0 / s),
        available_p99_seconds: r.provisioned.to_available.p99,
        core_calls_per_cluster: r.calls_per_cluster.get("core").copied(),
        core_throttle_wait_seconds: core.and_then(|c| c.throttle_wait_seconds),
        apiserver_cores: prov.and_then(|s| s.apiserver_cpu_seconds).map(|c| c / secs),
        managers_cores: prov.map_or(0.0, |s| {
            s.managers.values().map(|m| m.cpu_seconds).sum::<f64>() / secs
        }),
        tool_cores: tool_cpu.map(|c| c / wall.max(1e-9)),
        kube_api_qps: r.flags.kube_api_qps,
        busiest: r
            .busiest_kind
            .iter()
            .map(|(m, b)| (m.clone(), b.resource.clone(), b.calls_per_cluster))
            .max_by(|a, b| a.2.total_cmp(&b.2)),
    }
}

/// Judges the points: the knee, the ceiling, the model's ceiling and what bound it.
fn judge(s: &mut CapiSweep) {
    let done: Vec<&CapiPoint> = s
        .points
        .iter()
        .filter(|p| p.status == CapiStatus::Completed)
        .collect();
    let t: Vec<(f64, f64)> = done
        .iter()
        .filter_map(|p| Some((p.x, p.provision_seconds?)))
        .collect();
    let tp: Vec<(f64, f64)> = done
        .iter()
        .filter_map(|p| Some((p.x, p.clusters_per_minute?)))
        .collect();
    s.knee = knee(&t, 2.0, 10.0).x();
    let (pl, ceiling) = plateau(&tp, 3.0);
    s.plateau = pl.x();
    s.ceiling_clusters_per_minute = ceiling.or_else(|| tp.iter().map(|p| p.1).reduce(f64::max));
    // The busiest kind at the largest completed point (its count per cluster is steadiest).
    let busiest = done.iter().rev().find_map(|p| p.busiest.clone());
    let q = done.first().map(|p| p.kube_api_qps);
    s.model_ceiling_clusters_per_minute = match (q, &busiest) {
        (Some(q), Some((_, _, k))) if *k > 0.0 => Some(q * 60.0 / k),
        _ => None,
    };
    s.model_from = busiest.map(|(m, r, k)| format!("{m}: {k:.1} calls per cluster to {r}"));
    let t0 = done.first().and_then(|p| p.provision_seconds);
    s.model_knee = match (s.model_ceiling_clusters_per_minute, t0) {
        (Some(c), Some(t0)) => Some(c * t0 / 60.0),
        _ => None,
    };
    let busiest = done
        .iter()
        .map(|p| p.apiserver_cores.unwrap_or(0.0) + p.managers_cores + p.tool_cores.unwrap_or(0.0))
        .reduce(f64::max)
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    s.bound_by = match (s.ceiling_clusters_per_minute, s.model_ceiling_clusters_per_minute) {
        _ if busiest > 0.8 * cores => format!(
            "the machine: the apiserver, managers and tool used {busiest:.2} of {cores} cores at the busiest point, so the curve is not the managers' limit"
        ),
        (Some(c), Some(m)) if s.plateau.is_some() && c >= 0.75 * m => format!(
            "the client rate limit: {c:.2} clusters/min measured against {m:.2} from QPS x 60 / the busiest kind's calls per cluster ({})",
            s.model_from.as_deref().unwrap_or("?")
        ),
        (Some(c), Some(m)) if s.plateau.is_none() => format!(
            "nothing in range: throughput still rising ({c:.2} clusters/min at the largest point; the client-limit model allows {m:.2}), provisioning's own latency dominates"
        ),
        (Some(c), Some(m)) => format!(
            "not the client limit alone: the ceiling of {c:.2} clusters/min is below three quarters of the {m:.2} the QPS allows; the reconcilers' concurrency or the servers dominate"
        ),
        _ => "no completed point to judge".into(),
    };
}

fn markdown(s: &CapiSweep) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Real-manager sweep of {} ({})\n", s.field, s.profile);
    let _ = writeln!(o, "| {} | status | Available | first create → last Available s | clusters/min | p99 Available s | core calls/cluster | core limiter wait s | apiserver cores | managers cores | tool cores |", s.field);
    let _ = writeln!(o, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let f = |v: Option<f64>, d: usize| v.map_or_else(|| "–".into(), |x| format!("{x:.d$}"));
    for p in &s.points {
        let _ = writeln!(
            o,
            "| {} | {:?} | {}/{} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            p.x,
            p.status,
            p.available,
            p.clusters,
            f(p.provision_seconds, 0),
            f(p.clusters_per_minute, 2),
            f(p.available_p99_seconds, 0),
            f(p.core_calls_per_cluster, 0),
            f(p.core_throttle_wait_seconds, 1),
            f(p.apiserver_cores, 2),
            p.managers_cores,
            f(p.tool_cores, 2)
        );
    }
    let _ = writeln!(
        o,
        "\nknee of the provisioning time: {}; throughput ceiling {} clusters/min (plateau from {}); the client-limit model (QPS x 60 / {}) allows {} clusters/min, knee {}.\n\nBound by {}.\n\nLoad average at the end: {}.",
        s.knee.map_or_else(|| "not in range".into(), |k| format!("{k:.1}")),
        f(s.ceiling_clusters_per_minute, 2),
        s.plateau.map_or_else(|| "not in range".into(), |k| format!("{k:.1}")),
        s.model_from.as_deref().unwrap_or("?"),
        f(s.model_ceiling_clusters_per_minute, 2),
        f(s.model_knee, 1),
        s.bound_by,
        s.load_average.as_deref().unwrap_or("?")
    );
    o
}

fn write(dir: &Path, s: &CapiSweep) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = crate::error::to_json(s)?;
    let p = dir.join("capi-sweep.json");
    std::fs::write(&p, json + "\n").map_err(|e| Error::io(&p, e))?;
    let p = dir.join("capi-sweep.md");
    std::fs::write(&p, markdown(s)).map_err(|e| Error::io(&p, e))
}

/// Runs one point per value of `field`, each on its own fresh environment; writes the sweep
/// after every point and prints it at the end.
pub async fn sweep(
    source: &Path,
    text: &str,
    field: &str,
    values: &[String],
    dir: &Path,
    overrides: &Overrides,
) -> Result<CapiSweep, Error> {
    let mut s = CapiSweep {
        profile: source.display().to_string(),
        field: field.to_string(),
        ..CapiSweep::default()
    };
    for (i, v) in values.iter().enumerate() {
        let x: f64 = v
            .parse()
            .map_err(|_| crate::sweep::values::ValuesError::NotANumber(v.clone()))?;
        let mut o = overrides.clone();
        o.out = Some(dir.join(format!("p{i:02}-{v}")));
        o.run_id = Some(format!("capisw{i:02}"));
        o.output = profile::Output::Nothing;
        let plan = profile::parse_with(source, text, field, v, &o)?;
        tracing::info!("sweep point {}/{}: {field} = {v}", i + 1, values.len());
        let (cpu0, t0) = (self_cpu_seconds(), std::time::Instant::now());
        let r = super::run(&plan).await;
        let tool = match (cpu0, self_cpu_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let wall = t0.elapsed().as_secs_f64();
        match r {
            Ok(r) => s.points.push(point(x, &r, tool, wall)),
            Err(Error::Interrupted { .. }) => {
                return Err(Error::Interrupted {
                    dir: dir.to_path_buf(),
                })
            }
            Err(e) => {
                tracing::warn!("sweep point {field} = {v}: {e}");
                let json = plan.out_dir.join("capi-controllers.json");
                let mut p = CapiPoint {
                    x,
                    ..CapiPoint::default()
                };
                if let Some(r) = std::fs::read_to_string(&json)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                {
                    p.clusters = r["fleet"]["clusters"].as_u64().unwrap_or(0);
                    p.available = r["provisioned"]["available"].as_u64().unwrap_or(0);
                }
                p.status = CapiStatus::TimedOut;
                s.points.push(p);
            }
        }
        s.load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        judge(&mut s);
        write(dir, &s)?;
    }
    print!("{}", markdown(&s));
    println!("sweep results: {}", dir.display());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, secs: f64, calls: f64) -> CapiPoint {
        CapiPoint {
            x,
            status: CapiStatus::Completed,
            clusters: x as u64,
            available: x as u64,
            provision_seconds: Some(secs),
            clusters_per_minute: Some(x * 60.0 / secs),
            core_calls_per_cluster: Some(calls),
            kube_api_qps: 10.0,
            busiest: Some(("core".into(), "machines".into(), calls)),
            ..CapiPoint::default()
        }
    }

    #[test]
    fn a_client_bound_curve_is_judged_so() {
        // T(N) = max(60, N x 350 / 10): the knee at N = 60 x 10 / 350 = 1.7.
        let mut s = CapiSweep {
            points: [1.0, 2.0, 4.0, 6.0, 8.0]
                .iter()
                .map(|&n| p(n, f64::max(60.0, n * 35.0), 350.0))
                .collect(),
            ..CapiSweep::default()
        };
        judge(&mut s);
        let k = s.knee.unwrap();
        assert!((1.0..=2.0).contains(&k), "{k}");
        assert!((s.model_ceiling_clusters_per_minute.unwrap() - 60.0 * 10.0 / 350.0).abs() < 1e-9);
        assert!(s.bound_by.contains("client rate limit"), "{}", s.bound_by);
        assert!((s.model_knee.unwrap() - 60.0 * 10.0 / 350.0).abs() < 1e-9);
    }
}
