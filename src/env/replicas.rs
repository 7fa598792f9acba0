//! `local.apiservers: N`: N kube-apiservers on the one etcd, as highly available control
//! planes run them (kubeadm's "Creating Highly Available Clusters",
//! <https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/high-availability/>).
//! Each serves on its own loopback port with the same certificates, tokens and
//! service-account keys. `default/kubernetes` lists none of them: current servers refuse a
//! loopback advertise address for the endpoint reconciler (so it is off, see `local.rs`), and
//! the API refuses loopback addresses in EndpointSlices ("may not be in the loopback
//! range"). The instances' URLs are in [`LocalInfo::apiserver_urls`] instead.

use super::assets::Assets;
use super::local::{
    apiserver_command, free_port, LocalInfo, LocalOptions, ADMIN_CONTEXT, READY_TIMEOUT,
};
use super::process::ManagedChild;
use super::EnvError;
use std::time::{Duration, Instant};

/// A client of `context` in `kubeconfig`, talking to `url` instead of the kubeconfig's
/// server (same credentials and CA).
pub async fn client_at(
    kubeconfig: &std::path::Path,
    context: &str,
    url: &str,
) -> Result<kube::Client, EnvError> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| EnvError::Start(format!("{}: {e}", kubeconfig.display())))?;
    let opts = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| EnvError::Start(format!("{}: {e}", kubeconfig.display())))?;
    cfg.cluster_url = url
        .parse()
        .map_err(|e| EnvError::Start(format!("{url}: {e}")))?;
    kube::Client::try_from(cfg).map_err(|e| EnvError::Start(format!("client: {e}")))
}

async fn ready(c: &kube::Client) -> bool {
    match http::Request::get("/readyz").body(Vec::new()) {
        Ok(req) => c.request_text(req).await.is_ok_and(|b| b.trim() == "ok"),
        Err(_) => false,
    }
}

/// Starts `n` more kube-apiservers beside the first and waits for each to be ready.
/// Returns the children and their URLs.
pub(super) async fn start(
    a: &Assets,
    info: &LocalInfo,
    o: &LocalOptions,
    n: u32,
) -> Result<(Vec<ManagedChild>, Vec<String>), EnvError> {
    let (mut children, mut urls) = (Vec::new(), Vec::new());
    for i in 1..=n {
        let port = free_port()?;
        let log = info.state_dir.join(format!("kube-apiserver-{i}.log"));
        let cmd = apiserver_command(a, &info.state_dir, port, &info.apiserver_etcd_servers(), o);
        let child = ManagedChild::spawn("kube-apiserver", cmd, &log)
            .map_err(|e| EnvError::Start(format!("cannot start kube-apiserver {i}: {e}")))?;
        children.push((child, log));
        urls.push(format!("https://127.0.0.1:{port}"));
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    for ((child, log), url) in children.iter().zip(&urls) {
        let c = client_at(&info.kubeconfig, ADMIN_CONTEXT, url).await?;
        while !ready(&c).await {
            if child.exited().is_some() || Instant::now() > deadline {
                return Err(EnvError::Start(format!(
                    "kube-apiserver at {url} not ready (log: {})",
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok((children.into_iter().map(|(c, _)| c).collect(), urls))
}
