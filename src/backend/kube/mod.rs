//! The `kube` target: any kube-apiserver through a kubeconfig (kind, the local environment,
//! a real management cluster). Requests go out raw through kube's HTTP client so every
//! HTTP status (including 429) is seen and counted as the server sent it.

use super::{RequestError, TargetError};
use http::Request;
use kube::client::Body;
use std::path::Path;
use std::time::Duration;

mod requests;
mod setup;

/// The User-Agent of every request: the apiserver records `capi-loadgen` as field manager.
pub const USER_AGENT: &str = concat!("capi-loadgen/", env!("CARGO_PKG_VERSION"));

/// How long [`KubeTarget::check`] waits for a first answer to `GET /version` (429s and
/// 503s are asked again): a fresh apiserver on a loaded 2-core machine is slow to serve.
const CHECK_DEADLINE: Duration = Duration::from_secs(60);
/// Pause between `GET /version` attempts answered 429 or 503.
const CHECK_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A kube-apiserver target.
#[derive(Clone)]
pub struct KubeTarget {
    client: kube::Client,
    endpoint: String,
    timeout: Duration,
    /// The kubeconfig context it came from, when it came from one.
    context: Option<String>,
    /// Whom to bind [`super::access::NAMESPACE_ROLE`] to in every namespace it creates
    /// (None: the identity needs no binding).
    namespace_subject: Option<std::sync::Arc<serde_json::Value>>,
    /// The configuration it was built from, to reach another instance of the same server.
    config: Option<Box<kube::Config>>,
    /// The lean HTTP path for every request but watches ([`super::stack`]).
    lean: Option<super::kube_lean::LeanHttp>,
}

fn classify(e: &kube::Error) -> RequestError {
    match e {
        kube::Error::Api(s) => RequestError::http(s.code),
        _ => {
            // Counted as `transport`; the cause is worth a look when they pile up.
            tracing::debug!(error = %root_cause(e), "request failed without an answer");
            RequestError::Transport
        }
    }
}

/// `Retry-After` as whole seconds (the apiserver always sends seconds).
fn retry_after(headers: &http::HeaderMap) -> Option<u32> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What a failed connection comes down to: the innermost error of the chain (e.g. rustls'
/// "invalid peer certificate: UnknownIssuer" or "Connection refused"), with a hint for a
/// certificate problem, instead of kube's outermost "client error (Connect)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let cause = first_line(&inner.to_string());
    if cause.contains("certificate") {
        format!("TLS handshake failed: {cause} (does the kubeconfig's certificate-authority-data belong to this server?)")
    } else if std::ptr::addr_eq(inner, e) {
        cause
    } else {
        format!("{}: {cause}", first_line(&e.to_string()))
    }
}

/// The context name of the in-cluster connection (a pod's ServiceAccount).
pub const IN_CLUSTER_CONTEXT: &str = "in-cluster";

/// What kubectl reads without `--kubeconfig`: the files of `$KUBECONFIG` merged, else
/// `~/.kube/config`.
fn read_default() -> Result<kube::config::Kubeconfig, String> {
    if let Some(v) = std::env::var_os("KUBECONFIG") {
        if let Some(kc) = super::kubeconfig::read_env_list(&v)? {
            return Ok(kc);
        }
    }
    let home = std::env::var_os("HOME").ok_or("no $HOME for ~/.kube/config")?;
    let p = std::path::Path::new(&home).join(".kube").join("config");
    kube::config::Kubeconfig::read_from(&p).map_err(|e| format!("{}: {e}", p.display()))
}

