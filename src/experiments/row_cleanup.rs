//! After each breakpoints row on a named target (a kubeconfig or an etcd): delete what the
//! row's runs wrote, by their run-id labels, so the next row does not measure on top of a
//! fleet of hundreds of clusters. The local environment needs none of this: each
//! experiment there starts its own.
//!
//! A row's runs carry run ids derived from the suite's (`<suite id>-<row>`, sweep points
//! `<suite id>-<row>-pNN`, …), and every namespace the tool creates is named
//! `clg-<run id>-<index>`: the run ids to clean are those of the namespaces that begin with
//! the suite's id.

use crate::backend::Target;
use crate::engine::cleanup::Selection;
use crate::error::Error;
use crate::model::{FleetSpec, Kind};
use crate::profile::{ClientPlan, TargetPlan, CLIENT_GO_MAX_RETRIES};
use crate::runner::cleanup::{cleanup, CleanupRequest};
use crate::runner::{connect, Load};
use std::collections::BTreeSet;
use std::time::Duration;

/// Request timeout of the cleanup clients.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Deletes in flight.
const CONCURRENCY: usize = 32;

/// The run id of a namespace the tool named `clg-<run id>-<5-digit index>`.
pub fn run_id_of_namespace(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("clg-")?;
    let (id, index) = rest.rsplit_once('-')?;
    (index.len() == 5 && index.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// The run ids on the target that belong to the suite `suite_id` (the id itself, or one
/// that begins with `<suite_id>-`).
async fn suite_run_ids(target: &TargetPlan, suite_id: &str) -> Result<BTreeSet<String>, Error> {
    let mut c = connect(target, 1, TIMEOUT, "cleanup").await?;
    let ns_api = FleetSpec::example("x").api_ref(Kind::Namespace);
    let selector = Selection::AllRuns.selector();
    let listed = match &c.load {
        Load::Kube(t) => t[0].list_names(&ns_api, None, &selector).await,
        Load::Etcd(t) => t[0].list_names(&ns_api, None, &selector).await,
    };
    c.close().await;
    let names = listed.map_err(|e| {
        Error::setup(
            &c.info.endpoint,
            format_args!("listing the suite's namespaces failed: {}", e.label()),
        )
    })?;
    let prefix = format!("{suite_id}-");
    Ok(names
        .iter()
        .filter_map(|(_, n)| run_id_of_namespace(n))
        .filter(|id| *id == suite_id || id.starts_with(&prefix))
        .map(String::from)
        .collect())
}

/// Deletes every object of the suite's runs on `target`; returns the line saying what went.
pub async fn clean_suite_runs(
    target: &TargetPlan,
    api_group: &str,
    suite_id: &str,
) -> Result<String, Error> {
    let ids = suite_run_ids(target, suite_id).await?;
    if ids.is_empty() {
        return Ok("nothing of the suite's runs left on the target".into());
    }
    let (mut objects, mut namespaces) = (0u64, 0u64);
    for id in &ids {
        let report = cleanup(&CleanupRequest {
            target: target.clone(),
            selection: Selection::Run(id.clone()),
            api_group: api_group.to_string(),
            client: ClientPlan {
                pool_size: 4,
                qps: None,
                burst: 100,
                timeout: TIMEOUT,
                preset: None,
                max_retries: CLIENT_GO_MAX_RETRIES,
            },
            concurrency: CONCURRENCY,
        })
        .await?
        .into_result()?;
        objects += report.deleted.by_kind.values().sum::<u64>();
        namespaces += report.namespaces_deleted;
    }
    Ok(format!(
        "cleaned up after the row: {objects} objects and {namespaces} namespaces of run(s) {}",
        ids.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_give_their_run_id() {
        assert_eq!(
            run_id_of_namespace("clg-bp1-cq-p03-00012"),
            Some("bp1-cq-p03")
        );
        assert_eq!(run_id_of_namespace("clg-x-00000"), Some("x"));
        assert_eq!(run_id_of_namespace("kube-system"), None);
        assert_eq!(run_id_of_namespace("clg-x-12"), None);
    }
}
