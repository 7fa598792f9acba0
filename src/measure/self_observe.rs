//! The tool watching itself: its own CPU seconds (user + system, `getrusage`), peak
//! resident memory (`VmHWM` / `VmRSS` of `/proc/self/status`), thread count, and how late
//! the async runtime runs a task that asks to wake every 10 ms (scheduling delay, an HDR
//! histogram). A load generator that is out of CPU or whose runtime is starved sends late
//! and reports its own queueing as the server's latency; these numbers say whether that
//! happened. Recorded per phase and for the whole run ([`SelfObserver::end_phase`],
//! [`SelfObserver::finish`]); [`crate::report::generator`] judges them.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the probe task asks to be woken.
pub const TICK: Duration = Duration::from_millis(10);

/// Ticks between two reads of `/proc/self/status` (memory, threads): about one second.
const STATUS_EVERY: u32 = 100;

/// How late the probe task woke (ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayMs {
    /// Ticks recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl DelayMs {
    fn of(h: &Histogram<u64>) -> DelayMs {
        if h.is_empty() {
            return DelayMs::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        DelayMs {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// What the tool used over one stretch of time (a phase, or the whole run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfUsage {
    /// `whole` or the phase's name.
    pub name: String,
    /// Wall seconds.
    pub wall_seconds: f64,
    /// CPU seconds the tool's process used (user + system, every thread).
    pub cpu_seconds: f64,
    /// `cpu_seconds / wall_seconds`: cores kept busy on average.
    pub cpu_cores: f64,
    /// `cpu_cores` as a percentage of the cores the tool may use (`cpu_budget_cores`).
    pub cpu_percent_of_budget: f64,
    /// Peak resident memory in bytes (the whole run: `VmHWM`; a phase: the largest `VmRSS`
    /// sampled about once a second during it).
    pub peak_rss_bytes: u64,
    /// Most threads seen.
    pub max_threads: u64,
    /// How late the runtime woke a task due every 10 ms (ms).
    pub sched_delay_ms: DelayMs,
}

/// What the tool may use: cores from its cgroup's CPU quota when one is set, else
/// [`std::thread::available_parallelism`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuBudget {
    /// Cores.
    pub cores: f64,
    /// `cgroup v2 cpu.max`, `cgroup v1 cpu.cfs_quota_us` or `available_parallelism`.
    pub source: String,
}

/// One reading of the process's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcReading {
    /// User + system CPU seconds so far.
    pub cpu_seconds: f64,
    /// Current resident memory.
    pub rss_bytes: u64,
    /// Peak resident memory so far.
    pub hwm_bytes: u64,
    /// Threads now.
    pub threads: u64,
}

/// Reads the process's CPU time (`getrusage(RUSAGE_SELF)`).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Reads CPU time, memory and threads of this process.
pub fn read_proc() -> ProcReading {
    let mut r = ProcReading {
        cpu_seconds: cpu_seconds(),
        ..Default::default()
    };
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return r;
    };
    for line in status.lines() {
        let mut it = line.split_whitespace();
        let (key, value) = (it.next(), it.next().and_then(|v| v.parse::<u64>().ok()));
        match (key, value) {
            (Some("VmRSS:"), Some(kb)) => r.rss_bytes = kb * 1024,
            (Some("VmHWM:"), Some(kb)) => r.hwm_bytes = kb * 1024,
            (Some("Threads:"), Some(n)) => r.threads = n,
            _ => {}
        }
    }
    r
}

/// Cores a cgroup v2 `cpu.max` line allows (`max 100000` → None).
pub fn cores_of_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn read(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The smallest quota on the path from `dir` up to `root` (a cgroup's ancestors limit it too).
fn smallest_up(
    root: &std::path::Path,
    rel: &str,
    quota: impl Fn(&std::path::Path) -> Option<f64>,
) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut rel = std::path::PathBuf::from(rel.trim_start_matches('/'));
    loop {
        let dir = root.join(&rel);
        if let Some(q) = quota(&dir) {
            best = Some(best.map_or(q, |b: f64| b.min(q)));
        }
        if !rel.pop() {
            break;
        }
    }
    best
}

/// The CPU quota of this process's cgroup (v2 `cpu.max`, or v1 `cpu.cfs_quota_us` /
/// `cpu.cfs_period_us`), with its source; None when no quota is set.
pub fn cgroup_quota() -> Option<(f64, String)> {
    let cgroups = read("/proc/self/cgroup".as_ref())?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if id == "0" && controllers.is_empty() {
            let root = std::path::Path::new("/sys/fs/cgroup");
            let q = smallest_up(root, path, |d| cores_of_cpu_max(&read(&d.join("cpu.max"))?));
            if let Some(q) = q {
                return Some((q, "cgroup v2 cpu.max".into()));
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
                let root = std::path::Path::new(mount);
                let q = smallest_up(root, path, |d| {
                    let quota: f64 = read(&d.join("cpu.cfs_quota_us"))?.trim().parse().ok()?;
                    let period: f64 = read(&d.join("cpu.cfs_period_us"))?.trim().parse().ok()?;
                    (quota > 0.0 && period > 0.0).then(|| quota / period)
                });
                if let Some(q) = q {
                    return Some((q, "cgroup v1 cpu.cfs_quota_us".into()));
                }
            }
        }
    }
    None
}

