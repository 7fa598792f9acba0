//! A child process's own memory, read from `/proc/<pid>/status` while it runs.
//!
//! The resource usage `wait4` reports for a child is the largest of the child and every
//! descendant it reaped: for a run that starts its own local environment that is
//! kube-apiserver (hundreds of MiB), not the tool. `VmHWM` in `/proc/<pid>/status` is the
//! high-water mark of that one process's resident set, so any read after the peak reports
//! it; the child is polled until it exits.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often the child's status is read.
const POLL: Duration = Duration::from_millis(20);

/// What [`run_measured`] saw.
#[derive(Clone, Copy, Debug)]
pub struct OwnMemory {
    /// The child's exit status.
    pub status: ExitStatus,
    /// The last `VmHWM` read (KiB): the child's peak resident set.
    pub peak_kib: u64,
    /// How many reads found the child's memory (a run of seconds gives hundreds).
    pub reads: u64,
}

/// `VmHWM` of `pid` in KiB, None once it has exited (a zombie has no memory lines).
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Kills the child if the test panics while it runs.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd`, reading its own `VmHWM` until it exits; panics past `deadline`.
pub fn run_measured(mut cmd: Command, deadline: Duration) -> OwnMemory {
    let child = cmd.spawn().expect("the binary starts");
    let pid = child.id();
    let mut reaper = Reaper(Some(child));
    let until = Instant::now() + deadline;
    let (mut peak_kib, mut reads) = (0u64, 0u64);
    loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(kib);
            reads += 1;
        }
        let child = reaper.0.as_mut().expect("child held until it exits");
        if let Some(status) = child.try_wait().expect("wait for the child") {
            reaper.0 = None;
            return OwnMemory {
                status,
                peak_kib,
                reads,
            };
        }
        assert!(
            Instant::now() < until,
            "{cmd:?} still running after {deadline:?}"
        );
        std::thread::sleep(POLL);
    }
}
