//! After cleanup deleted its namespaces: wait for them to go.
//!
//! A namespace is only removed once its `kubernetes` finalizer is, which is the namespace
//! controller's job (kube-controller-manager): it deletes every object in the namespace and
//! then finalizes it, a few namespaces at a time (its default `--concurrent-namespace-syncs`
//! is 10), so on a real cluster hundreds of namespaces take minutes. Where such a
//! controller exists the tool only waits, with a deadline that grows with the number of
//! namespaces, and never finalizes one itself: a namespace finalized while still full
//! leaves its objects in etcd with no namespace to find them by.
//!
//! Evidence of a controller, any of: the lease `kube-system/kube-controller-manager`
//! (`coordination.k8s.io`), a namespace of this cleanup carrying the controller's status
//! conditions (`NamespaceDeletionDiscoveryFailure`, `NamespaceContentRemaining`, …), or a
//! namespace that went away without the tool finalizing it. Only where the lease is known
//! to be absent and no namespace shows a sign of a controller within
//! [`NO_CONTROLLER_GRACE`] (the local environment: etcd and kube-apiserver only) does the
//! tool do the controller's work: it deletes every object in the namespace, then removes
//! the finalizer. An identity that may not read the lease (deploy/rbac.yaml grants no
//! access to kube-system) waits [`UNKNOWN_LEASE_GRACE`] for such a sign instead: a real
//! controller takes up deleted namespaces within seconds and marks them with its
//! conditions. Either way the namespace is emptied before it is finalized, so even a wrong
//! guess orphans nothing the identity can see.

use crate::backend::kube::KubeTarget;
use crate::backend::Target;
use crate::error::Error;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long deleted namespaces may show no sign of a namespace controller before the tool,
/// with no controller lease on the cluster, empties and finalizes them itself.
pub const NO_CONTROLLER_GRACE: Duration = Duration::from_secs(5);

/// How long deleted namespaces may show no sign of a namespace controller before the tool
/// empties and finalizes them itself, when it may not read the controller lease.
pub const UNKNOWN_LEASE_GRACE: Duration = Duration::from_secs(15);

/// The lease kube-controller-manager holds while it runs (leader election).
pub const CONTROLLER_LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager";

/// How long to wait for a namespace controller to remove `n` namespaces: 30 s plus 1 s per
/// namespace (it works through about 10 at a time, each in seconds).
pub fn settle_deadline(n: usize) -> Duration {
    Duration::from_secs(30) + Duration::from_secs(n as u64)
}

/// Whether a namespace controller works on the cluster, and why the tool thinks so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Controller {
    /// Evidence of one (the words say which).
    Present(String),
    /// No lease, and no sign of one yet.
    Absent,
    /// The lease could not be read (the words say why), and no sign of one yet.
    Unknown(String),
}

impl Controller {
    /// How long to look for signs of a controller before doing its work; None: never.
    fn grace(&self) -> Option<Duration> {
        match self {
            Controller::Present(_) => None,
            Controller::Absent => Some(NO_CONTROLLER_GRACE),
            Controller::Unknown(_) => Some(UNKNOWN_LEASE_GRACE),
        }
    }
}

/// What waiting for the namespaces did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Namespaces the tool emptied and finalized itself (no namespace controller).
    pub finalized_by_tool: u64,
    /// Objects the tool deleted from those namespaces first.
    pub objects_deleted: u64,
    /// Namespaces still there at the deadline.
    pub still_terminating: BTreeSet<String>,
    /// Why the tool judged a namespace controller present, if it did.
    pub controller: Option<String>,
}

/// Reads the controller lease: present, absent (404), or unknown when it cannot be read.
pub async fn controller_by_lease(t: &KubeTarget) -> Controller {
    match t.raw("GET", CONTROLLER_LEASE, None).await {
        Ok((200, _)) => Controller::Present("lease kube-system/kube-controller-manager".into()),
        Ok((404, _)) => Controller::Absent,
        Ok((code, _)) => Controller::Unknown(format!(
            "lease kube-system/kube-controller-manager could not be read (HTTP {code})"
        )),
        Err(e) => Controller::Unknown(format!(
            "lease kube-system/kube-controller-manager could not be read ({})",
            e.label()
        )),
    }
}