/// The cores this process may use: the smaller of its cgroup quota and the CPUs it may run on.
pub fn cpu_budget() -> CpuBudget {
    let parallel = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    match cgroup_quota() {
        Some((q, source)) if q < parallel => CpuBudget { cores: q, source },
        _ => CpuBudget {
            cores: parallel,
            source: "available_parallelism".into(),
        },
    }
}

fn delay_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, crate::measure::MAX_MICROS, 3).expect("valid bounds")
}

/// What the probe has seen since a mark.
struct Stretch {
    started: Instant,
    cpu_at_start: f64,
    delay_us: Histogram<u64>,
    peak_rss: u64,
    max_threads: u64,
}

impl Stretch {
    fn new() -> Stretch {
        let r = read_proc();
        Stretch {
            started: Instant::now(),
            cpu_at_start: r.cpu_seconds,
            delay_us: delay_histogram(),
            peak_rss: r.rss_bytes,
            max_threads: r.threads,
        }
    }

    fn note(&mut self, r: &ProcReading) {
        self.peak_rss = self.peak_rss.max(r.rss_bytes);
        self.max_threads = self.max_threads.max(r.threads);
    }

    fn usage(&self, name: &str, now: &ProcReading, budget: f64, peak_rss: u64) -> SelfUsage {
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = (now.cpu_seconds - self.cpu_at_start).max(0.0);
        let cores = if wall > 0.0 { cpu / wall } else { 0.0 };
        SelfUsage {
            name: name.into(),
            wall_seconds: wall,
            cpu_seconds: cpu,
            cpu_cores: cores,
            cpu_percent_of_budget: if budget > 0.0 {
                cores / budget * 100.0
            } else {
                0.0
            },
            peak_rss_bytes: peak_rss,
            max_threads: self.max_threads.max(now.threads),
            sched_delay_ms: DelayMs::of(&self.delay_us),
        }
    }
}

struct State {
    whole: Stretch,
    phase: Stretch,
    phases: Vec<SelfUsage>,
    sink: Option<Arc<dyn SelfSink>>,
}

/// Live values for the tool's `/metrics`.
pub trait SelfSink: Send + Sync {
    /// One reading, with the scheduling delay p99 of the current phase so far (seconds).
    fn self_reading(&self, r: &ProcReading, sched_delay_p99_seconds: f64);
}

/// The probe: a task that wakes every [`TICK`], records how late it woke, and reads the
/// process's counters about once a second.
pub struct SelfObserver {
    state: Arc<Mutex<State>>,
    budget: CpuBudget,
    probe: tokio::task::JoinHandle<()>,
}

/// The run's self-observation: the whole run and each phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfObservation {
    /// The cores the tool may use.
    pub cpu_budget: CpuBudget,
    /// The whole run (set-up after connecting included).
    pub whole: SelfUsage,
    /// Each phase, in order.
    pub phases: Vec<SelfUsage>,
}

