//! Cleanup: delete one run's (or every run's) objects, and only those; a namespace the
//! tool created goes only when nothing foreign lives in it.

use super::connect::{connect, Load};
use crate::backend::etcd::EtcdTarget;
use crate::backend::kube::KubeTarget;
use crate::backend::Target;
use crate::engine::cleanup::{self, Deleted, Selection};
use crate::engine::request::{PhaseContext, Progress};
use crate::engine::{pool::ClientPool, stop_signal, Stop, StopHandle};
use crate::error::Error;
use crate::measure;
use crate::profile::{ClientPlan, TargetPlan};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// Namespace name → one foreign object found in it.
pub type Foreign = BTreeMap<String, String>;

async fn foreign_in_kube(
    t: &KubeTarget,
    candidates: &BTreeSet<String>,
    sel: &Selection,
) -> Result<Foreign, Error> {
    let setup = |e: crate::backend::RequestError| {
        Error::setup(
            t.endpoint(),
            format_args!("discovery failed: {}", e.label()),
        )
    };
    let mut out = Foreign::new();
    for collection in t.namespaced_collections().await.map_err(setup)? {
        let found = match t
            .list_namespaced(&collection, &sel.foreign_selector())
            .await
        {
            Ok(found) => found,
            // Least privilege (deploy/rbac.yaml): not in all namespaces, so in each
            // candidate; a namespace where even that is not allowed cannot be shown empty
            // and is kept.
            Err(crate::backend::RequestError::Http { code: 403, .. }) => {
                let mut found = Vec::new();
                for ns in candidates {
                    let (base, resource) = collection.rsplit_once('/').unwrap_or(("", ""));
                    let path = format!("{base}/namespaces/{ns}/{resource}");
                    match t.list_namespaced(&path, &sel.foreign_selector()).await {
                        Ok(f) => found.extend(f),
                        Err(crate::backend::RequestError::Http { code: 403, .. }) => found.push((
                            ns.clone(),
                            format!(
                                "{resource}: not allowed to list them here, so not shown empty"
                            ),
                        )),
                        Err(e) => return Err(setup(e)),
                    }
                }
                found
            }
            Err(e) => return Err(setup(e)),
        };
        for (ns, what) in found {
            if candidates.contains(&ns) {
                out.entry(ns).or_insert(what);
            }
        }
    }
    Ok(out)
}

async fn foreign_in_etcd(t: &EtcdTarget, candidates: &BTreeSet<String>) -> Result<Foreign, Error> {
    let keys = t
        .keys_with_prefix("/registry/")
        .await
        .map_err(|e| Error::setup(t.endpoint(), format_args!("range failed: {}", e.label())))?;
    let mut out = Foreign::new();
    for key in keys {
        let parts: Vec<&str> = key.split('/').collect();
        // /registry/[group/]resource/<ns>/<name>; namespaces themselves are /registry/namespaces/<name>.
        if parts.len() < 5 || parts[2] == "namespaces" {
            continue;
        }
        let ns = parts[parts.len() - 2];
        if candidates.contains(ns) {
            out.entry(ns.to_string()).or_insert(key.clone());
        }
    }
    Ok(out)
}

/// What to clean, where, and how fast.
#[derive(Clone, Debug)]
pub struct CleanupRequest {
    /// Where to delete.
    pub target: TargetPlan,
    /// One run's objects or every run's.
    pub selection: Selection,
    /// Core API group the runs used.
    pub api_group: String,
    /// The deleting clients' limits.
    pub client: ClientPlan,
    /// Concurrent deletes.
    pub concurrency: usize,
}

/// What a cleanup did.
#[derive(Debug)]
pub struct CleanupReport {
    /// Objects deleted, by kind, and failures.
    pub deleted: Deleted,
    /// Namespaces deleted.
    pub namespaces_deleted: u64,
    /// Namespaces kept because something foreign lives in them.
    pub kept: Foreign,
    /// Namespace deletes that failed.
    pub failed_namespaces: u64,
    /// How the deleted namespaces went (kube targets).
    pub settled: super::namespace_settle::Settled,
    /// Requests sent, failed and throttled.
    pub requests: (u64, u64, u64),
    /// The label selector used.
    pub selector: String,
    /// The target's endpoint.
    pub endpoint: String,
    /// Wall seconds.
    pub seconds: f64,
    /// Whether SIGINT/SIGTERM stopped it early.
    pub interrupted: bool,
}

impl CleanupReport {
    /// Deletes that failed (objects and namespaces).
    pub fn failures(&self) -> u64 {
        self.deleted.failed + self.failed_namespaces
    }

