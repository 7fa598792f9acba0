//! What API Priority and Fairness allows one ServiceAccount, read from the live apiserver's
//! PriorityLevelConfigurations and, on servers with seat borrowing, the seat limits it
//! reports on `/metrics` (Kubernetes docs, "API Priority and Fairness",
//! <https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>): the model
//! behind the 429-onset breakpoint.

use crate::backend::kube::KubeTarget;
use serde_json::Value;

/// Seat limits the apiserver itself reports for a priority level (v1.26+ with seat
/// borrowing: `apiserver_flowcontrol_{nominal,lower,upper}_limit_seats`). A level lends up
/// to `lendablePercent` of its nominal seats and borrows idle seats of other levels, so its
/// limit moves between `lower` and `upper`, re-computed every few seconds from demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeatLimits {
    /// Seats the level has before lending or borrowing.
    pub nominal: u64,
    /// Seats left when it has lent all it may.
    pub lower: u64,
    /// Seats it can reach by borrowing every seat other levels may lend.
    pub upper: u64,
}

/// The `workload-low` priority level (where ServiceAccounts land) and the sum of every
/// limited level's shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityLevel {
    /// workload-low's assured / nominal concurrency shares.
    pub shares: u64,
    /// Shares of every limited level.
    pub total_shares: u64,
    /// Queues a flow is dealt (shuffle sharding).
    pub hand_size: u64,
    /// Requests one queue holds.
    pub queue_length_limit: u64,
    /// The seat limits the apiserver reports on `/metrics` (servers with seat borrowing).
    pub reported: Option<SeatLimits>,
}

impl PriorityLevel {
    /// Seats out of `total_seats` (max-requests-inflight + max-mutating-requests-inflight):
    /// ceil(total x shares / total shares).
    pub fn seats(&self, total_seats: u64) -> u64 {
        if self.total_shares == 0 {
            return 0;
        }
        (total_seats * self.shares).div_ceil(self.total_shares)
    }

    /// Requests one flow can have queued: its hand of queues, each full.
    pub fn queued_per_flow(&self) -> u64 {
        self.hand_size * self.queue_length_limit
    }

    /// The model of the 429 onset for one ServiceAccount (one flow), in requests in flight,
    /// and the sentence that explains it. `total_seats` is max-requests-inflight +
    /// max-mutating-requests-inflight when known (the local environment).
    ///
    /// Without seat borrowing (before v1.26) the level's seats are ceil(total x shares /
    /// all shares). With it, the server reports the limits, and when every other level is
    /// idle (as in this experiment) workload-low borrows up to its upper limit, so the
    /// onset is the upper limit plus what the flow may queue.
    pub fn onset_model(&self, total_seats: Option<u64>) -> (Option<f64>, String) {
        let q = self.queued_per_flow();
        let queue = format!(
            "one ServiceAccount is one flow, which may queue hand size x queue length = {} x {} = {q} more",
            self.hand_size, self.queue_length_limit
        );
        match (self.reported, total_seats) {
            (Some(r), _) => (
                Some((r.upper + q) as f64),
                format!(
                    "The apiserver reports workload-low's seat limits (seat borrowing): nominal {} (its {} of {} shares), lower {} when it has lent all it may, upper {} when it borrows every seat the other levels may lend. With the other levels idle it borrows up to the upper limit; {queue}: 429s from {} requests in flight (limits read live from /metrics, queues from the PriorityLevelConfigurations). Without borrowing the nominal seats would give {}.",
                    r.nominal, self.shares, self.total_shares, r.lower, r.upper, r.upper + q, r.nominal + q
                ),
            ),
            (None, Some(total)) => {
                let seats = self.seats(total);
                (
                    Some((seats + q) as f64),
                    format!(
                        "APF gives workload-low ceil({total} x {} / {}) = {seats} seats of the apiserver's {total} (max-requests-inflight + max-mutating-requests-inflight); {queue}: 429s from {} requests in flight (read live from the apiserver's PriorityLevelConfigurations). With the default 400 + 200 the same arithmetic gives {}.",
                        self.shares, self.total_shares, seats + q, self.seats(600) + q
                    ),
                )
            }
            (None, None) => (
                None,
                format!(
                    "The named apiserver's total seats are not visible from outside; workload-low has {} of {} shares and one flow may queue {q} requests.",
                    self.shares, self.total_shares
                ),
            ),
        }
    }
}

