//! What the local environment's servers are constrained by, beyond the machine itself:
//! etcd's data directory on a slow disk (`local.etcd_fsync_delay_ms`, [`super::slow_disk`])
//! and kube-apiserver in a memory cgroup (`local.apiserver_memory_limit`,
//! [`super::memory_cgroup`]). Both are set up before the servers start and released after
//! both have stopped (also when the environment is dropped on an error or Ctrl-C).

use super::memory_cgroup::{ApiserverCgroup, MemoryLimit};
use super::process::{ExitWatch, ManagedChild};
use super::slow_disk::SlowDisk;
use super::EnvError;
use std::path::Path;
use std::process::Command;

/// What the profile asked for (`local.etcd_fsync_*`, `local.apiserver_memory_limit`).
#[derive(Clone, Copy, Debug)]
pub struct Asked {
    /// The slow disk's delay (ms).
    pub fsync_delay_ms: Option<u32>,
    /// The slow disk passes through to tmpfs.
    pub fsync_in_memory: bool,
    /// The apiserver's memory limit.
    pub memory: Option<MemoryLimit>,
    /// The environment outlives the tool (`env up --detach`).
    pub detach: bool,
}

/// The slow disk and the memory cgroup of one environment, when asked for.
#[derive(Default)]
pub struct Constraints {
    slow_disk: Option<SlowDisk>,
    memory: Option<ApiserverCgroup>,
}

/// What a watcher needs to tell how the first kube-apiserver ends under its memory limit.
#[derive(Clone)]
pub struct ApiserverWatch {
    /// The apiserver's pid.
    pub pid: u32,
    /// Whether (and how) it exited.
    pub exit: ExitWatch,
    /// Its memory cgroup.
    pub cgroup: ApiserverCgroup,
}

impl Constraints {
    /// Mounts the slow disk on `<dir>/etcd` and creates the apiserver's cgroup, making
    /// `apiserver` (not yet started) start inside it.
    pub(super) async fn set_up(
        opts: Asked,
        dir: &Path,
        apiserver_port: u16,
        apiserver: &mut Command,
    ) -> Result<Constraints, EnvError> {
        if opts.detach && (opts.fsync_delay_ms.is_some() || opts.memory.is_some()) {
            return Err(EnvError::Start(
                "a slow disk or an apiserver memory limit lives only as long as the tool: not with --detach".into(),
            ));
        }
        let mut c = Constraints::default();
        if let Some(ms) = opts.fsync_delay_ms {
            c.slow_disk = Some(SlowDisk::mount(dir, ms, opts.fsync_in_memory).await?);
        }
        if let Some(limit) = opts.memory {
            let name = format!(
                "capi-loadgen-apiserver-{}-{apiserver_port}",
                std::process::id()
            );
            let cg = ApiserverCgroup::create(&name, limit)?;
            c.memory = Some(cg.clone());
            cg.confine(apiserver)?;
        }
        Ok(c)
    }

    /// The watch of `apiserver` (the first kube-apiserver), when it has a memory limit.
    pub(super) fn watch(&self, apiserver: &ManagedChild, pid: u32) -> Option<ApiserverWatch> {
        Some(ApiserverWatch {
            pid,
            exit: apiserver.exit_watch(),
            cgroup: self.memory.clone()?,
        })
    }

    /// Unmounts the slow disk and removes the cgroup. Call once etcd and the apiserver have
    /// stopped; a second call does nothing.
    pub(super) fn release(&mut self) {
        if let Some(mut d) = self.slow_disk.take() {
            d.unmount();
        }
        if let Some(m) = self.memory.take() {
            m.remove();
        }
    }
}

impl Drop for Constraints {
    fn drop(&mut self) {
        self.release();
    }
}
