//! Validation of where etcd is observed from when the tool did not start it:
//! `observe.etcd_metrics_url` (or `--etcd-metrics-url`) and `observe.etcd`.

use super::types::ObserveEtcdSection;
use super::validate::ObserveEtcd;
use super::ProfileError;

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
        (s.ca_file.is_some() || s.cert_file.is_some()).then(|| crate::target::etcd::EtcdTls {
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
