//! The `local` environment: a real etcd and kube-apiserver on free 127.0.0.1 ports.
//!
//! Layout of the state directory:
//! - `etcd/` data, `pki/` CA + serving cert + SA key, `tokens.csv` (0600),
//! - `kubeconfig` with two contexts: `capi-loadgen-admin` (system:masters, set-up only) and
//!   `capi-loadgen-load` (a ServiceAccount, the current context, subject to APF),
//! - `state.json` (ports, pids, versions; no credentials), `etcd.log`, `kube-apiserver.log`.

use super::assets::{self, Assets};
use super::constraints::{ApiserverWatch, Asked, Constraints};
use super::kubeconfig::kubeconfig_yaml;
use super::process::{self, ManagedChild};
use super::{bootstrap, pki, EnvError};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub use super::kubeconfig::{ADMIN_CONTEXT, LOAD_CONTEXT};
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub use super::local_options::{LocalInfo, LocalOptions};

/// A started local environment. Dropping it kills the processes (unless detached);
/// call [`LocalEnv::stop`] for an orderly shutdown.
pub struct LocalEnv {
    /// Addresses, versions and files.
    pub info: LocalInfo,
    apiserver: Option<ManagedChild>,
    etcd: Option<ManagedChild>,
    /// The kube-apiservers after the first.
    replicas: Vec<ManagedChild>,
    /// etcd's slow disk and the apiserver's memory cgroup, released after both stop.
    constraints: Constraints,
    /// The etcd cluster, when `etcd_members` asked for one (instead of `etcd`).
    etcd_cluster: Option<super::etcd_cluster::EtcdCluster>,
}

pub(super) fn free_port() -> Result<u16, EnvError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| EnvError::Start(format!("no free port on 127.0.0.1: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| EnvError::Start(format!("no free port: {e}")))
}

fn write_private(path: &Path, contents: &str) -> Result<(), EnvError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EnvError::io(path, e))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| EnvError::io(path, e))
}

/// Builds a kube client for one context of a kubeconfig file.
pub async fn client_for(kubeconfig: &Path, context: &str) -> Result<kube::Client, EnvError> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| EnvError::Start(format!("{}: {e}", kubeconfig.display())))?;
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| EnvError::Start(format!("{}: {e}", kubeconfig.display())))?;
    kube::Client::try_from(cfg).map_err(|e| EnvError::Start(format!("client: {e}")))
}

