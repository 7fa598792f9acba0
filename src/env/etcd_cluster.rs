//! `local.etcd_members: 1|3|5` and `local.etcd_rtt_ms`: a real etcd cluster on loopback,
//! as a production control plane runs it ("Clustering Guide", static bootstrap,
//! <https://etcd.io/docs/v3.6/op-guide/clustering/>). Each member has its own data dir
//! (`etcd-<i>/`), client, peer and metrics ports and log (`etcd-<i>.log`).
//!
//! With an RTT, every member's client and peer URL that others dial is a
//! [`DelayProxies`] port in front of the member's real one, each direction delayed by half
//! the RTT: kube-apiserver → member and member → member both cross one proxy, so a request
//! and its answer together take the RTT longer. The tool's own etcd client (db size, the
//! read-back) dials the real client ports.
//!
//! [`EtcdControl`] is the handle fault injection uses: kill a member (SIGKILL), start it
//! again on its data dir, stop it (SIGSTOP) and continue it (SIGCONT), find the leader.

use super::assets::Assets;
use super::delay_proxy::DelayProxies;
use super::process::ManagedChild;
use super::EnvError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One member as the state file and the results name it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EtcdMemberInfo {
    /// `member-<i>`.
    pub name: String,
    /// Its real client URL (the tool's own client).
    pub client_url: String,
    /// The client URL kube-apiserver dials (through the delay proxy with an RTT).
    pub apiserver_url: String,
    /// The peer URL the other members dial (through the delay proxy with an RTT).
    pub peer_url: String,
    /// Its `/metrics` URL.
    pub metrics_url: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its process id (of the latest start).
    pub pid: u32,
}

/// What the cluster is asked to be.
#[derive(Clone, Debug)]
pub struct ClusterPlan {
    /// Members (1, 3 or 5).
    pub members: u32,
    /// Added round-trip time between kube-apiserver and each member and between members.
    pub rtt: Option<Duration>,
    /// `--quota-backend-bytes`.
    pub quota: u64,
    /// Extra flags for every member.
    pub extra_args: Vec<String>,
}

struct Member {
    info: EtcdMemberInfo,
    args: Vec<String>,
    log: PathBuf,
    child: Option<ManagedChild>,
    stopped: bool,
}

/// A handle on the running members (shared with fault injection).
#[derive(Clone)]
pub struct EtcdControl {
    etcd: PathBuf,
    members: Arc<Mutex<Vec<Member>>>,
}

/// A started cluster; dropping it kills the members and closes the proxies.
pub struct EtcdCluster {
    control: EtcdControl,
    proxies: Option<DelayProxies>,
}

/// How long the members may take to agree on a leader at start-up (as long as the local
/// environment gives etcd).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A free 127.0.0.1 port (free when chosen: the environment's start retries on a clash).
fn free_port() -> Result<u16, EnvError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| EnvError::Start(format!("no free port on 127.0.0.1: {e}")))
}

fn url_addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn member_args(dir: &Path, i: usize, ports: (u16, u16, u16), urls: (&str, &str)) -> Vec<String> {
    let (client, peer, metrics) = ports;
    let (advertise_client, advertise_peer) = urls;
    vec![
        format!("--data-dir={}", dir.join(format!("etcd-{i}")).display()),
        format!("--name=member-{i}"),
        format!("--listen-client-urls=http://127.0.0.1:{client}"),
        format!("--advertise-client-urls={advertise_client}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls={advertise_peer}"),
        format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"),
        "--initial-cluster-state=new".into(),
        "--initial-cluster-token=capi-loadgen".into(),
        "--metrics=extensive".into(),
    ]
}

