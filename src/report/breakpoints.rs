//! `breakpoints.json` and `breakpoints.md`: one row per documented Cluster API scaling
//! bottleneck ([`Bottleneck`]), with the documented value, the model's prediction, what was
//! measured here and the plots that show it. `docs/breakpoints.md` explains the table and
//! its public sources.

pub use super::numbers::group;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Version of `breakpoints.json` (see `results/breakpoints.schema.json`). 2 added the
/// `apiserver-memory` row, its `memory` fit, and a null `documented_clusters` where the
/// write-ups give no cluster count; 3 added the status `bound_elsewhere`.
pub const SCHEMA_VERSION: u32 = 3;

/// How an experiment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// A breakpoint was measured.
    Measured,
    /// The experiment ran but the curve did not break within the swept range.
    NotReached,
    /// Not run (not selected, or not safe on the named target).
    Skipped,
    /// The experiment could not run to the end.
    Failed,
    /// The curve broke, but what bound it is not what the row measures (the tool itself,
    /// or another limit): the knee is not this row's breakpoint (`measured_note` says what
    /// bound it).
    BoundElsewhere,
}

/// The documented bottlenecks of a Cluster API management cluster, in the order a growing
/// fleet usually meets them (see `docs/breakpoints.md` for the sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bottleneck {
    /// The controllers' client-side rate limit (QPS / burst).
    ClientQps,
    /// The controllers' reconcile workers (`--cluster-concurrency`).
    Concurrency,
    /// etcd's write throughput.
    EtcdWrites,
    /// etcd's database size against its quota.
    EtcdSize,
    /// kube-apiserver's in-flight limits as API Priority and Fairness divides them.
    Apf,
    /// kube-apiserver's memory (its watch cache holds every stored object) against a
    /// memory limit.
    ApiserverMemory,
    /// Admission webhooks: every write waits for kube-apiserver's call to them; a webhook
    /// pod's capacity bounds the write rate.
    Webhooks,
}

/// What the public write-ups document for one bottleneck.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Documented {
    /// The bottleneck's name.
    pub bottleneck: &'static str,
    /// The documented value, in words.
    pub value: &'static str,
    /// The documented value in clusters, when the write-ups give one.
    pub clusters: Option<f64>,
    /// The unit the experiment measures in.
    pub unit: &'static str,
}

impl Bottleneck {
    /// Every row, in the table's order.
    pub const ALL: [Bottleneck; 7] = [
        Bottleneck::ClientQps,
        Bottleneck::Concurrency,
        Bottleneck::EtcdWrites,
        Bottleneck::EtcdSize,
        Bottleneck::Apf,
        Bottleneck::ApiserverMemory,
        Bottleneck::Webhooks,
    ];

    /// The row's id in `breakpoints.json` and `--only`.
    pub fn id(self) -> &'static str {
        match self {
            Bottleneck::ClientQps => "client-qps",
            Bottleneck::Concurrency => "concurrency",
            Bottleneck::EtcdWrites => "etcd-writes",
            Bottleneck::EtcdSize => "etcd-size",
            Bottleneck::Apf => "apf",
            Bottleneck::ApiserverMemory => "apiserver-memory",
            Bottleneck::Webhooks => "webhooks",
        }
    }

    /// The row with this id.
    pub fn parse(id: &str) -> Option<Bottleneck> {
        Bottleneck::ALL.into_iter().find(|b| b.id() == id)
    }
}

