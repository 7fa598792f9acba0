//! The create phase: namespaces first, then `concurrency` workers each take the next cluster
//! index and create its objects in order (owners before dependents), through the pool.
//! Children's ownerReferences get the UIDs the server assigned to their owners, as Cluster
//! API's controllers do, so a garbage collector (kind, real clusters) keeps them.
//!
//! Closed loop (no rate): each worker sends its next object when the previous one answered.
//! Open loop (a rate): every object (or every cluster) has a scheduled start; latency counts
//! from it, so falling behind the schedule shows as latency, not as a lower request rate.

pub use super::request::{PhaseContext, Progress};
use crate::backend::{Created, Target};
use crate::measure::Verb;
use crate::model::{self, create_body, FleetSpec, Kind, Object};
use crate::profile::phases::{CreatePlan, Rate};
use crate::stored::template::{FleetTemplates, Rendered};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Hands out scheduled start times: ticket `k` of a rate `r` starts at `t0 + k / r`.
#[derive(Debug)]
pub struct Schedule {
    t0: Instant,
    per_second: f64,
    next: AtomicU64,
}

impl Schedule {
    /// A schedule of `per_second` starts from `t0`.
    pub fn new(t0: Instant, per_second: f64) -> Schedule {
        Schedule {
            t0,
            per_second,
            next: AtomicU64::new(0),
        }
    }

    /// The start time of ticket `k`.
    pub fn at(&self, k: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(k as f64 / self.per_second)
    }

