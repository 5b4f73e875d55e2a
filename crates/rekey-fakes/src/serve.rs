//! The HTTP(S) server under every fake: one thread with its own runtime (so synchronous tests
//! can start a fake and inspect it while the real binary talks to it), a listener on
//! 127.0.0.1 (port 0: a free one below 32768), optional TLS, and the fault list every
//! request passes first.

use crate::faults::{FaultKind, Faults};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// One request, read whole.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: http::Method,
    /// Path segments, percent-decoded.
    pub segments: Vec<String>,
    /// Query parameters, percent-decoded.
    pub query: HashMap<String, String>,
    /// Headers (lower-case names).
    pub headers: http::HeaderMap,
    /// The body, as sent (not decoded).
    pub body: Bytes,
}

impl Req {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The path as segments, borrowed.
    pub fn path(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// An answer: a status and a JSON body (none for 204).
pub type Reply = (u16, Option<serde_json::Value>);

/// What a fake does with a request.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req` (after the faults had their say).
    fn handle(&self, req: &Req) -> Reply;
}

/// A fake serving on 127.0.0.1 until dropped.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub url: String,
    /// The port.
    pub port: u16,
    /// The fault list of this fake.
    pub faults: Faults,
    /// Requests answered, as `METHOD /path`.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Running {
    /// The requests answered so far.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A listener on `port` of 127.0.0.1, or (0) on a free port below 32768 (the ports above are
/// the system's ephemeral range, where clients' own ports come from).
fn bind(port: u16) -> std::io::Result<std::net::TcpListener> {
    if port != 0 {
        return std::net::TcpListener::bind(("127.0.0.1", port));
    }
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..500 {
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", rng.gen_range(20_000..32_768u16))) {
            return Ok(l);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port below 32768"))
}

/// Starts `handler` on `port` of 127.0.0.1 (0: a free port below 32768), with TLS if `tls` is
/// given.
pub fn start(handler: Arc<dyn Handler>, port: u16, tls: Option<Arc<rustls::ServerConfig>>) -> std::io::Result<Running> {
    let listener = bind(port)?;
    listener.set_nonblocking(true)?;
    let addr: SocketAddr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let faults = Faults::default();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let state = Shared { handler, faults: faults.clone(), log: log.clone() };
    let thread = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(accept_loop(listener, tls, state, stopped));
    });
    Ok(Running {
        url: format!("{scheme}://{addr}"),
        port: addr.port(),
        faults,
        log,
        stop: Some(stop),
        thread: Some(thread),
    })
}

#[derive(Clone)]
struct Shared {
    handler: Arc<dyn Handler>,
    faults: Faults,
    log: Arc<Mutex<Vec<String>>>,
}

async fn accept_loop(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Shared,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (sock, _) = tokio::select! {
            _ = &mut stopped => return,
            r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(state.clone(), req));
            let builder = hyper::server::conn::http1::Builder::new();
            match acceptor {
                // A client that does not trust the CA fails the handshake here.
                Some(a) => {
                    if let Ok(tls) = a.accept(sock).await {
                        let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                    }
                }
                None => {
                    let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(sock), service).await;
                }
            }
        });
    }
}

/// The answer was lost on purpose (the connection is closed without one).
#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer dropped by an armed fault")
    }
}

impl std::error::Error for Lost {}

async fn answer(state: Shared, req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, Lost> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Lost)?.to_bytes();
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let segments = parts.uri.path().split('/').filter(|s| !s.is_empty()).map(decode).collect();
    let query = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (decode(k), decode(&v.replace('+', " ")))))
        .collect();
    let req = Req { method: parts.method.clone(), segments, query, headers: parts.headers, body };
    let line = format!("{} {}", parts.method, parts.uri.path());
    let fault = state.faults.take(&parts.method, parts.uri.path());
    if let Some(FaultKind::Status(code)) = fault {
        state.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(format!("{line} -> fault {code}"));
        return Ok(reply((code, Some(serde_json::json!({ "message": "injected fault" })))));
    }
    let (status, json) = state.handler.handle(&req);
    state.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(format!("{line} -> {status}"));
    if fault == Some(FaultKind::Lost) {
        // The request took effect; its answer never arrives.
        return Err(Lost);
    }
    Ok(reply((status, json)))
}

fn reply((status, json): Reply) -> http::Response<Full<Bytes>> {
    let body = json.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
    let mut resp = http::Response::new(Full::new(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}
