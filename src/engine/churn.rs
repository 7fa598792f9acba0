//! The churn phase: every `interval`, a `fraction` of the fleet's worker machines is
//! replaced, like a rolling upgrade (`recreate`: the Machine, its KubeadmConfig, provider
//! machine and bootstrap Secret are deleted and created again, owners' real UIDs looked up
//! as a MachineSet controller knows them) or changed in place (`update`: one PATCH of each
//! Machine). Rounds walk the workers in order, so successive rounds touch different machines.

use super::request::PhaseContext;
use crate::measure::Verb;
use crate::model::create_body;
use crate::model::{self, FleetSpec, Kind, Object};
use crate::profile::phases::ChurnPlan;
use crate::profile::ChurnMode;
use crate::target::Target;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";

/// A worker machine's objects: Machine first, then its KubeadmConfig, provider machine and
/// bootstrap Secret, and the MachineSet that owns the Machine.
struct WorkerMachine {
    machine_set: Object,
    objects: Vec<Object>,
}

/// The worker machines of one cluster, in model order.
fn workers_of(fleet: &FleetSpec, cluster: u64) -> Vec<WorkerMachine> {
    let objs: Vec<Object> = model::cluster_objects(fleet, cluster).collect();
    let by_index: HashMap<u32, &Object> = objs.iter().map(|o| (o.index, o)).collect();
    objs.iter()
        .filter(|o| {
            o.kind == Kind::Machine
                && o.body["metadata"]["labels"]
                    .get(CONTROL_PLANE_LABEL)
                    .is_none()
        })
        .filter_map(|m| {
            let ms = m.owners.first().and_then(|i| by_index.get(i))?;
            let mut group = vec![m.clone()];
            // Dependents of the Machine, and the bootstrap Secret owned by its KubeadmConfig.
            for o in &objs {
                let owned_by_machine = o.owners.contains(&m.index);
                let owned_by_config = o.kind == Kind::Secret
                    && o.owners.iter().any(|i| {
                        by_index.get(i).is_some_and(|x| {
                            x.kind == Kind::KubeadmConfig && x.owners.contains(&m.index)
                        })
                    });
                if owned_by_machine || owned_by_config {
                    group.push(o.clone());
                }
            }
            Some(WorkerMachine {
                machine_set: (*ms).clone(),
                objects: group,
            })
        })
        .collect()
}

async fn recreate<T: Target>(ctx: &PhaseContext<T>, w: &WorkerMachine) {
    // Delete dependents first, the Machine last.
    for o in w.objects.iter().rev() {
        let (api, ns, name) = (&o.api, o.namespace.as_deref(), o.name.as_str());
        ctx.call("churn", Verb::Delete, o.kind, |t: T| async move {
            t.delete(api, ns, name).await
        })
        .await;
    }
    // The MachineSet's UID, as its controller knows it.
    let ms = &w.machine_set;
    let (api, ns, name) = (&ms.api, ms.namespace.as_deref(), ms.name.as_str());
    let ms_uid = ctx
        .call("churn", Verb::Get, Kind::MachineSet, |t: T| async move {
            t.get(api, ns, name).await
        })
        .await
        .and_then(|v| v["metadata"]["uid"].as_str().map(str::to_string));
    let mut uids: HashMap<u32, String> = HashMap::new();
    if let Some(u) = ms_uid {
        uids.insert(ms.index, u);
    }
    for o in &w.objects {
        let body = create_body(o, &uids);
        let created = ctx.call("churn", Verb::Create, o.kind, |t: T| {
            let body = &body;
            async move { t.create(o, body).await }
        });
        if let Some(uid) = created.await.and_then(|c| c.uid) {
            uids.insert(o.index, uid);
        }
    }
}

async fn update<T: Target>(ctx: &PhaseContext<T>, w: &WorkerMachine, round: u64) {
    let m = &w.objects[0];
    let patch = serde_json::json!({"metadata": {"annotations": {"capi-loadgen.io/churn-round": round.to_string()}}});
    let (api, ns, name, p) = (&m.api, m.namespace.as_deref(), m.name.as_str(), &patch);
    ctx.call("churn", Verb::Patch, Kind::Machine, |t: T| async move {
        t.patch(api, ns, name, p, false).await
    })
    .await;
}

/// Runs churn rounds for `plan.duration`; returns the number of machines churned.
pub async fn run<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    plan: &ChurnPlan,
) -> u64 {
    let per_cluster =
        u64::from(fleet.machine_deployments) * u64::from(fleet.workers_per_machine_deployment);
    let base = fleet.cluster_range().start;
    let total = per_cluster * fleet.shard_clusters();
    if total == 0 {
        return 0;
    }
    let per_round = ((total as f64 * plan.fraction).ceil() as u64).clamp(1, total);
    let t0 = Instant::now();
    let end = t0 + plan.duration;
    let (mut cursor, mut churned, mut round) = (0u64, 0u64, 0u64);
    while Instant::now() < end && !ctx.stop.is_stopped() {
        // This round's machines: `per_round` workers from the cursor on, grouped by cluster.
        let mut picks: Vec<(u64, Vec<u64>)> = Vec::new();
        for k in 0..per_round {
            let w = (cursor + k) % total;
            let (c, i) = (base + w / per_cluster, w % per_cluster);
            match picks.last_mut() {
                Some((lc, v)) if *lc == c => v.push(i),
                _ => picks.push((c, vec![i])),
            }
        }
        cursor = (cursor + per_round) % total;
        let jobs: Vec<WorkerMachine> = picks
            .into_iter()
            .flat_map(|(c, idx)| {
                // `idx` is ascending: keep the cluster's workers at those positions.
                workers_of(fleet, c)
                    .into_iter()
                    .enumerate()
                    .filter(move |(i, _)| idx.contains(&(*i as u64)))
                    .map(|(_, w)| w)
            })
            .collect();
        let n = jobs.len() as u64;
        futures::stream::iter(jobs)
            .for_each_concurrent(plan.concurrency, |w| async move {
                if ctx.stop.is_stopped() {
                    return;
                }
                match plan.mode {
                    ChurnMode::Recreate => recreate(ctx, &w).await,
                    ChurnMode::Update => update(ctx, &w, round).await,
                }
            })
            .await;
        churned += n;
        round += 1;
        let next = t0 + plan.interval.mul_f64(round as f64);
        if next >= end {
            break;
        }
        let mut stop = ctx.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {},
            _ = stop.stopped() => {},
        }
    }
    churned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_worker_with_its_dependents() {
        let mut spec = FleetSpec::example("churn");
        spec.machine_deployments = 2;
        spec.workers_per_machine_deployment = 3;
        let w = workers_of(&spec, 0);
        assert_eq!(w.len(), 6);
        for m in &w {
            let kinds: Vec<Kind> = m.objects.iter().map(|o| o.kind).collect();
            assert_eq!(kinds[0], Kind::Machine);
            assert!(
                kinds.contains(&Kind::KubeadmConfig)
                    && kinds.contains(&Kind::InfraMachine)
                    && kinds.contains(&Kind::Secret),
                "{kinds:?}"
            );
            assert_eq!(m.objects.len(), 4);
            assert_eq!(m.machine_set.kind, Kind::MachineSet);
        }
    }
}