impl std::fmt::Display for Bottleneck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// One bottleneck.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Which bottleneck (`client-qps`, `concurrency`, `etcd-writes`, `etcd-size`, `apf`,
    /// `apiserver-memory`, `webhooks`).
    pub id: Bottleneck,
    /// The bottleneck's name.
    pub bottleneck: String,
    /// What the public write-ups document.
    pub documented: String,
    /// The documented value in clusters; null where the write-ups give none.
    pub documented_clusters: Option<f64>,
    /// The model's prediction in this row's unit, when there is a model.
    pub model: Option<f64>,
    /// How the prediction is computed, with its inputs.
    pub model_note: String,
    /// The measured breakpoint in this row's unit, when reached.
    pub measured: Option<f64>,
    /// Unit of `model` and `measured`.
    pub unit: String,
    /// The measurement in clusters, when the row's unit converts.
    pub measured_clusters: Option<f64>,
    /// What was measured, in words (also when not reached).
    pub measured_note: String,
    /// How the experiment ended.
    pub status: RowStatus,
    /// What the experiment scaled (time, limits, quota) and why that preserves the
    /// breakpoint.
    pub scaling: String,
    /// Plots (paths relative to the results folder).
    pub evidence: Vec<String>,
    /// Where the experiment's own results are (relative to the results folder).
    pub results: Option<String>,
    /// Wall seconds the experiment took.
    pub seconds: f64,
    /// The `apiserver-memory` row's fit and what it implies (absent on other rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<super::apiserver_memory::MemoryFit>,
}

impl Row {
    /// Row `id` with its documented facts and nothing measured yet.
    pub fn blank(id: Bottleneck, d: Documented) -> Row {
        Row {
            id,
            bottleneck: d.bottleneck.into(),
            documented: d.value.into(),
            documented_clusters: d.clusters,
            model: None,
            model_note: String::new(),
            measured: None,
            unit: d.unit.into(),
            measured_clusters: None,
            measured_note: String::new(),
            status: RowStatus::Skipped,
            scaling: String::new(),
            evidence: Vec::new(),
            results: None,
            seconds: 0.0,
            memory: None,
        }
    }
}

/// `breakpoints.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakpointsReport {
    /// Schema version.
    pub schema_version: u32,
    /// The suite's run id (experiments are `<id>-<row>`).
    pub run_id: String,
    /// Tool version.
    pub tool_version: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall seconds for the whole suite.
    pub duration_seconds: f64,
    /// Where the experiments ran (`local`, or the named kubeconfig / etcd endpoint).
    pub target: String,
    /// One row per bottleneck, in [`Bottleneck::ALL`]'s order.
    pub rows: Vec<Row>,
    /// Whether every selected experiment ran to its end.
    pub complete: bool,
}

fn num(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{} {unit}", group(x)),
        Some(x) => format!("{x:.1} {unit}"),
        None => "-".into(),
    }
}

/// Holds a row's knee to what bound it: when `bound` (from the sweep's data) is not
/// `expected`, the row's status becomes [`RowStatus::BoundElsewhere`], its measurement is
/// withdrawn and its note says what bound the knee. A knee found while the tool was
/// saturated never counts.
pub fn hold_to_bound(
    row: &mut Row,
    bound: Option<&crate::sweep::bound::KneeBound>,
    expected: crate::sweep::bound::Bound,
) {
    let Some(b) = bound else { return };
    if row.status != RowStatus::Measured {
        return;
    }
    if b.bound == expected && !b.generator_saturated {
        let _ = write!(
            row.measured_note,
            " Bound by {}: {}.",
            b.bound.describe(),
            b.evidence
        );
        return;
    }
    row.status = RowStatus::BoundElsewhere;
    row.measured_note = format!(
        "Not this row's breakpoint: the curve broke at {}, but what bound it was {} ({}), not {}. {}",
        num(row.measured, &row.unit),
        b.bound.describe(),
        b.evidence,
        expected.describe(),
        row.measured_note
    );
    row.measured = None;
    row.measured_clusters = None;
}