impl KubeTarget {
    /// Builds a target from a kubeconfig (None: $KUBECONFIG, then ~/.kube/config) and context.
    pub async fn from_kubeconfig(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        timeout: Duration,
    ) -> Result<KubeTarget, TargetError> {
        let kc = match kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p)
                .map_err(|e| TargetError::Config(format!("{}: {e}", p.display())))?,
            None => match read_default() {
                Ok(kc) => kc,
                // In a pod (e.g. an Indexed Job's shard) with no kubeconfig: the pod's
                // ServiceAccount, under the context name `in-cluster`.
                Err(_)
                    if context.is_none()
                        && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() =>
                {
                    return Self::in_cluster(timeout);
                }
                Err(e) => {
                    return Err(TargetError::Config(format!(
                        "no kubeconfig ($KUBECONFIG or ~/.kube/config): {e}; pass --kubeconfig"
                    )))
                }
            },
        };
        let opts = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let where_ = kubeconfig
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "kubeconfig".into());
        let name = context
            .map(str::to_string)
            .or_else(|| kc.current_context.clone());
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| TargetError::Config(format!("{where_}: {e}")))?;
        cfg.read_timeout = Some(timeout);
        cfg.write_timeout = Some(timeout);
        cfg.connect_timeout = Some(Duration::from_secs(5));
        let mut t = Self::from_config(cfg, timeout)?;
        t.context = name;
        Ok(t)
    }

    /// The pod's own ServiceAccount (token and CA mounted by Kubernetes), with the
    /// context name [`IN_CLUSTER_CONTEXT`] for the safety guard (`--allow-context in-cluster`).
    fn in_cluster(timeout: Duration) -> Result<KubeTarget, TargetError> {
        let mut cfg = kube::Config::incluster()
            .map_err(|e| TargetError::Config(format!("in-cluster config: {e}")))?;
        cfg.read_timeout = Some(timeout);
        cfg.write_timeout = Some(timeout);
        cfg.connect_timeout = Some(Duration::from_secs(5));
        let mut t = Self::from_config(cfg, timeout)?;
        t.context = Some(IN_CLUSTER_CONTEXT.into());
        Ok(t)
    }

    /// Binds [`super::access::NAMESPACE_ROLE`] to `subject` in every namespace this target
    /// creates from now on (least privilege: see [`super::access`]).
    pub fn bind_created_namespaces(&mut self, subject: serde_json::Value) {
        self.namespace_subject = Some(std::sync::Arc::new(subject));
    }

    /// True when this target binds its namespaces (it may not list Secrets cluster-wide).
    pub fn binds_namespaces(&self) -> bool {
        self.namespace_subject.is_some()
    }

    async fn bind_namespace(
        &self,
        namespace: &serde_json::Value,
        subject: &serde_json::Value,
    ) -> Result<(), RequestError> {
        let rb = super::namespace_binding::binding(namespace, subject);
        let ns = namespace["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings");
        let bytes = serde_json::to_vec(&rb).map_err(|_| RequestError::Transport)?;
        let (status, retry, _) = self.send("POST", &path, bytes, "application/json").await?;
        match status {
            200..=299 | 409 => Ok(()),
            code => Err(RequestError::Http {
                code,
                retry_after: retry,
            }),
        }
    }

    /// The kubeconfig context this target came from, if any.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// Builds a target from a ready kube config.
    pub fn from_config(
        mut cfg: kube::Config,
        timeout: Duration,
    ) -> Result<KubeTarget, TargetError> {
        // kube retries 429/503/504 by itself unless told not to: that would hide server-side
        // throttling from the measurements. Retries are the engine's (counted, client-go-like).
        cfg.default_retry = false;
        // The apiserver names the field manager after the User-Agent (up to its first '/').
        cfg.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        ));
        let endpoint = cfg.cluster_url.to_string();
        let stack = super::stack::ClientStack::from_env_or(super::stack::ClientStack::Lean)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let lean = match stack {
            super::stack::ClientStack::Lean => match super::kube_lean::LeanHttp::new(&cfg) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::info!(%endpoint, "kube-rs client for every request: {e}");
                    None
                }
            },
            super::stack::ClientStack::Library => None,
        };
        let config = Some(Box::new(cfg.clone()));
        let client = super::kube_lean::library_client(&cfg)
            .map_err(|e| TargetError::Config(format!("{endpoint}: {e}")))?;
        Ok(KubeTarget {
            client,
            endpoint,
            timeout,
            context: None,
            namespace_subject: None,
            config,
            lean,
        })
    }

    /// The same credentials and CA at another URL: one instance of a highly available
    /// apiserver.
    pub fn at(&self, url: &str) -> Result<KubeTarget, TargetError> {
        let mut cfg = *self
            .config
            .clone()
            .ok_or_else(|| TargetError::Config("no configuration to copy".into()))?;
        cfg.cluster_url = url
            .parse()
            .map_err(|e| TargetError::Config(format!("{url}: {e}")))?;
        cfg.headers.retain(|(k, _)| k != http::header::USER_AGENT);
        let mut t = Self::from_config(cfg, self.timeout)?;
        t.context = self.context.clone();
        Ok(t)
    }

    /// Wraps an existing client.
    pub fn from_client(client: kube::Client, endpoint: String, timeout: Duration) -> KubeTarget {
        KubeTarget {
            client,
            endpoint,
            timeout,
            context: None,
            namespace_subject: None,
            config: None,
            lean: None,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Checks that the server answers and accepts our credentials; returns its version.
    pub async fn check(&self) -> Result<String, TargetError> {
        // A fresh apiserver with tiny in-flight limits on a loaded machine can take many
        // seconds to answer its first request, or answer 429: wait for it, within bounds.
        let deadline = std::time::Instant::now() + CHECK_DEADLINE;
        loop {
            let req = Request::get("/version")
                .body(Vec::new())
                .map_err(|e| TargetError::Config(e.to_string()))?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match tokio::time::timeout(left, self.client.request::<serde_json::Value>(req)).await {
                Err(_) => {
                    return Err(TargetError::Unreachable {
                        endpoint: self.endpoint.clone(),
                        message: format!("no answer within {} s", CHECK_DEADLINE.as_secs()),
                    })
                }
                Ok(Ok(v)) => {
                    return Ok(v
                        .get("gitVersion")
                        .and_then(|g| g.as_str())
                        .unwrap_or("unknown")
                        .to_string())
                }
                Ok(Err(kube::Error::Api(s))) if s.code == 401 || s.code == 403 => {
                    return Err(TargetError::Auth {
                        endpoint: self.endpoint.clone(),
                        code: s.code,
                        hint: String::new(),
                    })
                }
                Ok(Err(kube::Error::Api(s)))
                    if (s.code == 429 || s.code == 503)
                        && std::time::Instant::now() + CHECK_RETRY_PAUSE < deadline =>
                {
                    tokio::time::sleep(CHECK_RETRY_PAUSE).await;
                }
                Ok(Err(kube::Error::Api(s))) => {
                    return Err(TargetError::Setup {
                        endpoint: self.endpoint.clone(),
                        message: format!("GET /version: HTTP {}: {}", s.code, s.message),
                    })
                }
                Ok(Err(e)) => {
                    return Err(TargetError::Unreachable {
                        endpoint: self.endpoint.clone(),
                        message: root_cause(&e),
                    })
                }
            }
        }
    }

    /// One raw JSON request; returns (status, parsed body or Null).
    ///
    /// 429s and 5xx answers with `Retry-After` come back as errors (so they can be retried);
    /// other statuses are returned for the caller to judge.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        self.raw_typed(method, path, body, "application/json").await
    }

    /// [`KubeTarget::raw`] with a request content type (e.g. merge-patch).
    pub async fn raw_typed(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        content_type: &str,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|_| RequestError::Transport)?,
            None => Vec::new(),
        };
        let (status, _, body) = self.send(method, path, bytes, content_type).await?;
        Ok((
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// The one way a request reaches the apiserver (as kube-rs funnels every request
    /// through `Client::send`): sends, reads the body, and turns what the engine handles
    /// alike into errors within the target's timeout: etcd's NOSPACE passed on by the
    /// apiserver, 429s and 5xx answers with `Retry-After` (so they can be retried, honouring
    /// the header), transport failures by class and the timeout. Other statuses come back
    /// with their `Retry-After` and body for the caller to judge.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Option<u32>, bytes::Bytes), RequestError> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::ACCEPT, "application/json")
            .body(Body::from(body))
            .map_err(|_| RequestError::Transport)?;
        let fut = async {
            let (status, retry, body) = match &self.lean {
                Some(lean) => {
                    use http_body_util::BodyExt;
                    let resp = lean.send(req).await.map_err(|e| {
                        tracing::debug!(error = %root_cause(&*e), %path, "request failed without an answer");
                        RequestError::Transport
                    })?;
                    let status = resp.status().as_u16();
                    let retry = retry_after(resp.headers());
                    let body = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| {
                            tracing::debug!(error = %root_cause(&e), %path, "reading an answer failed");
                            RequestError::Transport
                        })?
                        .to_bytes();
                    (status, retry, body)
                }
                None => {
                    let resp = self.client.send(req).await.map_err(|e| classify(&e))?;
                    let status = resp.status().as_u16();
                    let retry = retry_after(resp.headers());
                    let body = resp.into_body().collect_bytes().await.map_err(|e| {
                        tracing::debug!(error = %e, "reading an answer failed");
                        RequestError::Transport
                    })?;
                    (status, retry, body)
                }
            };
            if nospace(status, &body) {
                return Err(RequestError::Etcd(crate::backend::EtcdError::NoSpace));
            }
            if status == 429 || (status >= 500 && retry.is_some()) {
                return Err(RequestError::Http {
                    code: status,
                    retry_after: retry,
                });
            }
            Ok((status, retry, body))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| RequestError::Timeout)?
    }
}

/// kube-apiserver passes etcd's NOSPACE on as HTTP 500 with etcd's message
/// ("etcdserver: mvcc: database space exceeded").
fn nospace(status: u16, body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"database space exceeded";
    status == 500 && body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}
