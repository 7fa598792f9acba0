//! A run with the real managers: the private folder and the audit log set up, the steps run
//! on the local environment, the managers' counts checked against the apiserver's, the
//! results written.

use super::manifests::{self, PROVIDERS};
use super::result::{CallCheck, CapiRunResult, CapiStatus, Flags, FleetAsked};
use super::steps::steps;
use super::{audit, identity, managers, CapiError};
use crate::engine::Stop;
use crate::error::Error;
use crate::profile::capi_controllers::{CapiControllersPlan, ManagerIdentity};
use crate::profile::{RunPlan, TargetPlan};
use crate::runner::Connected;
use std::collections::BTreeMap;
use std::path::Path;

/// Runs `plan` (which has `capi_controllers:`) on the local environment and writes
/// `capi-controllers.json` and `report.md` into its results folder.
pub async fn run(plan: &RunPlan) -> Result<CapiRunResult, Error> {
    let capi = plan
        .capi_controllers
        .clone()
        .ok_or_else(|| Error::Internal("run without capi_controllers"))?;
    let release = manifests::check_built(&capi.version)?;
    managers::check_capd_port()?;
    std::fs::create_dir_all(&plan.out_dir).map_err(|e| Error::io(&plan.out_dir, e))?;
    // Kubeconfigs with tokens and the webhooks' key: private, never in the results.
    let private = std::env::temp_dir().join(format!("capi-loadgen-{}-managers", plan.run_id));
    std::fs::create_dir_all(&private).map_err(|e| Error::io(&private, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700));
    }
    let audit_log = plan.out_dir.join("apiserver-audit.log");
    let mut plan2 = plan.clone();
    if let (true, TargetPlan::Local(opts)) = (capi.audit, &mut plan2.target) {
        let policy = private.join("audit-policy.yaml");
        std::fs::write(&policy, audit::POLICY).map_err(|e| Error::io(&policy, e))?;
        opts.apiserver_extra_args
            .extend(audit::apiserver_flags(&policy, &audit_log));
    }
    let result = crate::runner::with_target(&plan2, async |c: &Connected, _h, stop: Stop| {
        Ok(run_on(plan, &capi, &release, &private, &audit_log, c, stop).await)
    })
    .await;
    let _ = std::fs::remove_dir_all(&private);
    let (r, err) = result?;
    let json = crate::error::to_json(&r)?;
    let path = plan.out_dir.join("capi-controllers.json");
    std::fs::write(&path, json + "\n").map_err(|e| Error::io(&path, e))?;
    let md = super::render::markdown(&r);
    let report = plan.out_dir.join("report.md");
    std::fs::write(&report, &md).map_err(|e| Error::io(&report, e))?;
    match plan.output {
        crate::profile::Output::Json => {
            println!("{}", serde_json::to_string(&r).unwrap_or_default())
        }
        crate::profile::Output::Nothing => {}
        _ => println!("{md}\nresults: {}", plan.out_dir.display()),
    }
    match (err, r.status) {
        (Some(e), _) => Err(e.into()),
        (None, CapiStatus::Interrupted) => Err(Error::Interrupted {
            dir: plan.out_dir.clone(),
        }),
        (None, CapiStatus::Completed) => Ok(r),
        (None, s) => Err(CapiError::Incomplete {
            status: format!("{s:?}"),
            dir: plan.out_dir.clone(),
        }
        .into()),
    }
}

