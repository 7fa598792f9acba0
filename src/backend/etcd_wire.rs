//! The lean etcd write path: a thin gRPC client over HTTP/2 for the one request the load
//! path sends per create, `etcdserverpb.KV/Txn` with one create-only Put (compare
//! `create_revision == 0`, then put), as kube-apiserver's storage layer sends for every create
//! (`staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go`, `Create`, in the Kubernetes
//! repository). One object per transaction: etcd sees the same writes as from the apiserver.
//!
//! What it leaves out compared with a general gRPC stack (tonic under etcd-client): no tower
//! buffer task between the caller and the connection, no per-request body task, no generic
//! codec. The request is prost-encoded once into a per-thread buffer that is reused
//! (`BytesMut` reclaims the space once the previous frame was written), framed as gRPC
//! (`PROTOCOL-HTTP2.md` of the gRPC repository: a 1-byte compressed flag, a 4-byte big-endian
//! length, the message) and handed to `h2` with end-of-stream set, so the connection task
//! writes headers and data of many in-flight requests with one flush. The HTTP/2 windows are
//! larger than the 64 KiB default so that responses never wait for window updates.
//!
//! Plaintext endpoints only: an etcd with TLS keeps the etcd-client path
//! ([`super::etcd::EtcdTarget`] decides). Failures are classified as
//! [`super::etcd::classify`] does for etcd-client's errors (gRPC status and etcd's error texts).

use super::{EtcdError, RequestError};
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long dialing one endpoint may take before the request counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Our receive window per stream (responses are a few dozen bytes; watches do not use this).
const STREAM_WINDOW: u32 = 1 << 20;
/// Our receive window per connection.
const CONNECTION_WINDOW: u32 = 1 << 24;
/// What a thread's reusable encode buffer starts with (grows to the largest frame).
const BUFFER_START: usize = 64 * 1024;

/// `etcdserverpb.TxnRequest` (etcd's `api/etcdserverpb/rpc.proto`): the fields this write uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    /// Conditions (all must hold).
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    /// Operations when they hold.
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
}

/// `etcdserverpb.Compare`: result EQUAL is 0, target CREATE is 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    /// `CompareResult` (EQUAL = 0).
    #[prost(int32, tag = "1")]
    pub result: i32,
    /// `CompareTarget` (CREATE = 1).
    #[prost(int32, tag = "2")]
    pub target: i32,
    /// The key compared.
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    /// The value compared with.
    #[prost(oneof = "TargetUnion", tags = "5")]
    pub target_union: Option<TargetUnion>,
}

/// `Compare.target_union`: the create revision (0: the key does not exist).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TargetUnion {
    /// `create_revision`.
    #[prost(int64, tag = "5")]
    CreateRevision(i64),
}

/// `etcdserverpb.RequestOp`: a put.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    /// `request_put`.
    #[prost(oneof = "Op", tags = "2")]
    pub request: Option<Op>,
}

/// `RequestOp.request`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Op {
    /// `request_put`.
    #[prost(message, tag = "2")]
    Put(PutRequest),
}

/// `etcdserverpb.PutRequest`: key and value (no lease).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    /// The key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The value.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `etcdserverpb.TxnResponse`: the header's revision and whether the compare held (the
/// per-operation responses are skipped while decoding).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    /// The response header.
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    /// True when the compare held and the put was applied.
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

/// `etcdserverpb.ResponseHeader`: the revision the transaction was applied at.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseHeader {
    /// The store's revision after the request.
    #[prost(int64, tag = "3")]
    pub revision: i64,
}

/// The create-only transaction for `key`: put `value` if the key was never created.
pub fn create_only(key: &str, value: Vec<u8>) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: 0,
            target: 1,
            key: key.as_bytes().to_vec(),
            target_union: Some(TargetUnion::CreateRevision(0)),
        }],
        success: vec![RequestOp {
            request: Some(Op::Put(PutRequest {
                key: key.as_bytes().to_vec(),
                value,
            })),
        }],
    }
}

/// One gRPC message frame of `msg`, encoded into this thread's reusable buffer.
pub fn frame(msg: &impl Message) -> Bytes {
    thread_local! {
        static BUF: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::with_capacity(BUFFER_START));
    }
    let len = msg.encoded_len();
    BUF.with_borrow_mut(|b| {
        b.reserve(5 + len);
        b.put_u8(0);
        b.put_u32(len as u32);
        // BytesMut grows as needed: encoding into it cannot run out of space.
        msg.encode_raw(b);
        b.split().freeze()
    })
}

/// The message of a complete, uncompressed gRPC frame.
pub fn unframe(data: &[u8]) -> Option<&[u8]> {
    let (head, msg) = data.split_at_checked(5)?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    (head[0] == 0 && msg.len() == len).then_some(msg)
}

