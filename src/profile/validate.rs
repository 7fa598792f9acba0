//! Every cross-field check, in one place: a parsed [`Profile`] becomes a [`RunPlan`] or an error
//! naming the field.

use super::fields::positive;
use super::run_plan::*;
use super::types::*;
use super::ProfileError;
use crate::model::{CapiVersion, ClusterSecret, FleetSpec, Kind, PayloadSizes, Provider};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 24
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// Exactly `v<major>.<minor>.<patch>` (v1.30.4), as the model writes it into objects.
fn is_kubernetes_version(v: &str) -> bool {
    let parts: Vec<&str> = v.strip_prefix('v').unwrap_or("").split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.len() <= 63
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

fn client_plan(c: &ClientSection, err: Err) -> Result<(ClientPlan, u64), ProfileError> {
    let (qps, burst, conc, preset): (f64, u64, u64, Option<&str>) = match c.preset {
        None | Some(ClientPreset::ClientGo) => (5.0, 10, 10, c.preset.map(|_| "client-go")),
        Some(ClientPreset::Capi15) => (20.0, 30, 10, Some("capi-1.5")),
        Some(ClientPreset::Capi113) => (100.0, 200, 50, Some("capi-1.13")),
        Some(ClientPreset::ControllerRuntime021) => (-1.0, 0, 10, Some("controller-runtime-0.21")),
    };
    let qps = c.qps.unwrap_or(qps);
    let qps = if qps == -1.0 {
        None
    } else if qps.is_finite() && qps > 0.0 && qps <= 1_000_000.0 {
        Some(qps)
    } else {
        return Err(err(
            "client.qps",
            format!("{qps} is not allowed: use a rate > 0 (at most 1000000) or -1 for unlimited"),
        ));
    };
    let burst = match (qps, c.burst) {
        (None, None) => 0,
        (_, b) => positive(err, "client.burst", b, burst.max(1), 1_000_000)?,
    };
    let pool_size = positive(err, "client.pool_size", c.pool_size, 1, 1024)? as usize;
    let timeout = c.timeout_seconds.unwrap_or(30.0);
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 3600.0) {
        return Err(err(
            "client.timeout_seconds",
            format!("{timeout} must be > 0 and at most 3600"),
        ));
    }
    Ok((
        ClientPlan {
            pool_size,
            qps,
            burst: burst as u32,
            timeout: Duration::from_secs_f64(timeout),
            preset: preset.map(str::to_string),
            max_retries: match c.max_retries {
                Some(n) if n > 100 => {
                    return Err(err(
                        "client.max_retries",
                        format!("{n} is too large (at most 100)"),
                    ))
                }
                Some(n) => n,
                None => CLIENT_GO_MAX_RETRIES,
            },
        },
        conc,
    ))
}

fn payload(p: &PayloadSection, err: Err) -> Result<PayloadSizes, ProfileError> {
    let mut sizes = PayloadSizes::default();
    let limit = ETCD_MAX_REQUEST_BYTES - 64 * 1024; // leave room for the object itself
    if let Some(b) = p.bootstrap_data {
        if b > limit {
            return Err(err("fleet.payload_bytes.bootstrap_data", format!("{b} bytes would exceed etcd's request limit of {ETCD_MAX_REQUEST_BYTES} bytes (1.5 MiB)")));
        }
        sizes.bootstrap_data_bytes = b as usize;
    }
    let extra = [
        ("cluster", Kind::Cluster, p.cluster),
        ("infra_cluster", Kind::InfraCluster, p.infra_cluster),
        (
            "kubeadm_control_plane",
            Kind::KubeadmControlPlane,
            p.kubeadm_control_plane,
        ),
        (
            "machine_deployment",
            Kind::MachineDeployment,
            p.machine_deployment,
        ),
        ("machine_set", Kind::MachineSet, p.machine_set),
        ("machine", Kind::Machine, p.machine),
        ("kubeadm_config", Kind::KubeadmConfig, p.kubeadm_config),
        ("infra_machine", Kind::InfraMachine, p.infra_machine),
        ("secret", Kind::Secret, p.secret),
    ];
    for (name, kind, v) in extra {
        if let Some(b) = v {
            let bootstrap = if kind == Kind::Secret {
                sizes.bootstrap_data_bytes as u64 * 4 / 3
            } else {
                0
            };
            if b + bootstrap > limit {
                return Err(err(&format!("fleet.payload_bytes.{name}"), format!("{b} bytes would make a {name} object exceed etcd's request limit of {ETCD_MAX_REQUEST_BYTES} bytes (1.5 MiB)")));
            }
            sizes.extra.insert(kind, b as usize);
        }
    }
    Ok(sizes)
}

