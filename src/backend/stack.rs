//! Which client stack carries the load path's writes: for etcd a thin gRPC client over
//! HTTP/2 ([`super::etcd_wire`]), for kube-apiserver hyper over rustls without kube-rs's
//! tower buffer and tracing layers ([`super::kube_lean`]; watches stay on kube-rs). Both
//! lean paths are the defaults; the environment variable
//! `CAPI_LOADGEN_CLIENT_STACK` picks one stack for both (`lean` or `library`), to compare
//! them on the same target.

/// The environment variable that selects the stack.
pub const ENV: &str = "CAPI_LOADGEN_CLIENT_STACK";

/// A client stack for the load path's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientStack {
    /// The lean write paths.
    #[default]
    Lean,
    /// etcd-client / kube-rs for every request.
    Library,
}

/// An unknown value of [`ENV`].
#[derive(Debug, thiserror::Error)]
#[error("${ENV}: '{0}' is neither 'lean' nor 'library'")]
pub struct UnknownStack(String);

impl ClientStack {
    /// Parses `lean` or `library`.
    pub fn parse(s: &str) -> Result<ClientStack, UnknownStack> {
        match s.trim() {
            "lean" | "" => Ok(ClientStack::Lean),
            "library" => Ok(ClientStack::Library),
            other => Err(UnknownStack(other.to_string())),
        }
    }

    /// The stack chosen by [`ENV`], or `default` (the target's own) when it is unset.
    pub fn from_env_or(default: ClientStack) -> Result<ClientStack, UnknownStack> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => ClientStack::parse(&v),
            _ => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(ClientStack::parse("lean").unwrap(), ClientStack::Lean);
        assert_eq!(ClientStack::parse("library").unwrap(), ClientStack::Library);
        let e = ClientStack::parse("tonic").unwrap_err().to_string();
        assert_eq!(
            e,
            "$CAPI_LOADGEN_CLIENT_STACK: 'tonic' is neither 'lean' nor 'library'"
        );
    }
}
