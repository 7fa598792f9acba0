//! The steps of a run with the real managers, in order: install, start, provision, scale up,
//! upgrade, idle, delete; a snapshot of every manager's metrics at each step's edge.

use super::apply::Applier;
use super::manifests::{self, PROVIDERS};
use super::metrics::{self, Snapshot};
use super::provision::{self, Fleet, FleetState};
use super::result::{CapiRunResult, CapiStatus, Step};
use super::{identity, managers, CapiError};
use crate::engine::Stop;
use crate::profile::capi_controllers::{CapiControllersPlan, ManagerIdentity};
use crate::profile::RunPlan;
use crate::runner::Connected;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// How long the managers' start-up calls may take to die down.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);
/// How long without a management call counts as settled.
const QUIET: Duration = Duration::from_secs(5);
/// How long the CRDs may take to be Established.
const CRD_DEADLINE: Duration = Duration::from_secs(60);

fn cpu_seconds(pid: u32) -> Option<f64> {
    proc_cpu_seconds(&pid.to_string())
}

/// User + system CPU seconds of `/proc/<process>/stat` (`self` for this process).
pub(super) fn proc_cpu_seconds(process: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// The running managers and what the run needs to measure them.
pub(super) struct Running {
    pub(super) managers: Vec<managers::Manager>,
    management: String,
    apiserver_pid: Option<u32>,
    pub(super) peak_rss: BTreeMap<String, u64>,
}

impl Running {
    pub(super) async fn snapshot(&mut self) -> BTreeMap<String, Snapshot> {
        let mut out = BTreeMap::new();
        for m in &self.managers {
            let s = match crate::measure::scrape::http_get(&m.metrics_url()).await {
                Ok(text) => metrics::parse(&text, &self.management),
                Err(e) => {
                    tracing::warn!("{}: {e}", m.provider.name);
                    Snapshot::default()
                }
            };
            let peak = self
                .peak_rss
                .entry(m.provider.name.to_string())
                .or_default();
            *peak = (*peak).max(s.rss_bytes as u64);
            out.insert(m.provider.name.to_string(), s);
        }
        out
    }

    pub(super) fn dead(&self) -> Option<&managers::Manager> {
        self.managers.iter().find(|m| m.exited())
    }

    pub(super) fn stop(&mut self) {
        for m in self.managers.iter_mut().rev() {
            m.stop();
        }
    }
}

/// A step's management calls per unit of work (an added or replaced machine), by manager
/// and in all.
fn per_unit(s: &Step, units: u64) -> BTreeMap<String, f64> {
    let units = units.max(1) as f64;
    let mut per: BTreeMap<String, f64> = s
        .managers
        .iter()
        .map(|(m, c)| (m.clone(), c.total_calls as f64 / units))
        .collect();
    per.insert("all".into(), per.values().sum());
    per
}

/// A step between two snapshots.
fn step(
    name: &str,
    t: Instant,
    before: &BTreeMap<String, Snapshot>,
    after: &BTreeMap<String, Snapshot>,
    cpu: (Option<f64>, Option<f64>),
) -> Step {
    let empty = Snapshot::default();
    Step {
        name: name.into(),
        seconds: t.elapsed().as_secs_f64(),
        managers: after
            .iter()
            .map(|(m, a)| (m.clone(), metrics::step(before.get(m).unwrap_or(&empty), a)))
            .collect(),
        apiserver_cpu_seconds: match cpu {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
    }
}

/// Every step of the run on the connected local environment, filling `r`; `running` holds
/// the managers once started (the caller stops them), `boundaries` each step's end.
#[allow(clippy::too_many_arguments)]
pub(super) async fn steps(
    plan: &RunPlan,
    capi: &CapiControllersPlan,
    release: &Path,
    private: &Path,
    c: &Connected,
    stop: &Stop,
    r: &mut CapiRunResult,
    running: &mut Option<Running>,
    boundaries: &mut Vec<(String, chrono::DateTime<chrono::Utc>)>,
) -> Result<(), CapiError> {
    let admin = c
        .admin
        .as_ref()
        .ok_or(CapiError::NotLocal)?
        .client()
        .clone();
    let kubeconfig: PathBuf = c
        .local_kubeconfig()
        .ok_or(CapiError::NotLocal)?
        .to_path_buf();
    let management = c
        .info
        .endpoint
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let a = Applier::new(admin.clone());
    let certs = private.join("certs");
    let ca_bundle = identity::webhook_certs(&certs)?;

    // Install: every provider's CRDs (conversion pointed at its manager) and webhooks.
    let t = Instant::now();
    let ports = managers::free_ports(PROVIDERS.len())?;
    let mut all_crds = Vec::new();
    let mut hooks = Vec::new();
    for (p, pp) in PROVIDERS.into_iter().zip(&ports) {
        let mut m = manifests::load(release, p)?;
        manifests::point_at_loopback(&mut m, pp.webhook, &ca_bundle, &plan.run_id);
        for crd in &m.crds {
            a.create_or_replace(crd).await?;
        }
        all_crds.extend(m.crds);
        hooks.extend(m.webhooks);
    }
    a.wait_established(&all_crds, CRD_DEADLINE).await?;
    for h in &hooks {
        a.create_or_replace(h).await?;
    }
    let cluster = identity::Cluster::read(&kubeconfig)?;
    let names: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    let kubeconfigs = identity::kubeconfigs(
        &a,
        &cluster,
        private,
        &names,
        capi.managers.identity == ManagerIdentity::ServiceAccount,
        &plan.run_id,
    )
    .await?;
    tracing::info!(
        "installed {} CRDs and {} webhook configurations of Cluster API {} in {:.1} s",
        all_crds.len(),
        hooks.len(),
        capi.version,
        t.elapsed().as_secs_f64()
    );

    // Start-up: the managers, one after another, each until /readyz.
    let t = Instant::now();
    let apiserver_pid = c.apiserver_pid();
    let cpu0 = apiserver_pid.and_then(cpu_seconds);
    *running = Some(Running {
        managers: Vec::new(),
        management,
        apiserver_pid,
        peak_rss: BTreeMap::new(),
    });
    let run = running.as_mut().ok_or(CapiError::NotLocal)?;
    for ((p, pp), kc) in PROVIDERS.iter().zip(&ports).zip(&kubeconfigs) {
        let bin = release.join("bin").join(p.binary);
        let cmd = |pp| managers::command(&bin, *p, pp, kc, &certs, &capi.managers);
        let log = plan.out_dir.join(format!("{}.log", p.name));
        run.managers.push(managers::start(*p, cmd, *pp, log).await?);
    }
    let zero = BTreeMap::new();
    let mut before = settle(run).await;
    let cpu1 = apiserver_pid.and_then(cpu_seconds);
    r.steps
        .push(step("startup", t, &zero, &before, (cpu0, cpu1)));
    boundaries.push(("startup".into(), chrono::Utc::now()));
    tracing::info!("managers ready in {:.1} s", t.elapsed().as_secs_f64());

    // Provision.
    let t = Instant::now();
    let fleet = Fleet::new(release, &plan.fleet)?;
    fleet.create_classes(&a, &plan.run_id).await?;
    r.creates = provision::create_clusters(&a, &fleet, capi, &plan.run_id, stop).await?;
    let machines = plan.fleet.clusters * (capi.control_plane_machines + capi.worker_machines);
    let clusters = r.creates.created;
    let (state, done) = provision::wait_for(
        &admin,
        &fleet,
        &plan.run_id,
        "provisioning",
        capi.provision_timeout,
        stop,
        |s| s.available == clusters && s.machines == machines && s.running == machines,
    )
    .await?;
    let after = if done {
        settle(run).await
    } else {
        run.snapshot().await
    };
    let cpu2 = apiserver_pid.and_then(cpu_seconds);
    r.steps
        .push(step("provision", t, &before, &after, (cpu1, cpu2)));
    boundaries.push(("provision".into(), chrono::Utc::now()));
    r.apiserver_rss_bytes = apiserver_pid
        .and_then(|p| crate::measure::memory::vm_rss_bytes(p).ok())
        .map(|b| b as u64);
    r.etcd_bytes_per_cluster = etcd_bytes(c, &fleet)
        .await
        .map(|b| b / clusters.max(1) as f64);
    let provisioned = state.clone();
    r.provisioned = state;
    let prov_step = r.steps.last().cloned().unwrap_or_default();
    let mut total = 0.0;
    for (m, s) in &prov_step.managers {
        let per = s.total_calls as f64 / clusters.max(1) as f64;
        total += per;
        r.calls_per_cluster.insert(m.clone(), per);
        r.calls_per_reconcile
            .insert(m.clone(), s.calls_per_reconcile);
    }
    r.calls_per_cluster.insert("all".into(), total);
    before = after;
    if !done {
        if !stop.is_stopped() {
            r.status = CapiStatus::TimedOut;
            r.notes.push(format!(
                "provisioning did not finish within {} s: {}/{} clusters Available, {}/{} machines Running",
                capi.provision_timeout.as_secs(), provisioned.available, clusters, provisioned.running, machines
            ));
        }
        return delete(
            plan,
            capi,
            &a,
            &admin,
            &fleet,
            run,
            &mut before,
            r,
            boundaries,
            stop,
        )
        .await;
    }

    // Scale up.
    if capi.scale_up_workers > 0 && !stop.is_stopped() {
        let t = Instant::now();
        provision::scale_up(&admin, &fleet, capi).await?;
        let want = machines + plan.fleet.clusters * capi.scale_up_workers;
        let (state, done) = provision::wait_for(
            &admin,
            &fleet,
            &plan.run_id,
            "scale-up",
            capi.provision_timeout,
            stop,
            |s| s.machines == want && s.running == want,
        )
        .await?;
        let after = if done {
            settle(run).await
        } else {
            run.snapshot().await
        };
        let cpu3 = apiserver_pid.and_then(cpu_seconds);
        let s = step("scale_up", t, &before, &after, (cpu2, cpu3));
        r.calls_per_added_machine = Some(per_unit(&s, plan.fleet.clusters * capi.scale_up_workers));
        r.steps.push(s);
        boundaries.push(("scale_up".into(), chrono::Utc::now()));
        r.scaled = Some(state);
        before = after;
        if !done && !stop.is_stopped() {
            r.status = CapiStatus::TimedOut;
            r.notes.push("the scale-up did not finish in time".into());
        }
    }

    // Upgrade: every machine replaced by one at the new version.
    if let (Some(version), false) = (&capi.upgrade_to, stop.is_stopped()) {
        let t = Instant::now();
        let cpu_a = apiserver_pid.and_then(cpu_seconds);
        provision::upgrade(&admin, &fleet, version).await?;
        let want = plan.fleet.clusters
            * (capi.control_plane_machines + capi.worker_machines + capi.scale_up_workers);
        let (state, done) = provision::wait_for(
            &admin,
            &fleet,
            &plan.run_id,
            "upgrade",
            capi.provision_timeout,
            stop,
            |s| {
                s.machines == want
                    && s.running == want
                    && s.versions.get(version.as_str()) == Some(&want)
            },
        )
        .await?;
        let after = if done {
            settle(run).await
        } else {
            run.snapshot().await
        };
        let s = step(
            "upgrade",
            t,
            &before,
            &after,
            (cpu_a, apiserver_pid.and_then(cpu_seconds)),
        );
        r.calls_per_upgraded_machine = Some(per_unit(&s, want));
        r.steps.push(s);
        boundaries.push(("upgrade".into(), chrono::Utc::now()));
        r.upgraded = Some(state);
        before = after;
        if !done && !stop.is_stopped() {
            r.status = CapiStatus::TimedOut;
            r.notes
                .push(format!("the upgrade to {version} did not finish in time"));
        }
    }

    // Idle: nothing to do but watch.
    if !capi.idle.is_zero() && !stop.is_stopped() {
        let t = Instant::now();
        let cpu_a = apiserver_pid.and_then(cpu_seconds);
        let until = t + capi.idle;
        while Instant::now() < until && !stop.is_stopped() && run.dead().is_none() {
            tokio::time::sleep(Duration::from_millis(500).min(until - Instant::now())).await;
        }
        let after = run.snapshot().await;
        let s = step(
            "idle",
            t,
            &before,
            &after,
            (cpu_a, apiserver_pid.and_then(cpu_seconds)),
        );
        r.idle_calls = s
            .managers
            .iter()
            .map(|(m, c)| (m.clone(), c.total_calls))
            .collect();
        r.steps.push(s);
        boundaries.push(("idle".into(), chrono::Utc::now()));
        before = after;
    }
    delete(
        plan,
        capi,
        &a,
        &admin,
        &fleet,
        run,
        &mut before,
        r,
        boundaries,
        stop,
    )
    .await
}

/// Lets the managers' calls die down after a step: until they made no management call for
/// [`QUIET`] (scraped every second), at most [`SETTLE_DEADLINE`]. The calls made meanwhile
/// belong to the step that caused them.
async fn settle(run: &mut Running) -> BTreeMap<String, Snapshot> {
    let until = Instant::now() + SETTLE_DEADLINE;
    let total = |s: &BTreeMap<String, Snapshot>| -> f64 {
        s.values().map(|x| x.calls.values().sum::<f64>()).sum()
    };
    let mut last = run.snapshot().await;
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = run.snapshot().await;
        if total(&now) != total(&last) {
            quiet_since = Instant::now();
        }
        if quiet_since.elapsed() >= QUIET || Instant::now() > until {
            return now;
        }
        last = now;
    }
}

/// etcd keys + values of the run's namespaces.
async fn etcd_bytes(c: &Connected, fleet: &Fleet) -> Option<f64> {
    let etcd = c.etcd.as_ref()?;
    let kvs = etcd.range_prefix("/registry/").await.ok()?;
    let bytes: usize = kvs
        .iter()
        .filter(|(k, _)| {
            fleet
                .namespaces
                .iter()
                .any(|ns| k.contains(&format!("/{ns}/")))
        })
        .map(|(k, v)| k.len() + v.len())
        .sum();
    Some(bytes as f64)
}

/// The delete step: Clusters deleted, the managers take the fleet down; then the classes,
/// namespaces, webhook configurations and identities of the run.
#[allow(clippy::too_many_arguments)]
async fn delete(
    plan: &RunPlan,
    capi: &CapiControllersPlan,
    a: &Applier,
    admin: &kube::Client,
    fleet: &Fleet,
    run: &mut Running,
    before: &mut BTreeMap<String, Snapshot>,
    r: &mut CapiRunResult,
    boundaries: &mut Vec<(String, chrono::DateTime<chrono::Utc>)>,
    stop: &Stop,
) -> Result<(), CapiError> {
    if !capi.delete {
        r.notes
            .push("capi_controllers.delete is false: the fleet was left in place".into());
        return Ok(());
    }
    let t = Instant::now();
    let cpu_a = run.apiserver_pid.and_then(cpu_seconds);
    provision::delete_clusters(admin, fleet).await?;
    // Not stopped by Ctrl-C: a fleet half taken down is worse than a wait.
    let never = crate::engine::stop_signal().1;
    let (state, done) = provision::wait_for(
        admin,
        fleet,
        &plan.run_id,
        "deleting",
        capi.provision_timeout,
        &never,
        |s: &FleetState| s.clusters == 0 && s.machines == 0,
    )
    .await?;
    let after = run.snapshot().await;
    r.steps.push(step(
        "delete",
        t,
        before,
        &after,
        (cpu_a, run.apiserver_pid.and_then(cpu_seconds)),
    ));
    boundaries.push(("delete".into(), chrono::Utc::now()));
    *before = after;
    if !done {
        r.notes.push(format!(
            "{} clusters and {} machines were still there {} s after their delete",
            state.clusters,
            state.machines,
            capi.provision_timeout.as_secs()
        ));
    }
    let _ = stop;
    super::teardown::remove(a, fleet, &plan.run_id, r).await;
    Ok(())
}
