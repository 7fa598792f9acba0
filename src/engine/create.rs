//! The create phase: namespaces first, then `concurrency` workers each take the next cluster
//! index and create its objects in order (owners before dependents), through the pool.
//! Children's ownerReferences get the UIDs the server assigned to their owners, as Cluster
//! API's controllers do, so a garbage collector (kind, real clusters) keeps them.

pub use super::request::{PhaseContext, Progress};
use crate::measure::Verb;
use crate::model::{self, FleetSpec, Kind, Object};
use crate::target::Target;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

impl<T: Target> PhaseContext<T> {
    /// Creates one object through the pool; returns the server-assigned UID on success.
    async fn create(
        &self,
        phase: &'static str,
        obj: &Object,
        body: &serde_json::Value,
    ) -> Option<String> {
        self.call(phase, Verb::Create, obj.kind, |t: T| async move {
            t.create(obj, body).await
        })
        .await
        .and_then(|c| c.uid)
    }
}

/// Kinds whose UID later objects of the same cluster reference.
fn is_owner_kind(k: Kind) -> bool {
    matches!(
        k,
        Kind::Cluster
            | Kind::KubeadmControlPlane
            | Kind::MachineDeployment
            | Kind::MachineSet
            | Kind::Machine
            | Kind::KubeadmConfig
    )
}

/// The body to send for a create: status stripped (controllers write status later through
/// the status subresource) and owner UIDs replaced by the server-assigned ones.
pub fn create_body(obj: &Object, uids: &HashMap<u32, String>) -> serde_json::Value {
    let mut body = obj.body.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("status");
    }
    if let Some(refs) = body["metadata"]["ownerReferences"].as_array_mut() {
        for (r, owner) in refs.iter_mut().zip(&obj.owners) {
            if let Some(uid) = uids.get(owner) {
                r["uid"] = serde_json::Value::String(uid.clone());
            }
        }
    }
    body
}

/// Creates every namespace of the fleet with up to `concurrency` requests in flight.
pub async fn create_namespaces<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    concurrency: usize,
) {
    let next = Arc::new(AtomicU64::new(0));
    let total = fleet.namespace_count();
    let workers = (0..concurrency.max(1)).map(|_| {
        let (ctx, next, fleet) = (ctx.clone(), next.clone(), fleet.clone());
        tokio::spawn(async move {
            loop {
                if ctx.stop.is_stopped() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let obj = model::namespace_object(&fleet, i);
                ctx.create("namespaces", &obj, &create_body(&obj, &HashMap::new()))
                    .await;
            }
        })
    });
    futures::future::join_all(workers).await;
}

/// Creates every cluster's objects with `concurrency` cluster workers.
pub async fn create_clusters<T: Target>(
    fleet: &Arc<FleetSpec>,
    ctx: &PhaseContext<T>,
    concurrency: usize,
) {
    let next = Arc::new(AtomicU64::new(0));
    let workers = (0..concurrency.max(1)).map(|_| {
        let (ctx, next, fleet) = (ctx.clone(), next.clone(), fleet.clone());
        tokio::spawn(async move {
            loop {
                if ctx.stop.is_stopped() {
                    return;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= fleet.clusters {
                    return;
                }
                let mut uids: HashMap<u32, String> = HashMap::new();
                for obj in model::cluster_objects(&fleet, c) {
                    if ctx.stop.is_stopped() {
                        return;
                    }
                    let body = create_body(&obj, &uids);
                    let uid = ctx.create("create", &obj, &body).await;
                    if let (Some(uid), true) = (uid, is_owner_kind(obj.kind)) {
                        uids.insert(obj.index, uid);
                    }
                }
            }
        })
    });
    futures::future::join_all(workers).await;
}
