//! Where the scraper looks: the target's apiserver, etcd and processes.

/// Where to look.
#[derive(Clone, Default)]
pub struct Sources {
    /// kube-apiserver (its `/metrics`).
    pub apiserver: Option<kube::Client>,
    /// etcd's metrics URL (`http://127.0.0.1:2381/metrics`).
    pub etcd_metrics_url: Option<String>,
    /// etcd itself (its `Status`).
    pub etcd: Option<crate::backend::etcd::EtcdTarget>,
    /// The kube-apiserver process, when it runs on this machine (the local environment):
    /// its resident set is read from `/proc/<pid>/status`.
    pub apiserver_pid: Option<u32>,
    /// Sources named by the user that could not be reached before the run, with why
    /// (listed as not observed).
    pub unreachable: Vec<String>,
    /// Each kube-apiserver instance, scraped directly (URL, client); empty: `/metrics`
    /// through `apiserver` ([`super::instances`]).
    pub apiserver_instances: Vec<(String, kube::Client)>,
    /// A Prometheus to read every `/metrics` series from instead of scraping
    /// (`observe.prometheus_url`).
    pub prometheus: Option<super::prometheus::Prometheus>,
    /// Every member of an etcd cluster (`local.etcd_members`), scraped instead of
    /// `etcd_metrics_url` and combined as [`super::prometheus::snapshot::combine_etcd`]
    /// does; a member that does not answer (killed, stopped) counts with its last reading.
    pub etcd_members: Vec<String>,
    /// Each member's last reading.
    pub etcd_member_readings: std::sync::Arc<
        std::sync::Mutex<std::collections::BTreeMap<String, super::metrics::Snapshot>>,
    >,
}