/// workload-low's seat limits from an apiserver `/metrics` text (None before seat
/// borrowing, when the gauges do not exist).
pub fn reported_limits(metrics: &str) -> Option<SeatLimits> {
    let read = |name: &str| -> Option<u64> {
        let prefix = format!("{name}{{");
        metrics.lines().find_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (labels, value) = rest.split_once("} ")?;
            labels
                .contains("priority_level=\"workload-low\"")
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
                .map(|v| v as u64)
        })
    };
    Some(SeatLimits {
        nominal: read("apiserver_flowcontrol_nominal_limit_seats")?,
        lower: read("apiserver_flowcontrol_lower_limit_seats")?,
        upper: read("apiserver_flowcontrol_upper_limit_seats")?,
    })
}

/// Extracts the model from a PriorityLevelConfigurationList.
pub fn from_list(list: &Value) -> Option<PriorityLevel> {
    let items = list["items"].as_array()?;
    let shares_of = |it: &Value| -> Option<u64> {
        let l = &it["spec"]["limited"];
        l["nominalConcurrencyShares"]
            .as_u64()
            .or_else(|| l["assuredConcurrencyShares"].as_u64())
    };
    let total_shares: u64 = items
        .iter()
        .filter(|it| it["spec"]["type"] == "Limited")
        .filter_map(shares_of)
        .sum();
    let low = items
        .iter()
        .find(|it| it["metadata"]["name"] == "workload-low")?;
    let q = &low["spec"]["limited"]["limitResponse"]["queuing"];
    Some(PriorityLevel {
        shares: shares_of(low)?,
        total_shares,
        hand_size: q["handSize"].as_u64()?,
        queue_length_limit: q["queueLengthLimit"].as_u64()?,
        reported: None,
    })
}

/// Reads workload-low from the apiserver, trying each flowcontrol API version from newest
/// (v1, 1.29+) to oldest (v1beta1, 1.20); None when APF is off or unreadable.
pub async fn workload_low(admin: &KubeTarget) -> Option<PriorityLevel> {
    for v in ["v1", "v1beta3", "v1beta2", "v1beta1"] {
        let path = format!("/apis/flowcontrol.apiserver.k8s.io/{v}/prioritylevelconfigurations");
        if let Ok((200, list)) = admin.raw("GET", &path, None).await {
            let mut level = from_list(&list)?;
            if let Ok(req) = http::Request::get("/metrics").body(Vec::new()) {
                if let Ok(text) = admin.client().request_text(req).await {
                    level.reported = reported_limits(&text);
                }
            }
            return Some(level);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_and_queues_from_the_1_20_defaults() {
        // kube-apiserver v1.20's default priority levels (v1beta1 field names).
        let level = |name: &str, shares: u64| {
            serde_json::json!({"metadata": {"name": name}, "spec": {"type": "Limited", "limited": {
                "assuredConcurrencyShares": shares,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}})
        };
        let list = serde_json::json!({"items": [
            {"metadata": {"name": "exempt"}, "spec": {"type": "Exempt"}},
            level("system", 30), level("leader-election", 10), level("workload-high", 40),
            level("workload-low", 100), level("global-default", 20), level("catch-all", 5),
        ]});
        let m = from_list(&list).unwrap();
        assert_eq!(m.total_shares, 205);
        assert_eq!(m.shares, 100);
        assert_eq!(m.seats(600), 293);
        assert_eq!(m.seats(30), 15);
        assert_eq!(m.queued_per_flow(), 300);
        assert_eq!(from_list(&serde_json::json!({"items": []})), None);
        let (model, note) = m.onset_model(Some(30));
        assert_eq!(model, Some(315.0));
        assert!(note.contains("= 15 seats"), "{note}");
    }

    #[test]
    fn borrowing_servers_report_their_limits() {
        // What a v1.37 apiserver with the default 400 + 200 reports for workload-low.
        let text = "# TYPE apiserver_flowcontrol_nominal_limit_seats gauge
apiserver_flowcontrol_nominal_limit_seats{priority_level=\"workload-high\"} 98
apiserver_flowcontrol_nominal_limit_seats{priority_level=\"workload-low\"} 245
apiserver_flowcontrol_lower_limit_seats{priority_level=\"workload-low\"} 24
apiserver_flowcontrol_upper_limit_seats{priority_level=\"workload-low\"} 845
";
        let r = reported_limits(text).unwrap();
        assert_eq!((r.nominal, r.lower, r.upper), (245, 24, 845));
        assert_eq!(reported_limits("go_goroutines 7\n"), None);
        let m = PriorityLevel {
            shares: 100,
            total_shares: 245,
            hand_size: 6,
            queue_length_limit: 50,
            reported: Some(r),
        };
        let (model, note) = m.onset_model(Some(600));
        assert_eq!(model, Some(1145.0));
        assert!(note.contains("upper 845"), "{note}");
    }
}
