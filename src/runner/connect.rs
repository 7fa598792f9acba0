//! Setting up a target from a plan: start the local environment if needed, build the load
//! clients (one per pool member), an admin client for set-up, and an etcd handle where one
//! is reachable (db size, byte counts).

use crate::backend::etcd::EtcdTarget;
use crate::backend::guard;
use crate::backend::kube::KubeTarget;
use crate::backend::Target;
use crate::env::{local, LocalEnv, LocalOptions};
use crate::error::Error;
use crate::profile::TargetPlan;
use crate::report::summary::TargetInfo;
use std::time::Duration;

/// The load clients, of one kind.
pub enum Load {
    /// kube-apiserver clients.
    Kube(Vec<KubeTarget>),
    /// bare etcd clients.
    Etcd(Vec<EtcdTarget>),
}

/// A connected target.
pub struct Connected {
    /// One client per pool member.
    pub load: Load,
    /// Set-up client (system:masters in the local environment), when an apiserver exists.
    pub admin: Option<KubeTarget>,
    /// The etcd behind the target, when reachable (local environment or etcd target).
    pub etcd: Option<EtcdTarget>,
    /// What to report.
    pub info: TargetInfo,
    /// etcd's `/metrics` URL, when known.
    pub etcd_metrics_url: Option<String>,
    /// etcd's quota in bytes, when known (the local environment's).
    pub etcd_quota_bytes: Option<u64>,
    /// The kube-apiserver instances known to serve the target (the local environment's;
    /// empty: unknown).
    pub apiserver_urls: Vec<String>,
    env: Option<LocalEnv>,
    ephemeral_state: bool,
}

impl Connected {
    /// The local environment's first kube-apiserver under its memory limit, when it has one.
    pub fn apiserver_watch(&self) -> Option<crate::env::ApiserverWatch> {
        self.env.as_ref()?.apiserver_watch()
    }
}

async fn start_local(opts: &LocalOptions, run_id: &str) -> Result<(LocalEnv, bool), Error> {
    let mut opts = opts.clone();
    let ephemeral = opts.state_dir.as_os_str().is_empty();
    if ephemeral {
        // Unique per environment: `local.management_clusters` starts several for one run id.
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        opts.state_dir = std::env::temp_dir().join(match n {
            0 => format!("capi-loadgen-{run_id}"),
            n => format!("capi-loadgen-{run_id}-{n}"),
        });
    }
    tracing::info!(state_dir = %opts.state_dir.display(), "starting the local environment");
    Ok((LocalEnv::start(&opts).await?, ephemeral))
}

async fn kube_clients(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
    n: usize,
    timeout: Duration,
) -> Result<Vec<KubeTarget>, Error> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(KubeTarget::from_kubeconfig(kubeconfig, context, timeout).await?);
    }
    Ok(v)
}

async fn etcd_clients(
    endpoints: &[String],
    tls: Option<&crate::backend::etcd::EtcdTls>,
    n: usize,
    timeout: Duration,
) -> Result<Vec<EtcdTarget>, Error> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(EtcdTarget::connect(endpoints, tls, timeout).await?);
    }
    Ok(v)
}

