//! What the planner knows about the target: measured in a `breakpoints` run, or built-in
//! defaults that say they are unmeasured.

use crate::report::breakpoints::{Bottleneck, BreakpointsReport};
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

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            client_qps_factor: Figure::default(1.0, "the model N* = QPS x period / calls taken as exact"),
            concurrency_factor: Figure::default(1.0, "the model N* = concurrency x period / reconcile duration taken as exact"),
            etcd_write_ceiling: Figure::default(8950.0, "etcd's own Go benchmark tool, 1 member on 2 cores, not through an apiserver"),
            etcd_bytes_factor: Figure::default(1.26, "db bytes / (key + value) bytes measured once on etcd 3.4 (results/reference/breakpoints)"),
            apf_onset_in_flight: Figure::default(315.0, "APF model for the local apiserver's limits: workload-low 15 seats + 6 queues x 50"),
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
        let r: BreakpointsReport = serde_json::from_str(&text)
            .map_err(|e| read_err(format!("not a breakpoints.json: {e}")))?;
        let mut c = Calibration::default();
        for row in &r.rows {
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
            }
        }
        Ok(c)
    }
}