/// True when the namespace carries status conditions (only the namespace controller sets
/// them; the apiserver itself only sets `status.phase`).
fn has_controller_conditions(ns: &serde_json::Value) -> bool {
    ns["status"]["conditions"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
}

/// Deletes every object in namespace `ns`, of every namespaced resource the cluster
/// serves (the tool's kinds, but also RoleBindings, ServiceAccounts, ConfigMaps …): what
/// the namespace controller does before it finalizes. Returns how many it deleted.
pub async fn empty_namespace(
    t: &KubeTarget,
    collections: &[String],
    ns: &str,
) -> Result<u64, Error> {
    let fail = |what: String| Error::TargetFailed {
        reason: format!("emptying namespace {ns} before finalizing it: {what}"),
        dir: std::path::PathBuf::from("-"),
    };
    let mut deleted = 0;
    // RoleBindings last: the one that grants a least-privileged identity its rights here.
    let (bindings, rest): (Vec<&String>, Vec<&String>) = collections
        .iter()
        .partition(|c| c.ends_with("/rolebindings"));
    for collection in rest.into_iter().chain(bindings) {
        let (base, resource) = collection.rsplit_once('/').unwrap_or(("", ""));
        let path = format!("{base}/namespaces/{ns}/{resource}");
        let (code, list) = t
            .raw("GET", &path, None)
            .await
            .map_err(|e| fail(format!("list {resource}: {}", e.label())))?;
        match code {
            200 => {}
            404 | 405 => continue,
            // Least privilege: a resource the identity may not list is one it never wrote.
            403 => {
                tracing::debug!(namespace = %ns, resource, "not allowed to list: not emptied");
                continue;
            }
            c => return Err(fail(format!("list {resource}: HTTP {c}"))),
        }
        for item in list["items"].as_array().into_iter().flatten() {
            let Some(name) = item["metadata"]["name"].as_str() else {
                continue;
            };
            match t.raw("DELETE", &format!("{path}/{name}"), None).await {
                Ok((c, _)) if c < 300 => deleted += 1,
                Ok((404, _)) => {}
                Ok((c, _)) => return Err(fail(format!("delete {resource}/{name}: HTTP {c}"))),
                Err(e) => return Err(fail(format!("delete {resource}/{name}: {}", e.label()))),
            }
        }
    }
    Ok(deleted)
}

/// Waits for the deleted namespaces `names` to disappear (see the module's text): only
/// waits where a namespace controller exists, else empties and finalizes them after
/// [`NO_CONTROLLER_GRACE`].
pub async fn settle_namespaces(t: &KubeTarget, names: &BTreeSet<String>) -> Result<Settled, Error> {
    let mut out = Settled::default();
    if names.is_empty() {
        return Ok(out);
    }
    let start = Instant::now();
    let deadline = start + settle_deadline(names.len());
    let mut controller = controller_by_lease(t).await;
    let mut pending: BTreeSet<String> = names.clone();
    let mut finalized: BTreeSet<String> = BTreeSet::new();
    let mut collections: Option<Vec<String>> = None;
    loop {
        let mut still = BTreeSet::new();
        for n in &pending {
            let got = t.raw("GET", &format!("/api/v1/namespaces/{n}"), None).await;
            match got {
                Ok((404, _)) => {
                    if !finalized.contains(n) && controller.grace().is_some() {
                        controller = Controller::Present(format!(
                            "namespace {n} went away without the tool finalizing it"
                        ));
                    }
                }
                Ok((200, ns)) => {
                    if has_controller_conditions(&ns) && controller.grace().is_some() {
                        controller = Controller::Present(format!(
                            "namespace {n} carries the namespace controller's conditions"
                        ));
                    }
                    still.insert(n.clone());
                }
                _ => {
                    still.insert(n.clone());
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if controller
            .grace()
            .is_some_and(|grace| start.elapsed() >= grace)
        {
            let cols = match &collections {
                Some(c) => c.clone(),
                None => {
                    let c = t.namespaced_collections().await.map_err(|e| {
                        Error::setup(
                            t.endpoint(),
                            format_args!("discovery failed: {}", e.label()),
                        )
                    })?;
                    collections = Some(c.clone());
                    c
                }
            };
            let todo: Vec<String> = pending.difference(&finalized).cloned().collect();
            for n in &todo {
                out.objects_deleted += empty_namespace(t, &cols, n).await?;
                let why = match &controller {
                    Controller::Unknown(why) => why.as_str(),
                    _ => "no lease kube-system/kube-controller-manager",
                };
                tracing::info!(namespace = %n, "no namespace controller ({why}, no sign of one): finalizing the emptied namespace");
                t.finalize_namespace(n).await.map_err(|e| {
                    Error::setup(t.endpoint(), format_args!("finalize {n}: {}", e.label()))
                })?;
                finalized.insert(n.clone());
                out.finalized_by_tool += 1;
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "{} namespace(s) still terminating after {:.0} s: {pending:?}",
                pending.len(),
                settle_deadline(names.len()).as_secs_f64()
            );
            out.still_terminating = pending;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Controller::Present(why) = controller {
        out.controller = Some(why);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_grows_with_the_namespaces() {
        assert_eq!(settle_deadline(0), Duration::from_secs(30));
        assert_eq!(settle_deadline(900), Duration::from_secs(930));
        assert!(settle_deadline(100) > NO_CONTROLLER_GRACE * 10);
    }

    #[test]
    fn only_conditions_show_a_controller() {
        let terminating = serde_json::json!({"status": {"phase": "Terminating"}});
        assert!(!has_controller_conditions(&terminating));
        let worked = serde_json::json!({"status": {"phase": "Terminating", "conditions": [
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False"}]}});
        assert!(has_controller_conditions(&worked));
    }
}