/// The steps on a connected local environment; the result so far and the error that ended
/// it early, if any (the result is written either way).
async fn run_on(
    plan: &RunPlan,
    capi: &CapiControllersPlan,
    release: &Path,
    private: &Path,
    audit_log: &Path,
    c: &Connected,
    stop: Stop,
) -> (CapiRunResult, Option<CapiError>) {
    let mut r = CapiRunResult {
        run_id: plan.run_id.clone(),
        profile: plan.name.clone(),
        started_at: chrono::Utc::now().to_rfc3339(),
        capi_version: capi.version.clone(),
        server_version: c.info.server_version.clone(),
        etcd_version: c.info.etcd_version.clone(),
        fleet: FleetAsked {
            clusters: plan.fleet.clusters,
            namespaces: plan.fleet.namespace_count(),
            control_plane_machines: capi.control_plane_machines,
            worker_machines: capi.worker_machines,
            scale_up_workers: capi.scale_up_workers,
            upgrade_to: capi.upgrade_to.clone(),
            clusters_per_minute: capi.clusters_per_minute,
            kubernetes_version: capi.kubernetes_version.clone(),
        },
        flags: Flags {
            kube_api_qps: capi.managers.kube_api_qps,
            kube_api_burst: capi.managers.kube_api_burst,
            concurrency: capi.managers.concurrency,
            sync_period_seconds: capi.managers.sync_period.as_secs(),
            feature_gates: capi.managers.feature_gates.clone(),
            identity: match capi.managers.identity {
                ManagerIdentity::ServiceAccount => "service_account".into(),
                ManagerIdentity::Admin => "admin".into(),
            },
        },
        ..CapiRunResult::default()
    };
    let mut running = None;
    let mut boundaries = Vec::new();
    let e = steps(
        plan,
        capi,
        release,
        private,
        c,
        &stop,
        &mut r,
        &mut running,
        &mut boundaries,
    )
    .await
    .err();
    // Every manager's own count over the whole run, taken just before they stop; the audit
    // log is read up to the same moment.
    let mut client_totals = BTreeMap::new();
    if let Some(run) = running.as_mut() {
        for (m, s) in run.snapshot().await {
            client_totals.insert(m, s.calls.values().sum::<f64>().round() as u64);
        }
        boundaries.push(("teardown".into(), chrono::Utc::now()));
        if let Some(dead) = run.dead() {
            r.status = CapiStatus::ManagerExited;
            r.notes.push(format!(
                "{} exited during the run (log: {})",
                dead.provider.binary,
                dead.log.display()
            ));
        }
        run.stop();
        r.manager_peak_rss_bytes = run.peak_rss.clone();
    }
    if stop.is_stopped() && r.status == CapiStatus::Completed {
        r.status = CapiStatus::Interrupted;
    }
    if capi.audit && !boundaries.is_empty() {
        let users: Vec<String> = PROVIDERS
            .iter()
            .map(|p| user_of(p.name, capi.managers.identity))
            .collect();
        match audit::read(audit_log, &boundaries, &users) {
            Ok(a) => {
                for p in PROVIDERS {
                    let client = client_totals.get(p.name).copied().unwrap_or(0);
                    let apiserver: u64 = a
                        .users
                        .get(&user_of(p.name, capi.managers.identity))
                        .map_or(0, |steps| steps.values().map(|c| c.total).sum());
                    r.call_check
                        .insert(p.name.to_string(), CallCheck { client, apiserver });
                }
                for p in PROVIDERS {
                    let user = user_of(p.name, capi.managers.identity);
                    if let Some(c) = a.users.get(&user).and_then(|s| s.get("provision")) {
                        if let Some(b) = super::audit::busiest_kind(c, r.creates.created) {
                            r.busiest_kind.insert(p.name.to_string(), b);
                        }
                    }
                }
                r.audit = Some(a);
            }
            Err(e) => r.notes.push(format!("audit log not read: {e}")),
        }
    }
    (r, e)
}

/// The audit user of a manager.
fn user_of(manager: &str, identity: ManagerIdentity) -> String {
    match identity {
        ManagerIdentity::ServiceAccount => format!(
            "system:serviceaccount:{}:capi-loadgen-{manager}",
            identity::SYSTEM_NAMESPACE
        ),
        ManagerIdentity::Admin => "capi-loadgen-admin".into(),
    }
}
