//! Validation of `phases:` into [`PhasePlans`].

use super::types::*;
use super::ProfileError;
use std::time::Duration;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// Open-loop rate of a phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Objects started per second.
    ObjectsPerSecond(f64),
    /// Clusters started per second (a cluster's objects then follow one another).
    ClustersPerSecond(f64),
}

/// The create phase.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatePlan {
    /// Cluster workers.
    pub concurrency: usize,
    /// Open-loop schedule; None = closed loop (as fast as the workers and pool allow).
    pub rate: Option<Rate>,
    /// Stop creating after this wall time even if clusters remain.
    pub max_duration: Option<Duration>,
    /// Clusters below this index exist already (a sweep accumulating state between points
    /// sets it to the previous point's fleet size); 0 otherwise.
    pub first_cluster: u64,
}

/// API calls of one reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallMix {
    /// GETs of the cluster's objects.
    pub get: u32,
    /// LISTs of its Machines.
    pub list: u32,
    /// Status PATCHes of the Cluster.
    pub patch_status: u32,
}

impl CallMix {
    /// Calls per reconcile.
    pub fn total(&self) -> u32 {
        self.get + self.list + self.patch_status
    }
}

/// The steady (controller simulation) phase.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyPlan {
    /// Wall-clock length.
    pub duration: Duration,
    /// Sync period in model time.
    pub sync_period: Duration,
    /// Relative jitter of each period.
    pub jitter: f64,
    /// Time compression: wall period = sync_period / time_scale; client QPS and reconcile
    /// workers x time_scale (see [`SteadyPlan::wall_workers`]).
    pub time_scale: f64,
    /// Reconcile workers.
    pub concurrency: usize,
    /// Calls per reconcile.
    pub mix: CallMix,
    /// Event-driven reconciles per model second.
    pub events_per_second: f64,
    /// Wall time a reconcile spends off the management apiserver (slept before its calls).
    pub think: Duration,
    /// Periodic enqueue shape.
    pub enqueue: EnqueueMode,
    /// The controller's client QPS per pool client, in model time (None = unlimited).
    pub client_qps: Option<f64>,
    /// The controller's burst.
    pub client_burst: u32,
    /// The Machine controller, if any.
    pub machine: Option<MachineControllerPlan>,
    /// The simulation or the reference controller.
    pub controller: ControllerKind,
    /// Scope of the controller's token buckets (per-kind: reference controller only).
    pub rate_limiter: RateLimiterScope,
}

/// The Machine controller of the steady phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineControllerPlan {
    /// Reconcile workers.
    pub concurrency: usize,
    /// Calls per Machine reconcile.
    pub mix: CallMix,
}

impl SteadyPlan {
    /// The sync period on the wall clock.
    pub fn wall_period(&self) -> Duration {
        self.sync_period.div_f64(self.time_scale)
    }

    /// Workers that run `concurrency` model workers under time compression: the period
    /// shrinks by `time_scale` but a reconcile's API calls take real server time, so the
    /// worker count grows by the same factor. The concurrency breakpoint
    /// N* = concurrency x period / reconcile duration is then the model's, not the
    /// compression's.
    pub fn wall_workers(&self, concurrency: usize) -> usize {
        ((concurrency as f64 * self.time_scale).ceil() as usize).clamp(1, 100_000)
    }
}

/// The churn phase.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnPlan {
    /// Wall-clock length.
    pub duration: Duration,
    /// Between rounds.
    pub interval: Duration,
    /// Fraction of worker machines per round.
    pub fraction: f64,
    /// Recreate or update.
    pub mode: ChurnMode,
    /// Workers.
    pub concurrency: usize,
}

/// The delete phase.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletePlan {
    /// Cluster workers.
    pub concurrency: usize,
    /// Open-loop objects per second; None = closed loop.
    pub rate: Option<f64>,
}

/// Every phase of a run; absent ones are None.
#[derive(Clone, Debug, PartialEq)]
pub struct PhasePlans {
    /// Create.
    pub create: Option<CreatePlan>,
    /// Steady.
    pub steady: Option<SteadyPlan>,
    /// Churn.
    pub churn: Option<ChurnPlan>,
    /// Delete.
    pub delete: Option<DeletePlan>,
}

fn count(
    err: Err,
    field: &str,
    v: Option<u64>,
    default: u64,
    max: u64,
) -> Result<usize, ProfileError> {
    let v = v.unwrap_or(default);
    if v == 0 || v > max {
        return Err(err(field, format!("{v} must be between 1 and {max}")));
    }
    Ok(v as usize)
}

