//! The MutatingWebhookConfiguration and ValidatingWebhookConfiguration a run installs for
//! its kinds: one webhook per kind (as Cluster API registers `default.<kind>.<group>` and
//! `validation.<kind>.<group>`), rules on the kind's resource only (not its `status`
//! subresource, as upstream), and an `objectSelector` on the run's label, so nothing else in
//! the cluster is called out for. Both carry the run's labels; the run removes them at its
//! end and `cleanup` removes any left behind.

use super::server::Hook;
use super::WebhookError;
use crate::backend::kube::KubeTarget;
use crate::model::{self, FleetSpec, Kind};
use crate::profile::WebhookPlan;
use base64::Engine;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long kube-apiserver may take to start calling newly installed webhooks (its
/// configuration informers pick them up within a second or two).
pub const EFFECTIVE_DEADLINE: Duration = Duration::from_secs(60);

const MUTATING: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const VALIDATING: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";

/// The configurations' name for a run.
pub fn config_name(run_id: &str) -> String {
    format!("capi-loadgen-{run_id}")
}

/// The webhooks of a plan: mutating ones first, each kind in the fleet's group.
pub fn hooks(plan: &WebhookPlan, fleet: &FleetSpec) -> Vec<Hook> {
    let mut out = Vec::new();
    for validating in [false, true] {
        if (validating && !plan.validating) || (!validating && !plan.mutating) {
            continue;
        }
        for &kind in &plan.kinds {
            let api = fleet.api_ref(kind);
            let prefix = if validating { "validation" } else { "default" };
            out.push(Hook {
                name: format!("{prefix}.{}.{}", api.kind.to_ascii_lowercase(), api.group),
                validating,
                kind,
                path: format!(
                    "/{}/{}",
                    if validating { "validate" } else { "mutate" },
                    kind.label()
                ),
            });
        }
    }
    out
}

fn labels(run_id: &str) -> Value {
    json!({
        model::RUN_ID_LABEL: run_id,
        model::MANAGED_BY_LABEL: model::MANAGED_BY_VALUE,
    })
}

fn entry(plan: &WebhookPlan, fleet: &FleetSpec, hook: &Hook, base: &str, ca: &str) -> Value {
    let api = fleet.api_ref(hook.kind);
    let mut w = json!({
        "name": hook.name,
        "clientConfig": {
            "url": format!("{base}{}", hook.path),
            "caBundle": base64::engine::general_purpose::STANDARD.encode(ca),
        },
        "rules": [{
            "apiGroups": [api.group],
            "apiVersions": [api.version],
            "operations": plan.operations,
            "resources": [api.plural],
            "scope": "Namespaced",
        }],
        "objectSelector": {"matchLabels": {model::RUN_ID_LABEL: fleet.run_id}},
        "failurePolicy": plan.failure_policy.as_str(),
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": plan.timeout.as_secs(),
        "admissionReviewVersions": ["v1"],
    });
    if !hook.validating {
        w["reinvocationPolicy"] = json!("Never");
    }
    w
}

/// The two configurations (either may be absent when its type is off), with the server's
/// base URL and CA.
pub fn configurations(
    plan: &WebhookPlan,
    fleet: &FleetSpec,
    hooks: &[Hook],
    base_url: &str,
    ca_pem: &str,
) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (validating, path, kind) in [
        (false, MUTATING, "MutatingWebhookConfiguration"),
        (true, VALIDATING, "ValidatingWebhookConfiguration"),
    ] {
        let list: Vec<Value> = hooks
            .iter()
            .filter(|h| h.validating == validating)
            .map(|h| entry(plan, fleet, h, base_url, ca_pem))
            .collect();
        if list.is_empty() {
            continue;
        }
        out.push((
            path,
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": config_name(&fleet.run_id), "labels": labels(&fleet.run_id)},
                "webhooks": list,
            }),
        ));
    }
    out
}

fn request_failed(what: &str, e: crate::backend::RequestError) -> WebhookError {
    WebhookError::Api(format!("{what}: {}", e.label()))
}

/// Creates the configurations (replacing a leftover of the same run).
pub async fn install(admin: &KubeTarget, configs: &[(&str, Value)]) -> Result<(), WebhookError> {
    for (path, body) in configs {
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        let _ = admin.raw("DELETE", &format!("{path}/{name}"), None).await;
        match admin.raw("POST", path, Some(body)).await {
            Ok((c, _)) if c < 300 => {}
            Ok((c, b)) => {
                return Err(WebhookError::Api(format!(
                    "creating {} {name}: HTTP {c}: {}",
                    body["kind"].as_str().unwrap_or_default(),
                    b["message"].as_str().unwrap_or_default()
                )))
            }
            Err(e) => return Err(request_failed("creating a webhook configuration", e)),
        }
    }
    Ok(())
}

