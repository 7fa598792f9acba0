//! Child processes that cannot outlive the tool.
//!
//! Each child runs in its own process group (so a terminal's Ctrl-C reaches only the tool,
//! which then stops the children in the right order: kube-apiserver first, then etcd) and is
//! started by a dedicated owner thread with `PR_SET_PDEATHSIG = SIGKILL`: if the tool dies
//! for any reason, even SIGKILL, the kernel kills the children. The owner thread lives until
//! its child exits and reaps it, so no zombies are left either.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Exit = Arc<(Mutex<Option<ExitStatus>>, Condvar)>;

/// A running child process owned by the tool.
pub struct ManagedChild {
    name: String,
    pid: u32,
    exit: Exit,
    owner: Option<JoinHandle<()>>,
}

fn open_log(log: &Path) -> std::io::Result<(Stdio, Stdio)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

impl ManagedChild {
    /// Starts `cmd` with its stdout/stderr appended to `log`. The child dies with the tool.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> std::io::Result<ManagedChild> {
        let (out, err) = open_log(log)?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                Ok(())
            });
        }
        let exit: Exit = Arc::new((Mutex::new(None), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        let exit2 = exit.clone();
        let owner = std::thread::Builder::new()
            .name(format!("child-{name}"))
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    let _ = tx.send(Ok(child.id()));
                    let status = child.wait();
                    let (lock, cv) = &*exit2;
                    if let Ok(mut slot) = lock.lock() {
                        *slot = status.ok().or_else(|| Some(ExitStatus::default()));
                    }
                    cv.notify_all();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            })?;
        let pid = rx
            .recv()
            .map_err(|_| std::io::Error::other("child owner thread died"))??;
        Ok(ManagedChild {
            name: name.to_string(),
            pid,
            exit,
            owner: Some(owner),
        })
    }

    /// Starts `cmd` detached: a new session, no death signal; it outlives the tool.
    /// Returns its pid. Used by `env up --detach`.
    pub fn spawn_detached(mut cmd: Command, log: &Path) -> std::io::Result<u32> {
        let (out, err) = open_log(log)?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(child.id())
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status, if the child has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.exit.0.lock().ok().and_then(|g| *g)
    }

    /// A handle that tells whether this child has exited, for a watcher that does not own
    /// it.
    pub fn exit_watch(&self) -> ExitWatch {
        ExitWatch(self.exit.clone())
    }

    /// Sends a signal to the child (no-op once it has exited).
    pub fn signal(&self, sig: i32) {
        if self.exited().is_none() {
            // SAFETY: plain kill(2) on a pid we own and have not reaped yet.
            unsafe {
                libc::kill(self.pid as i32, sig);
            }
        }
    }

    fn wait_for(&self, timeout: Duration) -> Option<ExitStatus> {
        let (lock, cv) = &*self.exit;
        let deadline = Instant::now() + timeout;
        let mut guard = lock.lock().ok()?;
        while guard.is_none() {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            guard = cv.wait_timeout(guard, deadline - now).ok()?.0;
        }
        *guard
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL and reap. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if grace > Duration::ZERO {
            self.signal(libc::SIGTERM);
            if let Some(s) = self.wait_for(grace) {
                self.join();
                return Some(s);
            }
            tracing::warn!(child = %self.name, "did not stop within {grace:?}; sending SIGKILL");
        }
        self.signal(libc::SIGKILL);
        let s = self.wait_for(Duration::from_secs(10));
        self.join();
        s
    }

    fn join(&mut self) {
        if let Some(h) = self.owner.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        if self.owner.is_some() {
            self.stop(Duration::ZERO);
        }
    }
}

/// Whether a [`ManagedChild`] has exited, from anywhere (cheap to clone).
#[derive(Clone)]
pub struct ExitWatch(Exit);

impl ExitWatch {
    /// The exit status, once the child has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.0 .0.lock().ok().and_then(|g| *g)
    }
}

/// True when a process with this pid exists and its command line mentions `needle`
/// (guards `env down` against a recycled pid).
pub fn pid_alive_as(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(needle))
        .unwrap_or(false)
}

/// Stops a detached process by pid: SIGTERM, wait up to `grace`, then SIGKILL.
pub fn stop_pid(pid: u32, needle: &str, grace: Duration) {
    if !pid_alive_as(pid, needle) {
        return;
    }
    // SAFETY: kill(2) on a pid verified to be ours via /proc.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !pid_alive_as(pid, needle) || is_zombie(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_and_reaps_a_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut c = ManagedChild::spawn("sleep", cmd, &dir.path().join("log")).unwrap();
        let pid = c.pid();
        assert!(pid_alive_as(pid, "sleep"));
        assert!(c.exited().is_none());
        let st = c.stop(Duration::from_secs(5)).unwrap();
        assert!(!st.success());
        assert!(!pid_alive_as(pid, "sleep"));
    }

    #[test]
    fn escalates_to_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; sleep 30 & wait; sleep 30"]);
        let mut c = ManagedChild::spawn("stubborn", cmd, &dir.path().join("log")).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        c.stop(Duration::from_millis(300)).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(c.exited().is_some());
    }
}
