//! Backends (targets): where objects are written. One trait; nothing above it knows which
//! implementation it talks to. Per-request failures are values ([`RequestError`]) to be
//! counted; set-up failures are [`TargetError`]s that end the command.

pub mod access;
pub mod etcd;
pub mod etcd_wire;
pub mod guard;
pub mod kube;
pub mod kube_lean;
pub mod kubeconfig;
pub mod namespace_binding;
pub mod stack;

use crate::model::{ApiRef, Object};
use std::future::Future;

/// etcd failure classes, recorded separately (etcd's error texts: `api/v3rpc/rpctypes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EtcdError {
    /// `mvcc: database space exceeded`: the NOSPACE alarm is raised.
    NoSpace,
    /// `request is too large` (over `--max-request-bytes`).
    TooLarge,
    /// Unavailable, no leader, connection lost.
    Unavailable,
    /// A create found the key already there (create-only transaction failed).
    Exists,
    /// An update's mod-revision guard failed (someone else wrote first).
    Conflict,
    /// Anything else.
    Other,
}

impl EtcdError {
    /// Label used in counters: `nospace`, `too_large` …
    pub fn label(self) -> &'static str {
        match self {
            EtcdError::NoSpace => "nospace",
            EtcdError::TooLarge => "too_large",
            EtcdError::Unavailable => "unavailable",
            EtcdError::Exists => "exists",
            EtcdError::Conflict => "conflict",
            EtcdError::Other => "other",
        }
    }
}

/// Why a single request failed (counted, never propagated).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestError {
    /// The server answered with this HTTP status (429 = server-side throttling), and the
    /// `Retry-After` seconds it sent, if any.
    Http {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u32>,
    },
    /// etcd refused the request.
    Etcd(EtcdError),
    /// No answer within the client timeout.
    Timeout,
    /// Connection refused/reset, TLS or protocol failure.
    Transport,
    /// Still in flight when the run stopped and the drain deadline passed.
    Aborted,
}

impl RequestError {
    /// An HTTP status without `Retry-After`.
    pub fn http(code: u16) -> RequestError {
        RequestError::Http {
            code,
            retry_after: None,
        }
    }

    /// True when the target gave no answer at all (down, unreachable, timing out).
    pub fn is_unanswered(&self) -> bool {
        matches!(
            self,
            RequestError::Transport
                | RequestError::Timeout
                | RequestError::Etcd(EtcdError::Unavailable)
        )
    }

    /// True for HTTP 429 Too Many Requests.
    pub fn is_throttled(&self) -> bool {
        matches!(self, RequestError::Http { code: 429, .. })
    }

    /// A short label for counters and reports: `http_429`, `etcd_nospace`, `timeout`, `transport`.
    pub fn label(&self) -> String {
        match self {
            RequestError::Http { code, .. } => format!("http_{code}"),
            RequestError::Etcd(e) => format!("etcd_{}", e.label()),
            RequestError::Timeout => "timeout".into(),
            RequestError::Transport => "transport".into(),
            RequestError::Aborted => "aborted".into(),
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
    /// The resourceVersion (etcd revision) the write was stored at.
    pub resource_version: Option<String>,
}

/// One item of a watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// An object was added or modified: `<namespace>/<name>` and its resourceVersion.
    Changed {
        /// `<namespace>/<name>` (or `<name>` for cluster-scoped objects).
        key: String,
        /// The object's resourceVersion / mod revision.
        resource_version: String,
    },
    /// An object was deleted.
    Deleted {
        /// The deletion's resourceVersion.
        resource_version: String,
    },
    /// A bookmark: progress without an object.
    Bookmark {
        /// Resume from here.
        resource_version: String,
    },
    /// The resourceVersion is too old (HTTP 410 Gone / etcd compaction): relist.
    Gone,
}

/// A boxed stream of watch items.
pub type WatchStream = futures::stream::BoxStream<'static, Result<WatchItem, RequestError>>;

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
    /// The credentials were accepted, but RBAC does not allow what the tool asked (HTTP
    /// 403 on a set-up call): a permission problem, not a credential one.
    #[error("{endpoint}: permission denied (HTTP 403, RBAC): this identity may not {action}{said}; {fix}")]
    Forbidden {
        /// The URL tried.
        endpoint: String,
        /// What was refused, e.g. `create CustomResourceDefinitions`.
        action: String,
        /// The apiserver's message, as ` (…)`, or empty.
        said: String,
        /// How to grant it or do without it.
        fix: String,
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
        use crate::exit;
        match self {
            TargetError::Unreachable { .. } => exit::UNREACHABLE,
            TargetError::Auth { .. } | TargetError::Forbidden { .. } => exit::AUTH,
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
    /// Creates one object from its byte-template rendering ([`crate::stored::template::Rendered`]): the
    /// create JSON or the stored value without a `serde_json::Value`. The default parses
    /// the rendered JSON and calls [`Target::create`] (targets that only take values).
    fn create_rendered(
        &self,
        obj: &Object,
        body: &crate::stored::template::Rendered<'_>,
    ) -> impl Future<Output = Result<Created, RequestError>> + Send {
        let value = body.value();
        async move { self.create(obj, &value).await }
    }
    /// Reads one object.
    fn get(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<serde_json::Value, RequestError>> + Send;
    /// Applies a JSON merge patch (RFC 7386) to the object, or to its status when `status`.
    fn patch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> impl Future<Output = Result<(), RequestError>> + Send;
    /// [`Target::patch`] that also returns the resourceVersion the write was stored at,
    /// when the target reports it (what matches a watch event to the write that caused
    /// it). The default patches and reports none.
    fn patch_versioned(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> impl Future<Output = Result<Option<String>, RequestError>> + Send {
        async move {
            self.patch(api, namespace, name, patch, status).await?;
            Ok(None)
        }
    }
    /// Deletes one object by name (absent objects count as deleted).
    fn delete(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<(), RequestError>> + Send;
    /// The current resourceVersion of a collection (where a watch starts).
    fn current_version(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<String, RequestError>> + Send;
    /// Watches a collection from `resource_version`, filtered by `label_selector`.
    fn watch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<WatchStream, RequestError>> + Send;
    /// False when this client may not list Secrets in all namespaces, only in the ones it
    /// created (least privilege, [`access`]): cleanup then lists them namespace by namespace.
    fn lists_secrets_cluster_wide(&self) -> bool {
        true
    }
    /// Lists (namespace, name) of objects carrying `label_selector` (`key=value`), in all
    /// namespaces when `namespace` is None.
    fn list_names(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> impl Future<Output = Result<Vec<(Option<String>, String)>, RequestError>> + Send;
}
