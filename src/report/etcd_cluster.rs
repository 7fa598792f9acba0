//! `summary.json` `etcd_cluster`: a run on the local environment's etcd cluster
//! (`local.etcd_members`, `local.etcd_rtt_ms`, `faults:`): the members, the faults as they
//! were injected, what every member's own metrics said (leader changes, failed proposals,
//! the write-latency spike) and whether every acknowledged object was read back.

use crate::measure::etcd_members::MemberPoint;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The cluster and what happened to it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdClusterSummary {
    /// Members started.
    pub members: u32,
    /// Round-trip time added between kube-apiserver and each member and between members.
    pub rtt_ms: Option<f64>,
    /// Each member's account.
    pub member_stats: Vec<MemberStats>,
    /// Leader changes during the load (the most any member saw).
    pub leader_changes: f64,
    /// Failed proposals during the load (all members).
    pub proposals_failed: f64,
    /// Median of the per-second write p99 before the first fault (the whole load without
    /// faults), ms.
    pub write_p99_ms_baseline: Option<f64>,
    /// Highest per-second write p99 during the load, ms.
    pub write_p99_ms_peak: Option<f64>,
    /// The second of the load the peak was in.
    pub write_p99_peak_second: Option<f64>,
    /// Peak over baseline.
    pub write_spike_ratio: Option<f64>,
    /// The faults as injected.
    pub faults: Vec<FaultEvent>,
    /// Every acknowledged object read back after the load.
    pub read_back: Option<ReadBack>,
    /// Per second: write p99, leader changes, failed proposals, members answering.
    pub points: Vec<MemberPoint>,
}

/// One member's account over the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberStats {
    /// `member-<i>`.
    pub name: String,
    /// Leader changes it saw.
    pub leader_changes: f64,
    /// Proposals that failed on it.
    pub proposals_failed: f64,
    /// Times its `/metrics` did not answer (killed or stopped).
    pub failed_reads: u64,
}

/// One injected fault.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEvent {
    /// `kill_leader`, `kill_follower`, `restart_member`, `stop_member`.
    pub action: String,
    /// The member hit (`member-<i>`), when one was found.
    pub member: Option<String>,
    /// Seconds after the load started.
    pub at_seconds: f64,
    /// Objects acknowledged created when it fired.
    pub at_objects: u64,
    /// The leader before (`member-<i>`).
    pub leader_before: Option<String>,
    /// The leader the remaining members agreed on afterwards.
    pub leader_after: Option<String>,
    /// How long after the fault that agreement was seen (ms).
    pub leader_agreed_after_ms: Option<f64>,
    /// When the member was started again or continued (seconds after the load started).
    pub resumed_at_seconds: Option<f64>,
    /// Why the fault could not be injected as asked.
    pub error: Option<String>,
}

/// The read-back after the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBack {
    /// Objects the run counted as created.
    pub acknowledged: u64,
    /// Of those, read back.
    pub found: u64,
    /// Answered "not found": acknowledged and lost.
    pub lost: u64,
    /// Could not be read (no answer, 5xx) after retries.
    pub unreadable: u64,
    /// Up to 20 of the lost or unreadable ones, `kind namespace/name: why`.
    pub examples: Vec<String>,
    /// Seconds the read-back took.
    pub seconds: f64,
}

impl ReadBack {
    /// True when every acknowledged object was read back.
    pub fn complete(&self) -> bool {
        self.found == self.acknowledged
    }
}

/// One line for the table printed at the end of a run.
pub fn one_line(s: &EtcdClusterSummary) -> String {
    let read = match &s.read_back {
        Some(r) if r.complete() => format!("all {} acknowledged objects read back", r.acknowledged),
        Some(r) => format!(
            "LOST {} and unreadable {} of {} acknowledged objects",
            r.lost, r.unreadable, r.acknowledged
        ),
        None => "no read-back".into(),
    };
    format!(
        "etcd cluster: {} member(s), {} leader change(s), {} failed proposal(s), write p99 peak {} ms; {read}",
        s.members,
        s.leader_changes,
        s.proposals_failed,
        s.write_p99_ms_peak
            .map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "-".into()),
    )
}

/// The report's section.
pub fn markdown(s: &EtcdClusterSummary) -> String {
    let f = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
    let mut o = format!(
        "\n## etcd cluster\n\n{} member(s){}; from every member's own `/metrics`: **{} leader change(s)**, **{} failed proposal(s)**; write p99 (KV Txn/Put as the members served them) {} ms before the first fault, peak {} ms at second {} ({}x).\n",
        s.members,
        s.rtt_ms
            .map(|r| format!(", {r} ms round trip added in front of every member and between members"))
            .unwrap_or_default(),
        s.leader_changes,
        s.proposals_failed,
        f(s.write_p99_ms_baseline, 1),
        f(s.write_p99_ms_peak, 1),
        f(s.write_p99_peak_second, 0),
        f(s.write_spike_ratio, 1),
    );
    o += "\n| member | leader changes seen | failed proposals | unanswered scrapes |\n|---|---:|---:|---:|\n";
    for m in &s.member_stats {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            m.name, m.leader_changes, m.proposals_failed, m.failed_reads
        );
    }
    if !s.faults.is_empty() {
        o += "\n| fault | member | at s | at objects | leader before | leader after | agreed after ms | resumed at s | error |\n|---|---|---:|---:|---|---|---:|---:|---|\n";
        for e in &s.faults {
            let _ = writeln!(
                o,
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                e.action,
                e.member.as_deref().unwrap_or("-"),
                e.at_seconds,
                e.at_objects,
                e.leader_before.as_deref().unwrap_or("-"),
                e.leader_after.as_deref().unwrap_or("-"),
                f(e.leader_agreed_after_ms, 0),
                f(e.resumed_at_seconds, 1),
                e.error.as_deref().unwrap_or(""),
            );
        }
    }
    match &s.read_back {
        Some(r) if r.complete() => {
            let _ = writeln!(
                o,
                "\nRead-back: all {} acknowledged objects read back ({:.1} s): nothing acknowledged was lost.",
                r.acknowledged, r.seconds
            );
        }
        Some(r) => {
            let _ = writeln!(
                o,
                "\nRead-back: **{} of {} acknowledged objects read back; {} lost, {} unreadable**: {}",
                r.found,
                r.acknowledged,
                r.lost,
                r.unreadable,
                r.examples.join("; ")
            );
        }
        None => o += "\nRead-back: not done (the run deleted its objects, or stopped early).\n",
    }
    o
}
