//! The generator verdict: did the tool itself keep up? A load generator that runs out of
//! CPU, or whose async runtime wakes its tasks late, sends requests late and counts its own
//! queueing as latency, so its numbers describe the tool, not the target. The verdict is
//! `saturated` when, over the whole run or a phase of at least [`MIN_PHASE_SECONDS`], the
//! tool kept more than [`GENERATOR_CPU_PERCENT`]
//! of the cores it may use busy, or its runtime's scheduling delay p99 passed
//! [`GENERATOR_SCHED_DELAY_P99_MS`].
//! `docs/self-observation.md` explains the numbers.

use crate::measure::self_observe::{SelfObservation, SelfUsage};
use crate::thresholds::{GENERATOR_CPU_PERCENT, GENERATOR_SCHED_DELAY_P99_MS};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Phases shorter than this are not judged by their CPU share (a few busy milliseconds
/// would read as a saturated core).
pub const MIN_PHASE_SECONDS: f64 = 2.0;

/// Scheduling-delay ticks a stretch needs before its p99 is judged (half a second).
pub const MIN_DELAY_TICKS: u64 = 50;

/// Whether the tool kept up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorVerdict {
    /// The tool had CPU to spare and its runtime woke tasks on time.
    Ok,
    /// The tool was short of CPU or its runtime was late: its latencies include its own
    /// queueing.
    Saturated,
}

/// `summary.json`'s `generator`: the tool's own resource use and its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSummary {
    /// The verdict.
    pub verdict: GeneratorVerdict,
    /// Why it is saturated, one line per stretch that passed a limit (empty when ok).
    pub reasons: Vec<String>,
    /// The CPU share of the budget above which the tool counts as saturated (%).
    pub cpu_percent_limit: f64,
    /// The scheduling delay p99 above which the tool counts as saturated (ms).
    pub sched_delay_p99_limit_ms: f64,
    /// The machine's 1-minute load average when the run ended (`/proc/loadavg`): above
    /// the machine's cores, other processes were keeping the tool waiting for a CPU.
    #[serde(default)]
    pub machine_load_average: Option<f64>,
    /// The CPUs of the machine the tool may run on.
    #[serde(default)]
    pub machine_cpus: Option<f64>,
    /// What the tool used.
    #[serde(flatten)]
    pub usage: SelfObservation,
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn judge(u: &SelfUsage, whole: bool) -> Vec<String> {
    let mut out = Vec::new();
    let where_ = if whole {
        "the whole run".to_string()
    } else {
        format!("the {} phase", u.name)
    };
    if (whole || u.wall_seconds >= MIN_PHASE_SECONDS)
        && u.cpu_percent_of_budget > GENERATOR_CPU_PERCENT
    {
        out.push(format!(
            "{where_} used {:.2} cores, {:.0}% of the {:.0}% allowed",
            u.cpu_cores, u.cpu_percent_of_budget, GENERATOR_CPU_PERCENT
        ));
    }
    if u.sched_delay_ms.count >= MIN_DELAY_TICKS
        && u.sched_delay_ms.p99 > GENERATOR_SCHED_DELAY_P99_MS
    {
        out.push(format!(
            "{where_}: the runtime woke a 10 ms task {:.1} ms late at p99 (limit {GENERATOR_SCHED_DELAY_P99_MS} ms)",
            u.sched_delay_ms.p99
        ));
    }
    out
}

/// Judges what the tool used.
pub fn summarize(usage: SelfObservation) -> GeneratorSummary {
    let load = load_average();
    let cpus = std::thread::available_parallelism()
        .ok()
        .map(|n| n.get() as f64);
    summarize_on(usage, load, cpus)
}

/// [`summarize`] with the machine's load average and CPUs given.
pub fn summarize_on(
    usage: SelfObservation,
    load: Option<f64>,
    cpus: Option<f64>,
) -> GeneratorSummary {
    let mut reasons = judge(&usage.whole, true);
    for p in &usage.phases {
        reasons.extend(judge(p, false));
    }
    if let (Some(l), Some(c), false) = (load, cpus, reasons.is_empty()) {
        if l > c {
            reasons.push(format!(
                "the machine's load average was {l:.1} on {c:.0} CPUs: other processes were keeping the tool waiting for a CPU"
            ));
        }
    }
    GeneratorSummary {
        machine_load_average: load,
        machine_cpus: cpus,
        verdict: if reasons.is_empty() {
            GeneratorVerdict::Ok
        } else {
            GeneratorVerdict::Saturated
        },
        reasons,
        cpu_percent_limit: GENERATOR_CPU_PERCENT,
        sched_delay_p99_limit_ms: GENERATOR_SCHED_DELAY_P99_MS,
        usage,
    }
}