impl SelfObserver {
    /// Starts the probe on the current runtime.
    pub fn start() -> SelfObserver {
        let state = Arc::new(Mutex::new(State {
            whole: Stretch::new(),
            phase: Stretch::new(),
            phases: Vec::new(),
            sink: None,
        }));
        let s = state.clone();
        let probe = tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                let due = tokio::time::Instant::now() + TICK;
                tokio::time::sleep_until(due).await;
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                let us = (late.as_micros() as u64).clamp(1, crate::measure::MAX_MICROS);
                n += 1;
                let reading = n.is_multiple_of(STATUS_EVERY).then(read_proc);
                let (p99, sink) = {
                    let Ok(mut st) = s.lock() else { return };
                    let _ = st.whole.delay_us.record(us);
                    let _ = st.phase.delay_us.record(us);
                    if let Some(r) = &reading {
                        st.whole.note(r);
                        st.phase.note(r);
                    }
                    let p99 = st.phase.delay_us.value_at_quantile(0.99) as f64 / 1e6;
                    (p99, st.sink.clone())
                };
                if let (Some(r), Some(sink)) = (&reading, &sink) {
                    sink.self_reading(r, p99);
                }
            }
        });
        SelfObserver {
            state,
            budget: cpu_budget(),
            probe,
        }
    }

    /// The cores the tool may use.
    pub fn budget(&self) -> &CpuBudget {
        &self.budget
    }

    /// Sends each reading (about once a second) to `sink` from now on.
    pub fn set_sink(&self, sink: Arc<dyn SelfSink>) {
        if let Ok(mut st) = self.state.lock() {
            st.sink = Some(sink);
        }
    }

    /// Starts the current phase afresh, forgetting what was seen since the last mark (the
    /// set-up before the first phase is not judged).
    pub fn restart_phase(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.phase = Stretch::new();
        }
    }

    /// Closes the current phase (everything since the previous [`end_phase`] or the start)
    /// under `name`, and starts the next.
    ///
    /// [`end_phase`]: SelfObserver::end_phase
    pub fn end_phase(&self, name: &str) -> Option<SelfUsage> {
        let now = read_proc();
        let mut st = self.state.lock().ok()?;
        st.phase.note(&now);
        let u = st
            .phase
            .usage(name, &now, self.budget.cores, st.phase.peak_rss);
        st.phases.push(u.clone());
        st.phase = Stretch::new();
        Some(u)
    }

    /// Stops the probe and returns what it saw.
    pub fn finish(self) -> SelfObservation {
        self.probe.abort();
        let now = read_proc();
        let (whole, phases) = match self.state.lock() {
            Ok(mut st) => {
                st.whole.note(&now);
                let peak = now.hwm_bytes.max(st.whole.peak_rss);
                (
                    st.whole.usage("whole", &now, self.budget.cores, peak),
                    std::mem::take(&mut st.phases),
                )
            }
            Err(_) => (SelfUsage::default(), Vec::new()),
        };
        SelfObservation {
            cpu_budget: self.budget.clone(),
            whole,
            phases,
        }
    }
}

impl Drop for SelfObserver {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_lines() {
        assert_eq!(cores_of_cpu_max("max 100000\n"), None);
        assert_eq!(cores_of_cpu_max("20000 100000\n"), Some(0.2));
        assert_eq!(cores_of_cpu_max("garbage"), None);
    }

    #[test]
    fn reads_its_own_process() {
        let r = read_proc();
        assert!(
            r.rss_bytes > 0 && r.hwm_bytes >= r.rss_bytes && r.threads >= 1,
            "{r:?}"
        );
        let b = cpu_budget();
        assert!(b.cores > 0.0, "{b:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_thread_shows_as_cpu_and_phases_split() {
        let o = SelfObserver::start();
        // Spins until the process has used 0.25 s more CPU (wall time would not do on a
        // loaded machine, where 300 ms of wall may be far less CPU).
        let spin = std::thread::spawn(|| {
            let (c0, deadline) = (cpu_seconds(), Instant::now() + Duration::from_secs(60));
            let mut x = 0u64;
            while cpu_seconds() - c0 < 0.25 {
                assert!(Instant::now() < deadline, "no 0.25 CPU seconds in 60 s");
                for _ in 0..100_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            }
            x
        });
        let _ = tokio::task::spawn_blocking(move || spin.join()).await;
        let first = o.end_phase("spin").expect("a phase");
        tokio::time::sleep(Duration::from_millis(100)).await;
        o.end_phase("idle");
        let s = o.finish();
        assert!(first.cpu_seconds >= 0.2, "{first:?}");
        assert_eq!(
            s.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["spin", "idle"]
        );
        assert!(s.whole.sched_delay_ms.count > 5, "{:?}", s.whole);
        assert!(s.whole.cpu_seconds >= first.cpu_seconds);
        assert!(s.whole.peak_rss_bytes > 0 && s.whole.max_threads >= 2);
    }
}