/// Renders `breakpoints.md`.
pub fn markdown(r: &BreakpointsReport) -> String {
    let mut o = format!(
        "# Breakpoints {}\n\ncapi-loadgen {} against {}, started {}, {:.0} s in all{}.\n\n",
        r.run_id,
        r.tool_version,
        r.target,
        r.started_at,
        r.duration_seconds,
        if r.complete {
            ""
        } else {
            " (**incomplete**: see the rows marked failed)"
        }
    );
    o += "| row | bottleneck | documented | model prediction | measured here | evidence (plot) |\n|---|---|---|---|---|---|\n";
    for (i, row) in r.rows.iter().enumerate() {
        let measured = match row.status {
            RowStatus::Measured => {
                let mut m = num(row.measured, &row.unit);
                if let (Some(c), false) = (row.measured_clusters, row.unit.starts_with("clusters"))
                {
                    let _ = write!(m, " (~{} clusters)", group(c));
                }
                m
            }
            RowStatus::NotReached => "not reached in range".into(),
            RowStatus::Skipped => "skipped".into(),
            RowStatus::Failed => "failed".into(),
            RowStatus::BoundElsewhere => "bound elsewhere (see below)".into(),
        };
        let evidence = row
            .evidence
            .iter()
            .map(|p| format!("[{}]({p})", p.rsplit('/').next().unwrap_or(p)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            row.bottleneck,
            row.documented,
            num(row.model, &row.unit),
            measured,
            if evidence.is_empty() {
                "-".into()
            } else {
                evidence
            }
        );
    }
    o += "\n";
    for (i, row) in r.rows.iter().enumerate() {
        let _ = writeln!(o, "## {}. {} (`{}`)\n", i + 1, row.bottleneck, row.id);
        let _ = writeln!(o, "**Measured.** {}\n", row.measured_note);
        let _ = writeln!(o, "**Model.** {}\n", row.model_note);
        let _ = writeln!(o, "**Scaling.** {}\n", row.scaling);
        if let Some(d) = &row.results {
            let _ = writeln!(o, "Results: [`{d}`]({d}); {:.0} s.\n", row.seconds);
        }
        if let Some(m) = &row.memory {
            o += &super::apiserver_memory::markdown(m);
        }
        for p in &row.evidence {
            let _ = writeln!(o, "![{}]({p})\n", row.id);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(999.4), "999");
        assert_eq!(group(1000.0), "1,000");
        assert_eq!(group(45213.0), "45,213");
        assert_eq!(group(1234567.0), "1,234,567");
        assert_eq!(group(-2500.0), "-2,500");
    }

    #[test]
    fn a_knee_bound_elsewhere_is_not_the_rows_breakpoint() {
        use crate::sweep::bound::{Bound, KneeBound};
        let measured = || Row {
            status: RowStatus::Measured,
            measured: Some(600.0),
            measured_clusters: Some(600.0),
            ..Row::blank(
                Bottleneck::ClientQps,
                Documented {
                    bottleneck: "b",
                    value: "v",
                    clusters: Some(600.0),
                    unit: "clusters",
                },
            )
        };
        let by = |bound, generator_saturated| KneeBound {
            bound,
            generator_saturated,
            evidence: "numbers".into(),
        };
        let mut own = measured();
        hold_to_bound(
            &mut own,
            Some(&by(Bound::ClientLimit, false)),
            Bound::ClientLimit,
        );
        assert_eq!(
            (own.status, own.measured),
            (RowStatus::Measured, Some(600.0))
        );
        assert!(
            own.measured_note.contains("Bound by the client limit"),
            "{}",
            own.measured_note
        );
        for other in [by(Bound::Target, false), by(Bound::Generator, true)] {
            let mut row = measured();
            hold_to_bound(&mut row, Some(&other), Bound::ClientLimit);
            assert_eq!(
                (row.status, row.measured),
                (RowStatus::BoundElsewhere, None)
            );
            assert!(
                row.measured_note.starts_with("Not this row's breakpoint"),
                "{}",
                row.measured_note
            );
            let report = BreakpointsReport {
                schema_version: SCHEMA_VERSION,
                run_id: "r".into(),
                tool_version: "0".into(),
                started_at: "t".into(),
                duration_seconds: 1.0,
                target: "local".into(),
                rows: vec![row],
                complete: true,
            };
            assert!(markdown(&report).contains("bound elsewhere"));
        }
    }

    #[test]
    fn row_ids_round_trip_as_in_breakpoints_json() {
        for b in Bottleneck::ALL {
            assert_eq!(Bottleneck::parse(b.id()), Some(b));
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.id()));
        }
        assert_eq!(Bottleneck::parse("nope"), None);
        assert!(serde_json::from_str::<Bottleneck>("\"nope\"").is_err());
    }
}