/// A gRPC status (code and message) as [`super::etcd::classify`] classifies etcd-client's.
pub fn status_error(code: u32, message: &str) -> RequestError {
    let kind = if message.contains("database space exceeded") {
        EtcdError::NoSpace
    } else if message.contains("request is too large")
        || message.contains("message larger than max")
    {
        EtcdError::TooLarge
    } else {
        match code {
            // Cancelled, DeadlineExceeded, Unavailable.
            1 | 4 | 14 => EtcdError::Unavailable,
            // ResourceExhausted.
            8 => EtcdError::NoSpace,
            _ => EtcdError::Other,
        }
    };
    RequestError::Etcd(kind)
}

/// `grpc-status` and the percent-decoded `grpc-message` of a header block, when present.
fn grpc_status(h: &http::HeaderMap) -> Option<(u32, String)> {
    let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let msg = h
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    Some((code, msg))
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plaintext etcd endpoint: where to dial and the `KV/Txn` URI.
struct Endpoint {
    addr: String,
    txn_uri: http::Uri,
}

/// One connection per endpoint, dialed on first use and again after it closed.
struct Slot {
    conn: Mutex<Option<(u64, h2::client::SendRequest<Bytes>)>>,
    dialing: tokio::sync::Mutex<()>,
}

/// Writes create-only transactions over one HTTP/2 connection per endpoint, round-robin.
pub struct Wire {
    endpoints: Vec<Endpoint>,
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
    generation: AtomicU64,
}

/// Why an endpoint cannot be used by the lean path.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not a plaintext `host:port` or `http://host:port` endpoint.
    #[error("{0}: not a plaintext etcd endpoint (http://host:port)")]
    NotPlaintext(String),
}

impl Wire {
    /// A writer for plaintext `endpoints` (`http://host:port` or `host:port`); dials lazily.
    pub fn new(endpoints: &[String]) -> Result<Wire, WireError> {
        let mut eps = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let bad = || WireError::NotPlaintext(e.clone());
            let rest = match e.split_once("://") {
                Some(("http", rest)) => rest,
                Some(_) => return Err(bad()),
                None => e.as_str(),
            };
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(bad());
            }
            let uri = format!("http://{authority}/etcdserverpb.KV/Txn")
                .parse::<http::Uri>()
                .map_err(|_| bad())?;
            if uri.port_u16().is_none() {
                return Err(bad());
            }
            eps.push(Endpoint {
                addr: authority.to_string(),
                txn_uri: uri,
            });
        }
        if eps.is_empty() {
            return Err(WireError::NotPlaintext(String::new()));
        }
        let slots = eps
            .iter()
            .map(|_| {
                Arc::new(Slot {
                    conn: Mutex::new(None),
                    dialing: tokio::sync::Mutex::new(()),
                })
            })
            .collect();
        Ok(Wire {
            endpoints: eps,
            slots,
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        })
    }

    /// Puts `value` at `key` unless the key exists: (succeeded, revision).
    pub async fn create_only(
        &self,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(bool, i64), RequestError> {
        let body = frame(&create_only(key, value));
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        let data = self.unary(i, body).await?;
        let resp = unframe(&data)
            .and_then(|m| TxnResponse::decode(m).ok())
            .ok_or(RequestError::Etcd(EtcdError::Other))?;
        Ok((resp.succeeded, resp.header.map(|h| h.revision).unwrap_or(0)))
    }

    /// One unary call on endpoint `i`: the response's message frame(s).
    async fn unary(&self, i: usize, body: Bytes) -> Result<Bytes, RequestError> {
        let (generation, sr) = self.connection(i).await?;
        let unavailable = RequestError::Etcd(EtcdError::Unavailable);
        let mut sr = match sr.ready().await {
            Ok(sr) => sr,
            Err(_) => {
                self.forget(i, generation);
                return Err(unavailable);
            }
        };
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.endpoints[i].txn_uri.clone())
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(())
            .map_err(|_| RequestError::Etcd(EtcdError::Other))?;
        let (resp, mut stream) = sr
            .send_request(req, false)
            .map_err(|e| self.failed(i, generation, &e))?;
        stream
            .send_data(body, true)
            .map_err(|e| self.failed(i, generation, &e))?;
        let resp = resp.await.map_err(|e| self.failed(i, generation, &e))?;
        if resp.status() != http::StatusCode::OK {
            return Err(match resp.status().as_u16() {
                502..=504 => unavailable,
                _ => RequestError::Etcd(EtcdError::Other),
            });
        }
        // Trailers-only answer: the status is in the headers.
        if let Some((code, msg)) = grpc_status(resp.headers()) {
            if code != 0 {
                return Err(status_error(code, &msg));
            }
        }
        let mut body = resp.into_body();
        let mut data = Bytes::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| self.failed(i, generation, &e))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data = if data.is_empty() {
                chunk
            } else {
                let mut d = BytesMut::from(&data[..]);
                d.extend_from_slice(&chunk);
                d.freeze()
            };
        }
        let trailers = body
            .trailers()
            .await
            .map_err(|e| self.failed(i, generation, &e))?;
        match trailers.as_ref().and_then(grpc_status) {
            Some((0, _)) => Ok(data),
            Some((code, msg)) => Err(status_error(code, &msg)),
            None if data.is_empty() => Err(unavailable),
            None => Err(RequestError::Etcd(EtcdError::Other)),
        }
    }

    /// An h2 failure: the connection is dropped when it is the connection's (not one
    /// stream's), and the request counts as unavailable.
    fn failed(&self, i: usize, generation: u64, e: &h2::Error) -> RequestError {
        if e.is_io() || e.is_go_away() || e.reason().is_none() {
            self.forget(i, generation);
        }
        RequestError::Etcd(EtcdError::Unavailable)
    }

    fn forget(&self, i: usize, generation: u64) {
        forget(&self.slots[i], generation);
    }

    /// The live connection to endpoint `i`, dialing it when there is none.
    async fn connection(
        &self,
        i: usize,
    ) -> Result<(u64, h2::client::SendRequest<Bytes>), RequestError> {
        let slot = &self.slots[i];
        if let Some(c) = live(slot) {
            return Ok(c);
        }
        let _dialing = slot.dialing.lock().await;
        if let Some(c) = live(slot) {
            return Ok(c);
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let sr = dial(&self.endpoints[i].addr, slot.clone(), generation).await?;
        *slot.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, sr.clone()));
        Ok((generation, sr))
    }
}

