//! Recovering an etcd that ran out of quota (NOSPACE), as an operator would: used by the
//! breakpoints suite's fill experiment and by `run --recover`.

use super::cleanup::{cleanup, CleanupRequest};
use super::connect::Connected;
use crate::engine::cleanup::Selection;
use crate::error::{Error, UsageError};
use crate::model;
use crate::profile::{ClientPlan, TargetPlan, CLIENT_GO_MAX_RETRIES};
use std::path::PathBuf;

/// What the recovery did (`recovery.json` after `run --recover`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Recovery {
    /// Whether the NOSPACE alarm was armed when recovery started.
    pub armed: bool,
    /// etcd's db size then (bytes).
    pub db_full: u64,
    /// etcd's db size after compact + defragment (bytes).
    pub db_after: u64,
    /// Whether every object of the run was deleted.
    pub deleted_ok: bool,
    /// Whether a write after the recovery succeeded.
    pub write_ok: bool,
    /// Wall seconds the recovery took.
    pub seconds: f64,
}

/// Makes the target's etcd usable again after NOSPACE: deletes the run's objects (by its
/// label, through etcd, which accepts deletes under the alarm), compacts, defragments,
/// disarms, then proves it with a write (through the apiserver when there is one, else a
/// probe key in etcd) that it removes again.
pub async fn recover(c: &Connected, run_id: &str, api_group: &str) -> Result<Recovery, Error> {
    let t = std::time::Instant::now();
    let etcd = c
        .etcd
        .clone()
        .ok_or_else(|| {
            Error::Usage(UsageError::Combination(
                "--recover needs etcd: the local environment or an etcd target (a kubeconfig does not reach etcd)",
            ))
        })?;
    let failed = |e: crate::backend::RequestError| Error::TargetFailed {
        reason: format!("etcd recovery: {e:?}"),
        dir: PathBuf::from("-"),
    };
    let db_full = etcd.status().await.map_err(failed)?.db_size;
    let armed = etcd.nospace_armed().await.map_err(failed)?;
    // Deletes are accepted under the alarm: free the run's objects (by its label) first,
    // through etcd itself, as an operator would with the apiserver refusing writes.
    let deleted = cleanup(&CleanupRequest {
        target: TargetPlan::Etcd {
            endpoints: vec![crate::backend::Target::endpoint(&etcd)],
            tls: None,
            local: Default::default(),
            allow: Vec::new(),
        },
        selection: Selection::Run(run_id.to_string()),
        api_group: api_group.to_string(),
        client: ClientPlan {
            pool_size: 4,
            qps: None,
            burst: 100,
            timeout: std::time::Duration::from_secs(30),
            preset: None,
            max_retries: CLIENT_GO_MAX_RETRIES,
        },
        concurrency: 64,
    })
    .await
    .and_then(|r| {
        print!("{}", r.render());
        r.into_result()
    });
    let after = etcd.recover_space().await.map_err(failed)?;
    // Usable again: a write through the apiserver, then its removal.
    let write_ok = match &c.admin {
        Some(a) => {
            let name = format!("capi-loadgen-probe-{}", run_id.to_lowercase());
            let body = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {model::RUN_ID_LABEL: run_id}},
                "data": {"probe": "written after compact, defrag and disarm"}
            });
            let created = a
                .raw("POST", "/api/v1/namespaces/default/configmaps", Some(&body))
                .await;
            let ok = matches!(created, Ok((201, _)));
            let _ = a
                .raw(
                    "DELETE",
                    &format!("/api/v1/namespaces/default/configmaps/{name}"),
                    None,
                )
                .await;
            ok
        }
        None => {
            let key = format!("/capi-loadgen/probe/{run_id}");
            let mut kv = etcd.client();
            let ok = kv
                .put(
                    key.clone(),
                    "written after compact, defrag and disarm",
                    None,
                )
                .await
                .is_ok();
            let _ = kv.delete(key, None).await;
            ok
        }
    };
    Ok(Recovery {
        armed,
        db_full,
        db_after: after.db_size,
        deleted_ok: deleted.is_ok(),
        write_ok,
        seconds: t.elapsed().as_secs_f64(),
    })
}
