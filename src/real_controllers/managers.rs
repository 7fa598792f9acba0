//! Starting and stopping the managers: upstream binaries with the profile's flags, each on
//! its own loopback ports (webhooks, health, metrics), logging into the results folder.

use super::manifests::Provider;
use super::CapiError;
use crate::env::process::ManagedChild;
use crate::profile::capi_controllers::ManagersPlan;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::time::Instant;

/// The port CAPD's in-memory backend binds on every interface for its debug server.
pub(crate) const CAPD_DEBUG_PORT: u16 = 19000;
/// How long a manager may take to answer `/readyz`.
const READY_DEADLINE: Duration = Duration::from_secs(120);
/// How long a manager may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One manager's ports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    /// Its webhook server (conversion and admission).
    pub webhook: u16,
    /// `/readyz` and `/healthz`.
    pub health: u16,
    /// `/metrics` (plain HTTP, `--insecure-diagnostics`).
    pub metrics: u16,
}

/// Free loopback ports for `n` managers, all different (every listener is held until all
/// are chosen, so the kernel cannot hand one out twice).
pub(crate) fn free_ports(n: usize) -> Result<Vec<Ports>, CapiError> {
    let mut held = Vec::new();
    let mut take = || -> Result<u16, CapiError> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| CapiError::io(Path::new("127.0.0.1:0"), e))?;
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        held.push(l);
        Ok(port)
    };
    (0..n)
        .map(|_| {
            Ok(Ports {
                webhook: take()?,
                health: take()?,
                metrics: take()?,
            })
        })
        .collect()
}

/// Refuses to start a second CAPD: its in-memory backend binds fixed ports on every interface.
pub(crate) fn check_capd_port() -> Result<(), CapiError> {
    match std::net::TcpListener::bind(("0.0.0.0", CAPD_DEBUG_PORT)) {
        Ok(_) => Ok(()),
        Err(_) => Err(CapiError::PortTaken {
            port: CAPD_DEBUG_PORT,
        }),
    }
}

/// A running manager.
pub(crate) struct Manager {
    /// Which one.
    pub provider: Provider,
    /// Its ports.
    pub ports: Ports,
    /// Its log.
    pub log: PathBuf,
    child: ManagedChild,
}

impl Manager {
    /// `http://127.0.0.1:<port>/metrics`.
    pub(crate) fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.ports.metrics)
    }

    /// Whether it has exited.
    pub(crate) fn exited(&self) -> bool {
        self.child.exited().is_some()
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub(crate) fn stop(&mut self) {
        self.child.stop(STOP_GRACE);
    }
}

/// The command line of a manager.
pub(crate) fn command(
    binary: &Path,
    provider: Provider,
    ports: Ports,
    kubeconfig: &Path,
    cert_dir: &Path,
    flags: &ManagersPlan,
) -> Command {
    let mut c = Command::new(binary);
    c.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--leader-elect=false")
        .arg(format!("--webhook-port={}", ports.webhook))
        .arg(format!("--webhook-cert-dir={}", cert_dir.display()))
        .arg(format!("--health-addr=127.0.0.1:{}", ports.health))
        .arg(format!("--diagnostics-address=127.0.0.1:{}", ports.metrics))
        .arg("--insecure-diagnostics")
        .arg(format!("--kube-api-qps={}", flags.kube_api_qps))
        .arg(format!("--kube-api-burst={}", flags.kube_api_burst))
        .arg(format!("--sync-period={}s", flags.sync_period.as_secs()))
        .arg(format!("--feature-gates={}", flags.feature_gates));
    if let Some(n) = flags.concurrency {
        for f in provider.concurrency_flags {
            c.arg(format!("--{f}={n}"));
        }
    }
    // CAPD's in-memory backend serves the workload clusters' apiservers at this address.
    c.env("POD_IP", "127.0.0.1");
    c
}

/// Starts a manager and waits for its `/readyz`; a start that lost its health or metrics
/// port to another process (the ports were free when chosen) is retried on fresh ones.
pub(crate) async fn start(
    provider: Provider,
    cmd: impl Fn(Ports) -> Command,
    mut ports: Ports,
    log: PathBuf,
) -> Result<Manager, CapiError> {
    let mut attempt = 1;
    loop {
        match start_once(provider, cmd(ports), ports, log.clone()).await {
            Err(e @ CapiError::Manager { .. }) if attempt < 3 && lost_a_port(&log) => {
                tracing::warn!("{e}; starting it again on fresh health and metrics ports");
                attempt += 1;
                let fresh = free_ports(1)?[0];
                ports.health = fresh.health;
                ports.metrics = fresh.metrics;
            }
            r => return r,
        }
    }
}

/// Whether the log's last lines say a health or metrics listener found its port taken.
fn lost_a_port(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|t| {
        t.lines().rev().take(5).any(|l| {
            l.contains("address already in use")
                && (l.contains("metrics server") || l.contains("health probe"))
        })
    })
}

async fn start_once(
    provider: Provider,
    cmd: Command,
    ports: Ports,
    log: PathBuf,
) -> Result<Manager, CapiError> {
    let child = ManagedChild::spawn(provider.name, cmd, &log).map_err(|e| CapiError::Manager {
        manager: provider.binary.to_string(),
        problem: format!("could not be started: {e}"),
        log: log.clone(),
    })?;
    let m = Manager {
        provider,
        ports,
        log,
        child,
    };
    let url = format!("http://127.0.0.1:{}/readyz", ports.health);
    let until = Instant::now() + READY_DEADLINE;
    loop {
        if m.exited() {
            return Err(CapiError::Manager {
                manager: provider.binary.to_string(),
                problem: "exited before it was ready".into(),
                log: m.log.clone(),
            });
        }
        if crate::measure::scrape::http_get(&url).await.is_ok() {
            return Ok(m);
        }
        if Instant::now() > until {
            return Err(CapiError::Manager {
                manager: provider.binary.to_string(),
                problem: format!("was not ready within {} s", READY_DEADLINE.as_secs()),
                log: m.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