fn live(slot: &Slot) -> Option<(u64, h2::client::SendRequest<Bytes>)> {
    slot.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn forget(slot: &Slot, generation: u64) {
    let mut c = slot.conn.lock().unwrap_or_else(|p| p.into_inner());
    if c.as_ref().is_some_and(|(g, _)| *g == generation) {
        *c = None;
    }
}

/// Dials `addr` and starts the HTTP/2 connection task (which forgets the connection when it
/// ends, so that the next request dials again).
async fn dial(
    addr: &str,
    slot: Arc<Slot>,
    generation: u64,
) -> Result<h2::client::SendRequest<Bytes>, RequestError> {
    let unavailable = RequestError::Etcd(EtcdError::Unavailable);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unavailable.clone())?
        .map_err(|_| unavailable.clone())?;
    let _ = tcp.set_nodelay(true);
    let (sr, conn) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|_| unavailable.clone())?;
    tokio::spawn(async move {
        let _ = conn.await;
        forget(&slot, generation);
    });
    Ok(sr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_classify() {
        let txn = create_only("/registry/a/b", b"v".to_vec());
        let f = frame(&txn);
        assert_eq!(f[0], 0);
        let msg = unframe(&f).expect("a complete frame");
        assert_eq!(TxnRequest::decode(msg).expect("decodes"), txn);
        assert_eq!(unframe(&f[..f.len() - 1]), None);
        // A second frame from the same thread's buffer is independent of the first.
        let g = frame(&create_only("/k", vec![7; 3000]));
        assert_eq!(TxnRequest::decode(unframe(&f).unwrap()).unwrap(), txn);
        assert_eq!(unframe(&g).map(|m| m.len()), Some(g.len() - 5));
        assert_eq!(
            status_error(8, "etcdserver: mvcc: database space exceeded"),
            RequestError::Etcd(EtcdError::NoSpace)
        );
        assert_eq!(
            status_error(3, "etcdserver: request is too large"),
            RequestError::Etcd(EtcdError::TooLarge)
        );
        assert_eq!(
            status_error(14, "x"),
            RequestError::Etcd(EtcdError::Unavailable)
        );
        assert_eq!(status_error(2, "x"), RequestError::Etcd(EtcdError::Other));
        assert_eq!(percent_decode(b"a%20b%zz"), "a b%zz");
    }

    #[test]
    fn encodes_the_wire_format() {
        // rpc.proto by hand: TxnRequest{compare: [Compare{target: CREATE, key: "k",
        // create_revision: 0}], success: [RequestOp{request_put: PutRequest{key: "k", value: "v"}}]}.
        let bytes = create_only("k", b"v".to_vec()).encode_to_vec();
        let compare = [0x10, 0x01, 0x1a, 0x01, b'k', 0x28, 0x00];
        let put = [0x0a, 0x01, b'k', 0x12, 0x01, b'v'];
        let mut want = vec![0x0a, compare.len() as u8];
        want.extend_from_slice(&compare);
        want.extend_from_slice(&[0x12, put.len() as u8 + 2, 0x12, put.len() as u8]);
        want.extend_from_slice(&put);
        assert_eq!(bytes, want);
        // A response with header {revision: 42}, succeeded and a response op it skips.
        let resp = [0x0a, 0x02, 0x18, 42, 0x10, 0x01, 0x1a, 0x02, 0x12, 0x00];
        let r = TxnResponse::decode(&resp[..]).expect("decodes");
        assert!(r.succeeded);
        assert_eq!(r.header.map(|h| h.revision), Some(42));
    }

    #[test]
    fn endpoints() {
        assert!(Wire::new(&["http://127.0.0.1:2379".into()]).is_ok());
        assert!(Wire::new(&["127.0.0.1:2379".into()]).is_ok());
        assert!(Wire::new(&["https://127.0.0.1:2379".into()]).is_err());
        assert!(Wire::new(&["http://127.0.0.1".into()]).is_err());
        assert!(Wire::new(&[]).is_err());
    }
}
