//! Status written by the steady phase's controllers: what a Cluster API controller's status
//! patch holds after its N-th reconcile of an object.
//!
//! An object is created without status (status is a subresource, so the apiserver drops it
//! on create). Its controller then fills it in over its first reconciles, as provisioning
//! progresses: the phase and the other non-condition fields at once, the conditions a few at
//! a time until all of the kind's condition types are reported, in both sets the version
//! keeps (`conditions` and `v1beta2.conditions` in `v1beta1`; `conditions` and
//! `deprecated.v1beta1.conditions` in `v1beta2`). After that the status keeps its size and
//! each reconcile only moves timestamps (Machine `lastUpdated`, the first condition's
//! `lastTransitionTime`), so every patch is a real write. The apiserver tracks each field
//! the patches set in `metadata.managedFields` (one `fieldsV1` entry per list-map key), so
//! both grow with the number of conditions written.

use serde_json::Value;

/// Reconciles after which an object's status is complete (all condition types reported).
pub const RECONCILES_TO_FULL_STATUS: u32 = 4;

/// The paths of the condition lists inside `status`, whichever version writes them.
const CONDITION_LISTS: [&[&str]; 3] = [
    &["conditions"],
    &["v1beta2", "conditions"],
    &["deprecated", "v1beta1", "conditions"],
];

/// The status merge patch (`{"status": ...}`) of the `reconcile`-th reconcile (0-based) of
/// an object whose complete status is `full` (the `status` of its model body): every
/// non-condition field, the first `ceil(len x (reconcile + 1) / RECONCILES_TO_FULL_STATUS)`
/// entries of each condition list, and `now` (RFC 3339) as the time that moves.
pub fn status_patch(full: &Value, reconcile: u32, now: &str) -> Value {
    let mut status = full.clone();
    let step = reconcile.saturating_add(1).min(RECONCILES_TO_FULL_STATUS) as usize;
    for path in CONDITION_LISTS {
        let Some(Value::Array(list)) = pointer_mut(&mut status, path) else {
            continue;
        };
        let keep = (list.len() * step).div_ceil(RECONCILES_TO_FULL_STATUS as usize);
        list.truncate(keep.max(1));
        // A merge patch replaces a list whole, nulls included: an absent field is written as
        // absent, not as null, and a message is never empty (kube-apiserver v1.20 validates
        // an empty message as null and refuses the patch with a 422: "message in body must
        // be of type string"; later versions accept both).
        for c in list.iter_mut().filter_map(Value::as_object_mut) {
            c.retain(|_, v| !v.is_null());
            if c.get("message").and_then(Value::as_str) == Some("") {
                c.insert("message".into(), "reconciled".into());
            }
        }
        if let Some(first) = list.first_mut().and_then(Value::as_object_mut) {
            first.insert("lastTransitionTime".into(), now.into());
        }
    }
    if let Some(m) = status.as_object_mut() {
        if m.contains_key("lastUpdated") {
            m.insert("lastUpdated".into(), now.into());
        }
    }
    let mut patch = serde_json::Map::new();
    patch.insert("status".into(), status);
    Value::Object(patch)
}

fn pointer_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(*k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conds(n: usize) -> Value {
        (0..n)
            .map(|i| json!({"type": format!("T{i}"), "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}))
            .collect()
    }

    #[test]
    fn conditions_carry_no_nulls_and_no_empty_messages() {
        let full = json!({"v1beta2": {"conditions": [
            {"type": "Ready", "status": "True", "message": null, "lastTransitionTime": "x"}]}});
        let p = status_patch(&full, 3, "2026-01-01T00:00:00Z");
        let c = &p["status"]["v1beta2"]["conditions"][0];
        assert!(c.get("message").is_none(), "{c}");
        assert_eq!(c["type"], "Ready");
        let full = json!({"conditions": [{"type": "Ready", "status": "True", "message": ""}]});
        let p = status_patch(&full, 0, "2026-01-01T00:00:00Z");
        assert_eq!(p["status"]["conditions"][0]["message"], "reconciled");
    }

    #[test]
    fn conditions_grow_to_the_full_status_and_times_move() {
        let full = json!({"phase": "Running", "lastUpdated": "x", "conditions": conds(9),
            "v1beta2": {"conditions": conds(5)}});
        let lens = |p: &Value| {
            (
                p["status"]["conditions"].as_array().unwrap().len(),
                p["status"]["v1beta2"]["conditions"]
                    .as_array()
                    .unwrap()
                    .len(),
            )
        };
        let now = "2026-11-29T10:00:00Z";
        assert_eq!(lens(&status_patch(&full, 0, now)), (3, 2));
        assert_eq!(lens(&status_patch(&full, 1, now)), (5, 3));
        assert_eq!(lens(&status_patch(&full, 2, now)), (7, 4));
        assert_eq!(lens(&status_patch(&full, 3, now)), (9, 5));
        assert_eq!(lens(&status_patch(&full, 1000, now)), (9, 5));
        let p = status_patch(&full, 0, now);
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["status"]["lastUpdated"], now);
        assert_eq!(p["status"]["conditions"][0]["lastTransitionTime"], now);
        assert_eq!(
            p["status"]["conditions"][1]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        // No lastUpdated is invented where the kind has none.
        let p = status_patch(&json!({"conditions": conds(1)}), 5, now);
        assert!(p["status"].get("lastUpdated").is_none());
    }
}
