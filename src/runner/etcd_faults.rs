//! A run on the local environment's etcd cluster: every member's metrics read each second
//! ([`crate::measure::etcd_members`]) and the profile's `faults:` injected while the load
//! runs, one after another in the order written (a fault whose time has passed when the one
//! before it is done fires at once). Afterwards, [`ClusterRun::finish`] turns both into the
//! summary's `etcd_cluster`.

use crate::env::etcd_cluster::EtcdControl;
use crate::measure::etcd_members::{self, MemberSeries};
use crate::measure::Progress;
use crate::profile::faults::{FaultAction, FaultPlan, FaultTrigger, MemberChoice};
use crate::report::etcd_cluster::{EtcdClusterSummary, FaultEvent, MemberStats, ReadBack};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Between two readings of every member's metrics.
const MEMBER_POLL: Duration = Duration::from_secs(1);
/// Longest wait for the remaining members to agree on a leader after a fault.
const LEADER_AGREEMENT_DEADLINE: Duration = Duration::from_secs(30);
/// Between two looks at the members' leader (and at an object-count trigger).
const LOOK_EVERY: Duration = Duration::from_millis(50);
/// How long one member may take to answer a Status call.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// The member poller and the fault injector of one run.
pub struct ClusterRun {
    members: Vec<String>,
    rtt_ms: Option<f64>,
    load_ended: watch::Sender<bool>,
    poll: JoinHandle<MemberSeries>,
    faults: JoinHandle<Vec<FaultEvent>>,
}

/// Starts reading the members and injecting `faults` (from now: the load's start).
pub fn start(
    control: EtcdControl,
    faults: Vec<FaultPlan>,
    rtt_ms: Option<f64>,
    progress: Arc<Progress>,
) -> ClusterRun {
    progress.created.keep_names();
    let (load_ended, ended) = watch::channel(false);
    let infos = control.members();
    let urls = infos.iter().map(|m| m.metrics_url.clone()).collect();
    let poll = tokio::spawn(etcd_members::poll(urls, MEMBER_POLL, ended.clone()));
    let t0 = Instant::now();
    let faults = tokio::spawn(async move {
        let mut events = Vec::new();
        for f in faults {
            events.push(inject(&control, &f, t0, &progress, ended.clone()).await);
        }
        events
    });
    ClusterRun {
        members: infos.into_iter().map(|m| m.name).collect(),
        rtt_ms,
        load_ended,
        poll,
        faults,
    }
}

fn name(i: usize) -> String {
    format!("member-{i}")
}

/// Waits until the fault's trigger or the load's end; true when the trigger came first.
async fn triggered(
    trigger: FaultTrigger,
    t0: Instant,
    progress: &Progress,
    mut ended: watch::Receiver<bool>,
) -> bool {
    loop {
        if *ended.borrow() {
            return false;
        }
        let wait = match trigger {
            FaultTrigger::After(d) if t0.elapsed() >= d => return true,
            FaultTrigger::After(d) => (d - t0.elapsed()).min(LOOK_EVERY),
            FaultTrigger::Objects(n) if progress.created.count() >= n => return true,
            FaultTrigger::Objects(_) => LOOK_EVERY,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ended.changed() => {}
        }
    }
}