/// Connects to the plan's target with `pool_size` load clients.
pub async fn connect(
    target: &TargetPlan,
    pool_size: usize,
    timeout: Duration,
    run_id: &str,
) -> Result<Connected, Error> {
    match target {
        TargetPlan::Local(opts) => {
            let (env, ephemeral_state) = start_local(opts, run_id).await?;
            let kc = env.info.kubeconfig.clone();
            let admin =
                KubeTarget::from_kubeconfig(Some(&kc), Some(local::ADMIN_CONTEXT), timeout).await?;
            let load =
                kube_clients(Some(&kc), Some(local::LOAD_CONTEXT), pool_size, timeout).await?;
            let etcd = EtcdTarget::connect(&etcd_client_urls(&env), None, timeout).await?;
            let info = TargetInfo {
                kind: "local".into(),
                endpoint: env.info.apiserver_url.clone(),
                server_version: env.info.apiserver_version.to_string(),
                etcd_version: Some(env.info.etcd_version.to_string()),
            };
            Ok(Connected {
                load: Load::Kube(load),
                admin: Some(admin),
                etcd: Some(etcd),
                info,
                etcd_metrics_url: Some(env.info.etcd_metrics_url.clone()),
                etcd_quota_bytes: Some(env.info.quota_backend_bytes),
                apiserver_urls: env.info.apiserver_urls.clone(),
                env: Some(env),
                ephemeral_state,
            })
        }
        TargetPlan::Etcd {
            endpoints,
            tls,
            local: opts,
            allow,
        } => {
            for e in endpoints {
                guard::check_etcd(e, allow)?;
            }
            let (env, ephemeral_state, endpoints, admin) = if endpoints.is_empty() {
                let (env, eph) = start_local(opts, run_id).await?;
                let kc = env.info.kubeconfig.clone();
                let admin =
                    KubeTarget::from_kubeconfig(Some(&kc), Some(local::ADMIN_CONTEXT), timeout)
                        .await?;
                let ep = vec![env.info.etcd_endpoint.clone()];
                (Some(env), eph, ep, Some(admin))
            } else {
                (None, false, endpoints.clone(), None)
            };
            let load = etcd_clients(&endpoints, tls.as_ref(), pool_size, timeout).await?;
            let etcd = load[0].clone();
            let version = {
                let mut c = etcd.client();
                c.status()
                    .await
                    .map(|s| format!("etcd {}", s.version()))
                    .unwrap_or_default()
            };
            let info = TargetInfo {
                kind: "etcd".into(),
                endpoint: etcd.endpoint(),
                server_version: version,
                etcd_version: None,
            };
            let etcd_metrics_url = match &env {
                Some(e) => Some(e.info.etcd_metrics_url.clone()),
                None => endpoints
                    .first()
                    .map(|e| format!("{}/metrics", e.trim_end_matches('/'))),
            };
            Ok(Connected {
                load: Load::Etcd(load),
                admin,
                etcd: Some(etcd),
                info,
                etcd_metrics_url,
                etcd_quota_bytes: env.as_ref().map(|e| e.info.quota_backend_bytes),
                apiserver_urls: Vec::new(),
                env,
                ephemeral_state,
            })
        }
        TargetPlan::Kube {
            kubeconfig,
            context,
            allow,
            chosen,
        } => {
            let admin =
                KubeTarget::from_kubeconfig(kubeconfig.as_deref(), context.as_deref(), timeout)
                    .await?;
            // Before anything is written, or even asked.
            guard::check_kube(admin.context(), &admin.endpoint(), allow).map_err(|e| match e {
                guard::GuardError::Context {
                    context, server, ..
                } => guard::GuardError::Context {
                    context,
                    server,
                    from_env: chosen.is_some(),
                },
                other => other,
            })?;
            let server_version = admin.check().await?;
            let mut admin = admin;
            let mut load = kube_clients(
                kubeconfig.as_deref(),
                context.as_deref(),
                pool_size,
                timeout,
            )
            .await?;
            // Least privilege (deploy/rbac.yaml): no Secrets cluster-wide, so each namespace
            // the run creates gets a RoleBinding that opens it to this identity.
            if !Box::pin(crate::backend::access::can(&admin, "list", "secrets"))
                .await
                .unwrap_or(true)
            {
                let subject = crate::backend::access::subject(&admin).await.map_err(|e| {
                    Error::setup(
                        admin.endpoint(),
                        format_args!("who am I (SelfSubjectReview): {}", e.label()),
                    )
                })?;
                tracing::info!(%subject, "no Secrets cluster-wide: binding {} in each namespace created", crate::backend::access::NAMESPACE_ROLE);
                for t in load.iter_mut().chain(std::iter::once(&mut admin)) {
                    t.bind_created_namespaces(subject.clone());
                }
            }
            let info = TargetInfo {
                kind: "kube".into(),
                endpoint: admin.endpoint(),
                server_version,
                etcd_version: None,
            };
            Ok(Connected {
                load: Load::Kube(load),
                admin: Some(admin),
                etcd: None,
                info,
                etcd_metrics_url: None,
                etcd_quota_bytes: None,
                apiserver_urls: Vec::new(),
                env: None,
                ephemeral_state: false,
            })
        }
    }
}

/// The local environment's etcd client URLs: every member of a cluster, or the one etcd.
fn etcd_client_urls(env: &LocalEnv) -> Vec<String> {
    match env.info.etcd_members.is_empty() {
        true => vec![env.info.etcd_endpoint.clone()],
        false => env
            .info
            .etcd_members
            .iter()
            .map(|m| m.client_url.clone())
            .collect(),
    }
}

impl Connected {
    /// The local environment's etcd cluster, for fault injection (`local.etcd_members`).
    pub fn etcd_control(&self) -> Option<crate::env::etcd_cluster::EtcdControl> {
        self.env.as_ref().and_then(LocalEnv::etcd_control)
    }

    /// Every etcd member's `/metrics` URL, when the run started a cluster.
    pub fn etcd_member_metrics_urls(&self) -> Vec<String> {
        self.env
            .iter()
            .flat_map(|e| e.info.etcd_members.iter().map(|m| m.metrics_url.clone()))
            .collect()
    }

    /// The round-trip time added in front of every etcd member (`local.etcd_rtt_ms`).
    pub fn etcd_rtt_ms(&self) -> Option<f64> {
        self.env.as_ref().and_then(|e| e.info.etcd_rtt_ms)
    }

    /// The kube-apiserver's pid, when this run started it (the local environment).
    pub fn apiserver_pid(&self) -> Option<u32> {
        self.env
            .as_ref()
            .map(|e| e.info.apiserver_pid)
            .filter(|p| *p > 0)
    }

    /// The kubeconfig of the local environment this run started, if any.
    pub fn local_kubeconfig(&self) -> Option<&std::path::Path> {
        self.env.as_ref().map(|e| e.info.kubeconfig.as_path())
    }

    /// Stops the local environment, if this run started one (kube-apiserver first, then etcd).
    pub async fn close(&mut self) {
        if let Some(env) = self.env.as_mut() {
            env.stop().await;
            if self.ephemeral_state {
                let _ = std::fs::remove_dir_all(&env.info.state_dir);
            }
        }
        self.env = None;
    }
}
