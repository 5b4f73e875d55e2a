//! The proxy itself: one HTTP/1.1 listener per simulated AWS account on 127.0.0.1, each request
//! read whole, judged (`state`), then answered by the model or forwarded unchanged to
//! moto on a fresh connection (moto closes every connection after one answer), and moto's answer
//! relayed after the model has learnt from it and paged it. `/moto-api/…` passes through (a
//! reset also resets the model); `/model/stats` and `/model/config` are the model's own.
//!
//! [`Model`] runs the proxy on a thread of its own (the test fixtures); [`serve`] runs it on the
//! caller's runtime (the binary).

use crate::{request::Call, state::Shared, ModelConfig, ModelError, Stats};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, header, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::{
    convert::Infallible,
    future::Future,
    net::{SocketAddr, TcpListener},
    sync::Arc,
};
use tokio::sync::watch;

/// Headers about one hop's connection or framing (each side sets its own).
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length", "te", "upgrade"];

/// A listener on a free port of 127.0.0.1 below 32768.
pub fn bind_low() -> Result<TcpListener, ModelError> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..500 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", rng.gen_range(20_000..32_768u16))) {
            return Ok(l);
        }
    }
    Err(ModelError::Io(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port below 32768")))
}

/// Serves `listeners` (one per account, in order) in front of moto at `upstream` until `stop`
/// completes.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    stop: impl Future<Output = ()>,
) -> Result<(), ModelError> {
    let (tx, rx) = watch::channel(false);
    for (account, l) in listeners.into_iter().enumerate() {
        l.set_nonblocking(true)?;
        let l = tokio::net::TcpListener::from_std(l)?;
        tokio::spawn(accept(l, account, shared.clone(), rx.clone()));
    }
    stop.await;
    let _ = tx.send(true);
    Ok(())
}

async fn accept(
    listener: tokio::net::TcpListener,
    account: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(shared.clone(), account, req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    account: usize,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, format!("cannot read the request: {e}"))),
    };
    let path = parts.uri.path().to_owned();
    if path.starts_with("/model/") {
        return Ok(control(&shared, &parts.method, &path, &body));
    }
    let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let call = Call::parse(auth, &body);
    let label = call.action.clone().unwrap_or_else(|| format!("{} {path}", parts.method));
    if shared.needs_state(&call) {
        if let Ok(state) = moto_state(shared.upstream).await {
            shared.load_state(&state);
        }
    }
    let (latency, admitted) = shared.admit(account, &call, &label);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Err(refusal) = admitted {
        return Ok(refusal.response(call.service, shared.request_id()));
    }
    if path.starts_with("/moto-api/reset") {
        shared.reset();
    }
    let (status, headers, answer) = match forward(shared.upstream, &parts, body).await {
        Ok(r) => r,
        Err(e) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("moto did not answer: {e}"))),
    };
    let answer = if status == StatusCode::OK && call.action.is_some() {
        match shared.answered(&call, String::from_utf8_lossy(&answer).into_owned()) {
            Ok(text) => Bytes::from(text),
            Err(refusal) => return Ok(refusal.response(call.service, shared.request_id())),
        }
    } else {
        answer
    };
    let mut resp = Response::new(Full::new(answer));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// Sends the request to moto on a fresh connection; its status, headers (framing removed) and body.
async fn forward(
    upstream: SocketAddr,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), ModelError> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(upstream_err)?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(parts.method.clone()).uri(parts.uri.clone());
    for (k, v) in &parts.headers {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            req = req.header(k, v);
        }
    }
    let req = req.body(Full::new(body)).map_err(|e| ModelError::Upstream(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(upstream_err)?;
    let (rparts, rbody) = resp.into_parts();
    let bytes = rbody.collect().await.map_err(upstream_err)?.to_bytes();
    let mut headers = rparts.headers;
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    Ok((rparts.status, headers, bytes))
}

fn upstream_err(e: hyper::Error) -> ModelError {
    ModelError::Upstream(e.to_string())
}

/// moto's whole state (`/moto-api/data.json`).
async fn moto_state(upstream: SocketAddr) -> Result<serde_json::Value, ModelError> {
    let parts = Request::get("/moto-api/data.json")
        .header(header::HOST, upstream.to_string())
        .body(())
        .map_err(|e| ModelError::Upstream(e.to_string()))?
        .into_parts()
        .0;
    let (_, _, body) = forward(upstream, &parts, Bytes::new()).await?;
    serde_json::from_slice(&body).map_err(|e| ModelError::Upstream(format!("moto state: {e}")))
}

/// `/model/stats` (GET: JSON), `/model/config` (GET: `key=value` lines; POST: apply lines).
fn control(shared: &Shared, method: &hyper::Method, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
    match (method.as_str(), path) {
        ("GET", "/model/stats") => plain(StatusCode::OK, shared.stats().to_json().to_string()),
        ("GET", "/model/config") => plain(StatusCode::OK, shared.config().describe()),
        ("POST", "/model/config") => {
            let mut c = shared.config();
            match c.set_all([String::from_utf8_lossy(body).as_ref()]) {
                Ok(()) => {
                    shared.configure(|current| *current = c.clone());
                    plain(StatusCode::OK, c.describe())
                }
                Err(e) => plain(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        _ => plain(StatusCode::NOT_FOUND, "the model serves GET /model/stats and GET|POST /model/config".into()),
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp
}

/// The model running on a thread of its own, stopped when dropped.
#[derive(Debug)]
pub struct Model {
    urls: Vec<String>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Model {
    /// The model of one AWS account in front of moto on `upstream_port`.
    pub fn start(config: ModelConfig, upstream_port: u16) -> Result<Self, ModelError> {
        Self::start_accounts(config, upstream_port, 1)
    }

    /// The model of `accounts` AWS accounts (one listener each, each with its own buckets).
    pub fn start_accounts(config: ModelConfig, upstream_port: u16, accounts: usize) -> Result<Self, ModelError> {
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        let shared = Arc::new(Shared::new(config, upstream, accounts));
        let listeners = (0..accounts.max(1)).map(|_| bind_low()).collect::<Result<Vec<_>, _>>()?;
        let urls = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| format!("http://127.0.0.1:{}", a.port())))
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("rekey-aws-model".into()).spawn(move || {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(e) = runtime.block_on(serve(s, listeners, stopped)) {
                eprintln!("rekey-aws-model: {e}");
            }
        })?;
        Ok(Self { urls, shared, stop: Some(stop), thread: Some(thread) })
    }

    /// The first account's endpoint URL.
    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    /// Account `i`'s endpoint URL.
    pub fn account_url(&self, i: usize) -> &str {
        &self.urls[i.min(self.urls.len() - 1)]
    }

    /// The first account's port.
    pub fn port(&self) -> u16 {
        self.urls[0].rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default()
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The settings in force.
    pub fn config(&self) -> ModelConfig {
        self.shared.config()
    }

    /// Changes the settings while the model runs.
    pub fn configure(&self, f: impl FnOnce(&mut ModelConfig)) {
        self.shared.configure(f);
    }

    /// Applies `key=value` settings while the model runs.
    pub fn set(&self, settings: &[&str]) -> Result<(), ModelError> {
        let mut c = self.config();
        c.set_all(settings.iter().copied())?;
        self.shared.configure(|current| *current = c);
        Ok(())
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
