//! Validation of where the series are observed from when the tool did not start the
//! servers: `observe.etcd_metrics_url` (or `--etcd-metrics-url`), `observe.etcd`,
//! `observe.apiserver_urls`, and a Prometheus to read them from instead
//! (`observe.prometheus_url` or `--prometheus-url`).

use super::types::ObserveEtcdSection;
use super::ProfileError;
use std::path::PathBuf;

/// etcd endpoints to observe (not to write to).
#[derive(Clone, Debug, PartialEq)]
pub struct ObserveEtcd {
    /// Client URLs.
    pub endpoints: Vec<String>,
    /// TLS client settings.
    pub tls: Option<crate::backend::etcd::EtcdTls>,
}

/// `observe.prometheus_url` and its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservePrometheus {
    /// Base URL (no trailing slash).
    pub url: String,
    /// Bearer token file (the path only; the token is read by the client).
    pub bearer_token_file: Option<PathBuf>,
    /// Extra label matchers, or empty.
    pub selector: String,
}

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The etcd metrics URL: the flag wins over the profile. Only plain HTTP: etcd serves
/// `--listen-metrics-urls` without client certificates (kubeadm binds it to 127.0.0.1:2381).
pub(super) fn metrics_url(
    profile: Option<&str>,
    flag: Option<&str>,
    err: Err,
) -> Result<Option<String>, ProfileError> {
    let (field, url) = match (flag, profile) {
        (Some(f), _) => ("--etcd-metrics-url", f),
        (None, Some(p)) => ("observe.etcd_metrics_url", p),
        (None, None) => return Ok(None),
    };
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || url.parse::<http::Uri>().is_err() {
        return Err(err(
            field,
            format!(
                "`{}` must be a plain-HTTP URL like http://127.0.0.1:2381/metrics (etcd's --listen-metrics-urls)",
                url.escape_debug()
            ),
        ));
    }
    // A bare host:port means its /metrics, as etcd serves it.
    Ok(Some(if rest.contains('/') {
        url.to_string()
    } else {
        format!("{url}/metrics")
    }))
}

/// `observe.etcd`: endpoints for `Status`, with TLS client settings when given.
pub(super) fn etcd(
    section: Option<&ObserveEtcdSection>,
    err: Err,
) -> Result<Option<ObserveEtcd>, ProfileError> {
    let Some(s) = section else { return Ok(None) };
    let endpoints = match &s.endpoints {
        Some(e) if !e.is_empty() => e.clone(),
        _ => {
            return Err(err(
                "observe.etcd.endpoints",
                "is required: etcd's client URLs, e.g. [https://172.18.0.2:2379]".into(),
            ))
        }
    };
    for e in &endpoints {
        if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
            return Err(err(
                "observe.etcd.endpoints",
                format!(
                    "`{}` must be a URL like https://172.18.0.2:2379",
                    e.escape_debug()
                ),
            ));
        }
    }
    if s.cert_file.is_some() != s.key_file.is_some() {
        let field = if s.cert_file.is_some() {
            "observe.etcd.key_file"
        } else {
            "observe.etcd.cert_file"
        };
        return Err(err(
            field,
            "TLS client authentication needs both cert_file and key_file".into(),
        ));
    }
    let tls =
        (s.ca_file.is_some() || s.cert_file.is_some()).then(|| crate::backend::etcd::EtcdTls {
            ca: s.ca_file.clone(),
            cert: s.cert_file.clone(),
            key: s.key_file.clone(),
        });
    Ok(Some(ObserveEtcd { endpoints, tls }))
}

/// `observe.apiserver_urls`: https URLs of kube-apiserver instances.
pub(super) fn apiserver_urls(
    urls: Option<&[String]>,
    err: Err,
) -> Result<Vec<String>, ProfileError> {
    let urls = urls.unwrap_or_default();
    for u in urls {
        let host = u.strip_prefix("https://").unwrap_or("");
        if host.is_empty() || u.parse::<http::Uri>().is_err() {
            return Err(err(
                "observe.apiserver_urls",
                format!(
                    "`{}` must be a URL like https://10.0.0.11:6443",
                    u.escape_debug()
                ),
            ));
        }
    }
    Ok(urls.to_vec())
}

/// `observe.prometheus_url` (or `--prometheus-url`, which wins), its bearer token file and
/// label selector. The token file must be readable and not empty; its content is not kept.
pub(super) fn prometheus(
    o: &super::types::ObserveSection,
    flags: &super::types::Overrides,
    err: Err,
) -> Result<Option<ObservePrometheus>, ProfileError> {
    let (field, url) = match (&flags.prometheus_url, &o.prometheus_url) {
        (Some(f), _) => ("--prometheus-url", f),
        (None, Some(p)) => ("observe.prometheus_url", p),
        (None, None) => {
            for (given, f) in [
                (
                    o.prometheus_bearer_token_file.is_some(),
                    "observe.prometheus_bearer_token_file",
                ),
                (
                    o.prometheus_selector.is_some(),
                    "observe.prometheus_selector",
                ),
            ] {
                if given {
                    return Err(err(f, "is only used with observe.prometheus_url".into()));
                }
            }
            return Ok(None);
        }
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty()
        || authority.contains('@')
        || url.contains(['?', '#'])
        || url.parse::<http::Uri>().is_err()
    {
        return Err(err(
            field,
            format!(
                "`{}` must be an http(s) URL like http://127.0.0.1:9090 (a path prefix is kept; no credentials, query or fragment: the token goes in observe.prometheus_bearer_token_file)",
                url.escape_debug()
            ),
        ));
    }
    if let Some(f) = &o.prometheus_bearer_token_file {
        let field = "observe.prometheus_bearer_token_file";
        match std::fs::read(f) {
            Ok(t) if t.iter().all(u8::is_ascii_whitespace) => {
                return Err(err(field, format!("{} is empty", f.display())))
            }
            Ok(_) => {}
            Err(e) => return Err(err(field, format!("{}: {e}", f.display()))),
        }
    }
    let selector = o.prometheus_selector.as_deref().unwrap_or("").trim();
    if o.prometheus_selector.is_some()
        && (selector.is_empty() || selector.contains(['{', '}']) || !selector.contains('='))
    {
        return Err(err(
            "observe.prometheus_selector",
            format!(
                "`{}` must be label matchers without braces, e.g. 'cluster=\"mgmt\", job=\"apiserver\"'",
                selector.escape_debug()
            ),
        ));
    }
    Ok(Some(ObservePrometheus {
        url: url.trim_end_matches('/').to_string(),
        bearer_token_file: o.prometheus_bearer_token_file.clone(),
        selector: selector.to_string(),
    }))
}
