//! The apiserver's own account of the managers' calls: an audit log at Metadata level (one
//! JSON line per request, with the user, verb and resource, and nothing of the bodies),
//! read back after the run and counted by manager, step, verb and resource.

use super::CapiError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The audit policy: every request at Metadata level, once it completes.
pub(crate) const POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [\"RequestReceived\"]\nrules:\n- level: Metadata\n";

/// kube-apiserver flags that write the audit log to `log` with the policy at `policy`.
pub(crate) fn apiserver_flags(policy: &Path, log: &Path) -> Vec<String> {
    vec![
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", log.display()),
        "--audit-log-format=json".into(),
        "--audit-log-maxsize=0".into(),
    ]
}

/// Calls of one user in one step, as the apiserver recorded them.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AuditCalls {
    /// In all.
    pub total: u64,
    /// By verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, …).
    pub verbs: BTreeMap<String, u64>,
    /// By `verb resource[/subresource]`.
    pub resources: BTreeMap<String, u64>,
    /// Answered 404.
    pub not_found: u64,
    /// Answered 429.
    pub too_many_requests: u64,
}

/// Audit counts: user → step → calls, and the log's size.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AuditSummary {
    /// Requests recorded (every user).
    pub events: u64,
    /// Bytes of log (its cost: one line per request).
    pub bytes: u64,
    /// Per user, per step.
    pub users: BTreeMap<String, BTreeMap<String, AuditCalls>>,
}

/// Step boundaries: name and end time (RFC 3339 microseconds compare as strings).
pub(crate) type Steps = [(String, chrono::DateTime<chrono::Utc>)];

/// Reads the audit log, counting each request once (watches when they start, everything else
/// when it completes), into the step whose end follows its arrival.
pub(crate) fn read(log: &Path, steps: &Steps, users: &[String]) -> Result<AuditSummary, CapiError> {
    let text = std::fs::read_to_string(log).map_err(|e| CapiError::io(log, e))?;
    let mut out = AuditSummary {
        bytes: text.len() as u64,
        ..AuditSummary::default()
    };
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let verb = ev["verb"].as_str().unwrap_or("");
        let stage = ev["stage"].as_str().unwrap_or("");
        let counted = if verb == "watch" {
            stage == "ResponseStarted"
        } else {
            stage == "ResponseComplete" || stage == "Panic"
        };
        if !counted {
            continue;
        }
        out.events += 1;
        let user = ev["user"]["username"].as_str().unwrap_or("");
        if !users.iter().any(|u| u == user) {
            continue;
        }
        let at = ev["requestReceivedTimestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let Some(at) = at else { continue };
        let Some((step, _)) = steps.iter().find(|(_, end)| at <= *end) else {
            continue;
        };
        let c = out
            .users
            .entry(user.to_string())
            .or_default()
            .entry(step.clone())
            .or_default();
        c.total += 1;
        *c.verbs.entry(verb.to_string()).or_default() += 1;
        let r = &ev["objectRef"];
        let resource = match (r["resource"].as_str(), r["subresource"].as_str()) {
            (Some(res), Some(sub)) => format!("{verb} {res}/{sub}"),
            (Some(res), None) => format!("{verb} {res}"),
            _ => format!("{verb} {}", ev["requestURI"].as_str().unwrap_or("?")),
        };
        *c.resources.entry(resource).or_default() += 1;
        match ev["responseStatus"]["code"].as_u64() {
            Some(404) => c.not_found += 1,
            Some(429) => c.too_many_requests += 1,
            _ => {}
        }
    }
    Ok(out)
}

/// The resource a manager calls most per provisioned cluster.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BusiestKind {
    /// The resource (plural; subresources counted with it).
    pub resource: String,
    /// Its calls per cluster provisioned.
    pub calls_per_cluster: f64,
}

/// The resource with the most calls per cluster (subresources and every verb counted with
/// it; watches are long-lived and left out) among `c`'s, over `clusters`.
pub(crate) fn busiest_kind(c: &AuditCalls, clusters: u64) -> Option<BusiestKind> {
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, n) in &c.resources {
        let Some((verb, res)) = k.split_once(' ') else {
            continue;
        };
        if verb == "watch" {
            continue;
        }
        *per.entry(res.split('/').next().unwrap_or(res)).or_default() += n;
    }
    per.into_iter()
        .max_by_key(|(_, n)| *n)
        .filter(|_| clusters > 0)
        .map(|(r, n)| BusiestKind {
            resource: r.to_string(),
            calls_per_cluster: n as f64 / clusters as f64,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_request_once_in_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let ev = |stage: &str, verb: &str, t: &str, code: u64| {
            format!(
                r#"{{"stage":"{stage}","verb":"{verb}","user":{{"username":"sa:core"}},"requestReceivedTimestamp":"{t}","objectRef":{{"resource":"secrets","subresource":null}},"responseStatus":{{"code":{code}}}}}"#
            )
        };
        let lines = [
            ev(
                "ResponseComplete",
                "delete",
                "2026-01-01T00:00:01.000000Z",
                404,
            ),
            ev(
                "ResponseStarted",
                "watch",
                "2026-01-01T00:00:01.500000Z",
                200,
            ),
            ev(
                "ResponseComplete",
                "watch",
                "2026-01-01T00:00:01.500000Z",
                200,
            ),
            ev(
                "ResponseComplete",
                "patch",
                "2026-01-01T00:00:03.000000Z",
                200,
            ),
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let steps = vec![
            ("startup".to_string(), t("2026-01-01T00:00:02Z")),
            ("provision".to_string(), t("2026-01-01T00:00:04Z")),
        ];
        let a = read(&log, &steps, &["sa:core".to_string()]).unwrap();
        assert_eq!(a.events, 3);
        let u = &a.users["sa:core"];
        assert_eq!(u["startup"].total, 2);
        assert_eq!(u["startup"].not_found, 1);
        assert_eq!(u["startup"].resources["delete secrets"], 1);
        assert_eq!(u["provision"].verbs["patch"], 1);
        let b = busiest_kind(&u["startup"], 2).unwrap();
        assert_eq!((b.resource.as_str(), b.calls_per_cluster), ("secrets", 0.5));
    }
}
