//! The safety guard, checked before anything is written: a load generator pointed at the
//! wrong kubeconfig context fills a production etcd. Allowed without asking: a `kind-*`
//! context, the tool's own local environment (its context names on a loopback server),
//! and an etcd on a loopback address. Anything else must be named with `--allow-context`
//! or `--allow-endpoint`.

use crate::env::local::{ADMIN_CONTEXT, LOAD_CONTEXT};

/// True when a URL's host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A target the safety guard refuses to load.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum GuardError {
    /// A kube context that is neither kind nor the local environment, and not allowed.
    #[error("refusing to write to context {context} at {server}: it is neither a kind cluster on this machine nor the local environment; if it is meant to take this load, pass --allow-context {context}{}", if *.from_env { " (the context came from $KUBECONFIG; unset it to use the profile's target)" } else { "" })]
    Context {
        /// The context's name, or `(none)`.
        context: String,
        /// Its server.
        server: String,
        /// The context came from `$KUBECONFIG`, not the profile.
        from_env: bool,
    },
    /// A bare etcd off this machine's loopback, and not allowed.
    #[error("refusing to write to etcd at {endpoint}: it is not on this machine's loopback; if it is meant to take this load, pass --allow-endpoint {endpoint}")]
    Etcd {
        /// The endpoint.
        endpoint: String,
    },
}

/// Checks a kube target: its context name and server.
pub fn check_kube(context: Option<&str>, server: &str, allow: &[String]) -> Result<(), GuardError> {
    let name = context.unwrap_or("");
    if name.starts_with("kind-") && is_loopback_url(server) {
        return Ok(());
    }
    if (name == LOAD_CONTEXT || name == ADMIN_CONTEXT) && is_loopback_url(server) {
        return Ok(());
    }
    if !name.is_empty() && allow.iter().any(|a| a == name) {
        return Ok(());
    }
    let shown = if name.is_empty() { "(none)" } else { name };
    Err(GuardError::Context {
        context: shown.into(),
        server: server.into(),
        from_env: false,
    })
}

/// Checks a bare etcd endpoint.
pub fn check_etcd(endpoint: &str, allow: &[String]) -> Result<(), GuardError> {
    if is_loopback_url(endpoint) || allow.iter().any(|a| a == endpoint) {
        return Ok(());
    }
    Err(GuardError::Etcd {
        endpoint: endpoint.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for u in [
            "https://127.0.0.1:6443",
            "http://127.0.0.1:2379",
            "https://127.0.1.1",
            "https://localhost:443/",
            "https://[::1]:6443",
            "http://user@127.0.0.1:2379",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "https://10.0.0.1:6443",
            "https://prod.example.com",
            "https://127.0.0.1.evil.example:443",
            "https://[2001:db8::1]:6443",
            "",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }

    #[test]
    fn kube_contexts() {
        assert!(check_kube(Some("kind-capi"), "https://127.0.0.1:40000", &[]).is_ok());
        assert!(check_kube(Some(LOAD_CONTEXT), "https://127.0.0.1:40000", &[]).is_ok());
        // A look-alike name on a remote server is not the local environment.
        assert!(check_kube(Some(LOAD_CONTEXT), "https://10.1.2.3:6443", &[]).is_err());
        assert!(check_kube(Some("kind-prod"), "https://10.1.2.3:6443", &[]).is_err());
        let e = check_kube(Some("prod-eu"), "https://10.1.2.3:6443", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--allow-context prod-eu"), "{e}");
        assert!(check_kube(
            Some("prod-eu"),
            "https://10.1.2.3:6443",
            &["prod-eu".into()]
        )
        .is_ok());
        assert!(check_kube(None, "https://10.1.2.3:6443", &["".into()]).is_err());
    }

    #[test]
    fn etcd_endpoints() {
        assert!(check_etcd("http://127.0.0.1:2379", &[]).is_ok());
        let e = check_etcd("https://10.0.0.5:2379", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--allow-endpoint https://10.0.0.5:2379"), "{e}");
        assert!(check_etcd("https://10.0.0.5:2379", &["https://10.0.0.5:2379".into()]).is_ok());
    }
}