/// Waits (at most [`LEADER_AGREEMENT_DEADLINE`]) for the running members to agree on a
/// leader; (leader, ms after `since`).
async fn agreed_leader(control: &EtcdControl, since: Instant) -> Option<(usize, f64)> {
    let deadline = since + LEADER_AGREEMENT_DEADLINE;
    loop {
        if let Some(l) = control.leader(STATUS_TIMEOUT).await {
            return Some((l, since.elapsed().as_secs_f64() * 1000.0));
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

async fn inject(
    control: &EtcdControl,
    f: &FaultPlan,
    t0: Instant,
    progress: &Progress,
    mut ended: watch::Receiver<bool>,
) -> FaultEvent {
    let mut e = FaultEvent {
        action: f.action.label().into(),
        ..Default::default()
    };
    if !triggered(f.trigger, t0, progress, ended.clone()).await {
        e.at_seconds = t0.elapsed().as_secs_f64();
        e.error = Some("not injected: the load ended first".into());
        return e;
    }
    let leader = control.leader(STATUS_TIMEOUT).await;
    e.leader_before = leader.map(name);
    let running = |i: &usize| control.is_running(*i);
    let target = match f.member {
        MemberChoice::Leader => leader,
        MemberChoice::Follower => {
            (0..control.members().len()).find(|i| Some(*i) != leader && running(i))
        }
        MemberChoice::Index(i) => Some(i),
    };
    e.at_seconds = t0.elapsed().as_secs_f64();
    e.at_objects = progress.created.count();
    let Some(i) = target else {
        e.error = Some(match f.member {
            MemberChoice::Leader => "no leader the members agree on".into(),
            _ => "no running follower".into(),
        });
        return e;
    };
    e.member = Some(name(i));
    tracing::warn!(fault = f.action.label(), member = %name(i), second = format!("{:.1}", e.at_seconds), "injecting an etcd fault");
    let hit = Instant::now();
    match f.action {
        FaultAction::StopMember => control.pause_member(i, true),
        _ => {
            let c = control.clone();
            let _ = tokio::task::spawn_blocking(move || c.kill_member(i)).await;
        }
    }
    let immediate_restart =
        f.action == FaultAction::RestartMember && f.down_for == Some(Duration::ZERO);
    if !immediate_restart {
        if let Some((l, ms)) = agreed_leader(control, hit).await {
            e.leader_after = Some(name(l));
            e.leader_agreed_after_ms = Some(ms);
        }
    }
    if let Some(d) = f.down_for {
        let left = d.saturating_sub(hit.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(left) => {}
            _ = ended.changed() => {}
        }
        let resumed = match f.action {
            FaultAction::StopMember => {
                control.pause_member(i, false);
                Ok(())
            }
            _ => control.start_member(i).map(|_| ()),
        };
        e.resumed_at_seconds = Some(t0.elapsed().as_secs_f64());
        if let Err(err) = resumed {
            e.error = Some(err.to_string());
        }
        if immediate_restart {
            if let Some((l, ms)) = agreed_leader(control, hit).await {
                e.leader_after = Some(name(l));
                e.leader_agreed_after_ms = Some(ms);
            }
        }
    }
    e
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

impl ClusterRun {
    /// Tells the poller and the injector the load is over and builds the summary.
    pub async fn finish(self, read_back: Option<ReadBack>) -> EtcdClusterSummary {
        let _ = self.load_ended.send(true);
        let faults = self.faults.await.unwrap_or_default();
        let series = self.poll.await.unwrap_or_default();
        summarize(self.members, self.rtt_ms, series, faults, read_back)
    }
}

/// The summary of what the poller saw and the faults did.
pub fn summarize(
    members: Vec<String>,
    rtt_ms: Option<f64>,
    series: MemberSeries,
    faults: Vec<FaultEvent>,
    read_back: Option<ReadBack>,
) -> EtcdClusterSummary {
    let member_stats: Vec<MemberStats> = members
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (a, b) = (
                series.first.get(i).cloned().flatten(),
                series.last.get(i).cloned().flatten(),
            );
            let (lc, pf) = match (a, b) {
                (Some(a), Some(b)) => (
                    b.leader_changes - a.leader_changes,
                    b.proposals_failed - a.proposals_failed,
                ),
                _ => (0.0, 0.0),
            };
            MemberStats {
                name: n.clone(),
                leader_changes: lc.max(0.0),
                proposals_failed: pf.max(0.0),
                failed_reads: series.failed_reads.get(i).copied().unwrap_or(0),
            }
        })
        .collect();
    let first_fault = faults
        .iter()
        .find(|f| f.error.is_none() || f.member.is_some())
        .map(|f| f.at_seconds);
    let baseline = median(
        series
            .points
            .iter()
            .filter(|p| first_fault.is_none_or(|t| p.second <= t))
            .filter_map(|p| p.write_p99_ms)
            .collect(),
    );
    let peak = series
        .points
        .iter()
        .filter_map(|p| Some((p.write_p99_ms?, p.second)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    EtcdClusterSummary {
        members: members.len() as u32,
        rtt_ms,
        leader_changes: member_stats
            .iter()
            .map(|m| m.leader_changes)
            .fold(0.0, f64::max),
        proposals_failed: member_stats.iter().map(|m| m.proposals_failed).sum(),
        member_stats,
        write_p99_ms_baseline: baseline,
        write_p99_ms_peak: peak.map(|p| p.0),
        write_p99_peak_second: peak.map(|p| p.1),
        write_spike_ratio: match (peak, baseline) {
            (Some(p), Some(b)) if b > 0.0 => Some(p.0 / b),
            _ => None,
        },
        faults,
        read_back,
        points: series.points,
    }
}

impl ClusterRun {
    /// Tells the poller and the injector the load is over (faults not yet fired are
    /// reported as not injected; a stopped or killed member is resumed at once).
    pub fn end_load(&self) {
        let _ = self.load_ended.send(true);
    }

    /// [`ClusterRun::finish`] with every acknowledged object read back through `reader`
    /// first, when `read` (a run that deleted its objects, or stopped early, reads none).
    pub async fn finish_reading_back<T: crate::backend::Target>(
        self,
        reader: Option<&T>,
        fleet: &crate::model::FleetSpec,
        progress: &Progress,
        read: bool,
    ) -> EtcdClusterSummary {
        self.end_load();
        let read_back = match (reader, read) {
            (Some(t), true) => {
                let r = super::read_back::read_back(t, fleet, progress.created.names()).await;
                if !r.complete() {
                    tracing::warn!(
                        acknowledged = r.acknowledged,
                        found = r.found,
                        lost = r.lost,
                        unreadable = r.unreadable,
                        "not every acknowledged object could be read back"
                    );
                }
                Some(r)
            }
            _ => None,
        };
        self.finish(read_back).await
    }
}
