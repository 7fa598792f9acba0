//! Targets: where objects are written. One trait; nothing above it knows which
//! implementation it talks to. Per-request failures are values ([`RequestError`]) to be
//! counted; set-up failures are [`TargetError`]s that end the command.

pub mod kube;

use crate::model::{ApiRef, Object};
use std::future::Future;

/// Why a single request failed (counted, never propagated).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestError {
    /// The server answered with this HTTP status (429 = server-side throttling).
    Http(u16),
    /// No answer within the client timeout.
    Timeout,
    /// Connection refused/reset, TLS or protocol failure.
    Transport,
}

impl RequestError {
    /// A short label for counters and reports: `http_429`, `timeout`, `transport`.
    pub fn label(&self) -> String {
        match self {
            RequestError::Http(c) => format!("http_{c}"),
            RequestError::Timeout => "timeout".into(),
            RequestError::Transport => "transport".into(),
        }
    }
}

/// A successful create.
#[derive(Clone, Debug, Default)]
pub struct Created {
    /// The UID the server assigned (used in children's ownerReferences).
    pub uid: Option<String>,
    /// Request body size in bytes.
    pub request_bytes: usize,
}

/// Set-up failures: these end the command with a distinct exit code.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The endpoint did not answer.
    #[error("{endpoint}: unreachable: {message}")]
    Unreachable {
        /// The URL or address tried.
        endpoint: String,
        /// What failed.
        message: String,
    },
    /// The endpoint refused our credentials.
    #[error(
        "{endpoint}: credentials rejected (HTTP {code}): check the kubeconfig user/token{hint}"
    )]
    Auth {
        /// The URL tried.
        endpoint: String,
        /// 401 or 403.
        code: u16,
        /// Extra advice.
        hint: String,
    },
    /// The kubeconfig could not be used.
    #[error("{0}")]
    Config(String),
    /// A set-up call failed on the server.
    #[error("{endpoint}: {message}")]
    Setup {
        /// The URL tried.
        endpoint: String,
        /// What failed.
        message: String,
    },
}

impl TargetError {
    /// The exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
        match self {
            TargetError::Unreachable { .. } => exit::UNREACHABLE,
            TargetError::Auth { .. } => exit::AUTH,
            TargetError::Config(_) => exit::USAGE,
            TargetError::Setup { .. } => exit::TARGET_FAILED,
        }
    }
}

/// What the engine needs from a target. Implementations are cheap to clone (shared
/// connection pools inside).
pub trait Target: Clone + Send + Sync + 'static {
    /// Human-readable endpoint (no credentials).
    fn endpoint(&self) -> String;
    /// Creates one object. `body` is the full JSON object to send.
    fn create(
        &self,
        obj: &Object,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<Created, RequestError>> + Send;
    /// Deletes one object by name.
    fn delete(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<(), RequestError>> + Send;
    /// Lists object names carrying `label_selector` (all namespaces when `namespace` is None).
    fn list_names(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> impl Future<Output = Result<Vec<(Option<String>, String)>, RequestError>> + Send;
}
