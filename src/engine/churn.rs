//! The churn phase: every `interval`, a `fraction` of the fleet's worker machines is
//! replaced, like a rolling upgrade (`recreate`: the Machine, its KubeadmConfig, provider
//! machine and bootstrap Secret are deleted and created again, owners' real UIDs looked up
//! as a MachineSet controller knows them) or changed in place (`update`: one PATCH of each
//! Machine). Rounds walk the workers in order, so successive rounds touch different machines.

use super::request::PhaseContext;
use crate::backend::Target;
use crate::measure::Verb;
use crate::model::create_body;
use crate::model::{self, FleetSpec, Kind, Object};
use crate::profile::phases::ChurnPlan;
use crate::profile::ChurnMode;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

/// A worker machine's objects: Machine first, then its KubeadmConfig, provider machine and
/// bootstrap Secret, and the MachineSet that owns the Machine.
struct WorkerMachine {
    machine_set: Object,
    objects: Vec<Object>,
}

/// Worker machine `w` (0-based, in model order: the machines after the control plane) of
/// `cluster`, built from the sequence's layout: the Machine and the three objects that
/// follow it (KubeadmConfig, provider machine, bootstrap Secret) and its MachineSet, five
/// objects whatever the cluster's size. None past the last worker.
fn worker_machine(fleet: &FleetSpec, cluster: u64, w: u64) -> Option<WorkerMachine> {
    let objs = model::cluster_objects(fleet, cluster);
    let i = objs.machine_index(u64::from(fleet.control_plane_replicas) + w)?;
    let objects: Vec<Object> = (i..i + 4).filter_map(|j| objs.get(j)).collect();
    let machine_set = objects
        .first()
        .filter(|m| m.kind == Kind::Machine)
        .and_then(|m| m.owners.first())
        .and_then(|o| objs.get(*o))
        .filter(|ms| ms.kind == Kind::MachineSet)?;
    Some(WorkerMachine {
        machine_set,
        objects,
    })
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
        // This round's machines: `per_round` workers from the cursor on, each built when a
        // slot is free, so a round holds `concurrency` machines' objects at a time.
        let first = cursor;
        let n = futures::stream::iter(0..per_round)
            .map(|k| async move {
                let w = (first + k) % total;
                if ctx.stop.is_stopped() {
                    return 0;
                }
                let Some(m) = worker_machine(fleet, base + w / per_cluster, w % per_cluster) else {
                    return 0;
                };
                match plan.mode {
                    ChurnMode::Recreate => recreate(ctx, &m).await,
                    ChurnMode::Update => update(ctx, &m, round).await,
                }
                1u64
            })
            .buffer_unordered(plan.concurrency.max(1))
            .fold(0u64, |n, one| async move { n + one })
            .await;
        cursor = (cursor + per_round) % total;
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

    /// The worker machines found the long way, from the whole cluster held at once: every
    /// Machine without the control-plane label, the objects it owns and the bootstrap
    /// Secret its KubeadmConfig owns.
    fn workers_by_ownership(fleet: &FleetSpec, cluster: u64) -> Vec<WorkerMachine> {
        let objs: Vec<Object> = model::cluster_objects(fleet, cluster).collect();
        let by_index: HashMap<u32, &Object> = objs.iter().map(|o| (o.index, o)).collect();
        objs.iter()
            .filter(|o| {
                o.kind == Kind::Machine
                    && o.body["metadata"]["labels"]
                        .get("cluster.x-k8s.io/control-plane")
                        .is_none()
            })
            .filter_map(|m| {
                let ms = m.owners.first().and_then(|i| by_index.get(i))?;
                let objects = objs
                    .iter()
                    .filter(|o| {
                        o.owners.contains(&m.index)
                            || (o.kind == Kind::Secret
                                && o.owners.iter().any(|i| {
                                    by_index.get(i).is_some_and(|x| {
                                        x.kind == Kind::KubeadmConfig && x.owners.contains(&m.index)
                                    })
                                }))
                    })
                    .cloned();
                Some(WorkerMachine {
                    machine_set: (*ms).clone(),
                    objects: std::iter::once(m.clone()).chain(objects).collect(),
                })
            })
            .collect()
    }

    fn same(a: &Object, b: &Object) -> bool {
        (a.index, a.kind, &a.name, &a.uid, &a.owners, &a.body)
            == (b.index, b.kind, &b.name, &b.uid, &b.owners, &b.body)
    }

    #[test]
    fn finds_each_worker_with_its_dependents() {
        for (cp, mds, per_md, secrets) in [(1, 2, 3, true), (3, 1, 3, false), (0, 3, 1, true)] {
            let mut spec = FleetSpec::example("churn");
            spec.control_plane_replicas = cp;
            spec.machine_deployments = mds;
            spec.workers_per_machine_deployment = per_md;
            if !secrets {
                spec.cluster_secrets.clear();
            }
            for cluster in [0, 5] {
                let want = workers_by_ownership(&spec, cluster);
                assert_eq!(want.len() as u32, mds * per_md);
                for (w, want) in want.iter().enumerate() {
                    let got = worker_machine(&spec, cluster, w as u64).expect("a worker");
                    let kinds: Vec<Kind> = got.objects.iter().map(|o| o.kind).collect();
                    assert_eq!(
                        kinds,
                        [
                            Kind::Machine,
                            Kind::KubeadmConfig,
                            Kind::InfraMachine,
                            Kind::Secret
                        ]
                    );
                    assert_eq!(got.machine_set.kind, Kind::MachineSet);
                    assert!(same(&got.machine_set, &want.machine_set));
                    assert_eq!(got.objects.len(), want.objects.len());
                    assert!(got
                        .objects
                        .iter()
                        .zip(&want.objects)
                        .all(|(a, b)| same(a, b)));
                }
                assert!(worker_machine(&spec, cluster, want.len() as u64).is_none());
            }
        }
    }
}
