//! `capi-loadgen env up|status|down`.

use crate::cli::{EnvAction, EnvArgs};
use crate::engine::stop_signal;
use crate::env::{self, assets, LocalEnv, LocalInfo, LocalOptions};
use crate::error::{Error, UsageError};
use std::path::PathBuf;

fn state_dir(d: Option<PathBuf>) -> PathBuf {
    d.unwrap_or_else(|| assets::cache_root().join("local"))
}

fn describe(i: &LocalInfo) -> String {
    format!(
        "kube-apiserver {} at {} (pid {})\netcd {} at {} (pid {}, quota {} bytes)\nkubeconfig: {}  (contexts: {} [current], {})\ntry: kubectl --kubeconfig {} get namespaces",
        i.apiserver_version, i.apiserver_url, i.apiserver_pid, i.etcd_version, i.etcd_endpoint, i.etcd_pid,
        i.quota_backend_bytes, i.kubeconfig.display(), env::local::LOAD_CONTEXT, env::local::ADMIN_CONTEXT,
        i.kubeconfig.display()
    )
}

/// Runs an `env` action.
pub async fn run(args: EnvArgs) -> Result<(), Error> {
    match args.action {
        EnvAction::Up(up) => {
            let version =
                |flag: &'static str, v: Option<String>| match v {
                    None => Ok(None),
                    Some(t) => assets::Version::parse_exact(&t).map(Some).ok_or_else(|| {
                        UsageError::Value {
                            flag,
                            value: format!("`{}`", t.escape_debug()),
                            expected: "must be a version like v1.37.2".into(),
                        }
                    }),
                };
            let opts = LocalOptions {
                versions: assets::Wanted {
                    kubernetes: version("--kubernetes-version", up.kubernetes_version)?,
                    etcd: version("--etcd-version", up.etcd_version)?,
                },
                state_dir: state_dir(up.dir.state_dir),
                max_requests_inflight: up.max_requests_inflight,
                max_mutating_requests_inflight: up.max_mutating_requests_inflight,
                quota_backend_bytes: up.quota_backend_bytes,
                detach: up.detach,
                ..Default::default()
            };
            let (handle, mut stop) = stop_signal();
            let signals = crate::runner::watch_signals(handle);
            let mut e = tokio::select! {
                r = LocalEnv::start(&opts) => r?,
                _ = stop.stopped() => return Err(Error::InterruptedWhile("starting the local environment")),
            };
            println!("{}", describe(&e.info));
            if up.detach {
                println!(
                    "detached: stop it with `capi-loadgen env down --state-dir {}`",
                    opts.state_dir.display()
                );
                signals.abort();
                std::mem::forget(e); // the processes are detached: nothing to stop
                return Ok(());
            }
            println!("holding; press Ctrl-C to stop");
            stop.stopped().await;
            e.stop().await;
            println!("stopped");
            Ok(())
        }
        EnvAction::Status(d) => {
            let dir = state_dir(d.state_dir);
            let info = LocalInfo::read(&dir)?;
            if !info.processes_alive() {
                return Err(env::EnvError::Start(format!(
                    "{}: processes are gone (etcd pid {}, kube-apiserver pid {})",
                    dir.display(),
                    info.etcd_pid,
                    info.apiserver_pid
                ))
                .into());
            }
            let client =
                env::local::client_for(&info.kubeconfig, env::local::ADMIN_CONTEXT).await?;
            let ready = client
                .request_text(
                    http::Request::get("/readyz")
                        .body(Vec::new())
                        .expect("a GET of a constant path is a valid request"),
                )
                .await
                .map(|b| b.trim() == "ok")
                .unwrap_or(false);
            println!("{}\nready: {ready}", describe(&info));
            if ready {
                Ok(())
            } else {
                Err(env::EnvError::Start(format!(
                    "{}: kube-apiserver is running but not ready",
                    info.apiserver_url
                ))
                .into())
            }
        }
        EnvAction::Down(d) => {
            let dir = state_dir(d.state_dir);
            let info = env::local::stop_detached(&dir)?;
            println!(
                "stopped kube-apiserver (pid {}) and etcd (pid {})",
                info.apiserver_pid, info.etcd_pid
            );
            Ok(())
        }
    }
}
