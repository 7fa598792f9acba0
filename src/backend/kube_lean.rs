//! The lean HTTP path to kube-apiserver: hyper's pooled HTTP/1.1 client over rustls (the
//! connection behaviour of kube-rs's client: a pool of keep-alive connections, one per
//! request in flight). HTTP/2 (`enable_http2` on the connector, offered in ALPN) is left off
//! until its create throughput is measured (it survives the apiserver-restart fault test).
//! Authentication is kube's own: the
//! kubeconfig is resolved by `kube::Config` (client certificates, tokens, token files, exec
//! plugins) and its tower layers (`ConfigExt::base_uri_layer`, `auth_layer` with token
//! refresh, `extra_headers_layer` with impersonation and the User-Agent) wrap the client, as
//! in kube-client's `client/builder.rs`, without the layers that cost per request and that
//! the load path does not need: the `Buffer` (every request handed to a worker task over a
//! channel), the `TraceLayer` (a span per request), kube's retry (off for the tool anyway,
//! retries are the engine's) and the connector's read/write timeouts (each request has the
//! target's own timeout).
//!
//! Used for every request [`super::kube::KubeTarget`] sends itself (creates, gets, patches,
//! deletes, lists); watches stay on kube-rs's `Client`.

use http::{Request, Response};
use hyper::body::Incoming;
use kube::client::{Body, ConfigExt};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

type Service = BoxCloneSyncService<Request<Body>, Response<Incoming>, BoxError>;

/// A cheap-to-clone HTTP client with kube's authentication.
#[derive(Clone)]
pub struct LeanHttp {
    service: Service,
}

/// Why a configuration cannot use the lean path (the caller keeps kube-rs's client).
#[derive(Debug, thiserror::Error)]
pub enum LeanError {
    /// kube could not turn the configuration into TLS settings or auth layers.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// The configuration dials through a proxy, which only kube-rs's stack does.
    #[error("proxy {0}: the lean path does not dial through proxies")]
    Proxy(String),
    /// `tls-server-name` is not a valid DNS name or IP address.
    #[error("tls-server-name {0}: invalid server name")]
    ServerName(String),
}

/// How long an idle pooled connection is kept, on every client stack (the lean path and
/// kube-rs's, see [`library_client`]): well under kube-apiserver's [`APISERVER_IDLE`].
pub const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long kube-apiserver keeps an idle connection open (k8s.io/apiserver
/// pkg/server/secure_serving.go, `IdleTimeout`).
pub const APISERVER_IDLE: std::time::Duration = std::time::Duration::from_secs(90);

/// kube-rs's client (its request building, watches and tower buffer) over a connection pool
/// that lets idle connections go after [`POOL_IDLE`], as the lean path does: kube-rs's own
/// pool keeps them for hyper's default 90 s, as long as the apiserver, so a connection could
/// be picked just as the server closes it. A configuration the lean path cannot carry (a
/// proxy) keeps kube-rs's own stack.
pub fn library_client(cfg: &kube::Config) -> Result<kube::Client, kube::Error> {
    library_client_idle(cfg, POOL_IDLE)
}

fn library_client_idle(
    cfg: &kube::Config,
    idle: std::time::Duration,
) -> Result<kube::Client, kube::Error> {
    match LeanHttp::with_idle(cfg, idle) {
        Ok(l) => Ok(kube::Client::new(l.service, cfg.default_namespace.clone())),
        Err(LeanError::Kube(e)) => Err(e),
        Err(_) => kube::Client::try_from(cfg.clone()),
    }
}

impl LeanHttp {
    /// Builds the client from a resolved kube configuration.
    pub fn new(cfg: &kube::Config) -> Result<LeanHttp, LeanError> {
        Self::with_idle(cfg, POOL_IDLE)
    }

    fn with_idle(cfg: &kube::Config, idle: std::time::Duration) -> Result<LeanHttp, LeanError> {
        if let Some(p) = &cfg.proxy_url {
            return Err(LeanError::Proxy(p.to_string()));
        }
        let tls = cfg.rustls_client_config()?;
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(cfg.connect_timeout);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &cfg.tls_server_name {
            Some(name) => {
                let sn = rustls_pki_types::ServerName::try_from(name.clone())
                    .map_err(|_| LeanError::ServerName(name.clone()))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(sn))
            }
            None => builder,
        };
        let https = builder.enable_http1().wrap_connector(http);
        // kube-apiserver closes a connection idle for 90 s (k8s.io/apiserver
        // pkg/server/secure_serving.go, IdleTimeout), hyper's pool keeps one for 90 s: a
        // pooled connection picked as the server closes it fails the request before any
        // answer (seen as bursts of `transport` failures when a controller's resyncs leave
        // part of the pool idle for a period). The pool lets go well before the server does.
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .pool_idle_timeout(idle)
                .build(https);
        // The errors are boxed below the auth layer: its two variants (static header, token
        // refresh) must fail alike.
        let service = ServiceBuilder::new()
            .layer(cfg.base_uri_layer())
            .option_layer(cfg.auth_layer()?)
            .layer(cfg.extra_headers_layer()?)
            .map_err(BoxError::from)
            .service(client);
        Ok(LeanHttp {
            service: BoxCloneSyncService::new(service),
        })
    }

    /// Sends one request (a path relative to the cluster URL), returning the response head
    /// and its body still to be read.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, BoxError> {
        self.service.clone().oneshot(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// An HTTP/1.1 server on 127.0.0.1 that answers `{}` and counts the connections it
    /// accepted.
    async fn counting_server() -> (String, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"{}")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (url, accepted)
    }

    #[test]
    fn both_stacks_let_idle_connections_go_before_the_apiserver_does() {
        assert!(POOL_IDLE < APISERVER_IDLE);
    }

    /// The two stacks, each over its own pool.
    enum Stack {
        Lean(LeanHttp),
        Library(kube::Client),
    }

    impl Stack {
        async fn get(&self) {
            match self {
                Stack::Lean(lean) => {
                    let req = Request::get("/version").body(Body::empty()).unwrap();
                    let resp = lean.send(req).await.unwrap();
                    let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                }
                Stack::Library(client) => {
                    let req = Request::get("/version").body(Vec::new()).unwrap();
                    let _: serde_json::Value = client.request(req).await.unwrap();
                }
            }
        }
    }

    /// Two requests in a row share one pooled connection; after the idle policy's time
    /// without requests, the next one opens a new connection. Checked on both stacks with a
    /// short idle time (the mechanism is the one [`POOL_IDLE`] sets).
    #[tokio::test]
    async fn idle_connections_are_dropped_on_both_stacks() {
        let idle = Duration::from_millis(300);
        for name in ["lean", "library"] {
            let (url, accepted) = counting_server().await;
            let cfg = kube::Config::new(url.parse().unwrap());
            let stack = match name {
                "lean" => Stack::Lean(LeanHttp::with_idle(&cfg, idle).unwrap()),
                _ => Stack::Library(library_client_idle(&cfg, idle).unwrap()),
            };
            stack.get().await;
            stack.get().await;
            assert_eq!(
                accepted.load(Ordering::Relaxed),
                1,
                "{name}: one pooled connection"
            );
            tokio::time::sleep(idle * 3).await;
            stack.get().await;
            assert_eq!(
                accepted.load(Ordering::Relaxed),
                2,
                "{name}: the idle connection was let go"
            );
        }
    }
}
