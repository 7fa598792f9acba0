//! `local.apiserver_memory_limit`: kube-apiserver in a memory cgroup of its own, as a pod
//! with a memory limit runs it (Kubernetes documentation, "Resource Management for Pods and
//! Containers", <https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/>).
//! When the apiserver's memory reaches the limit the kernel's OOM killer sends it SIGKILL.
//!
//! Both cgroup versions (Linux kernel documentation, "Memory Resource Controller",
//! <https://docs.kernel.org/admin-guide/cgroup-v1/memory.html>, and "Control Group v2",
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>):
//! - v1: a directory in the `memory` hierarchy; `memory.limit_in_bytes` (and
//!   `memory.memsw.limit_in_bytes` where swap is accounted), usage in `memory.usage_in_bytes`,
//!   peak in `memory.max_usage_in_bytes`, OOM kills in `memory.oom_control` (`oom_kill N`);
//! - v2: a directory under the cgroup2 mount's root; `memory.max`, `memory.swap.max = 0`,
//!   `memory.current`, `memory.peak`, `memory.events` (`oom_kill N`).
//!
//! The apiserver enters its cgroup between fork and exec (it writes `0`, "this process", to
//! `cgroup.procs`), so every byte it ever allocates is charged there. `GOMEMLIMIT`
//! (`local.apiserver_gomemlimit`) is Go's soft memory limit: the collector runs harder as
//! the heap nears it ("A Guide to the Go Garbage Collector", <https://go.dev/doc/gc-guide>).
//! The cgroup is removed when the environment stops.

use super::EnvError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The limit the profile asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// The cgroup's hard limit (bytes).
    pub limit_bytes: u64,
    /// `GOMEMLIMIT` for the apiserver (bytes), when set.
    pub gomemlimit_bytes: Option<u64>,
}

/// Which cgroup interface holds the memory controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// The legacy per-controller hierarchies.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Where the memory controller is mounted, from `/proc/self/mountinfo` text: the first v1
/// `cgroup` mount whose super options name `memory`, else the `cgroup2` mount.
pub fn memory_hierarchy(mountinfo: &str) -> Option<(CgroupVersion, PathBuf)> {
    let mut v2 = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = left.split(' ').nth(4);
        let mut r = right.split(' ');
        let (fstype, _source, options) = (r.next(), r.next(), r.next().unwrap_or(""));
        match (fstype, mountpoint) {
            (Some("cgroup"), Some(m)) if options.split(',').any(|o| o == "memory") => {
                return Some((CgroupVersion::V1, PathBuf::from(m)));
            }
            (Some("cgroup2"), Some(m)) if v2.is_none() => v2 = Some(PathBuf::from(m)),
            _ => {}
        }
    }
    v2.map(|m| (CgroupVersion::V2, m))
}

/// The tool's own cgroup path in `version`'s memory hierarchy, from `/proc/self/cgroup`
/// text (`hierarchy:controllers:path` lines; cgroup2's is `0::path`).
pub fn own_cgroup(proc_cgroup: &str, version: CgroupVersion) -> Option<String> {
    proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let ours = match version {
            CgroupVersion::V1 => controllers.split(',').any(|c| c == "memory"),
            CgroupVersion::V2 => controllers.is_empty(),
        };
        ours.then(|| path.to_string())
    })
}

/// Calls `remove` on every entry of `dir` named `<prefix><pid>-…` whose process is gone:
/// what a tool killed with SIGKILL leaves (an empty cgroup, a tmpfs directory).
pub(crate) fn remove_stale(dir: &Path, prefix: &str, remove: impl Fn(&Path)) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            remove(&e.path());
        }
    }
}

/// The value of `key` in a flat-keyed cgroup file (`memory.oom_control`, `memory.events`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// kube-apiserver's memory cgroup (path only: cheap to clone into a watcher).
#[derive(Clone, Debug)]
pub struct ApiserverCgroup {
    /// The cgroup's directory.
    pub path: PathBuf,
    /// Its interface.
    pub version: CgroupVersion,
    /// What was asked for.
    pub limit: MemoryLimit,
}

