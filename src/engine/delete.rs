//! The delete phase: deletion is a load too. Cluster workers delete each cluster's objects
//! newest first (dependents before owners), then the namespaces; closed loop, or open loop
//! at `objects_per_second` with latency counted from each delete's scheduled start.

use super::create::Schedule;
use super::request::PhaseContext;
use crate::backend::Target;
use crate::measure::Verb;
use crate::model::{self, FleetSpec, Object};
use crate::profile::phases::DeletePlan;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

async fn delete_one<T: Target>(
    ctx: &PhaseContext<T>,
    schedule: &Option<Arc<Schedule>>,
    o: &Object,
) {
    let intended = schedule
        .as_ref()
        .map(|s| s.next())
        .unwrap_or_else(Instant::now);
    let (api, ns, name) = (&o.api, o.namespace.as_deref(), o.name.as_str());
    ctx.call_from(
        intended,
        "delete",
        Verb::Delete,
        o.kind,
        |t: T| async move { t.delete(api, ns, name).await },
    )
    .await;
}

/// Deletes the shard's part of the fleet: its clusters (objects in reverse creation order),
/// then its namespaces.
pub async fn run<T: Target>(fleet: &Arc<FleetSpec>, ctx: &PhaseContext<T>, plan: &DeletePlan) {
    let schedule = plan
        .rate
        .map(|r| Arc::new(Schedule::new(Instant::now(), r)));
    let clusters = fleet.cluster_range();
    let (next, end) = (Arc::new(AtomicU64::new(clusters.start)), clusters.end);
    let workers = (0..plan.concurrency.max(1)).map(|_| {
        let (ctx, next, fleet, schedule) =
            (ctx.clone(), next.clone(), fleet.clone(), schedule.clone());
        tokio::spawn(async move {
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= end || ctx.stop.is_stopped() {
                    return;
                }
                let objs = model::cluster_objects(&fleet, c);
                for i in (0..objs.total() as u32).rev() {
                    if ctx.stop.is_stopped() {
                        return;
                    }
                    if let Some(o) = objs.get(i) {
                        delete_one(&ctx, &schedule, &o).await;
                    }
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    for i in fleet.namespace_range() {
        if ctx.stop.is_stopped() {
            return;
        }
        let objs: Vec<_> = model::namespace_objects(fleet, i).collect();
        for o in objs.iter().rev() {
            if ctx.stop.is_stopped() {
                return;
            }
            delete_one(ctx, &schedule, o).await;
        }
    }
}
