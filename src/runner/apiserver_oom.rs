//! Watching kube-apiserver under `local.apiserver_memory_limit` during the load: the
//! cgroup's charge (its peak), its OOM-kill counter and the process's exit. When the
//! apiserver dies the run is stopped at once (nothing restarts it, so every later request
//! would fail): requests in flight finish as failures and are counted, and the summary
//! records how it died and at how many clusters ([`crate::report::memory_limit`]).

use crate::engine::{StopHandle, StopReason};
use crate::env::ApiserverWatch;
use crate::report::memory_limit::{Acknowledged, Limit, Watched};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;
use tokio::time::Instant;

/// Between two looks at the apiserver and its cgroup.
const POLL: Duration = Duration::from_millis(100);
/// How long an OOM-killed apiserver may take to exit once the load has ended: the failed
/// requests can stop the run before the kernel has torn down a process of a gigabyte.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

/// A running watcher.
pub struct MemoryWatcher {
    /// The watched apiserver (its cgroup describes the limit).
    pub watch: ApiserverWatch,
    done: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Watched>,
}

/// User + system CPU seconds of `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// The fitted memory line's prediction for `limit` bytes: (clusters, formula), from the
/// reference calibration scaled to `fleet`'s stored bytes per cluster.
pub fn predict(fleet: &crate::model::FleetSpec, limit: u64) -> Option<(f64, String)> {
    let c = crate::plan::Calibration::reference();
    let m = c.apiserver_memory?;
    let stored = crate::stored::sizing::model_bytes_per_cluster(fleet);
    let per_cluster = m.bytes_per_stored_byte.value * stored;
    let base = m.base_bytes.value;
    (per_cluster > 0.0).then(|| {
        let n = ((limit as f64 - base) / per_cluster).max(0.0);
        (
            n,
            format!(
                "(limit - base) / bytes per cluster = ({} - {}) / {per_cluster:.0} = {n:.0} clusters; {:.2} resident bytes per stored byte x {stored:.0} stored bytes per cluster; settled memory, {}",
                crate::report::memory_limit::mib(limit as f64),
                crate::report::memory_limit::mib(base),
                m.bytes_per_stored_byte.value,
                m.base_bytes.source
            ),
        )
    })
}

/// Creates answered OK, from the run's operations.
pub fn acknowledged(operations: &[crate::report::summary::Operation]) -> Acknowledged {
    let created = |k: Option<&str>| -> u64 {
        operations
            .iter()
            .filter(|o| o.verb == "create" && k.is_none_or(|k| o.kind == k))
            .map(|o| o.counts.ok)
            .sum()
    };
    Acknowledged {
        objects: created(None),
        clusters: created(Some("cluster")),
        namespaces: created(Some("namespace")),
    }
}

/// The limit of `watch`'s cgroup with the fit's prediction for `fleet`.
pub fn limit_of(watch: &ApiserverWatch, fleet: &crate::model::FleetSpec) -> Limit {
    let l = watch.cgroup.limit;
    Limit {
        limit_bytes: l.limit_bytes,
        gomemlimit_bytes: l.gomemlimit_bytes,
        cgroup: format!("{:?}", watch.cgroup.version).to_lowercase(),
        prediction: predict(fleet, l.limit_bytes),
    }
}

fn describe(s: std::process::ExitStatus) -> (String, bool) {
    match (s.signal(), s.code()) {
        (Some(9), _) => ("signal 9 (SIGKILL)".into(), true),
        (Some(n), _) => (format!("signal {n}"), false),
        (None, Some(c)) => (format!("exit code {c}"), false),
        _ => ("unknown".into(), false),
    }
}

async fn run(
    w: ApiserverWatch,
    stop: StopHandle,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> Watched {
    let t0 = Instant::now();
    let kills0 = w.cgroup.oom_kills();
    let hits0 = w.cgroup.limit_hits();
    let cpu0 = cpu_seconds(w.pid);
    let mut cpu_last = cpu0;
    let mut peak = w.cgroup.usage_bytes();
    let mut out = Watched::default();
    let mut exit_deadline = None;
    loop {
        if let Some(u) = w.cgroup.usage_bytes() {
            peak = Some(peak.unwrap_or(0).max(u));
        }
        if let Some(c) = cpu_seconds(w.pid) {
            cpu_last = Some(c);
        }
        if let Some(status) = w.exit.exited() {
            let (how, sigkill) = describe(status);
            out.died_after_seconds = Some(t0.elapsed().as_secs_f64());
            out.exit = Some(how.clone());
            out.sigkill = sigkill;
            let oom = w.cgroup.oom_kills().zip(kills0).map(|(a, b)| a - b.min(a));
            let limit = w.cgroup.limit.limit_bytes;
            stop.stop(StopReason::TargetFailed(format!(
                "kube-apiserver {} under its {} MiB memory limit, {:.1} s into the load",
                if oom.is_some_and(|k| k > 0) {
                    format!("was OOM-killed ({how})")
                } else {
                    format!("died ({how})")
                },
                limit / 1048576,
                t0.elapsed().as_secs_f64()
            )));
            break;
        }
        if let Some(d) = exit_deadline {
            if Instant::now() > d {
                break;
            }
            tokio::time::sleep(POLL).await;
            continue;
        }
        tokio::select! {
            _ = done.changed() => {
                // Killed but not yet gone: wait for its exit, so the summary says how.
                let killed = w.cgroup.oom_kills().zip(kills0).is_some_and(|(a, b)| a > b);
                if !killed {
                    break;
                }
                exit_deadline = Some(Instant::now() + EXIT_DEADLINE);
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    out.oom_kills = w.cgroup.oom_kills().zip(kills0).map(|(a, b)| a - b.min(a));
    out.limit_hits = w.cgroup.limit_hits().zip(hits0).map(|(a, b)| a - b.min(a));
    // v1 keeps the cgroup's all-time peak; it was made for this apiserver.
    out.peak_bytes = w.cgroup.peak_bytes().max(peak);
    out.cpu_seconds = cpu_last.zip(cpu0).map(|(a, b)| (a - b).max(0.0));
    out.watched_seconds = t0.elapsed().as_secs_f64();
    tracing::info!(?out, "kube-apiserver under its memory limit");
    out
}

impl MemoryWatcher {
    /// Starts watching; `stop` ends the run when the apiserver dies.
    pub fn start(watch: ApiserverWatch, stop: StopHandle) -> MemoryWatcher {
        let (done, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(run(watch.clone(), stop, rx));
        MemoryWatcher { watch, done, task }
    }

    /// Stops watching (the load has ended) and returns what was seen.
    pub async fn finish(self) -> Watched {
        let _ = self.done.send(true);
        self.task.await.unwrap_or_default()
    }
}