    /// The lines `cleanup` prints.
    pub fn render(&self) -> String {
        let mut o = String::new();
        for (kind, n) in &self.deleted.by_kind {
            o += &format!("deleted {n:>8} {}\n", kind.label());
        }
        o += &format!("deleted {:>8} namespace\n", self.namespaces_deleted);
        for (ns, what) in &self.kept {
            o += &format!(
                "kept namespace {ns}: it holds objects that are not this run's (e.g. {what})\n"
            );
        }
        let st = &self.settled;
        if st.finalized_by_tool > 0 {
            o += &format!(
                "finalized {} namespace(s) itself after deleting the {} object(s) left in them (no namespace controller on this cluster)\n",
                st.finalized_by_tool, st.objects_deleted
            );
        }
        if !st.still_terminating.is_empty() {
            o +=
                &format!(
                "{} namespace(s) still terminating, left to the namespace controller ({}): {}\n",
                st.still_terminating.len(),
                st.controller.as_deref().unwrap_or("none seen"),
                st.still_terminating.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        let (sent, failed, throttled) = self.requests;
        o += &format!(
            "cleanup of {} on {}: {sent} requests ({failed} failed, {throttled} throttled) in {:.1} s\n",
            self.selector, self.endpoint, self.seconds
        );
        o
    }

    /// The error the outcome means: interrupted (exit 130) or failed deletes (exit 8).
    pub fn into_result(self) -> Result<CleanupReport, Error> {
        if self.interrupted {
            return Err(Error::Interrupted {
                dir: std::path::PathBuf::from("-"),
            });
        }
        let failures = self.failures();
        if failures > 0 {
            return Err(Error::TargetFailed {
                reason: format!("{failures} deletes failed"),
                dir: std::path::PathBuf::from("-"),
            });
        }
        Ok(self)
    }
}

struct Outcome {
    deleted: Deleted,
    namespaces_deleted: u64,
    kept: Foreign,
    failed_namespaces: u64,
}

async fn clean<T: Target>(
    load: Vec<T>,
    plan: &ClientPlan,
    req: &CleanupRequest,
    sel: &Selection,
    (stopper, stop): (StopHandle, Stop),
    foreign: impl AsyncFnOnce(&BTreeSet<String>) -> Result<Foreign, Error>,
) -> Result<(Outcome, BTreeSet<String>, measure::Measurements), Error> {
    let (tx, collector) = measure::channel(1024);
    let progress = Arc::new(Progress::default());
    let collector = tokio::spawn(collector.run(progress.clone(), tokio::time::Instant::now()));
    let ctx = PhaseContext {
        pool: Arc::new(ClientPool::new(load, plan)),
        samples: tx,
        stop,
        progress,
        max_retries: plan.max_retries,
        stopper,
        drain: crate::engine::request::DEFAULT_DRAIN,
        acks: None,
        on_failure: crate::profile::OnTargetFailure::Abort,
        missing: Default::default(),
    };
    let deleted = cleanup::delete_objects(&ctx, &req.api_group, sel, req.concurrency).await;
    let mut candidates = cleanup::our_namespaces(&ctx, sel).await.unwrap_or_default();
    candidates.extend(deleted.namespaces.iter().cloned());
    let kept = foreign(&candidates).await?;
    let to_delete: BTreeSet<String> = candidates
        .iter()
        .filter(|n| !kept.contains_key(*n))
        .cloned()
        .collect();
    // Only delete namespaces the tool labelled (a foreign namespace that held our objects stays).
    let ours = cleanup::our_namespaces(&ctx, sel).await.unwrap_or_default();
    let to_delete: BTreeSet<String> = to_delete.intersection(&ours).cloned().collect();
    let (namespaces_deleted, failed_namespaces) =
        cleanup::delete_namespaces(&ctx, &to_delete).await;
    drop(ctx);
    let m = collector
        .await
        .map_err(crate::error::task("cleanup collector"))?;
    Ok((
        Outcome {
            deleted,
            namespaces_deleted,
            kept,
            failed_namespaces,
        },
        to_delete,
        m,
    ))
}

/// Deletes what `req` selects (SIGINT/SIGTERM stop it early); see [`CleanupReport`].
pub async fn cleanup(req: &CleanupRequest) -> Result<CleanupReport, Error> {
    let (plan, sel) = (&req.client, &req.selection);
    let (handle, stop) = stop_signal();
    let signals = super::watch_signals(handle.clone());
    let mut connected = connect(&req.target, plan.pool_size, plan.timeout, "cleanup").await?;
    let t0 = Instant::now();
    let mut settled = super::namespace_settle::Settled::default();
    let result = match &connected.load {
        Load::Kube(load) => {
            let admin = connected
                .admin
                .clone()
                .ok_or_else(|| Error::Internal("no admin client"))?;
            // First, so that no write below waits on a webhook that is gone.
            match crate::webhook::install::remove(&admin, &sel.selector()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("deleted {n} webhook configuration(s)"),
                Err(e) => tracing::warn!("{e}"),
            }
            let r = clean(
                load.clone(),
                plan,
                req,
                sel,
                (handle.clone(), stop.clone()),
                async |c: &BTreeSet<String>| foreign_in_kube(&admin, c, sel).await,
            )
            .await;
            match r {
                Ok((o, deleted_ns, m)) => {
                    settled =
                        super::namespace_settle::settle_namespaces(&admin, &deleted_ns).await?;
                    Ok((o, deleted_ns, m))
                }
                Err(e) => Err(e),
            }
        }
        Load::Etcd(load) => {
            let etcd = load[0].clone();
            clean(
                load.clone(),
                plan,
                req,
                sel,
                (handle.clone(), stop.clone()),
                async |c: &BTreeSet<String>| foreign_in_etcd(&etcd, c).await,
            )
            .await
        }
    };
    signals.abort();
    connected.close().await;
    let (o, _, m) = result?;
    let (sent, _, failed, throttled) = m.totals();
    Ok(CleanupReport {
        deleted: o.deleted,
        namespaces_deleted: o.namespaces_deleted,
        kept: o.kept,
        failed_namespaces: o.failed_namespaces,
        settled,
        requests: (sent, failed, throttled),
        selector: sel.selector(),
        endpoint: connected.info.endpoint.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        interrupted: stop.is_stopped(),
    })
}
