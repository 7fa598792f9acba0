//! The etcd database size experiment of the breakpoints suite: fill a small etcd quota through the apiserver
//! until etcd answers NOSPACE, measure bytes per cluster, project to 2 GiB and 8 GiB, then
//! make the etcd usable again (delete the run's objects, compact, defragment, disarm) and
//! prove it with a write through the apiserver.

use super::{Experiment, Needs, RowFacts, RowFuture, Suite};
use crate::engine::{Stop, StopHandle};
use crate::error::Error;
use crate::model::{self, Kind};
use crate::profile::{self, Overrides};
use crate::report::breakpoints::{group, Bottleneck, Documented, Row, RowStatus};
use crate::report::Summary;
use crate::runner::Connected;
use crate::runner::{execute, with_target};
use crate::stored::sizing::model_bytes_per_cluster;
use std::path::{Path, PathBuf};

/// The etcd-size row.
pub struct EtcdSize;

/// The row's facts.
const FACTS: RowFacts = RowFacts {
    id: Bottleneck::EtcdSize,
    short: "size",
    documented: Documented {
        bottleneck: "etcd database size",
        value: "5,000 clusters",
        clusters: Some(5000.0),
        unit: "clusters at 8 GiB",
    },
    profile: (
        "profiles/breakpoints/etcd-size.yaml",
        include_str!("../../../profiles/breakpoints/etcd-size.yaml"),
    ),
    needs: Needs::Any,
};

impl Experiment for EtcdSize {
    fn facts(&self) -> &'static RowFacts {
        &FACTS
    }
    fn run<'a>(&'a self, s: &'a Suite) -> RowFuture<'a> {
        Box::pin(etcd_size_row(&s.run_id, &s.dir, s.local, self.profile().1))
    }
}

