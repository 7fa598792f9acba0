//! Validation of `target:` and `local:` into [`TargetPlan`]: where the load goes, and the
//! local environment's settings.

use super::fields::positive;
use super::run_plan::TargetPlan;
use super::types::*;
use super::ProfileError;
use crate::env::assets::{Version, Wanted};
use crate::env::LocalOptions;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

fn check_args(err: Err, field: &str, args: &[String]) -> Result<(), ProfileError> {
    for a in args {
        if !a.starts_with("--") || a.len() < 3 {
            return Err(err(field, format!("`{a}` must look like --flag=value")));
        }
    }
    Ok(())
}

fn local_options(l: LocalSection, o: &Overrides, err: Err) -> Result<LocalOptions, ProfileError> {
    check_args(err, "local.apiserver.extra_args", &l.apiserver.extra_args)?;
    check_args(err, "local.etcd.extra_args", &l.etcd.extra_args)?;
    let inflight = |field: &str, v: Option<u64>| -> Result<Option<u32>, ProfileError> {
        v.map(|n| positive(err, field, Some(n), 1, 100_000).map(|n| n as u32))
            .transpose()
    };
    let (members, rtt_ms) = (l.etcd_members, l.etcd_rtt_ms);
    let quota = l.etcd.quota_backend_bytes;
    if let Some(q) = quota {
        if !(16 * 1024 * 1024..=8 * 1024 * 1024 * 1024).contains(&q) {
            return Err(err("local.etcd.quota_backend_bytes", format!("{q} must be between 16 MiB (16777216) and 8 GiB (8589934592), etcd's suggested maximum")));
        }
    }
    let version = |field: &str, example: &str, flag: &Option<String>, v: &Option<String>| {
        let (field, text) = match (flag, v) {
            (Some(f), _) => (format!("--{}", field.replace('_', "-")), f),
            (None, Some(v)) => (format!("local.{field}"), v),
            (None, None) => return Ok(None),
        };
        Version::parse_exact(text).map(Some).ok_or_else(|| {
            err(
                &field,
                format!("`{}` must be a version like {example}", text.escape_debug()),
            )
        })
    };
    let versions = Wanted {
        kubernetes: version(
            "kubernetes_version",
            "v1.37.2",
            &o.kubernetes_version,
            &l.kubernetes_version,
        )?,
        etcd: version("etcd_version", "v3.6.16", &o.etcd_version, &l.etcd_version)?,
    };
    let constraints = super::constraints::local_constraints(
        super::constraints::LocalFields {
            etcd_fsync_delay_ms: l.etcd_fsync_delay_ms,
            etcd_fsync_backing: l.etcd_fsync_backing,
            apiserver_memory_limit: l.apiserver_memory_limit.as_ref(),
            apiserver_gomemlimit: l.apiserver_gomemlimit.as_ref(),
            apiservers: l.apiservers,
        },
        err,
    )?;
    let mut opts = LocalOptions {
        etcd_fsync_delay_ms: constraints.delay_ms,
        etcd_fsync_in_memory: constraints.in_memory,
        apiserver_memory: constraints.memory,
        versions,
        state_dir: o.state_dir.clone().or(l.state_dir).unwrap_or_default(),
        max_requests_inflight: inflight(
            "local.apiserver.max_requests_inflight",
            l.apiserver.max_requests_inflight,
        )?,
        max_mutating_requests_inflight: inflight(
            "local.apiserver.max_mutating_requests_inflight",
            l.apiserver.max_mutating_requests_inflight,
        )?,
        apiserver_extra_args: l.apiserver.extra_args,
        quota_backend_bytes: quota,
        etcd_extra_args: l.etcd.extra_args,
        detach: false,
        apiservers: match l.apiservers {
            None => 1,
            Some(n @ 1..=5) => n as u32,
            Some(n) => {
                return Err(err(
                    "local.apiservers",
                    format!("{n} must be between 1 and 5"),
                ))
            }
        },
        ..Default::default()
    };
    super::faults::etcd_cluster(members, rtt_ms, &mut opts, err)?;
    Ok(opts)
}