/// Validates `p` into a plan. `err(field, message)` builds a located error.
pub fn validate(
    mut p: Profile,
    o: &Overrides,
    err: Err,
    source: &Path,
) -> Result<RunPlan, ProfileError> {
    let f = &p.fleet;
    let clusters = o.clusters.or(Some(f.clusters));
    let clusters = positive(err, "fleet.clusters", clusters, 1, 10_000_000)?;
    let per_ns = positive(
        err,
        "fleet.clusters_per_namespace",
        f.clusters_per_namespace,
        1,
        1_000_000,
    )?;
    let cp = positive(
        err,
        "fleet.control_plane_replicas",
        f.control_plane_replicas,
        3,
        15,
    )?;
    if cp % 2 == 0 {
        return Err(err("fleet.control_plane_replicas", format!("{cp} is even: KubeadmControlPlane with stacked etcd accepts only odd replica counts")));
    }
    let mds = f.machine_deployments.unwrap_or(1);
    // No MachineDeployments means no workers unless the profile asks for some.
    let workers = f
        .workers_per_machine_deployment
        .unwrap_or(if mds == 0 { 0 } else { 3 });
    if mds > 100 {
        return Err(err(
            "fleet.machine_deployments",
            format!("{mds} is too large (at most 100)"),
        ));
    }
    if workers > 100_000 {
        return Err(err(
            "fleet.workers_per_machine_deployment",
            format!("{workers} is too large (at most 100000)"),
        ));
    }
    if workers > 0 && mds == 0 {
        return Err(err(
            "fleet.workers_per_machine_deployment",
            "workers need at least one MachineDeployment (fleet.machine_deployments is 0)".into(),
        ));
    }
    let api_group = f
        .api_group
        .clone()
        .unwrap_or_else(|| "loadtest.cluster.x-k8s.io".into());
    if !valid_dns_subdomain(&api_group) {
        return Err(err(
            "fleet.api_group",
            format!(
                "`{api_group}` is not a DNS subdomain with a dot (e.g. loadtest.cluster.x-k8s.io)"
            ),
        ));
    }
    let install_crds = f.install_crds.unwrap_or(api_group != "cluster.x-k8s.io");
    if install_crds && api_group == "cluster.x-k8s.io" {
        return Err(err("fleet.install_crds", "refusing to install CRDs into the real Cluster API group cluster.x-k8s.io: set install_crds: false (the cluster must already have CAPI's CRDs) or use another api_group".into()));
    }
    let kubernetes_version = f
        .kubernetes_version
        .clone()
        .unwrap_or_else(|| "v1.30.4".into());
    if !is_kubernetes_version(&kubernetes_version) {
        return Err(err(
            "fleet.kubernetes_version",
            format!("`{kubernetes_version}` must look like v1.30.4"),
        ));
    }
    let cluster_secrets = f.cluster_secrets.clone().unwrap_or_else(|| {
        vec![
            ClusterSecret::Kubeconfig,
            ClusterSecret::Ca,
            ClusterSecret::Etcd,
            ClusterSecret::Sa,
            ClusterSecret::Proxy,
        ]
    });
    for (i, s) in cluster_secrets.iter().enumerate() {
        if cluster_secrets[..i].contains(s) {
            return Err(err(
                "fleet.cluster_secrets",
                format!(
                    "`{}` is listed twice (each Secret exists once per cluster)",
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    let provider = f.provider.unwrap_or(Provider::Metal3);
    let capi_version = f.capi_version.unwrap_or(CapiVersion::V1beta1);
    let provider_api_version =
        super::provider_version::resolve(provider, capi_version, f.provider_api_version, err)?;
    let run_id = o.run_id.clone().unwrap_or_else(new_run_id);
    if !valid_run_id(&run_id) {
        return Err(err(
            "run_id",
            format!("`{run_id}` must be 1-24 characters of a-z, 0-9 and '-'"),
        ));
    }
    let fleet = FleetSpec {
        run_id: run_id.clone(),
        clusters,
        clusters_per_namespace: per_ns,
        control_plane_replicas: cp as u32,
        machine_deployments: mds as u32,
        workers_per_machine_deployment: workers as u32,
        provider,
        api_group,
        capi_version,
        provider_api_version,
        cluster_secrets,
        kubernetes_version,
        payload: payload(&f.payload_bytes, err)?,
        shard: Default::default(),
        crd_schemas: super::crd_dir::crd_schemas(f, err)?,
        topology: false,
        machine_health_checks: false,
        machine_pools: 0,
        machine_pool_replicas: 0,
    };
    let fleet = super::class_era::apply(f, fleet, err)?;
    super::crd_dir::check(&fleet, err)?;
    let per_cluster: u64 = fleet.objects_per_cluster().values().sum();
    if per_cluster
        .checked_mul(clusters)
        .is_none_or(|t| t > MAX_TOTAL_OBJECTS)
    {
        return Err(err("fleet.clusters", format!("{clusters} clusters x {per_cluster} objects is more than {MAX_TOTAL_OBJECTS} objects")));
    }

    let (client, preset_conc) = client_plan(&p.client, err)?;
    let phases = super::phases::validate(&p.phases, preset_conc, &client, err)?;
    let sweep = super::sweep_section::sweep_plan(p.sweep.take(), err)?;
    let flags = o;
    let observe = {
        let o = &p.observe;
        let interval = o.interval_seconds.unwrap_or(5.0);
        if !(interval.is_finite() && (0.2..=3600.0).contains(&interval)) {
            return Err(err(
                "observe.interval_seconds",
                format!("{interval} must be between 0.2 and 3600"),
            ));
        }
        let mut thresholds = std::collections::BTreeMap::new();
        for (check, t) in o.thresholds.clone().unwrap_or_default() {
            let field = format!("observe.thresholds.{check}");
            if !crate::thresholds::DEFAULTS
                .iter()
                .any(|(c, _, _)| *c == check)
            {
                let all: Vec<&str> = crate::thresholds::DEFAULTS
                    .iter()
                    .map(|(c, _, _)| *c)
                    .collect();
                return Err(err(
                    &field,
                    format!("unknown check (one of {})", all.join(", ")),
                ));
            }
            match t.as_slice() {
                [w, d, c] if *w >= 0.0 && c.is_finite() && w <= d && d <= c => {
                    thresholds.insert(check, [*w, *d, *c]);
                }
                _ => {
                    return Err(err(
                        &field,
                        "must be [warning, degraded, critical]: finite, >= 0, ascending".into(),
                    ))
                }
            }
        }
        let settle = o
            .memory_settle_seconds
            .unwrap_or(DEFAULT_MEMORY_SETTLE_SECONDS);
        if !(settle.is_finite() && (0.0..=600.0).contains(&settle)) {
            return Err(err(
                "observe.memory_settle_seconds",
                format!("{settle} must be between 0 and 600"),
            ));
        }
        let limits = o
            .apiserver_memory_limits_bytes
            .clone()
            .unwrap_or(DEFAULT_APISERVER_MEMORY_LIMITS.to_vec());
        if limits.is_empty()
            || limits.len() > 8
            || limits.iter().any(|l| *l < 1 << 20)
            || limits.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(err(
                "observe.apiserver_memory_limits_bytes",
                "must be 1 to 8 ascending sizes in bytes, each at least 1048576 (1 MiB), e.g. [8589934592, 17179869184]".into(),
            ));
        }
        ObservePlan {
            memory_settle: Duration::from_secs_f64(settle),
            apiserver_memory_limits_bytes: limits,
            interval: o
                .enabled
                .unwrap_or(true)
                .then(|| Duration::from_secs_f64(interval)),
            etcd_quota_bytes: match o.etcd_quota_bytes {
                Some(0) => {
                    return Err(err(
                        "observe.etcd_quota_bytes",
                        "must be > 0 (etcd's default is 2147483648, 2 GiB)".into(),
                    ))
                }
                q => q,
            },
            thresholds,
            etcd_metrics_url: super::observe::metrics_url(
                o.etcd_metrics_url.as_deref(),
                flags.etcd_metrics_url.as_deref(),
                err,
            )?,
            etcd: super::observe::etcd(o.etcd.as_ref(), err)?,
            apiserver_instances: o.apiserver_instances.unwrap_or(true),
            apiserver_urls: super::observe::apiserver_urls(o.apiserver_urls.as_deref(), err)?,
            prometheus: super::observe::prometheus(o, flags, err)?,
        }
    };
    let watchers = match &p.watchers {
        None => None,
        Some(w) => {
            let count = match w.count {
                None => {
                    return Err(err(
                        "watchers.count",
                        "is required (watches per kind)".into(),
                    ))
                }
                Some(n) if n == 0 || n > 100_000 => {
                    return Err(err(
                        "watchers.count",
                        format!("{n} must be between 1 and 100000"),
                    ))
                }
                Some(n) => n as usize,
            };
            let mut kinds = Vec::new();
            for k in w.kinds.clone().unwrap_or_else(|| vec!["machine".into()]) {
                match Kind::from_label(&k) {
                    Some(kind) if kinds.contains(&kind) => {
                        return Err(err("watchers.kinds", format!("`{k}` is listed twice")));
                    }
                    Some(kind) => kinds.push(kind),
                    None => {
                        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.label()).collect();
                        return Err(err(
                            "watchers.kinds",
                            format!("unknown kind `{k}` (one of {})", all.join(", ")),
                        ));
                    }
                }
            }
            if kinds.is_empty() {
                return Err(err("watchers.kinds", "is empty".into()));
            }
            Some(WatchPlan {
                count,
                kinds,
                per_namespace: w.scope == Some(WatchScope::Namespace),
            })
        }
    };

    let management_clusters = match p.local.as_ref().and_then(|l| l.management_clusters) {
        None => 1,
        Some(m) if (1..=8).contains(&m) && m <= fleet.namespace_count() => m,
        Some(m) if m > fleet.namespace_count() => {
            return Err(err(
                "local.management_clusters",
                format!(
                    "{m}: the fleet has {} namespace(s) and is split by namespace",
                    fleet.namespace_count()
                ),
            ))
        }
        Some(m) => {
            return Err(err(
                "local.management_clusters",
                format!("{m} must be between 1 and 8"),
            ))
        }
    };
    let mut target = super::target::target_plan(&p.target, p.local.take(), o, err)?;
    let faults = super::faults::plan(
        &p.faults,
        match &mut target {
            TargetPlan::Local(l) => Some(l),
            _ => None,
        },
        err,
    )?;
    if !faults.is_empty() && management_clusters > 1 {
        return Err(err(
            "faults",
            "apply to one management cluster's etcd (local.management_clusters is above 1)".into(),
        ));
    }
    let mut webhooks =
        super::webhooks::webhook_plan(p.webhooks.as_ref(), o.webhook_host.as_deref(), err)?;
    if let (Some(w), Some(section)) = (webhooks.as_mut(), p.webhooks.as_ref()) {
        super::webhooks::fit_to_fleet(w, section, &fleet, err)?;
    }
    if webhooks.is_some() && matches!(target, TargetPlan::Etcd { .. }) {
        return Err(err(
            "webhooks",
            "a bare etcd target has no kube-apiserver to call webhooks".into(),
        ));
    }

    let capi_controllers = super::capi_controllers::plan(p.capi_controllers.as_ref(), err)?;
    if capi_controllers.is_some() && !matches!(target, TargetPlan::Local(_)) {
        return Err(err(
            "capi_controllers",
            "the real managers run only on the local environment (target.type: local): their webhooks listen on 127.0.0.1, which a remote apiserver or a kind node cannot call".into(),
        ));
    }
    if capi_controllers.is_some() && management_clusters > 1 {
        return Err(err(
            "capi_controllers",
            "runs on one management cluster (CAPD's in-memory backend takes fixed ports: one per machine)".into(),
        ));
    }
    let name = p.name.clone().unwrap_or_else(|| {
        source
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "profile".into())
    });
    let out_dir = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&run_id));
    Ok(RunPlan {
        source: source.to_path_buf(),
        name,
        description: p.description,
        run_id,
        fleet,
        install_crds,
        discover_provider_version: f.provider_api_version.is_none(),
        warm_up: f.warm_up.unwrap_or(true),
        target,
        client,
        phases,
        watchers,
        observe,
        fail_on: o.fail_on,
        max_failure_ratio: o.max_failure_ratio,
        metrics: o.metrics,
        out_dir,
        sweep,
        on_target_failure: p.on_target_failure.unwrap_or_default(),
        management_clusters,
        output: o.output,
        junit: o.junit.clone(),
        log_progress: o
            .log_progress
            .unwrap_or(Duration::from_secs_f64(DEFAULT_LOG_PROGRESS_SECONDS)),
        webhooks,
        capi_controllers,
        faults,
    })
}
