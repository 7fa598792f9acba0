//! What the run made besides the fleet, removed after it: the ClusterClasses and templates,
//! the namespaces, the webhook configurations (they would refuse every later write of the
//! kinds once the managers are gone), the managers' identities. Only objects carrying the
//! run's label, or inside the run's namespaces, are touched.

use super::apply::Applier;
use super::provision::Fleet;
use super::result::CapiRunResult;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams};

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Deletes every cluster-scoped object of `kinds` labelled with the run; returns how many.
async fn delete_labelled(client: &kube::Client, kinds: &[ApiResource], run_id: &str) -> u64 {
    let lp = ListParams::default().labels(&format!("{}={run_id}", crate::model::RUN_ID_LABEL));
    let mut n = 0;
    for k in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), k);
        let Ok(list) = api.list(&lp).await else {
            continue;
        };
        for o in list.items {
            if let Some(name) = o.metadata.name.as_deref() {
                if api.delete(name, &DeleteParams::default()).await.is_ok() {
                    n += 1;
                }
            }
        }
    }
    n
}

/// Removes what the run made around the fleet; notes what could not be removed.
pub(crate) async fn remove(a: &Applier, fleet: &Fleet, run_id: &str, r: &mut CapiRunResult) {
    let client = a.client();
    let classes = [
        ar(
            "cluster.x-k8s.io",
            "v1beta2",
            "ClusterClass",
            "clusterclasses",
        ),
        ar(
            "controlplane.cluster.x-k8s.io",
            "v1beta2",
            "KubeadmControlPlaneTemplate",
            "kubeadmcontrolplanetemplates",
        ),
        ar(
            "bootstrap.cluster.x-k8s.io",
            "v1beta2",
            "KubeadmConfigTemplate",
            "kubeadmconfigtemplates",
        ),
        ar(
            "infrastructure.cluster.x-k8s.io",
            "v1beta2",
            "DevClusterTemplate",
            "devclustertemplates",
        ),
        ar(
            "infrastructure.cluster.x-k8s.io",
            "v1beta2",
            "DevMachineTemplate",
            "devmachinetemplates",
        ),
    ];
    let lp = ListParams::default().labels(&format!("{}={run_id}", crate::model::RUN_ID_LABEL));
    for ns in &fleet.namespaces {
        for k in &classes {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, k);
            if let Ok(list) = api.list(&lp).await {
                for o in list.items {
                    if let Some(name) = o.metadata.name.as_deref() {
                        let _ = api.delete(name, &DeleteParams::default()).await;
                    }
                }
            }
        }
    }
    let admission = [
        ar(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
        ),
        ar(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
        ),
        ar(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
        ),
    ];
    delete_labelled(client, &admission, run_id).await;
    let namespaces =
        delete_labelled(client, &[ar("", "v1", "Namespace", "namespaces")], run_id).await;
    // Without kube-controller-manager (the bare local environment) no garbage collector
    // deletes the Secrets the managers made for each cluster, and no namespace controller
    // empties and finalizes the deleted namespaces: the environment goes with the run.
    if namespaces > 0 {
        r.notes.push(format!(
            "{namespaces} namespaces of the run deleted; on the local environment (no kube-controller-manager: no garbage collector, no namespace controller) the Secrets the managers made stay in them until the environment is stopped"
        ));
    }
}