/// The target the profile and the connection flags name (flags win).
pub(super) fn target_plan(
    target: &TargetSection,
    local_section: Option<LocalSection>,
    o: &Overrides,
    err: Err,
) -> Result<TargetPlan, ProfileError> {
    // kubectl's order: --kubeconfig, then $KUBECONFIG, then the profile's target. A bare
    // etcd target stays one: $KUBECONFIG names no etcd.
    let from_env = match &o.kubeconfig_env {
        Some(v)
            if o.kubeconfig.is_none()
                && o.etcd_endpoints.is_empty()
                && target.kind != TargetType::Etcd =>
        {
            Some(v.clone())
        }
        _ => None,
    };
    let kind = if !o.etcd_endpoints.is_empty() {
        TargetType::Etcd
    } else if o.kubeconfig.is_some() || o.context.is_some() || from_env.is_some() {
        TargetType::Kube
    } else {
        target.kind
    };
    let chosen = from_env.as_ref().map(|v| {
        let over = match (target.kind, &target.kubeconfig) {
            (TargetType::Local, _) => {
                " instead of the profile's local environment (unset KUBECONFIG to use it)"
                    .to_string()
            }
            (_, Some(p)) => format!(
                " instead of the profile's target.kubeconfig {}",
                p.display()
            ),
            _ => String::new(),
        };
        format!("target: $KUBECONFIG ({v}){over}")
    });
    let t = target;
    if kind != TargetType::Kube {
        if t.kubeconfig.is_some() {
            return Err(err(
                "target.kubeconfig",
                "only applies when target.type is kube".into(),
            ));
        }
        if t.context.is_some() {
            return Err(err(
                "target.context",
                "only applies when target.type is kube".into(),
            ));
        }
    }
    if kind != TargetType::Etcd {
        for (field, set) in [
            ("target.endpoints", t.endpoints.is_some()),
            ("target.ca_file", t.ca_file.is_some()),
            ("target.cert_file", t.cert_file.is_some()),
            ("target.key_file", t.key_file.is_some()),
        ] {
            if set {
                return Err(err(field, "only applies when target.type is etcd".into()));
            }
        }
    }
    if t.endpoints.as_ref().is_some_and(|e| e.is_empty()) {
        return Err(err("target.endpoints", "is empty: list at least one endpoint, or leave it out to use the local environment's etcd".into()));
    }
    let endpoints = if o.etcd_endpoints.is_empty() {
        t.endpoints.clone().unwrap_or_default()
    } else {
        o.etcd_endpoints.clone()
    };
    for e in &endpoints {
        if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
            return Err(err(
                "target.endpoints",
                format!("`{e}` must be a URL like http://127.0.0.1:2379"),
            ));
        }
    }
    if t.cert_file.is_some() != t.key_file.is_some() {
        let field = if t.cert_file.is_some() {
            "target.key_file"
        } else {
            "target.cert_file"
        };
        return Err(err(
            field,
            "TLS client authentication needs both cert_file and key_file".into(),
        ));
    }
    let tls =
        (t.ca_file.is_some() || t.cert_file.is_some()).then(|| crate::backend::etcd::EtcdTls {
            ca: t.ca_file.clone(),
            cert: t.cert_file.clone(),
            key: t.key_file.clone(),
        });
    let switched = o.kubeconfig.is_some()
        || o.context.is_some()
        || !o.etcd_endpoints.is_empty()
        || from_env.is_some();
    let local = if kind == TargetType::Kube || !endpoints.is_empty() {
        // A profile written for the local environment still runs where the flags point;
        // its `local:` section then has nothing to configure.
        if local_section.is_some() && !switched {
            return Err(err("local", "only applies to the local environment (target.type local, or etcd without endpoints)".into()));
        }
        LocalOptions::default()
    } else {
        local_options(local_section.unwrap_or_default(), o, err)?
    };
    Ok(match kind {
        TargetType::Local => TargetPlan::Local(local),
        TargetType::Etcd => TargetPlan::Etcd {
            endpoints,
            tls,
            local,
            allow: o.allow_endpoints.clone(),
        },
        TargetType::Kube => TargetPlan::Kube {
            // None reads $KUBECONFIG (merged) like kubectl, else ~/.kube/config.
            kubeconfig: match from_env {
                Some(_) => None,
                None => o.kubeconfig.clone().or(t.kubeconfig.clone()),
            },
            context: o.context.clone().or(t.context.clone()),
            allow: o.allow_contexts.clone(),
            chosen,
        },
    })
}