/// Deletes the webhook configurations `selector` matches (a run's, or every run's);
/// returns how many.
pub async fn remove(admin: &KubeTarget, selector: &str) -> Result<usize, WebhookError> {
    let mut n = 0;
    for path in [MUTATING, VALIDATING] {
        let (code, list) = admin
            .raw("GET", &format!("{path}?labelSelector={selector}"), None)
            .await
            .map_err(|e| request_failed("listing webhook configurations", e))?;
        if code == 404 || code == 403 {
            // No admissionregistration API, or not allowed to see it: nothing of ours there.
            continue;
        }
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            match admin.raw("DELETE", &format!("{path}/{name}"), None).await {
                Ok((c, _)) if c < 300 || c == 404 => n += 1,
                Ok((c, _)) => {
                    return Err(WebhookError::Api(format!(
                        "deleting webhook configuration {name}: HTTP {c}"
                    )))
                }
                Err(e) => return Err(request_failed("deleting a webhook configuration", e)),
            }
        }
    }
    Ok(n)
}

/// A dry-run create of one of the fleet's objects (in `default`, where nothing is stored),
/// which kube-apiserver sends through the webhooks once it has loaded the configurations.
fn probe_object(fleet: &FleetSpec, kind: Kind) -> Option<(String, Value)> {
    let cluster = fleet.cluster_range().start;
    let obj = model::cluster_objects(fleet, cluster)
        .chain(model::namespace_objects(
            fleet,
            fleet.namespace_index(cluster),
        ))
        .find(|o| o.kind == kind)?;
    let mut body = obj.body;
    let meta = body["metadata"].as_object_mut()?;
    meta.remove("ownerReferences");
    meta.remove("uid");
    meta.insert("namespace".into(), json!("default"));
    meta.insert(
        "name".into(),
        json!(format!("capi-loadgen-webhook-probe-{}", fleet.run_id)),
    );
    Some((
        format!("{}?dryRun=All", obj.api.collection_path(Some("default"))),
        body,
    ))
}

/// Dry-run creates until the server has seen a probe call on every webhook type, so the
/// load starts with the webhooks in effect. `seen()` returns (mutating, validating) probe
/// counts.
pub async fn wait_effective(
    admin: &KubeTarget,
    plan: &WebhookPlan,
    fleet: &FleetSpec,
    seen: impl Fn() -> (u64, u64),
    url: &str,
) -> Result<(), WebhookError> {
    let Some((path, body)) = probe_object(fleet, plan.kinds[0]) else {
        return Err(WebhookError::Api(format!(
            "no {} object in the fleet to probe the webhooks with",
            plan.kinds[0].label()
        )));
    };
    let deadline = Instant::now() + EFFECTIVE_DEADLINE;
    let mut last = String::from("no answer yet");
    loop {
        match admin.raw("POST", &path, Some(&body)).await {
            Ok((c, b)) if c >= 300 => {
                last = format!(
                    "HTTP {c}: {}",
                    b["message"].as_str().unwrap_or_default().trim()
                )
            }
            Ok(_) => {}
            Err(e) => last = e.label(),
        }
        let (m, v) = seen();
        if (!plan.mutating || m > 0) && (!plan.validating || v > 0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(WebhookError::NotCalled {
                url: url.to_string(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{FailurePolicy, LatencyPlan};

    fn plan() -> WebhookPlan {
        WebhookPlan {
            kinds: vec![Kind::Cluster, Kind::Machine],
            mutating: true,
            validating: true,
            operations: vec!["CREATE".into(), "UPDATE".into()],
            patch: false,
            latency: LatencyPlan::Fixed(Duration::from_millis(20)),
            reject_rate: 0.0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            timeout: Duration::from_secs(10),
            failure_policy: FailurePolicy::Fail,
            concurrency: Some(10),
            host: "127.0.0.1".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
        }
    }

    #[test]
    fn configurations_match_only_the_runs_kinds_and_objects() {
        let fleet = FleetSpec::example("r1");
        let p = plan();
        let h = hooks(&p, &fleet);
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].name, "default.cluster.loadtest.cluster.x-k8s.io");
        assert_eq!(h[3].name, "validation.machine.loadtest.cluster.x-k8s.io");
        assert_eq!(h[3].path, "/validate/machine");
        let c = configurations(&p, &fleet, &h, "https://127.0.0.1:9443", "PEM");
        assert_eq!(c.len(), 2);
        let (path, m) = &c[0];
        assert_eq!(*path, MUTATING);
        assert_eq!(m["metadata"]["name"], "capi-loadgen-r1");
        assert_eq!(m["metadata"]["labels"][model::RUN_ID_LABEL], "r1");
        let w = &m["webhooks"][1];
        assert_eq!(w["rules"][0]["resources"], json!(["machines"]));
        assert_eq!(
            w["rules"][0]["apiGroups"],
            json!(["loadtest.cluster.x-k8s.io"])
        );
        assert_eq!(
            w["objectSelector"]["matchLabels"][model::RUN_ID_LABEL],
            "r1"
        );
        assert_eq!(
            w["clientConfig"]["url"],
            "https://127.0.0.1:9443/mutate/machine"
        );
        assert_eq!(w["failurePolicy"], "Fail");
        assert_eq!(w["timeoutSeconds"], 10);
        assert!(c[1].1["webhooks"][0].get("reinvocationPolicy").is_none());
        let (probe_path, body) = probe_object(&fleet, Kind::Cluster).unwrap();
        assert!(probe_path.ends_with("/namespaces/default/clusters?dryRun=All"));
        assert_eq!(body["metadata"]["labels"][model::RUN_ID_LABEL], "r1");
    }
}
