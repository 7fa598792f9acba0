//! Where a run reads its observations from: a Prometheus named in the profile (checked before
//! any load), or the target's own endpoints (kube-apiserver instances, etcd) scraped
//! directly.

use super::connect::Connected;
use crate::backend::Target;
use crate::error::Error;
use crate::measure::{self, scrape};
use crate::profile::RunPlan;

/// The Prometheus to read the series from, checked: an error when it cannot be used.
pub(super) async fn prometheus_source(
    p: &crate::profile::ObservePrometheus,
) -> Result<measure::prometheus::Prometheus, Error> {
    let prometheus = measure::prometheus::Prometheus::new(&p.url, p.bearer_token_file.as_ref())?
        .with_selector(&p.selector);
    let version = prometheus.check().await?;
    tracing::info!(
        url = %p.url,
        version = %version,
        "reading the apiserver's and etcd's series from Prometheus instead of scraping them"
    );
    Ok(prometheus)
}

/// Where the run is observed from: the target's apiserver, and etcd where the target knows
/// it (local environment, etcd target) or the user named it (`observe.etcd_metrics_url`,
/// `observe.etcd`), or a Prometheus that scrapes them (`observe.prometheus_url`, checked
/// before by [`prometheus_source`]). An etcd that cannot be reached is listed as not
/// observed.
pub(super) async fn observed_sources(
    plan: &RunPlan,
    c: &Connected,
    prometheus: Option<measure::prometheus::Prometheus>,
) -> scrape::Sources {
    let mut sources = scrape::Sources {
        apiserver: c.admin.as_ref().map(|a| a.client().clone()),
        etcd_metrics_url: plan
            .observe
            .etcd_metrics_url
            .clone()
            .or_else(|| c.etcd_metrics_url.clone()),
        etcd: c.etcd.clone(),
        apiserver_pid: c.apiserver_pid(),
        unreachable: Vec::new(),
        apiserver_instances: Vec::new(),
        prometheus: None,
        etcd_members: c.etcd_member_metrics_urls(),
        etcd_member_readings: Default::default(),
    };
    if let Some(prometheus) = prometheus {
        if let Some(u) = &plan.observe.etcd_metrics_url {
            tracing::warn!("etcd's series are read from Prometheus; {u} is not scraped");
        }
        sources.etcd_metrics_url = None;
        sources.prometheus = Some(prometheus);
    } else if let Some(admin) = &c.admin {
        let single_local = c.info.kind == "local" && c.apiserver_urls.len() <= 1;
        let named = if plan.observe.apiserver_urls.is_empty() {
            c.apiserver_urls.clone()
        } else {
            plan.observe.apiserver_urls.clone()
        };
        let through = |why: String| {
            format!(
                "per-instance kube-apiserver series: {why}; /metrics read through {}, where behind a load balancer consecutive scrapes may come from different instances and their deltas mix",
                admin.endpoint()
            )
        };
        if !plan.observe.apiserver_instances {
            sources
                .unreachable
                .push(through("off (observe.apiserver_instances: false)".into()));
        } else if !single_local {
            match Box::pin(scrape_instances(admin, &named)).await {
                Ok(list) if list.is_empty() => {}
                Ok(list) => {
                    tracing::info!(
                        instances = list.len(),
                        "scraping every kube-apiserver instance directly"
                    );
                    sources.apiserver_instances = list;
                }
                Err(why) => sources.unreachable.push(through(why)),
            }
        }
    }
    if let (None, Some(o)) = (&sources.etcd, &plan.observe.etcd) {
        match crate::backend::etcd::EtcdTarget::connect(
            &o.endpoints,
            o.tls.as_ref(),
            plan.client.timeout,
        )
        .await
        {
            Ok(e) => sources.etcd = Some(e),
            Err(e) => sources
                .unreachable
                .push(format!("etcd Status ({}): {e}", o.endpoints.join(","))),
        }
    }
    sources
}

/// The instances named (the profile's, or the local environment's), else those listed in
/// `default/kubernetes`, each reachable; else why not.
async fn scrape_instances(
    admin: &crate::backend::kube::KubeTarget,
    named: &[String],
) -> Result<Vec<(String, kube::Client)>, String> {
    use crate::measure::instances;
    let urls = if named.len() > 1 {
        named.to_vec()
    } else {
        instances::discover(admin).await?
    };
    if urls.is_empty() {
        // Nothing to fall back from (one apiserver, or a cluster that lists none): counters
        // that go backwards between scrapes are reported instead (scrape::run).
        return Ok(Vec::new());
    }
    instances::connect(admin, &urls).await.map_err(|e| {
        format!(
            "{} instance(s) listed, not all reachable from here ({e})",
            urls.len()
        )
    })
}