fn real(
    err: Err,
    field: &str,
    v: Option<f64>,
    default: f64,
    lo_exclusive: f64,
    hi: f64,
) -> Result<f64, ProfileError> {
    let v = v.unwrap_or(default);
    if !(v.is_finite() && v > lo_exclusive && v <= hi) {
        // 1e300 as written, not as 301 digits.
        let shown = if v.is_finite() && v.abs() < 1e15 {
            format!("{v}")
        } else {
            format!("{v:e}")
        };
        return Err(err(
            field,
            format!("{shown} must be > {lo_exclusive} and at most {hi}"),
        ));
    }
    Ok(v)
}

fn small_count(err: Err, field: &str, v: Option<u64>) -> Result<u32, ProfileError> {
    let v = v.unwrap_or(0);
    if v > 1000 {
        return Err(err(field, format!("{v} is too large (at most 1000)")));
    }
    Ok(v as u32)
}

fn required_seconds(err: Err, field: &str, v: Option<f64>) -> Result<Duration, ProfileError> {
    let Some(v) = v else {
        return Err(err(
            field,
            "is required (seconds of wall-clock time)".into(),
        ));
    };
    Ok(Duration::from_secs_f64(real(
        err,
        field,
        Some(v),
        0.0,
        0.0,
        7.0 * 86400.0,
    )?))
}