fn write(path: &Path, value: &str) -> Result<(), EnvError> {
    std::fs::write(path, value).map_err(|e| EnvError::io(path, e))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl ApiserverCgroup {
    /// Creates the cgroup `name` with the limit (any leftover of that name is removed first).
    pub fn create(name: &str, limit: MemoryLimit) -> Result<ApiserverCgroup, EnvError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| EnvError::io("/proc/self/mountinfo", e))?;
        let (version, root) = memory_hierarchy(&mountinfo).ok_or_else(|| {
            EnvError::Start("local.apiserver_memory_limit: no cgroup memory controller is mounted here (neither a v1 `memory` hierarchy nor cgroup2 in /proc/self/mountinfo)".into())
        })?;
        if version == CgroupVersion::V2 {
            let controllers = std::fs::read_to_string(root.join("cgroup.controllers"))
                .map_err(|e| EnvError::io(root.join("cgroup.controllers"), e))?;
            if !controllers.split_whitespace().any(|c| c == "memory") {
                return Err(EnvError::Start(format!(
                    "local.apiserver_memory_limit: the cgroup2 root {} offers no memory controller",
                    root.display()
                )));
            }
            // Children of the root get the controller only when the root hands it down.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory");
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let path = match (version, own_cgroup(&own, version)) {
            // Inside the tool's own cgroup: whatever limits and accounting it lives under
            // apply to the apiserver too.
            (CgroupVersion::V1, Some(own)) => root.join(own.trim_start_matches('/')).join(name),
            // cgroup2 lets a cgroup with processes hand no controller down ("no internal
            // processes"): under the root unless the tool's own cgroup already does.
            (CgroupVersion::V2, Some(own))
                if std::fs::read_to_string(
                    root.join(own.trim_start_matches('/'))
                        .join("cgroup.subtree_control"),
                )
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory")) =>
            {
                root.join(own.trim_start_matches('/')).join(name)
            }
            _ => root.join(name),
        };
        if let Some(parent) = path.parent() {
            remove_stale(parent, "capi-loadgen-apiserver-", |p| {
                let _ = std::fs::remove_dir(p);
            });
        }
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).map_err(|e| {
            EnvError::Start(format!(
                "local.apiserver_memory_limit: cannot create the cgroup {} ({e}; it needs root or a delegated cgroup)",
                path.display()
            ))
        })?;
        let cg = ApiserverCgroup {
            path,
            version,
            limit,
        };
        let set = || -> Result<(), EnvError> {
            let bytes = limit.limit_bytes.to_string();
            match version {
                CgroupVersion::V1 => {
                    write(&cg.path.join("memory.limit_in_bytes"), &bytes)?;
                    // Swap accounting, where on: no escape into swap either.
                    let memsw = cg.path.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &bytes)?;
                    }
                }
                CgroupVersion::V2 => {
                    write(&cg.path.join("memory.max"), &bytes)?;
                    let swap = cg.path.join("memory.swap.max");
                    if swap.exists() {
                        write(&swap, "0")?;
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = set() {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    /// Makes `cmd` start inside this cgroup, with `GOMEMLIMIT` when asked for.
    pub fn confine(&self, cmd: &mut Command) -> Result<(), EnvError> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::process::CommandExt;
        if let Some(g) = self.limit.gomemlimit_bytes {
            cmd.env("GOMEMLIMIT", g.to_string());
        }
        let procs =
            std::ffi::CString::new(self.path.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|_| EnvError::Start(format!("{}: not a C path", self.path.display())))?;
        // SAFETY: open/write/close are async-signal-safe; the path was allocated before fork.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Bytes charged to the cgroup now.
    pub fn usage_bytes(&self) -> Option<u64> {
        read_u64(&self.path.join(match self.version {
            CgroupVersion::V1 => "memory.usage_in_bytes",
            CgroupVersion::V2 => "memory.current",
        }))
    }

    /// The most ever charged (v2: kernels from 5.19 have `memory.peak`).
    pub fn peak_bytes(&self) -> Option<u64> {
        read_u64(&self.path.join(match self.version {
            CgroupVersion::V1 => "memory.max_usage_in_bytes",
            CgroupVersion::V2 => "memory.peak",
        }))
    }

    /// Processes the kernel's OOM killer killed in this cgroup (None: the kernel does not
    /// count them, v1 before Linux 4.13).
    pub fn oom_kills(&self) -> Option<u64> {
        let file = match self.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        keyed(
            &std::fs::read_to_string(self.path.join(file)).ok()?,
            "oom_kill",
        )
    }

    /// How often the limit was hit (v1 `memory.failcnt`, v2 `memory.events` `max`).
    pub fn limit_hits(&self) -> Option<u64> {
        match self.version {
            CgroupVersion::V1 => read_u64(&self.path.join("memory.failcnt")),
            CgroupVersion::V2 => keyed(
                &std::fs::read_to_string(self.path.join("memory.events")).ok()?,
                "max",
            ),
        }
    }

    /// Removes the cgroup (its processes must have exited; a few tries while the kernel
    /// finishes releasing them).
    pub fn remove(&self) {
        for _ in 0..50 {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        tracing::warn!(cgroup = %self.path.display(), "could not remove the apiserver's memory cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:7 - cgroup2 cgroup2 rw
31 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:8 - cgroup cgroup rw,cpu,cpuacct
35 24 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory
";
    const V2: &str = "25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:7 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn finds_the_memory_controller() {
        assert_eq!(
            memory_hierarchy(V1),
            Some((CgroupVersion::V1, "/sys/fs/cgroup/memory".into()))
        );
        assert_eq!(
            memory_hierarchy(V2),
            Some((CgroupVersion::V2, "/sys/fs/cgroup".into()))
        );
        assert_eq!(
            memory_hierarchy("25 1 254:1 / / rw - ext4 /dev/vda1 rw\n"),
            None
        );
    }

    #[test]
    fn finds_the_tools_own_cgroup() {
        let v1 = "9:name=systemd:/\n4:memory:/jobs/abc\n0::/\n";
        assert_eq!(
            own_cgroup(v1, CgroupVersion::V1).as_deref(),
            Some("/jobs/abc")
        );
        assert_eq!(own_cgroup(v1, CgroupVersion::V2).as_deref(), Some("/"));
        assert_eq!(own_cgroup("0::/user.slice\n", CgroupVersion::V1), None);
    }

    #[test]
    fn reads_keyed_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(v1, "oom_kill"), Some(2));
        assert_eq!(keyed(v1, "under_oom"), Some(0));
        let v2 = "low 0\nhigh 0\nmax 17\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed(v2, "oom_kill"), Some(1));
        assert_eq!(keyed(v2, "max"), Some(17));
        assert_eq!(keyed("under_oom 0\n", "oom_kill"), None);
    }
}