/// Runs the etcd-size row (only on the local environment: it fills etcd on purpose).
pub async fn etcd_size_row(
    run_id: &str,
    dir: &Path,
    local: bool,
    text: &str,
) -> Result<Row, Error> {
    let b = EtcdSize;
    let id = b.id().id();
    let mut row = Row {
        scaling: "A 64 MiB quota instead of 2 GiB or 8 GiB: bytes per cluster do not depend on the quota, so filling 64 MiB measures them in seconds and the clusters at 2 GiB and 8 GiB follow by proportion (a lower bound: a real cluster also stores Events, Leases and the revisions compaction has not yet removed).".into(),
        ..b.row()
    };
    if !local {
        row.measured_note =
            "Skipped: this experiment fills etcd to its quota and runs only on the local environment.".into();
        return Ok(row);
    }
    let source = PathBuf::from("profiles/breakpoints/etcd-size.yaml");
    let out = dir.join(id);
    let plan = profile::parse_str(
        &source,
        text,
        &Overrides {
            run_id: Some(format!("{run_id}-size")),
            out: Some(out.clone()),
            ..Default::default()
        },
    )?;
    let quota = match &plan.target {
        crate::profile::TargetPlan::Local(o) => o.quota_backend_bytes.unwrap_or(2 << 30),
        _ => 2 << 30,
    };
    let api_group = plan.fleet.api_group.clone();
    let (summary, rec) = with_target(&plan, async |c: &Connected, h: StopHandle, s: Stop| {
        match execute(&plan, c, h, s).await {
            Ok(_) | Err(Error::QuotaFull { .. } | Error::TargetFailed { .. }) => {}
            Err(e) => return Err(e),
        }
        let summary = Summary::read(&plan.out_dir).map_err(|e| Error::io(&plan.out_dir, e))?;
        let rec = crate::runner::recover::recover(c, &plan.run_id, &api_group).await?;
        Ok((summary, rec))
    })
    .await?;
    row.results = Some(format!("{id}/report.md"));
    if let Some(o) = &summary.observed {
        // Evidence: the db filling up to the quota line.
        let points: Vec<(f64, f64)> = o
            .points
            .iter()
            .filter_map(|p| Some((p.second, p.etcd_db_size? / 1048576.0)))
            .collect();
        let c = crate::sweep::points::Curve {
            metric: "etcd_db_size".into(),
            unit: "MiB".into(),
            threshold: quota as f64 / 1048576.0,
            crossing: crate::sweep::knee::threshold_crossing(&points, quota as f64 / 1048576.0),
            knee: crate::sweep::knee::Breakpoint::NotReached,
            ceiling: None,
            prediction: None,
            prediction_formula: None,
            points,
        };
        if c.points.len() >= 2 {
            let svg = crate::report::plot::svg(&c, "seconds into the run", None)?;
            let p = out.join("etcd_db_size.svg");
            std::fs::write(&p, svg).map_err(|e| Error::io(&p, e))?;
            row.evidence.push(format!("{id}/etcd_db_size.svg"));
        }
    }
    let per_cluster_objects = model::cluster_objects(&plan.fleet, 0).count() as f64;
    let created: u64 = summary
        .operations
        .iter()
        .filter(|o| o.phase == "create" && o.kind != Kind::Namespace.label())
        .map(|o| o.counts.ok)
        .sum();
    let clusters = created as f64 / per_cluster_objects.max(1.0);
    let start = summary
        .observed
        .as_ref()
        .and_then(|o| o.etcd_db_size_start)
        .unwrap_or(0.0);
    let growth = rec.db_full as f64 - start;
    let model_bpc = model_bytes_per_cluster(&plan.fleet);
    row.model = Some((8u64 << 30) as f64 / model_bpc);
    row.model_note = format!(
        "The fleet model stores {} bytes per cluster (keys + values exactly as kube-apiserver encodes them; {} objects per cluster: 3 control-plane and 3 worker Metal3 machines, their bootstrap configs and Secrets): {} clusters at 8 GiB, {} at 2 GiB, before bbolt's page and revision overhead.",
        group(model_bpc),
        per_cluster_objects,
        group((8u64 << 30) as f64 / model_bpc),
        group((2u64 << 30) as f64 / model_bpc)
    );
    let filled = summary
        .stop_reason
        .as_deref()
        .is_some_and(|r| r.contains("quota"));
    if !filled || clusters < 1.0 || growth <= 0.0 {
        row.status = RowStatus::NotReached;
        row.measured_note = format!(
            "The {} MiB quota did not fill: {} objects created, db {} bytes ({}).",
            quota >> 20,
            created,
            rec.db_full,
            summary.stop_reason.as_deref().unwrap_or("completed")
        );
        return Ok(row);
    }
    let bpc = growth / clusters;
    let at = |q: u64| q as f64 / bpc;
    row.status = RowStatus::Measured;
    row.measured = Some(at(8 << 30));
    row.measured_clusters = Some(at(8 << 30));
    row.measured_note = format!(
        "etcd answered NOSPACE after {:.0} clusters ({} objects) in a {} MiB quota: the db grew {} bytes, {} bytes per cluster ({:.2}x the model's key + value bytes). That is ~{} clusters at the 2 GiB default and ~{} at the 8 GiB suggested maximum. Recovery: NOSPACE alarm {}, the run's objects deleted {}, compact + defragment + disarm brought the db from {:.1} MiB to {:.1} MiB, and a write through the apiserver then {} ({:.1} s).",
        clusters,
        group(created as f64),
        quota >> 20,
        group(growth),
        group(bpc),
        bpc / model_bpc,
        group(at(2 << 30)),
        group(at(8 << 30)),
        if rec.armed { "armed" } else { "not armed (!)" },
        if rec.deleted_ok { "by label" } else { "only partly (see the log)" },
        rec.db_full as f64 / 1048576.0,
        rec.db_after as f64 / 1048576.0,
        if rec.write_ok { "succeeded" } else { "FAILED" },
        rec.seconds
    );
    if !rec.write_ok || !rec.armed {
        row.status = RowStatus::Failed;
    }
    Ok(row)
}