impl GeneratorSummary {
    /// Whether the named phase (or, with `None`, any stretch) was saturated.
    pub fn saturated_in(&self, phase: Option<&str>) -> bool {
        match phase {
            None => self.verdict == GeneratorVerdict::Saturated,
            Some(name) => {
                !judge(&self.usage.whole, true).is_empty()
                    || self
                        .usage
                        .phases
                        .iter()
                        .filter(|p| p.name == name)
                        .any(|p| !judge(p, false).is_empty())
            }
        }
    }
}

/// The report's "Generator" section.
pub fn markdown(g: &GeneratorSummary) -> String {
    let mut o = String::new();
    let b = &g.usage.cpu_budget;
    let _ = writeln!(
        o,
        "## Generator\n\nThe tool's own use of the machine: verdict **{}** (saturated above {:.0}% of the {:.2} cores it may use, from {}, or a scheduling delay p99 above {} ms).\n",
        match g.verdict {
            GeneratorVerdict::Ok => "ok",
            GeneratorVerdict::Saturated => "saturated",
        },
        g.cpu_percent_limit,
        b.cores,
        b.source,
        g.sched_delay_p99_limit_ms
    );
    if let (Some(l), Some(c)) = (g.machine_load_average, g.machine_cpus) {
        let _ = writeln!(
            o,
            "The machine's 1-minute load average at the end: {l:.1} on {c:.0} CPUs.\n"
        );
    }
    for r in &g.reasons {
        let _ = writeln!(o, "- {r}");
    }
    if !g.reasons.is_empty() {
        let _ = writeln!(
            o,
            "\nLatencies measured while the tool was saturated include its own queueing.\n"
        );
    }
    let _ = writeln!(o, "| stretch | wall s | CPU s | cores | % of budget | peak RSS MiB | threads | sched delay p50 / p99 / max ms |\n|---|---:|---:|---:|---:|---:|---:|---|");
    for u in std::iter::once(&g.usage.whole).chain(&g.usage.phases) {
        let d = &u.sched_delay_ms;
        let _ = writeln!(
            o,
            "| {} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {} | {:.1} / {:.1} / {:.1} |",
            u.name,
            u.wall_seconds,
            u.cpu_seconds,
            u.cpu_cores,
            u.cpu_percent_of_budget,
            u.peak_rss_bytes as f64 / 1048576.0,
            u.max_threads,
            d.p50,
            d.p99,
            d.max
        );
    }
    let _ = writeln!(o);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::self_observe::CpuBudget;
    use crate::measure::self_observe::DelayMs;

    fn usage(name: &str, wall: f64, percent: f64, p99: f64) -> SelfUsage {
        SelfUsage {
            name: name.into(),
            wall_seconds: wall,
            cpu_percent_of_budget: percent,
            sched_delay_ms: DelayMs {
                count: 1000,
                p99,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn obs(whole: SelfUsage, phases: Vec<SelfUsage>) -> SelfObservation {
        SelfObservation {
            cpu_budget: CpuBudget {
                cores: 2.0,
                source: "available_parallelism".into(),
            },
            whole,
            phases,
        }
    }

    #[test]
    fn light_runs_are_ok_and_busy_ones_saturated() {
        let light = summarize(obs(
            usage("whole", 30.0, 20.0, 2.0),
            vec![usage("create", 10.0, 30.0, 1.0)],
        ));
        assert_eq!(light.verdict, GeneratorVerdict::Ok, "{light:?}");
        let cpu = summarize(obs(
            usage("whole", 30.0, 40.0, 2.0),
            vec![usage("create", 10.0, 95.0, 1.0)],
        ));
        assert_eq!(cpu.verdict, GeneratorVerdict::Saturated);
        assert!(cpu.saturated_in(Some("create")) && !cpu.saturated_in(Some("steady")));
        let late = summarize(obs(usage("whole", 30.0, 10.0, 120.0), vec![]));
        assert_eq!(late.verdict, GeneratorVerdict::Saturated, "{late:?}");
        let short = summarize(obs(
            usage("whole", 30.0, 10.0, 1.0),
            vec![usage("delete", 0.1, 190.0, 1.0)],
        ));
        assert_eq!(
            short.verdict,
            GeneratorVerdict::Ok,
            "a 0.1 s phase is not judged by CPU"
        );
        assert!(markdown(&cpu).contains("**saturated**"));
    }
}
