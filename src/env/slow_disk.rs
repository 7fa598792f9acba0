//! `local.etcd_fsync_delay_ms`: etcd's data directory on a disk whose `fsync` and
//! `fdatasync` take a chosen extra time. etcd syncs its write-ahead log before it
//! acknowledges a write, so that latency bounds its write rate (etcd documentation,
//! "Hardware recommendations", <https://etcd.io/docs/v3.6/op-guide/hardware/>, asks for a
//! WAL fsync p99 below 10 ms).
//!
//! The disk is `capi-loadgen-slowfs` (servers/slowfs, built by scripts/setup.sh): a FUSE
//! pass-through file system (go-fuse's loopback node,
//! <https://pkg.go.dev/github.com/hanwen/go-fuse/v2/fs>) over `<state>/etcd-disk`,
//! mounted on `<state>/etcd` (etcd's `--data-dir`), whose FUSE_FSYNC handler sleeps the
//! delay before syncing the backing file. Every other operation passes through; the FUSE
//! round trip itself costs a little on every write, so a 0 ms point is the baseline to
//! compare against, not the bare disk. It needs `/dev/fuse` and root (it mounts with
//! mount(2), no `fusermount`).
//!
//! The backing directory is `<state>/etcd-disk` (`local.etcd_fsync_backing: disk`, the
//! default: the delay adds to this machine's own fsync latency), or a directory in
//! `/dev/shm` (`memory`: tmpfs, whose fsync costs nothing, so the delay is the disk's
//! whole fsync latency, whatever else is writing to the machine's disk; removed on unmount).
//!
//! The mount never outlives the environment: stopping unmounts (the file system's own
//! SIGTERM handler, then a lazy `umount2(MNT_DETACH)` if it is still there); if the tool
//! dies, the file system gets SIGTERM from the kernel (`PR_SET_PDEATHSIG`) and unmounts
//! itself; and a start in a state directory detaches whatever mount a crash left there.

use super::process::ManagedChild;
use super::EnvError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The file system's binary name (looked up like etcd and kube-apiserver).
pub const BINARY: &str = "capi-loadgen-slowfs";
/// How long the mount may take to appear.
const MOUNT_DEADLINE: Duration = Duration::from_secs(15);
/// How long the file system may take to unmount itself after SIGTERM.
const UNMOUNT_GRACE: Duration = Duration::from_secs(5);

/// A mounted slow disk.
pub struct SlowDisk {
    child: Option<ManagedChild>,
    mountpoint: PathBuf,
    /// The backing directory when it is in memory (removed on unmount).
    memory_backing: Option<PathBuf>,
    /// The delay every fsync takes (ms).
    pub delay_ms: u32,
}

/// Mount points in `/proc/self/mountinfo` text (field 5, octal escapes undone).
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| {
            PathBuf::from(
                m.replace("\\040", " ")
                    .replace("\\011", "\t")
                    .replace("\\012", "\n")
                    .replace("\\134", "\\"),
            )
        })
        .collect()
}

