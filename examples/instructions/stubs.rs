//! In-process stubs for the client-stack scenarios: an HTTP/1.1 server answering every
//! request with 201 and a created object's metadata (kube), and an HTTP/2 gRPC server
//! answering etcd's Status, Range and Txn with fixed messages (etcd).

use bytes::Bytes;
use capi_loadgen::backend::etcd::EtcdTarget;
use capi_loadgen::backend::kube::KubeTarget;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn listen() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// A kube target on a stub apiserver that creates everything.
pub async fn kube() -> KubeTarget {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let body = br#"{"metadata":{"uid":"00000000-1111-4222-8333-444444444444","resourceVersion":"7"}}"#;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(201)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(body)))
                            .expect("response"),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let cfg = kube::Config::new(format!("http://{addr}").parse().expect("url"));
    KubeTarget::from_config(cfg, TIMEOUT).expect("kube target")
}

/// `TxnResponse{header: {revision: 7}, succeeded: true}`.
const TXN_OK: &[u8] = &[0x0a, 0x02, 0x18, 0x07, 0x10, 0x01];

/// An etcd target on a stub etcd whose transactions all succeed.
pub async fn etcd() -> EtcdTarget {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let msg: &[u8] = if req.uri().path().ends_with("/Txn") {
                        TXN_OK
                    } else {
                        &[] // Status, Range: empty answers (no apiserver wrote this etcd)
                    };
                    let _ = req.into_body().collect().await;
                    let mut framed = vec![0u8];
                    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
                    framed.extend_from_slice(msg);
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                        Ok(Frame::data(Bytes::from(framed))),
                        Ok(Frame::trailers(trailers)),
                    ];
                    let body: BoxBody<Bytes, Infallible> =
                        StreamBody::new(futures::stream::iter(frames)).boxed();
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .expect("response"),
                    )
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    EtcdTarget::connect(&[format!("http://{addr}")], None, TIMEOUT)
        .await
        .expect("etcd target")
}
