//! `faults:` etcd faults injected during a run on the local environment's etcd cluster
//! (`local.etcd_members`), and the validation of `local.etcd_members` / `local.etcd_rtt_ms`.
//!
//! ```yaml
//! faults:
//!   - {action: kill_leader, at_seconds: 5}            # SIGKILL the leader; it stays down
//!   - {action: kill_follower, at_objects: 200, restart_after_seconds: 3}
//!   - {action: restart_member, member: leader, at_seconds: 10, restart_after_seconds: 1}
//!   - {action: stop_member, member: 1, at_seconds: 4, for_seconds: 3}  # SIGSTOP, SIGCONT
//! ```

use super::ProfileError;
use crate::env::LocalOptions;
use serde::Deserialize;
use std::time::Duration;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// What a fault does (`faults[].action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// SIGKILL the leader.
    KillLeader,
    /// SIGKILL a follower.
    KillFollower,
    /// SIGKILL a member and start it again on its data dir.
    RestartMember,
    /// SIGSTOP a member for `for_seconds`, then SIGCONT: a member that hangs (a stalled
    /// disk, a paused VM) without closing its connections.
    StopMember,
}

impl FaultAction {
    /// The name as written in a profile.
    pub fn label(self) -> &'static str {
        match self {
            FaultAction::KillLeader => "kill_leader",
            FaultAction::KillFollower => "kill_follower",
            FaultAction::RestartMember => "restart_member",
            FaultAction::StopMember => "stop_member",
        }
    }
}

/// One `faults:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSection {
    /// What to do.
    pub action: FaultAction,
    /// Seconds after the load started.
    pub at_seconds: Option<f64>,
    /// Once this many objects were acknowledged created.
    pub at_objects: Option<u64>,
    /// `leader`, `follower` or a member index (restart_member, stop_member; default leader).
    pub member: Option<String>,
    /// stop_member: how long the member stays stopped (required).
    pub for_seconds: Option<f64>,
    /// kill_leader, kill_follower: start the member again after this long (default: it
    /// stays down); restart_member: how long it is down (default 0).
    pub restart_after_seconds: Option<f64>,
}

/// Which member a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChoice {
    /// The member the others agree is leader when the fault fires.
    Leader,
    /// The first running member that is not the leader.
    Follower,
    /// Member `i` (`member-<i>`).
    Index(usize),
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultTrigger {
    /// This long after the load started.
    After(Duration),
    /// Once this many objects were acknowledged created.
    Objects(u64),
}

/// One validated fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// As written.
    pub action: FaultAction,
    /// Whom it hits.
    pub member: MemberChoice,
    /// When.
    pub trigger: FaultTrigger,
    /// Stop: how long stopped. Kill/restart: start again after this long (None: stays
    /// down).
    pub down_for: Option<Duration>,
}