fn mounts() -> Vec<PathBuf> {
    mount_points(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// True when something is mounted on `path`.
pub fn is_mounted(path: &Path) -> bool {
    mounts().iter().any(|m| m == path)
}

fn detach(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: umount2(2) with a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Detaches every mount at or below `dir` (what a killed run may have left), deepest first.
pub fn detach_mounts_under(dir: &Path) {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return;
    };
    let mut under: Vec<PathBuf> = mounts()
        .into_iter()
        .filter(|m| m.starts_with(&dir))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in under {
        tracing::warn!(mount = %m.display(), "detaching a mount left by an earlier environment");
        detach(&m);
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
}

impl SlowDisk {
    /// Mounts the slow disk on `<state_dir>/etcd` over a fresh `<state_dir>/etcd-disk` and
    /// waits until the mount answers.
    /// With `in_memory` the backing directory is on tmpfs (`/dev/shm`).
    pub async fn mount(
        state_dir: &Path,
        delay_ms: u32,
        in_memory: bool,
    ) -> Result<SlowDisk, EnvError> {
        use std::os::unix::fs::DirBuilderExt;
        let bin = super::assets::find(BINARY).ok_or_else(|| {
            EnvError::Asset(format!(
                "local.etcd_fsync_delay_ms needs {BINARY}, not found in $KUBEBUILDER_ASSETS, $PATH or {}: run scripts/setup.sh (it builds servers/slowfs)",
                super::assets::cache_root().join("assets").display()
            ))
        })?;
        if !Path::new("/dev/fuse").exists() {
            return Err(EnvError::Start(
                "local.etcd_fsync_delay_ms: /dev/fuse is missing (load the fuse kernel module: modprobe fuse)".into(),
            ));
        }
        if in_memory {
            super::memory_cgroup::remove_stale(Path::new("/dev/shm"), "capi-loadgen-etcd-", |p| {
                let _ = std::fs::remove_dir_all(p);
            });
        }
        let backing = if in_memory {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Path::new("/dev/shm").join(format!("capi-loadgen-etcd-{}-{n}", std::process::id()))
        } else {
            state_dir.join("etcd-disk")
        };
        let mountpoint = state_dir.join("etcd");
        if backing.exists() {
            std::fs::remove_dir_all(&backing).map_err(|e| EnvError::io(&backing, e))?;
        }
        // etcd wants its data directory private (0700); the mount shows the backing's mode.
        for d in [&backing, &mountpoint] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(|e| EnvError::io(d, e))?;
        }
        let mountpoint =
            std::fs::canonicalize(&mountpoint).map_err(|e| EnvError::io(&mountpoint, e))?;
        let log = state_dir.join("slowfs.log");
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("--backing={}", backing.display()))
            .arg(format!("--mountpoint={}", mountpoint.display()))
            .arg(format!("--fsync-delay={delay_ms}ms"));
        let child = ManagedChild::spawn("slowfs", cmd, &log)
            .map_err(|e| EnvError::Start(format!("cannot start {}: {e}", bin.display())))?;
        let mut disk = SlowDisk {
            child: Some(child),
            mountpoint,
            memory_backing: in_memory.then(|| backing.clone()),
            delay_ms,
        };
        let deadline = Instant::now() + MOUNT_DEADLINE;
        while !is_mounted(&disk.mountpoint) {
            let exited = disk.child.as_ref().and_then(|c| c.exited());
            if exited.is_some() || Instant::now() > deadline {
                let why = format!(
                    "slow disk not mounted on {} ({}): {} (log: {})",
                    disk.mountpoint.display(),
                    match exited {
                        Some(s) => format!("slowfs exited: {s}"),
                        None => format!("not after {MOUNT_DEADLINE:?}"),
                    },
                    log_tail(&log),
                    log.display()
                );
                disk.unmount();
                return Err(EnvError::Start(why));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(disk)
    }

    /// Where etcd's data directory is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts: SIGTERM (the file system unmounts itself), then a lazy unmount if the
    /// mount is still there. Call after etcd has stopped.
    pub fn unmount(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop(UNMOUNT_GRACE);
        }
        if is_mounted(&self.mountpoint) {
            detach(&self.mountpoint);
        }
        if let Some(b) = self.memory_backing.take() {
            let _ = std::fs::remove_dir_all(b);
        }
    }
}

impl Drop for SlowDisk {
    fn drop(&mut self) {
        self.unmount();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_points() {
        let text = "25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
99 25 0:60 / /tmp/capi\\040loadgen/etcd rw,nosuid,nodev - fuse.slowfs capi-loadgen-slowfs rw,user_id=0
";
        assert_eq!(
            mount_points(text),
            vec![PathBuf::from("/"), PathBuf::from("/tmp/capi loadgen/etcd")]
        );
    }
}