fn etcd_command(
    a: &Assets,
    dir: &Path,
    client: u16,
    peer: u16,
    metrics: u16,
    o: &LocalOptions,
    quota: u64,
) -> Command {
    let mut c = Command::new(&a.etcd);
    c.arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg("--name=capi-loadgen")
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .arg(format!(
            "--initial-cluster=capi-loadgen=http://127.0.0.1:{peer}"
        ))
        .arg(format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"))
        .arg(format!("--quota-backend-bytes={quota}"))
        .arg("--metrics=extensive")
        .args(&o.etcd_extra_args);
    c
}

pub(super) fn apiserver_command(
    a: &Assets,
    dir: &Path,
    port: u16,
    etcd: &str,
    o: &LocalOptions,
) -> Command {
    let pki = dir.join("pki");
    let mut c = Command::new(&a.kube_apiserver);
    c.arg(format!("--etcd-servers={etcd}"))
        .arg(format!("--cert-dir={}", pki.display()))
        .arg(format!(
            "--tls-cert-file={}",
            pki.join("serving.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.join("serving.key").display()
        ))
        .arg(format!("--secure-port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!(
            "--token-auth-file={}",
            dir.join("tokens.csv").display()
        ))
        .arg("--authorization-mode=RBAC")
        .arg("--service-account-issuer=https://capi-loadgen.local")
        .arg(format!(
            "--service-account-key-file={}",
            pki.join("sa.pub").display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki.join("sa.key").display()
        ))
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--allow-privileged=true")
        // Object-count metrics every 2 s instead of every minute, so short runs see them.
        .arg("--etcd-count-metric-poll-period=2s");
    if !a.apiserver_version.at_least(1, 24) {
        c.arg("--insecure-port=0");
    } else {
        // Current servers refuse a loopback advertise address for the `default/kubernetes`
        // endpoints ("may not be in the loopback range"); nothing here needs those
        // endpoints, so the reconciler is off, as in test control planes.
        c.arg("--endpoint-reconciler-type=none");
    }
    if let Some(n) = o.max_requests_inflight {
        c.arg(format!("--max-requests-inflight={n}"));
    }
    if let Some(n) = o.max_mutating_requests_inflight {
        c.arg(format!("--max-mutating-requests-inflight={n}"));
    }
    c.args(&o.apiserver_extra_args);
    c
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Starts tried when a chosen port was taken before the servers bound it.
const PORT_ATTEMPTS: u32 = 3;

/// etcd's default quota when the profile sets none (2 GiB).
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;

impl LocalEnv {
    /// Starts etcd and kube-apiserver, waits for `/readyz`, creates the load identity and
    /// writes the kubeconfig. On any failure the processes started so far are stopped.
    ///
    /// The ports are free when chosen, but another process (an outgoing connection takes
    /// ports from the same ephemeral range) may bind one before the servers do: a start
    /// that fails with "address already in use" is retried on fresh ports.
    pub async fn start(opts: &LocalOptions) -> Result<LocalEnv, EnvError> {
        let mut attempt = 1;
        loop {
            match Self::start_once(opts).await {
                Err(EnvError::Start(m))
                    if m.contains("address already in use") && attempt < PORT_ATTEMPTS =>
                {
                    tracing::warn!(attempt, "a port was taken before the servers bound it; starting again on fresh ports: {m}");
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn start_once(opts: &LocalOptions) -> Result<LocalEnv, EnvError> {
        let a = assets::discover(&opts.versions)?;
        let dir = opts.state_dir.clone();
        // A killed run may have left its slow disk mounted in here.
        super::slow_disk::detach_mounts_under(&dir);
        if dir.join("state.json").exists() {
            if let Ok(old) = LocalInfo::read(&dir) {
                if old.processes_alive() {
                    return Err(EnvError::Start(format!(
                        "{} already holds a running environment (etcd pid {}, kube-apiserver pid {}): `capi-loadgen env down` first",
                        dir.display(), old.etcd_pid, old.apiserver_pid
                    )));
                }
            }
            std::fs::remove_dir_all(&dir).map_err(|e| EnvError::io(&dir, e))?;
        }
        // Every start is a fresh environment: `env down` (or a failed start) leaves the etcd
        // data behind without state.json, and an etcd started on it would bring back the
        // last environment's objects and CRDs.
        let old_data = dir.join("etcd");
        if old_data.join("member").is_dir() {
            std::fs::remove_dir_all(&old_data).map_err(|e| EnvError::io(&old_data, e))?;
        }
        std::fs::create_dir_all(dir.join("pki")).map_err(|e| EnvError::io(&dir, e))?;
        let keys = pki::generate()?;
        let pki_dir = dir.join("pki");
        write_private(&pki_dir.join("ca.crt"), &keys.ca_cert_pem)?;
        write_private(&pki_dir.join("serving.crt"), &keys.serving_cert_pem)?;
        write_private(&pki_dir.join("serving.key"), &keys.serving_key_pem)?;
        write_private(&pki_dir.join("sa.key"), &keys.sa_key_pem)?;
        write_private(&pki_dir.join("sa.pub"), &keys.sa_pub_pem)?;
        let admin_token = pki::random_token();
        write_private(
            &dir.join("tokens.csv"),
            &format!("{admin_token},capi-loadgen-admin,capi-loadgen-admin,system:masters\n"),
        )?;

        let quota = opts
            .quota_backend_bytes
            .unwrap_or(DEFAULT_QUOTA_BACKEND_BYTES);
        let (cport, pport, mport, aport) = (free_port()?, free_port()?, free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{cport}");
        let etcd_log = dir.join("etcd.log");
        let api_log = dir.join("kube-apiserver.log");
        let ecmd = etcd_command(&a, &dir, cport, pport, mport, opts, quota);
        let mut acmd = apiserver_command(&a, &dir, aport, &etcd_url, opts);
        let asked = Asked {
            fsync_delay_ms: opts.etcd_fsync_delay_ms,
            fsync_in_memory: opts.etcd_fsync_in_memory,
            memory: opts.apiserver_memory,
            detach: opts.detach,
        };
        let constraints = Constraints::set_up(asked, &dir, aport, &mut acmd).await?;

        let mut env = LocalEnv {
            info: LocalInfo {
                state_dir: dir.clone(),
                etcd_endpoint: etcd_url.clone(),
                etcd_metrics_url: format!("http://127.0.0.1:{mport}/metrics"),
                apiserver_url: format!("https://127.0.0.1:{aport}"),
                apiserver_urls: vec![format!("https://127.0.0.1:{aport}")],
                kubeconfig: dir.join("kubeconfig"),
                apiserver_version: a.apiserver_version,
                etcd_version: a.etcd_version,
                etcd_pid: 0,
                apiserver_pid: 0,
                detached: opts.detach,
                quota_backend_bytes: quota,
                etcd_fsync_delay_ms: opts.etcd_fsync_delay_ms,
                etcd_members: Vec::new(),
                etcd_rtt_ms: opts.etcd_rtt.map(|d| d.as_secs_f64() * 1000.0),
            },
            apiserver: None,
            etcd: None,
            replicas: Vec::new(),
            constraints,
            etcd_cluster: None,
        };
        let spawn_err =
            |what: &str, e: std::io::Error| EnvError::Start(format!("cannot start {what}: {e}"));
        let mut acmd = acmd;
        if opts.etcd_members > 0 {
            let (cluster, members) = super::etcd_cluster::start_for(
                &a,
                &dir,
                &super::etcd_cluster::ClusterPlan {
                    members: opts.etcd_members,
                    rtt: opts.etcd_rtt,
                    quota,
                    extra_args: opts.etcd_extra_args.clone(),
                },
                opts.detach,
            )
            .await?;
            env.etcd_cluster = Some(cluster);
            env.info.etcd_endpoint = members[0].client_url.clone();
            env.info.etcd_metrics_url = members[0].metrics_url.clone();
            env.info.etcd_pid = members[0].pid;
            env.info.etcd_members = members;
            acmd = apiserver_command(&a, &dir, aport, &env.info.apiserver_etcd_servers(), opts);
        } else if opts.detach {
            env.info.etcd_pid =
                ManagedChild::spawn_detached(ecmd, &etcd_log).map_err(|e| spawn_err("etcd", e))?;
        } else {
            let c =
                ManagedChild::spawn("etcd", ecmd, &etcd_log).map_err(|e| spawn_err("etcd", e))?;
            env.info.etcd_pid = c.pid();
            env.etcd = Some(c);
        }
        if env.etcd_cluster.is_none() {
            env.wait_etcd(&etcd_log).await?;
        }
        if opts.detach {
            env.info.apiserver_pid = ManagedChild::spawn_detached(acmd, &api_log)
                .map_err(|e| spawn_err("kube-apiserver", e))?;
        } else {
            let c = ManagedChild::spawn("kube-apiserver", acmd, &api_log)
                .map_err(|e| spawn_err("kube-apiserver", e))?;
            env.info.apiserver_pid = c.pid();
            env.apiserver = Some(c);
        }
        // From here on a failure must also stop detached children.
        let started = async {
            env.finish_start(&keys.ca_cert_pem, &admin_token, &api_log)
                .await?;
            if opts.apiservers > 1 {
                let (children, urls) =
                    super::replicas::start(&a, &env.info, opts, opts.apiservers - 1).await?;
                env.replicas = children;
                env.info.apiserver_urls.extend(urls);
                env.write_state()?;
            }
            Ok::<(), EnvError>(())
        };
        match started.await {
            Ok(()) => Ok(env),
            Err(e) => {
                env.stop().await;
                Err(e)
            }
        }
    }

    async fn finish_start(
        &mut self,
        ca: &str,
        admin_token: &str,
        api_log: &Path,
    ) -> Result<(), EnvError> {
        let kc = &self.info.kubeconfig;
        write_private(
            kc,
            &kubeconfig_yaml(&self.info.apiserver_url, ca, admin_token, None),
        )?;
        let admin = client_for(kc, ADMIN_CONTEXT).await?;
        self.wait_ready(&admin, api_log).await?;
        let load_token = bootstrap::load_identity(admin, 30 * 24 * 3600).await?;
        write_private(
            kc,
            &kubeconfig_yaml(&self.info.apiserver_url, ca, admin_token, Some(&load_token)),
        )?;
        self.write_state()
    }

    fn write_state(&self) -> Result<(), EnvError> {
        let state = serde_json::to_string_pretty(&self.info)
            .map_err(|e| EnvError::Start(format!("state.json: {e}")))?;
        let p = self.info.state_dir.join("state.json");
        std::fs::write(&p, state).map_err(|e| EnvError::io(&p, e))?;
        Ok(())
    }

    fn child_died(&self, which: &str, log: &Path) -> Option<EnvError> {
        let (child, pid) = match which {
            "etcd" => (&self.etcd, self.info.etcd_pid),
            _ => (&self.apiserver, self.info.apiserver_pid),
        };
        let dead = match child {
            Some(c) => c.exited().is_some(),
            None => !process::pid_alive_as(pid, which),
        };
        dead.then(|| {
            EnvError::Start(format!(
                "{which} exited during start-up: {} (log: {})",
                log_tail(log),
                log.display()
            ))
        })
    }

    async fn wait_etcd(&self, log: &Path) -> Result<(), EnvError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(e) = self.child_died("etcd", log) {
                return Err(e);
            }
            let opts =
                etcd_client::ConnectOptions::new().with_connect_timeout(Duration::from_secs(1));
            if let Ok(mut c) =
                etcd_client::Client::connect([self.info.etcd_endpoint.as_str()], Some(opts)).await
            {
                if c.status().await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(EnvError::Start(format!(
                    "etcd not ready after {READY_TIMEOUT:?} (log: {})",
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_ready(&self, admin: &kube::Client, log: &Path) -> Result<(), EnvError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(e) = self.child_died("kube-apiserver", log) {
                return Err(e);
            }
            let req = http::Request::get("/readyz").body(Vec::new());
            if let Ok(req) = req {
                if let Ok(body) = admin.request_text(req).await {
                    if body.trim() == "ok" {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(EnvError::Start(format!(
                    "kube-apiserver not ready after {READY_TIMEOUT:?}: {} (log: {})",
                    log_tail(log),
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A client for the load identity (not in system:masters).
    pub async fn load_client(&self) -> Result<kube::Client, EnvError> {
        client_for(&self.info.kubeconfig, LOAD_CONTEXT).await
    }

    /// A client for the admin identity (set-up only).
    pub async fn admin_client(&self) -> Result<kube::Client, EnvError> {
        client_for(&self.info.kubeconfig, ADMIN_CONTEXT).await
    }

    /// How the first kube-apiserver fares under its memory limit (None without one).
    pub fn apiserver_watch(&self) -> Option<ApiserverWatch> {
        self.constraints
            .watch(self.apiserver.as_ref()?, self.info.apiserver_pid)
    }

    /// Orderly shutdown: kube-apiserver first (SIGTERM, 10 s, then SIGKILL), then etcd,
    /// then etcd's slow disk and the apiserver's memory cgroup.
    pub async fn stop(&mut self) {
        let mut constraints = std::mem::take(&mut self.constraints);
        let mut api = self.apiserver.take();
        let mut etcd = self.etcd.take();
        let mut replicas = std::mem::take(&mut self.replicas);
        let mut cluster = self.etcd_cluster.take();
        let info = self.info.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for c in replicas.iter_mut() {
                c.stop(Duration::from_secs(10));
            }
            if let Some(c) = api.as_mut() {
                c.stop(Duration::from_secs(10));
            } else if info.detached {
                process::stop_pid(
                    info.apiserver_pid,
                    "kube-apiserver",
                    Duration::from_secs(10),
                );
            }
            if let Some(c) = cluster.as_mut() {
                c.stop(Duration::from_secs(10));
            }
            if let Some(c) = etcd.as_mut() {
                c.stop(Duration::from_secs(10));
            } else if info.detached {
                process::stop_pid(info.etcd_pid, "etcd", Duration::from_secs(10));
            }
            constraints.release();
        })
        .await;
        let _ = std::fs::remove_file(self.info.state_dir.join("state.json"));
    }

    /// The etcd cluster's members, for fault injection (`local.etcd_members`).
    pub fn etcd_control(&self) -> Option<super::etcd_cluster::EtcdControl> {
        self.etcd_cluster.as_ref().map(|c| c.control())
    }

    /// Kills etcd with SIGKILL (fault-injection tests).
    pub fn kill_etcd(&mut self) {
        if let Some(c) = self.etcd.as_mut() {
            c.stop(Duration::ZERO);
        }
    }
}

/// Stops a detached environment recorded in `state_dir` (`env down`).
pub fn stop_detached(state_dir: &Path) -> Result<LocalInfo, EnvError> {
    let info = LocalInfo::read(state_dir)?;
    process::stop_pid(
        info.apiserver_pid,
        "kube-apiserver",
        Duration::from_secs(10),
    );
    process::stop_pid(info.etcd_pid, "etcd", Duration::from_secs(10));
    let _ = std::fs::remove_file(state_dir.join("state.json"));
    Ok(info)
}

impl Drop for LocalEnv {
    fn drop(&mut self) {
        // Synchronous last resort; children are SIGKILLed in order by ManagedChild::drop.
        self.replicas.clear();
        self.apiserver.take();
        self.etcd.take();
        self.constraints.release();
        self.etcd_cluster.take();
    }
}