fn seconds(err: Err, field: &str, v: f64) -> Result<Duration, ProfileError> {
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(err(
            field,
            format!("{v} must be between 0 and 86400 seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Validates `faults:` against the etcd cluster the local options start; with faults and no
/// `local.etcd_members`, the single etcd is started as a cluster of one (so it can be hit).
pub(super) fn plan(
    faults: &[FaultSection],
    local: Option<&mut LocalOptions>,
    err: Err,
) -> Result<Vec<FaultPlan>, ProfileError> {
    if faults.is_empty() {
        return Ok(Vec::new());
    }
    let Some(local) = local else {
        return Err(err(
            "faults",
            "only apply to the local environment's etcd (target.type local)".into(),
        ));
    };
    local.etcd_members = local.etcd_members.max(1);
    let members = local.etcd_members as usize;
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let field = |name: &str| format!("faults[{i}].{name}");
        let trigger = match (f.at_seconds, f.at_objects) {
            (Some(s), None) => FaultTrigger::After(seconds(err, &field("at_seconds"), s)?),
            (None, Some(n)) => FaultTrigger::Objects(n),
            _ => {
                return Err(err(
                    &field("at_seconds"),
                    "give at_seconds or at_objects (one of them)".into(),
                ))
            }
        };
        let member = match (f.action, f.member.as_deref()) {
            (FaultAction::KillLeader, None) => MemberChoice::Leader,
            (FaultAction::KillFollower, None) => MemberChoice::Follower,
            (FaultAction::KillLeader | FaultAction::KillFollower, Some(_)) => {
                return Err(err(
                    &field("member"),
                    "kill_leader and kill_follower choose their member; use restart_member or stop_member to name one".into(),
                ))
            }
            (_, None | Some("leader")) => MemberChoice::Leader,
            (_, Some("follower")) => MemberChoice::Follower,
            (_, Some(s)) => match s.parse::<usize>() {
                Ok(n) if n < members => MemberChoice::Index(n),
                _ => {
                    return Err(err(
                        &field("member"),
                        format!("`{}` must be leader, follower or a member index below local.etcd_members ({members})", s.escape_debug()),
                    ))
                }
            },
        };
        if member == MemberChoice::Follower && members < 3 {
            return Err(err(
                &field("action"),
                format!("a follower needs local.etcd_members 3 or 5 (it is {members})"),
            ));
        }
        let down_for = match (f.action, f.for_seconds, f.restart_after_seconds) {
            (FaultAction::StopMember, _, Some(_)) => {
                return Err(err(
                    &field("restart_after_seconds"),
                    "does not apply to stop_member (it takes for_seconds)".into(),
                ))
            }
            (FaultAction::StopMember, Some(s), None) => {
                Some(seconds(err, &field("for_seconds"), s)?)
            }
            (FaultAction::StopMember, None, _) => {
                return Err(err(
                    &field("for_seconds"),
                    "stop_member needs for_seconds (how long the member stays stopped)".into(),
                ))
            }
            (_, Some(_), _) => {
                return Err(err(
                    &field("for_seconds"),
                    "only applies to stop_member (kill and restart take restart_after_seconds)"
                        .into(),
                ))
            }
            (FaultAction::RestartMember, None, r) => Some(
                r.map(|s| seconds(err, &field("restart_after_seconds"), s))
                    .transpose()?
                    .unwrap_or(Duration::ZERO),
            ),
            (_, None, r) => r
                .map(|s| seconds(err, &field("restart_after_seconds"), s))
                .transpose()?,
        };
        out.push(FaultPlan {
            action: f.action,
            member,
            trigger,
            down_for,
        });
    }
    Ok(out)
}

/// `local.etcd_members` and `local.etcd_rtt_ms` into the local options.
pub(super) fn etcd_cluster(
    members: Option<u64>,
    rtt_ms: Option<f64>,
    o: &mut LocalOptions,
    err: Err,
) -> Result<(), ProfileError> {
    o.etcd_members = match members {
        None => 0,
        Some(n @ (1 | 3 | 5)) => n as u32,
        Some(n) => {
            return Err(err(
                "local.etcd_members",
                format!("{n} must be 1, 3 or 5 (an odd quorum, as etcd recommends)"),
            ))
        }
    };
    if let Some(ms) = rtt_ms {
        if !ms.is_finite() || !(0.0..=1000.0).contains(&ms) || ms == 0.0 {
            return Err(err(
                "local.etcd_rtt_ms",
                format!("{ms} must be a round-trip time above 0 and at most 1000 ms"),
            ));
        }
        o.etcd_rtt = Some(Duration::from_secs_f64(ms / 1000.0));
        o.etcd_members = o.etcd_members.max(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{parse_str, Overrides, TargetPlan};

    fn local(yaml: &str) -> (LocalOptions, Vec<FaultPlan>) {
        let p = parse_str(std::path::Path::new("p.yaml"), yaml, &Overrides::default()).unwrap();
        match p.target {
            TargetPlan::Local(l) => (l, p.faults),
            _ => panic!("not local"),
        }
    }

    #[test]
    fn an_rtt_or_a_fault_starts_a_cluster_of_one_and_a_cluster_keeps_its_size() {
        let (l, _) = local("fleet: {clusters: 1}\n");
        assert_eq!((l.etcd_members, l.etcd_rtt), (0, None));
        let (l, _) = local("fleet: {clusters: 1}\nlocal: {etcd_rtt_ms: 2.5}\n");
        assert_eq!(l.etcd_members, 1);
        assert_eq!(l.etcd_rtt, Some(Duration::from_micros(2500)));
        let (l, f) = local(
            "fleet: {clusters: 1}\nfaults: [{action: restart_member, member: leader, at_objects: 10}]\n",
        );
        assert_eq!(l.etcd_members, 1);
        assert_eq!(
            f,
            vec![FaultPlan {
                action: FaultAction::RestartMember,
                member: MemberChoice::Leader,
                trigger: FaultTrigger::Objects(10),
                down_for: Some(Duration::ZERO),
            }]
        );
        let (l, f) = local(
            "fleet: {clusters: 1}\nlocal: {etcd_members: 5, etcd_rtt_ms: 1}\nfaults: [{action: stop_member, member: '4', at_seconds: 2, for_seconds: 3}, {action: kill_follower, at_seconds: 9}]\n",
        );
        assert_eq!(l.etcd_members, 5);
        assert_eq!(f[0].member, MemberChoice::Index(4));
        assert_eq!(f[0].down_for, Some(Duration::from_secs(3)));
        assert_eq!((f[1].member, f[1].down_for), (MemberChoice::Follower, None));
    }
}