impl EtcdCluster {
    /// Starts the members together (each waits for a quorum of the others) and waits until
    /// every one of them reports the same leader.
    pub fn start(a: &Assets, dir: &Path, plan: &ClusterPlan) -> Result<EtcdCluster, EnvError> {
        let proxies = match plan.rtt {
            Some(rtt) => Some(
                DelayProxies::new(rtt / 2)
                    .map_err(|e| EnvError::Start(format!("delay proxy runtime: {e}")))?,
            ),
            None => None,
        };
        let proxied = |port: u16| -> Result<String, EnvError> {
            Ok(match &proxies {
                Some(p) => {
                    let a = p.add(url_addr(port)).map_err(|e| {
                        EnvError::Start(format!("delay proxy for port {port}: {e}"))
                    })?;
                    format!("http://{a}")
                }
                None => format!("http://127.0.0.1:{port}"),
            })
        };
        let mut members = Vec::new();
        for i in 0..plan.members as usize {
            let (client, peer, metrics) = (free_port()?, free_port()?, free_port()?);
            let (api_url, peer_url) = (proxied(client)?, proxied(peer)?);
            let args = member_args(dir, i, (client, peer, metrics), (&api_url, &peer_url));
            members.push(Member {
                info: EtcdMemberInfo {
                    name: format!("member-{i}"),
                    client_url: format!("http://127.0.0.1:{client}"),
                    apiserver_url: api_url,
                    peer_url,
                    metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
                    data_dir: dir.join(format!("etcd-{i}")),
                    pid: 0,
                },
                args,
                log: dir.join(format!("etcd-{i}.log")),
                child: None,
                stopped: false,
            });
        }
        let initial = members
            .iter()
            .map(|m| format!("{}={}", m.info.name, m.info.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        for m in &mut members {
            m.args.push(format!("--initial-cluster={initial}"));
            m.args.push(format!("--quota-backend-bytes={}", plan.quota));
            m.args.extend(plan.extra_args.iter().cloned());
        }
        let cluster = EtcdCluster {
            control: EtcdControl {
                etcd: a.etcd.clone(),
                members: Arc::new(Mutex::new(members)),
            },
            proxies,
        };
        for i in 0..plan.members as usize {
            cluster.control.start_member(i)?;
        }
        Ok(cluster)
    }

    /// The handle fault injection uses.
    pub fn control(&self) -> EtcdControl {
        self.control.clone()
    }

    /// The added one-way delay, when there is one.
    pub fn one_way_delay(&self) -> Option<Duration> {
        self.proxies.as_ref().map(DelayProxies::one_way)
    }

    /// Stops every member (SIGTERM, then SIGKILL after `grace`) and closes the proxies.
    pub fn stop(&mut self, grace: Duration) {
        self.control.stop_all(grace);
        self.proxies.take();
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.control.stop_all(Duration::ZERO);
    }
}

impl EtcdControl {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The members as they are now.
    pub fn members(&self) -> Vec<EtcdMemberInfo> {
        self.lock().iter().map(|m| m.info.clone()).collect()
    }

    /// The comma-separated client URLs kube-apiserver's `--etcd-servers` takes.
    pub fn apiserver_urls(&self) -> String {
        self.lock()
            .iter()
            .map(|m| m.info.apiserver_url.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether member `i` runs (started, not killed; a stopped one counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.lock()
            .get(i)
            .is_some_and(|m| m.child.as_ref().is_some_and(|c| c.exited().is_none()))
    }

    /// Starts member `i` on its data dir (again, after a kill: etcd then ignores the
    /// initial-cluster flags and rejoins with its own data).
    pub fn start_member(&self, i: usize) -> Result<u32, EnvError> {
        let mut members = self.lock();
        let m = members
            .get_mut(i)
            .ok_or_else(|| EnvError::Start(format!("no etcd member {i}")))?;
        let mut cmd = Command::new(&self.etcd);
        cmd.args(&m.args);
        let child = ManagedChild::spawn(&m.info.name, cmd, &m.log)
            .map_err(|e| EnvError::Start(format!("cannot start etcd {}: {e}", m.info.name)))?;
        m.info.pid = child.pid();
        m.child = Some(child);
        m.stopped = false;
        Ok(m.info.pid)
    }

    /// Kills member `i` with SIGKILL and waits for it to be gone.
    pub fn kill_member(&self, i: usize) {
        let child = self.lock().get_mut(i).and_then(|m| m.child.take());
        if let Some(mut c) = child {
            c.signal(libc::SIGCONT);
            c.stop(Duration::ZERO);
        }
    }

    /// Sends SIGSTOP (`stop: true`) or SIGCONT to member `i`.
    pub fn pause_member(&self, i: usize, stop: bool) {
        let mut members = self.lock();
        if let Some(m) = members.get_mut(i) {
            if let Some(c) = &m.child {
                c.signal(if stop { libc::SIGSTOP } else { libc::SIGCONT });
                m.stopped = stop;
            }
        }
    }

    fn stop_all(&self, grace: Duration) {
        let children: Vec<ManagedChild> = self
            .lock()
            .iter_mut()
            .filter_map(|m| {
                let c = m.child.take()?;
                // A stopped process cannot act on SIGTERM.
                c.signal(libc::SIGCONT);
                Some(c)
            })
            .collect();
        for c in &children {
            c.signal(libc::SIGTERM);
        }
        for mut c in children {
            c.stop(grace);
        }
    }

    /// Each running member's view: (index, its raft member id, the leader's id). A
    /// member that does not answer within `timeout` is left out.
    pub async fn views(&self, timeout: Duration) -> Vec<(usize, u64, u64)> {
        let urls: Vec<(usize, String)> = self
            .lock()
            .iter()
            .enumerate()
            .filter(|(_, m)| m.child.is_some() && !m.stopped)
            .map(|(i, m)| (i, m.info.client_url.clone()))
            .collect();
        // Owned futures, collected: a lazy iterator of closures' futures held across the
        // await makes the caller's future not Send for every lifetime.
        let looks: Vec<_> = urls
            .into_iter()
            .map(|(i, url)| async move {
                let opts = etcd_client::ConnectOptions::new()
                    .with_connect_timeout(timeout)
                    .with_timeout(timeout);
                let look = async {
                    let mut c = etcd_client::Client::connect([url.as_str()], Some(opts))
                        .await
                        .ok()?;
                    let s = c.status().await.ok()?;
                    Some((i, s.header()?.member_id(), s.leader()))
                };
                tokio::time::timeout(timeout, look).await.ok().flatten()
            })
            .collect();
        futures::future::join_all(looks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The index of the member every answering member names as leader, when they agree
    /// and it is one of them.
    pub async fn leader(&self, timeout: Duration) -> Option<usize> {
        let views = self.views(timeout).await;
        let first = views.first()?.2;
        if first == 0 || views.iter().any(|v| v.2 != first) {
            return None;
        }
        views.iter().find(|v| v.1 == first).map(|v| v.0)
    }

    /// Waits until every member is running and they agree on a leader (start-up).
    pub async fn wait_ready(&self) -> Result<usize, EnvError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let n = self.lock().len();
        loop {
            for (i, m) in self.lock().iter().enumerate() {
                if m.child.as_ref().is_some_and(|c| c.exited().is_some()) {
                    return Err(EnvError::Start(format!(
                        "etcd member {i} exited during start-up (log: {})",
                        m.log.display()
                    )));
                }
            }
            let views = self.views(Duration::from_secs(1)).await;
            if views.len() == n {
                if let Some(l) = self.leader(Duration::from_secs(1)).await {
                    return Ok(l);
                }
            }
            if Instant::now() > deadline {
                return Err(EnvError::Start(format!(
                    "etcd cluster of {n} members has no agreed leader after {READY_TIMEOUT:?} (logs: etcd-<i>.log in {})",
                    self.lock()
                        .first()
                        .and_then(|m| m.log.parent().map(|p| p.display().to_string()))
                        .unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// kube-apiserver's `--etcd-servers` for these members (through their delay proxies); None
/// without members (the single etcd).
pub fn etcd_servers(members: &[EtcdMemberInfo]) -> Option<String> {
    let urls: Vec<&str> = members.iter().map(|m| m.apiserver_url.as_str()).collect();
    (!urls.is_empty()).then(|| urls.join(","))
}

/// Starts the cluster for a local environment and waits for its leader; the members'
/// infos, the first being the one the environment's single-etcd fields name.
pub(super) async fn start_for(
    a: &Assets,
    dir: &Path,
    plan: &ClusterPlan,
    detach: bool,
) -> Result<(EtcdCluster, Vec<EtcdMemberInfo>), EnvError> {
    if detach {
        return Err(EnvError::Start(
            "an etcd cluster (local.etcd_members, local.etcd_rtt_ms) lives as long as the tool: it cannot be detached (`env up --detach`)".into(),
        ));
    }
    let cluster = EtcdCluster::start(a, dir, plan)?;
    cluster.control.wait_ready().await?;
    let members = cluster.control.members();
    Ok((cluster, members))
}
