//! The `kube` target: any kube-apiserver through a kubeconfig (kind, the local environment,
//! a real management cluster). Requests go out raw through kube's HTTP client so every
//! HTTP status (including 429) is seen and counted as the server sent it.

use super::{Created, RequestError, Target, TargetError};
use crate::model::{ApiRef, Object};
use http::Request;
use kube::client::Body;
use std::path::Path;
use std::time::{Duration, Instant};

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
        let rb = super::access::binding(namespace, subject);
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
        let client = kube::Client::try_from(cfg)
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

    /// Installs (or updates) CRDs and waits until each is Established.
    pub async fn install_crds(&self, crds: &[serde_json::Value]) -> Result<(), TargetError> {
        let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
        for crd in crds {
            let name = crd["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let setup = |m: String| TargetError::Setup {
                endpoint: self.endpoint.clone(),
                message: format!("CRD {name}: {m}"),
            };
            let (code, body) = self
                .raw("POST", path, Some(crd))
                .await
                .map_err(|e| setup(format!("{e:?}")))?;
            let exists = code == 403
                && matches!(
                    self.raw("GET", &format!("{path}/{name}"), None).await,
                    Ok((200, _))
                );
            if code == 409 || exists {
                // deploy/rbac.yaml: no create, but update of the tool's CRDs by name.
                self.update_crd(path, &name, crd).await.map_err(setup)?;
            } else if code == 401 || code == 403 {
                return Err(TargetError::Auth {
                    endpoint: self.endpoint.clone(),
                    code,
                    hint: " (creating CRDs needs deploy/rbac-crds.yaml or an admin: `capi-loadgen crds <profile> | kubectl apply -f -`; or set fleet.install_crds: false)"
                        .into(),
                });
            } else if code >= 300 {
                return Err(setup(format!(
                    "HTTP {code}: {}",
                    body["message"].as_str().unwrap_or("")
                )));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for crd in crds {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            loop {
                let (_, body) = self
                    .raw("GET", &format!("{path}/{name}"), None)
                    .await
                    .map_err(|e| TargetError::Setup {
                        endpoint: self.endpoint.clone(),
                        message: format!("CRD {name}: {e:?}"),
                    })?;
                let established = body["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
                if established {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(TargetError::Setup {
                        endpoint: self.endpoint.clone(),
                        message: format!("CRD {name} not Established after 60 s"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Discovery of new CRDs lags establishment slightly; wait until each kind is served.
        for crd in crds {
            let group = crd["spec"]["group"].as_str().unwrap_or_default();
            let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
            for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
                let version = v["name"].as_str().unwrap_or_default();
                let p = format!("/apis/{group}/{version}/{plural}?limit=1");
                loop {
                    match self.raw("GET", &p, None).await {
                        Ok((200, _)) => break,
                        _ if Instant::now() > deadline => {
                            return Err(TargetError::Setup {
                                endpoint: self.endpoint.clone(),
                                message: format!("{p} not served 60 s after install"),
                            })
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings an existing CRD to `crd`'s versions and schemas: left alone when they already
    /// match (so concurrent runs do not disturb each other), else replaced, retrying on
    /// write conflicts.
    async fn update_crd(
        &self,
        path: &str,
        name: &str,
        crd: &serde_json::Value,
    ) -> Result<(), String> {
        let versions = |v: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
            v["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| (x["name"].clone(), x["schema"].clone()))
                .collect()
        };
        for _ in 0..10 {
            let (_, existing) = self
                .raw("GET", &format!("{path}/{name}"), None)
                .await
                .map_err(|e| format!("{e:?}"))?;
            if versions(&existing) == versions(crd) {
                return Ok(());
            }
            let mut updated = crd.clone();
            updated["metadata"]["resourceVersion"] =
                existing["metadata"]["resourceVersion"].clone();
            let (code, body) = self
                .raw("PUT", &format!("{path}/{name}"), Some(&updated))
                .await
                .map_err(|e| format!("{e:?}"))?;
            match code {
                409 => continue,
                c if c < 300 => return Ok(()),
                c => {
                    return Err(format!(
                        "update: HTTP {c}: {}",
                        body["message"].as_str().unwrap_or("")
                    ))
                }
            }
        }
        Err("update: still conflicting after 10 attempts".into())
    }

    /// Collection paths of every namespaced resource type the server lists (discovery),
    /// without subresources and events.
    pub async fn namespaced_collections(&self) -> Result<Vec<String>, RequestError> {
        let mut group_versions = vec!["v1".to_string()];
        let (_, groups) = self.raw("GET", "/apis", None).await?;
        for g in groups["groups"].as_array().into_iter().flatten() {
            if let Some(gv) = g["preferredVersion"]["groupVersion"].as_str() {
                group_versions.push(gv.to_string());
            }
        }
        let mut out = Vec::new();
        for gv in group_versions {
            let base = if gv == "v1" {
                "/api/v1".to_string()
            } else {
                format!("/apis/{gv}")
            };
            let (code, list) = self.raw("GET", &base, None).await?;
            if code != 200 {
                continue;
            }
            for r in list["resources"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or("");
                let listable = r["verbs"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == "list"));
                if r["namespaced"] == true && listable && !name.contains('/') && name != "events" {
                    out.push(format!("{base}/{name}"));
                }
            }
        }
        Ok(out)
    }

    /// (namespace, "resource/name") of objects matching `selector` in `collection`.
    pub async fn list_namespaced(
        &self,
        collection: &str,
        selector: &str,
    ) -> Result<Vec<(String, String)>, RequestError> {
        let mut out = Vec::new();
        let mut cont = String::new();
        let resource = collection.rsplit('/').next().unwrap_or("");
        loop {
            let mut path = format!("{collection}?limit=500&labelSelector={}", encode(selector));
            if !cont.is_empty() {
                path.push_str(&format!("&continue={}", encode(&cont)));
            }
            let (code, body) = self.raw("GET", &path, None).await?;
            if code != 200 {
                return Err(RequestError::http(code));
            }
            for item in body["items"].as_array().into_iter().flatten() {
                let md = &item["metadata"];
                if let (Some(ns), Some(n)) = (md["namespace"].as_str(), md["name"].as_str()) {
                    // Objects Kubernetes itself puts in every namespace do not make it foreign.
                    let auto = matches!(
                        (resource, n),
                        ("serviceaccounts", "default") | ("configmaps", "kube-root-ca.crt")
                    ) || item["type"] == "kubernetes.io/service-account-token";
                    if !auto {
                        out.push((ns.to_string(), format!("{resource}/{n}")));
                    }
                }
            }
            match body["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => return Ok(out),
            }
        }
    }

    /// Removes the `kubernetes` finalizer of a Terminating namespace, as the namespace
    /// controller does once the namespace is empty (for clusters without one, like the
    /// local environment).
    pub async fn finalize_namespace(&self, name: &str) -> Result<(), RequestError> {
        let (code, mut ns) = self
            .raw("GET", &format!("/api/v1/namespaces/{name}"), None)
            .await?;
        match code {
            404 => return Ok(()),
            200 => {}
            c => return Err(RequestError::http(c)),
        }
        ns["spec"]["finalizers"] = serde_json::json!([]);
        match self
            .raw(
                "PUT",
                &format!("/api/v1/namespaces/{name}/finalize"),
                Some(&ns),
            )
            .await?
        {
            (c, _) if c < 300 || c == 404 => Ok(()),
            (c, _) => Err(RequestError::http(c)),
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

impl Target for KubeTarget {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn lists_secrets_cluster_wide(&self) -> bool {
        !self.binds_namespaces()
    }

    async fn create(
        &self,
        obj: &Object,
        body: &serde_json::Value,
    ) -> Result<Created, RequestError> {
        let bytes = serde_json::to_vec(body).map_err(|_| RequestError::Transport)?;
        let request_bytes = bytes.len();
        let path = obj.api.collection_path(obj.namespace.as_deref());
        let (status, retry, resp) = self.send("POST", &path, bytes, "application/json").await?;
        if !(200..300).contains(&status) {
            return Err(RequestError::Http {
                code: status,
                retry_after: retry,
            });
        }
        if let (crate::model::Kind::Namespace, Some(subject)) = (obj.kind, &self.namespace_subject)
        {
            Box::pin(self.bind_namespace(body, subject)).await?;
        }
        Ok(created(&resp, request_bytes))
    }

    async fn create_rendered(
        &self,
        obj: &Object,
        body: &crate::stored::template::Rendered<'_>,
    ) -> Result<Created, RequestError> {
        if obj.kind == crate::model::Kind::Namespace && self.namespace_subject.is_some() {
            // Binding the namespace's RoleBinding reads the body.
            return self.create(obj, &body.value()).await;
        }
        let mut bytes = Vec::with_capacity(8192);
        body.create_json(&mut bytes);
        let request_bytes = bytes.len();
        let path = obj.api.collection_path(obj.namespace.as_deref());
        let (status, retry, resp) = self.send("POST", &path, bytes, "application/json").await?;
        if !(200..300).contains(&status) {
            return Err(RequestError::Http {
                code: status,
                retry_after: retry,
            });
        }
        Ok(created(&resp, request_bytes))
    }

    async fn current_version(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
    ) -> Result<String, RequestError> {
        let path = format!("{}?limit=1", api.collection_path(namespace));
        match self.raw("GET", &path, None).await? {
            (200, v) => Ok(v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string()),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn watch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
        resource_version: &str,
    ) -> Result<crate::backend::WatchStream, RequestError> {
        use futures::StreamExt;
        use kube::api::{ApiResource, DynamicObject, WatchEvent, WatchParams};
        let ar = ApiResource {
            group: api.group.clone(),
            version: api.version.clone(),
            api_version: api.api_version(),
            kind: api.kind.clone(),
            plural: api.plural.clone(),
        };
        let client = self.client.clone();
        let a: kube::Api<DynamicObject> = match namespace {
            Some(ns) if api.namespaced => kube::Api::namespaced_with(client, ns, &ar),
            _ => kube::Api::all_with(client, &ar),
        };
        let wp = WatchParams::default().labels(label_selector).timeout(290);
        let stream = a
            .watch(&wp, resource_version)
            .await
            .map_err(|e| classify(&e))?;
        let key = |o: &DynamicObject| match &o.metadata.namespace {
            Some(ns) => format!("{ns}/{}", o.metadata.name.clone().unwrap_or_default()),
            None => o.metadata.name.clone().unwrap_or_default(),
        };
        let rv = |o: &DynamicObject| o.metadata.resource_version.clone().unwrap_or_default();
        Ok(stream
            .map(move |ev| match ev {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    Ok(crate::backend::WatchItem::Changed {
                        key: key(&o),
                        resource_version: rv(&o),
                    })
                }
                Ok(WatchEvent::Deleted(o)) => Ok(crate::backend::WatchItem::Deleted {
                    resource_version: rv(&o),
                }),
                Ok(WatchEvent::Bookmark(b)) => Ok(crate::backend::WatchItem::Bookmark {
                    resource_version: b.metadata.resource_version,
                }),
                Ok(WatchEvent::Error(e)) if e.code == 410 => Ok(crate::backend::WatchItem::Gone),
                Ok(WatchEvent::Error(e)) => Err(RequestError::http(e.code)),
                Err(e) => Err(classify(&e)),
            })
            .boxed())
    }

    async fn get(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<serde_json::Value, RequestError> {
        let path = format!("{}/{name}", api.collection_path(namespace));
        match self.raw("GET", &path, None).await? {
            (200, v) => Ok(v),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn patch(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
        patch: &serde_json::Value,
        status: bool,
    ) -> Result<(), RequestError> {
        let mut path = format!("{}/{name}", api.collection_path(namespace));
        if status {
            path.push_str("/status");
        }
        match self
            .raw_typed("PATCH", &path, Some(patch), "application/merge-patch+json")
            .await?
        {
            (c, _) if (200..300).contains(&c) => Ok(()),
            (c, answer) => {
                // The apiserver's reason (a 422 names the field it refused).
                tracing::debug!(code = c, %path, message = %answer["message"], "PATCH refused");
                Err(RequestError::http(c))
            }
        }
    }

    async fn delete(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), RequestError> {
        let path = format!("{}/{name}", api.collection_path(namespace));
        match self.raw("DELETE", &path, None).await? {
            (c, _) if (200..300).contains(&c) || c == 404 => Ok(()),
            (c, _) => Err(RequestError::http(c)),
        }
    }

    async fn list_names(
        &self,
        api: &ApiRef,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<(Option<String>, String)>, RequestError> {
        let mut out = Vec::new();
        let mut cont = String::new();
        loop {
            let mut path = format!(
                "{}?limit=500&labelSelector={}",
                api.collection_path(namespace),
                encode(label_selector)
            );
            if !cont.is_empty() {
                path.push_str(&format!("&continue={}", encode(&cont)));
            }
            let (code, body) = self.raw("GET", &path, None).await?;
            if code == 404 {
                return Ok(out); // the kind is not served here: nothing of ours
            }
            if code != 200 {
                return Err(RequestError::http(code));
            }
            for item in body["items"].as_array().into_iter().flatten() {
                let ns = item["metadata"]["namespace"].as_str().map(str::to_string);
                if let Some(n) = item["metadata"]["name"].as_str() {
                    out.push((ns, n.to_string()));
                }
            }
            match body["metadata"]["continue"].as_str() {
                Some(c) if !c.is_empty() => cont = c.to_string(),
                _ => return Ok(out),
            }
        }
    }
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

/// The created object's uid and resourceVersion from the apiserver's answer.
fn created(body: &[u8], request_bytes: usize) -> Created {
    #[derive(serde::Deserialize)]
    struct Meta {
        uid: Option<String>,
        #[serde(rename = "resourceVersion")]
        resource_version: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Obj {
        metadata: Meta,
    }
    let meta = serde_json::from_slice::<Obj>(body).ok().map(|o| o.metadata);
    Created {
        uid: meta.as_ref().and_then(|m| m.uid.clone()),
        request_bytes,
        resource_version: meta.and_then(|m| m.resource_version),
    }
}
