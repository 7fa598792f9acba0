//! What the planner knows about the target: measured in a `breakpoints` run, or built-in
//! defaults that say they are unmeasured.

use crate::report::breakpoints::{Bottleneck, BreakpointsReport, RowStatus};
use serde::Serialize;
use std::path::Path;

/// One calibrated number and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The value.
    pub value: f64,
    /// Where it came from: `measured in <run> (<row>): …` or `default (unmeasured): …`.
    pub source: String,
    /// True when it was measured on a target.
    pub measured: bool,
}

impl Figure {
    fn default(value: f64, why: &str) -> Figure {
        Figure {
            value,
            source: format!("default (unmeasured): {why}"),
            measured: false,
        }
    }
}

/// The calibration of the planner's formulas.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Measured / model for the client-QPS breakpoint (1 = the model is exact).
    pub client_qps_factor: Figure,
    /// Measured / model for the concurrency breakpoint.
    pub concurrency_factor: Figure,
    /// etcd writes per second the target sustains through the apiserver.
    pub etcd_write_ceiling: Figure,
    /// etcd db bytes per model byte (key + value): compaction, b-tree and page overhead.
    pub etcd_bytes_factor: Figure,
    /// Requests in flight at which the apiserver starts answering 429 to one identity.
    pub apf_onset_in_flight: Figure,
    /// kube-apiserver memory, when a suite measured it (no default: without a measurement
    /// the plan says so and recommends no memory request).
    pub apiserver_memory: Option<ApiserverMemoryCalibration>,
}

/// kube-apiserver memory as the `apiserver-memory` row measured it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiserverMemoryCalibration {
    /// Resident bytes per byte etcd stores (keys + values), from the row's fleet: what
    /// scales the measurement to another fleet shape.
    pub bytes_per_stored_byte: Figure,
    /// The apiserver's resident set without the fleet (bytes; the fit's intercept).
    pub base_bytes: Figure,
    /// The memory limits the row sized against (bytes, ascending).
    pub limits_bytes: Vec<f64>,
}

/// Why a calibration directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// Missing or unreadable breakpoints.json.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Where the embedded reference comes from, relative to the repository.
pub const REFERENCE_PATH: &str = "results/reference/breakpoints/breakpoints.json";
const REFERENCE: &str = include_str!("../../results/reference/breakpoints/breakpoints.json");

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            client_qps_factor: Figure::default(1.0, "the model N* = QPS x period / calls taken as exact"),
            concurrency_factor: Figure::default(1.0, "the model N* = concurrency x period / reconcile duration taken as exact"),
            etcd_write_ceiling: Figure::default(8950.0, "etcd's own Go benchmark tool, 1 member on 2 cores, not through an apiserver"),
            etcd_bytes_factor: Figure::default(1.26, "db bytes / (key + value) bytes measured once on etcd 3.4 (results/reference/breakpoints)"),
            apf_onset_in_flight: Figure::default(315.0, "APF model for the local apiserver's limits: workload-low 15 seats + 6 queues x 50"),
            apiserver_memory: None,
        }
    }
}

impl Calibration {
    /// Reads `breakpoints.json` from a results directory (or from its `breakpoints/`
    /// subdirectory, as `results/reference` holds it). Rows that were not measured keep
    /// the defaults.
    pub fn from_dir(dir: &Path) -> Result<Calibration, CalibrationError> {
        let path = [
            dir.join("breakpoints.json"),
            dir.join("breakpoints/breakpoints.json"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join("breakpoints.json"));
        let read_err = |message: String| CalibrationError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| read_err(e.to_string()))?;
        Self::from_text(&text, &path)
    }

    /// The reference measurement shipped with the tool (`results/reference/breakpoints`,
    /// measured on the local environment's default kube-apiserver and etcd on a 2-core
    /// machine): what `plan` uses when no `--calibration` is given.
    pub fn reference() -> Calibration {
        Self::from_text(REFERENCE, Path::new(REFERENCE_PATH))
            .expect("the embedded reference breakpoints.json parses (checked by a unit test)")
    }

    /// Reads a `breakpoints.json` text; `path` names it in the figures' sources.
    pub fn from_text(text: &str, path: &Path) -> Result<Calibration, CalibrationError> {
        let read_err = |message: String| CalibrationError::Read {
            path: path.display().to_string(),
            message,
        };
        let r: BreakpointsReport = serde_json::from_str(text)
            .map_err(|e| read_err(format!("not a breakpoints.json: {e}")))?;
        let mut c = Calibration::default();
        for row in &r.rows {
            if let (Some(m), RowStatus::Measured) = (&row.memory, row.status) {
                let fit = &m.resident_per_cluster;
                let src = format!(
                    "measured in run {} ({}, row {}): {:.0} resident bytes per cluster (R² {:.3}) / {:.0} stored bytes per cluster",
                    r.run_id,
                    path.display(),
                    row.id,
                    fit.bytes_per_unit,
                    fit.r_squared,
                    m.etcd_bytes_per_cluster
                );
                c.apiserver_memory = Some(ApiserverMemoryCalibration {
                    bytes_per_stored_byte: Figure {
                        value: m.resident_to_etcd_ratio,
                        source: src,
                        measured: true,
                    },
                    base_bytes: Figure {
                        value: fit.base_bytes.max(0.0),
                        source: format!(
                            "measured in run {} (row {}): the fit's intercept",
                            r.run_id, row.id
                        ),
                        measured: true,
                    },
                    limits_bytes: m.limits.iter().map(|l| l.limit_bytes).collect(),
                });
                continue;
            }
            let (Some(measured), Some(model)) = (row.measured, row.model) else {
                continue;
            };
            if !(measured.is_finite() && model.is_finite() && measured > 0.0 && model > 0.0) {
                continue;
            }
            let src = |what: String| Figure {
                value: 0.0,
                source: format!(
                    "measured in run {} ({}, row {}): {what}",
                    r.run_id,
                    path.display(),
                    row.id
                ),
                measured: true,
            };
            match row.id {
                Bottleneck::ClientQps => {
                    c.client_qps_factor = Figure {
                        value: measured / model,
                        ..src(format!(
                            "{measured:.0} clusters measured / {model:.0} modelled"
                        ))
                    }
                }
                Bottleneck::Concurrency => {
                    c.concurrency_factor = Figure {
                        value: measured / model,
                        ..src(format!(
                            "{measured:.0} clusters measured / {model:.0} modelled"
                        ))
                    }
                }
                Bottleneck::EtcdWrites => {
                    c.etcd_write_ceiling = Figure {
                        value: measured,
                        ..src(format!(
                            "{measured:.0} writes/s of CAPI objects through the apiserver"
                        ))
                    }
                }
                Bottleneck::EtcdSize => {
                    // Both are clusters at the same quota: model / measured = db bytes per
                    // model byte.
                    c.etcd_bytes_factor = Figure {
                        value: model / measured,
                        ..src(format!("{model:.0} clusters modelled / {measured:.0} measured at the same quota"))
                    }
                }
                Bottleneck::Apf => {
                    c.apf_onset_in_flight = Figure {
                        value: measured,
                        ..src(format!("429s from {measured:.0} concurrent requests"))
                    }
                }
                // Read from its fit above; a row without one has nothing to scale.
                Bottleneck::ApiserverMemory => {}
                // A property of the webhook pods, not of the fleet's size.
                Bottleneck::Webhooks => {}
            }
        }
        Ok(c)
    }
}
