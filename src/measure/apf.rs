//! What API Priority and Fairness allows one ServiceAccount, read from the live apiserver's
//! PriorityLevelConfigurations (Kubernetes docs, "API Priority and Fairness",
//! <https://kubernetes.io/docs/concepts/cluster-administration/flow-control/>): the model
//! behind the 429-onset breakpoint.

use crate::target::kube::KubeTarget;
use serde_json::Value;

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
    })
}

/// Reads workload-low from the apiserver, trying each flowcontrol API version from newest
/// (v1, 1.29+) to oldest (v1beta1, 1.20); None when APF is off or unreadable.
pub async fn workload_low(admin: &KubeTarget) -> Option<PriorityLevel> {
    for v in ["v1", "v1beta3", "v1beta2", "v1beta1"] {
        let path = format!("/apis/flowcontrol.apiserver.k8s.io/{v}/prioritylevelconfigurations");
        if let Ok((200, list)) = admin.raw("GET", &path, None).await {
            return from_list(&list);
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
    }
}