    /// The next ticket's start time.
    pub fn next(&self) -> Instant {
        self.at(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// A create's body: the model's value, or an object rendered from byte templates.
#[derive(Clone, Copy)]
enum Body<'a> {
    Value(&'a serde_json::Value),
    Rendered(&'a Rendered<'a>),
}

impl<T: Target> PhaseContext<T> {
    /// Creates one object through the pool; returns the server-assigned UID on success.
    async fn create(
        &self,
        intended: Instant,
        phase: &'static str,
        obj: &Object,
        body: Body<'_>,
    ) -> Result<Option<String>, ()> {
        let book = self.acks.as_deref().filter(|b| b.watches(obj.kind));
        let created = self
            .call_from(intended, phase, Verb::Create, obj.kind, |t: T| async move {
                let r = match body {
                    Body::Value(v) => t.create(obj, v).await,
                    Body::Rendered(r) => t.create_rendered(obj, r).await,
                };
                if let (
                    Some(book),
                    Ok(Created {
                        resource_version: Some(rv),
                        ..
                    }),
                ) = (book, &r)
                {
                    let key = match &obj.namespace {
                        Some(ns) => format!("{ns}/{}", obj.name),
                        None => obj.name.clone(),
                    };
                    book.ack(obj.kind, key, rv.clone());
                }
                r
            })
            .await;
        if created.is_some() && phase == "create" {
            let ns = obj.namespace.as_deref();
            self.progress.created.note(obj.kind, ns, &obj.name);
        }
        created.map(|c| c.uid).ok_or(())
    }
}

/// Kinds whose UID later objects of the same cluster reference.
fn is_owner_kind(k: Kind) -> bool {
    matches!(
        k,
        Kind::Cluster
            | Kind::MachinePool
            | Kind::KubeadmControlPlane
            | Kind::MachineDeployment
            | Kind::MachineSet
            | Kind::Machine
            | Kind::KubeadmConfig
    )
}

/// Runs the create phase: the shard's namespaces, then its clusters from
/// `plan.first_cluster` on; with a `max_duration`, new requests stop starting when it has
/// passed.
pub async fn run<T: Target>(fleet: &Arc<FleetSpec>, ctx: &PhaseContext<T>, plan: &CreatePlan) {
    let t0 = Instant::now();
    let deadline = plan.max_duration.map(|d| t0 + d);
    let objects = match plan.rate {
        Some(Rate::ObjectsPerSecond(r)) => Some(Arc::new(Schedule::new(t0, r))),
        _ => None,
    };
    let (clusters, namespaces) = (fleet.cluster_range(), fleet.namespace_range());
    let first = plan.first_cluster.clamp(clusters.start, clusters.end);
    let range = Range {
        // Namespaces holding an existing cluster exist too.
        first_namespace: first
            .div_ceil(fleet.effective_clusters_per_namespace())
            .max(namespaces.start),
        end_namespace: namespaces.end,
        first_cluster: first,
        end_cluster: clusters.end,
        deadline,
    };
    create_namespaces(fleet, ctx, plan.concurrency, objects.clone(), range).await;
    // Once per phase (tens of milliseconds), off the runtime's worker threads.
    let templates = {
        let fleet = fleet.clone();
        tokio::task::spawn_blocking(move || FleetTemplates::new(&fleet))
            .await
            .map(Arc::new)
            .unwrap_or_else(|_| Arc::new(FleetTemplates::empty()))
    };
    let clusters = match plan.rate {
        Some(Rate::ClustersPerSecond(r)) => Some(Arc::new(Schedule::new(Instant::now(), r))),
        _ => None,
    };
    create_clusters(
        fleet,
        &templates,
        ctx,
        plan.concurrency,
        objects,
        clusters,
        range,
    )
    .await;
}

/// What the phase creates: namespaces and clusters from these indices, until the deadline.
#[derive(Clone, Copy)]
struct Range {
    first_namespace: u64,
    end_namespace: u64,
    first_cluster: u64,
    end_cluster: u64,
    deadline: Option<Instant>,
}

impl Range {
    fn over(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Creates the range's namespaces with up to `concurrency` requests in flight.
async fn create_namespaces<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    concurrency: usize,
    schedule: Option<Arc<Schedule>>,
    range: Range,
) {
    let next = Arc::new(AtomicU64::new(range.first_namespace));
    let workers = (0..concurrency.max(1)).map(|_| {
        let (ctx, next, fleet, schedule) =
            (ctx.clone(), next.clone(), fleet.clone(), schedule.clone());
        tokio::spawn(async move {
            loop {
                if ctx.stop.is_stopped() || range.over() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= range.end_namespace {
                    return;
                }
                // The Namespace, then (ClusterClass fleets) its class and templates, which
                // refer to the class's server-assigned UID.
                let mut uids: HashMap<u32, String> = HashMap::new();
                for obj in model::namespace_objects(&fleet, i) {
                    if ctx.stop.is_stopped() {
                        return;
                    }
                    let intended = schedule
                        .as_ref()
                        .map(|s| s.next())
                        .unwrap_or_else(Instant::now);
                    // Namespaces (one per cluster or fewer) keep the value: the kube target
                    // binds its RoleBinding from it.
                    let body = create_body(&obj, &uids);
                    let uid = ctx
                        .create(intended, "create", &obj, Body::Value(&body))
                        .await;
                    if let (Ok(Some(uid)), Kind::ClusterClass) = (uid, obj.kind) {
                        uids.insert(obj.index, uid);
                    }
                }
            }
        })
    });
    futures::future::join_all(workers).await;
}

/// Creates the range's clusters' objects with `concurrency` cluster workers.
async fn create_clusters<T: Target>(
    fleet: &Arc<FleetSpec>,
    templates: &Arc<FleetTemplates>,
    ctx: &PhaseContext<T>,
    concurrency: usize,
    objects: Option<Arc<Schedule>>,
    clusters: Option<Arc<Schedule>>,
    range: Range,
) {
    let next = Arc::new(AtomicU64::new(range.first_cluster));
    let workers = (0..concurrency.max(1)).map(|_| {
        let templates = templates.clone();
        let (ctx, next, fleet, objects, clusters) = (
            ctx.clone(),
            next.clone(),
            fleet.clone(),
            objects.clone(),
            clusters.clone(),
        );
        tokio::spawn(async move {
            loop {
                if ctx.stop.is_stopped() || range.over() {
                    return;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= range.end_cluster {
                    return;
                }
                let mut uids: HashMap<u32, String> = HashMap::new();
                let mut machine_owners: Vec<u32> = Vec::with_capacity(2);
                // With a cluster rate the first object starts on the cluster's schedule and
                // the others follow it, as a controller creates them one after another.
                let mut cluster_start = clusters.as_ref().map(|s| s.at(c - range.first_cluster));
                let objs = model::cluster_objects(&fleet, c).for_create();
                // Indices of this cluster's objects that are not on the target: their
                // create failed, or an owner's did.
                let mut failed: Vec<u32> = Vec::new();
                for i in 0..objs.total() as u32 {
                    // A cluster once started is finished, deadline or not: no half clusters.
                    if ctx.stop.is_stopped() {
                        return;
                    }
                    let Some(t) = objs.templated(i) else { break };
                    let intended = match (&objects, cluster_start.take()) {
                        (Some(s), _) => s.next(),
                        (None, Some(t)) => t,
                        (None, None) => Instant::now(),
                    };
                    let body = Rendered::new(&templates, &t, &uids, || {
                        let obj = objs.get(i).unwrap_or_else(|| t.object.clone());
                        create_body(&obj, &uids)
                    });
                    let uid = ctx
                        .create(intended, "create", &t.object, Body::Rendered(&body))
                        .await;
                    drop(body);
                    let obj = &t.object;
                    let uid = if uid.is_err() || obj.owners.iter().any(|o| failed.contains(o)) {
                        failed.push(obj.index);
                        ctx.missing.insert(
                            obj.kind,
                            obj.namespace.as_deref().unwrap_or_default(),
                            &obj.name,
                        );
                        None
                    } else {
                        uid.ok().flatten()
                    };
                    if obj.kind == Kind::Machine {
                        // A machine's dependents follow it directly: the previous machine's
                        // owners are done with, so a cluster of any size holds O(1) uids.
                        for i in machine_owners.drain(..) {
                            uids.remove(&i);
                        }
                    }
                    if let (Some(uid), true) = (uid, is_owner_kind(obj.kind)) {
                        if matches!(obj.kind, Kind::Machine | Kind::KubeadmConfig) {
                            machine_owners.push(obj.index);
                        }
                        uids.insert(obj.index, uid);
                    }
                }
            }
        })
    });
    futures::future::join_all(workers).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spaces_tickets_evenly() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 4.0);
        assert_eq!(s.next(), t0);
        assert_eq!(s.next(), t0 + Duration::from_millis(250));
        assert_eq!(s.at(8), t0 + Duration::from_secs(2));
    }
}