/// Validates `phases:`; `default_concurrency` comes from the client preset.
pub fn validate(
    p: &PhasesSection,
    default_concurrency: u64,
    client: &super::ClientPlan,
    err: Err,
) -> Result<PhasePlans, ProfileError> {
    let none_given =
        p.create.is_none() && p.steady.is_none() && p.churn.is_none() && p.delete.is_none();
    let create = match (&p.create, none_given) {
        (None, false) => None,
        (c, _) => {
            let c = c.as_ref();
            let concurrency = count(
                err,
                "phases.create.concurrency",
                c.and_then(|c| c.concurrency),
                default_concurrency,
                100_000,
            )?;
            let rate = match (
                c.and_then(|c| c.objects_per_second),
                c.and_then(|c| c.clusters_per_second),
            ) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        "phases.create.clusters_per_second",
                        "give objects_per_second or clusters_per_second, not both".into(),
                    ))
                }
                (Some(r), None) => Some(Rate::ObjectsPerSecond(real(
                    err,
                    "phases.create.objects_per_second",
                    Some(r),
                    0.0,
                    0.0,
                    1e6,
                )?)),
                (None, Some(r)) => Some(Rate::ClustersPerSecond(real(
                    err,
                    "phases.create.clusters_per_second",
                    Some(r),
                    0.0,
                    0.0,
                    1e5,
                )?)),
                (None, None) => None,
            };
            let max_duration = match c.and_then(|c| c.duration_seconds) {
                None => None,
                Some(d) => Some(required_seconds(
                    err,
                    "phases.create.duration_seconds",
                    Some(d),
                )?),
            };
            Some(CreatePlan {
                concurrency,
                rate,
                max_duration,
                first_cluster: 0,
            })
        }
    };
    let needs_fleet = |field: &str| -> Result<(), ProfileError> {
        if create.is_none() {
            return Err(err(
                field,
                "needs phases.create in the same profile (the fleet must exist)".into(),
            ));
        }
        Ok(())
    };
    let steady = match &p.steady {
        None => None,
        Some(s) => {
            needs_fleet("phases.steady")?;
            let machine = match &s.machine_controller {
                None => None,
                Some(mc) => {
                    let m = mc.calls_per_reconcile.clone().unwrap_or(CallMixSection {
                        get: Some(3),
                        list: None,
                        patch_status: Some(1),
                    });
                    let f = "phases.steady.machine_controller.calls_per_reconcile";
                    let mix = CallMix {
                        get: small_count(err, &format!("{f}.get"), m.get)?,
                        list: small_count(err, &format!("{f}.list"), m.list)?,
                        patch_status: small_count(
                            err,
                            &format!("{f}.patch_status"),
                            m.patch_status,
                        )?,
                    };
                    if mix.total() == 0 {
                        return Err(err(f, "a reconcile must make at least one call".into()));
                    }
                    Some(MachineControllerPlan {
                        concurrency: count(
                            err,
                            "phases.steady.machine_controller.concurrency",
                            mc.concurrency,
                            10,
                            10_000,
                        )?,
                        mix,
                    })
                }
            };
            let m = s.calls_per_reconcile.clone().unwrap_or(CallMixSection {
                get: Some(10),
                list: Some(2),
                patch_status: Some(8),
            });
            let mix = CallMix {
                get: small_count(err, "phases.steady.calls_per_reconcile.get", m.get)?,
                list: small_count(err, "phases.steady.calls_per_reconcile.list", m.list)?,
                patch_status: small_count(
                    err,
                    "phases.steady.calls_per_reconcile.patch_status",
                    m.patch_status,
                )?,
            };
            if mix.total() == 0 {
                return Err(err(
                    "phases.steady.calls_per_reconcile",
                    "a reconcile must make at least one call".into(),
                ));
            }
            let jitter = s.jitter.unwrap_or(0.1);
            if !(0.0..=0.5).contains(&jitter) {
                return Err(err(
                    "phases.steady.jitter",
                    format!("{jitter} must be between 0 and 0.5"),
                ));
            }
            let events = s.events_per_second.unwrap_or(0.0);
            if !(events.is_finite() && (0.0..=1e5).contains(&events)) {
                return Err(err(
                    "phases.steady.events_per_second",
                    format!("{events} must be between 0 and 100000"),
                ));
            }
            let plan = SteadyPlan {
                duration: required_seconds(
                    err,
                    "phases.steady.duration_seconds",
                    s.duration_seconds,
                )?,
                sync_period: Duration::from_secs_f64(real(
                    err,
                    "phases.steady.sync_period_seconds",
                    s.sync_period_seconds,
                    600.0,
                    0.0,
                    86400.0,
                )?),
                jitter,
                time_scale: real(
                    err,
                    "phases.steady.time_scale",
                    s.time_scale,
                    1.0,
                    0.0,
                    10_000.0,
                )?,
                concurrency: count(
                    err,
                    "phases.steady.concurrency",
                    s.concurrency,
                    default_concurrency,
                    10_000,
                )?,
                mix,
                events_per_second: events,
                think: match s.think_ms.unwrap_or(0.0) {
                    ms if ms.is_finite() && (0.0..=600_000.0).contains(&ms) => {
                        Duration::from_secs_f64(ms / 1000.0)
                    }
                    ms => {
                        return Err(err(
                            "phases.steady.think_ms",
                            format!("{ms} must be between 0 and 600000"),
                        ))
                    }
                },
                enqueue: s.enqueue.unwrap_or_default(),
                client_qps: match s.client_qps {
                    None => client.qps,
                    Some(-1.0) => None,
                    Some(q) => Some(real(
                        err,
                        "phases.steady.client_qps",
                        Some(q),
                        0.0,
                        0.0,
                        1e6,
                    )?),
                },
                machine,
                controller: s.controller.unwrap_or_default(),
                rate_limiter: s.rate_limiter.unwrap_or_default(),
                client_burst: match s.client_burst {
                    None => client.burst.max(1),
                    Some(b) => {
                        count(err, "phases.steady.client_burst", Some(b), 1, 1_000_000)? as u32
                    }
                },
            };
            if plan.rate_limiter == RateLimiterScope::PerKind
                && plan.controller == ControllerKind::Simulated
            {
                return Err(err(
                    "phases.steady.rate_limiter",
                    "per-kind needs controller: reference (the simulation has one bucket per client)"
                        .into(),
                ));
            }
            if plan.wall_period() < Duration::from_millis(100) {
                return Err(err(
                    "phases.steady.time_scale",
                    format!(
                        "sync period {:?} / time scale {} leaves a wall period under 100 ms",
                        plan.sync_period, plan.time_scale
                    ),
                ));
            }
            Some(plan)
        }
    };
    let churn = match &p.churn {
        None => None,
        Some(c) => {
            needs_fleet("phases.churn")?;
            let fraction = c.fraction.unwrap_or(0.1);
            if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
                return Err(err(
                    "phases.churn.fraction",
                    format!("{fraction} must be > 0 and at most 1"),
                ));
            }
            Some(ChurnPlan {
                duration: required_seconds(
                    err,
                    "phases.churn.duration_seconds",
                    c.duration_seconds,
                )?,
                interval: Duration::from_secs_f64(real(
                    err,
                    "phases.churn.interval_seconds",
                    c.interval_seconds,
                    10.0,
                    0.0,
                    86400.0,
                )?),
                fraction,
                mode: c.mode.unwrap_or_default(),
                concurrency: count(err, "phases.churn.concurrency", c.concurrency, 10, 10_000)?,
            })
        }
    };
    let delete = match &p.delete {
        None => None,
        Some(d) => {
            needs_fleet("phases.delete")?;
            let default = create
                .as_ref()
                .map(|c| c.concurrency as u64)
                .unwrap_or(default_concurrency);
            Some(DeletePlan {
                concurrency: count(
                    err,
                    "phases.delete.concurrency",
                    d.concurrency,
                    default,
                    100_000,
                )?,
                rate: d
                    .objects_per_second
                    .map(|r| {
                        real(
                            err,
                            "phases.delete.objects_per_second",
                            Some(r),
                            0.0,
                            0.0,
                            1e6,
                        )
                    })
                    .transpose()?,
            })
        }
    };
    Ok(PhasePlans {
        create,
        steady,
        churn,
        delete,
    })
}
