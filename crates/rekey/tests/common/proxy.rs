//! A fault-injecting HTTP/1.1 proxy in front of moto, for the IAM fault tests.
//!
//! It listens on 127.0.0.1 (an ephemeral port), reads each request of a client connection
//! (keep-alive: many requests per connection; bodies framed by Content-Length or chunked), and
//! forwards it unchanged — the Host header included, so SigV4 signatures still verify — to moto
//! on a fresh connection with `Connection: close`; moto's response is relayed with its body
//! re-framed by Content-Length. A request whose form-encoded body says `Action=X` (IAM and STS
//! speak the query protocol) meets the first armed [`Fault`] for X instead, as many times as it
//! says. Every request's action is recorded, so a test can prove its fault was reached, and so
//! is the moment the client of a held request gave up on it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

/// What happens to a faulted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Not forwarded; answered with HTTP 500 and IAM's `ServiceFailure` error.
    ServiceFailure,
    /// Not forwarded; answered with HTTP 400 and IAM's `Throttling` error.
    Throttling,
    /// Not forwarded; the connection is closed without an answer.
    Reset,
    /// Forwarded (moto acts on it), then the connection is closed without the answer: the
    /// caller cannot tell whether the call happened.
    Lost,
    /// Not forwarded and not answered: held until the client gives up and closes.
    Hang,
    /// Forwarded (moto acts on it), and the answer withheld until the client gives up.
    HangAfter,
    /// Held back, as a request waiting in a slow network or a client's queue: forwarded (and
    /// answered) once the test calls [`Proxy::release`] if the client still waits for it, dropped
    /// if the client gave up first.
    Held,
}

/// A fault for one action: the first `skip` requests of it pass, the next `times` meet the
/// fault (`u32::MAX`: until disarmed).
#[derive(Debug, Clone)]
pub struct Fault {
    pub action: String,
    pub kind: FaultKind,
    pub skip: u32,
    pub times: u32,
}

#[derive(Default)]
struct State {
    /// The armed faults, each with how many requests met it.
    faults: Vec<(Fault, u32)>,
    seen: Vec<String>,
    /// Faulted requests whose client gave up (closed the connection): action, when (ms since
    /// the epoch, by the host's clock).
    given_up: Vec<(String, i64)>,
    /// Held requests forwarded on their release (their client still waited).
    forwarded_late: Vec<String>,
    /// Held requests not yet released or given up.
    holding: usize,
    released: bool,
}

/// A running proxy; its threads stop when it is dropped (held connections end when their
/// clients close them, or after [`IDLE`]).
pub struct Proxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

/// How long a client connection may stay silent before the proxy drops it.
const IDLE: Duration = Duration::from_secs(120);

impl Proxy {
    /// Starts a proxy in front of moto on `upstream_port`.
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                thread::spawn(move || serve(conn, upstream_port, &st));
            }
        });
        Self { url: format!("http://127.0.0.1:{port}"), state, stop, port }
    }

    /// Arms a fault (replacing any other), with a fresh injection count; held requests are held
    /// again until the next [`Proxy::release`].
    pub fn arm(&self, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        s.faults = vec![(fault, 0)];
        s.released = false;
    }

    /// Arms one more fault beside those armed (for another action: for the same one, the
    /// fault armed first takes the requests it wants).
    pub fn arm_also(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push((fault, 0));
    }

    /// Removes the faults: everything is forwarded from now on.
    pub fn disarm(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// How many requests met the fault armed first.
    pub fn injected(&self) -> u32 {
        self.state.lock().unwrap().faults.first().map_or(0, |(_, n)| *n)
    }

    /// The actions of all requests so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Faulted requests whose client gave up, and when (ms since the epoch).
    pub fn given_up(&self) -> Vec<(String, i64)> {
        self.state.lock().unwrap().given_up.clone()
    }

    /// Lets held requests go: each is forwarded if its client still waits.
    pub fn release(&self) {
        self.state.lock().unwrap().released = true;
    }

    /// Held requests not yet released or given up.
    pub fn holding(&self) -> usize {
        self.state.lock().unwrap().holding
    }

    /// Held requests forwarded on their release: their client still waited.
    pub fn forwarded_late(&self) -> Vec<String> {
        self.state.lock().unwrap().forwarded_late.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One HTTP request as read from a client.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the client wants the connection closed after this exchange.
    fn wants_close(&self) -> bool {
        match self.header("connection") {
            Some(v) => v.eq_ignore_ascii_case("close"),
            None => self.version == "HTTP/1.0",
        }
    }

    /// The `Action` parameter of a form-encoded body (IAM and STS: the query protocol).
    fn action(&self) -> Option<String> {
        let body = std::str::from_utf8(&self.body).ok()?;
        body.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_owned)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    header(headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// Serves one client connection: request after request until it closes.
fn serve(client: TcpStream, upstream: u16, state: &Mutex<State>) {
    let _ = client.set_read_timeout(Some(IDLE));
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut client = client;
    while let Some(req) = read_request(&mut reader) {
        let action = req.action();
        let fault = {
            let mut s = state.lock().unwrap();
            s.seen.push(action.clone().unwrap_or_else(|| format!("{} {}", req.method, req.target)));
            let armed = s
                .faults
                .iter_mut()
                .find(|(f, _)| (f.skip > 0 || f.times > 0) && action.as_deref() == Some(f.action.as_str()));
            match armed {
                Some((f, _)) if f.skip > 0 => {
                    f.skip -= 1;
                    None
                }
                Some((f, injected)) => {
                    if f.times != u32::MAX {
                        f.times -= 1;
                    }
                    *injected += 1;
                    Some(f.kind)
                }
                None => None,
            }
        };
        let close = req.wants_close();
        let answered = match fault {
            None => match forward(upstream, &req) {
                Some(resp) => relay(&mut client, &resp, close),
                None => false,
            },
            Some(FaultKind::ServiceFailure) => {
                let body = error_xml("Receiver", "ServiceFailure", "injected fault: internal failure");
                write_response(&mut client, "HTTP/1.1 500 Internal Server Error", &xml_headers(), &body, close)
            }
            Some(FaultKind::Throttling) => {
                let body = error_xml("Sender", "Throttling", "Rate exceeded");
                write_response(&mut client, "HTTP/1.1 400 Bad Request", &xml_headers(), &body, close)
            }
            Some(FaultKind::Reset) => false,
            Some(FaultKind::Lost) => {
                let _ = forward(upstream, &req);
                false
            }
            Some(FaultKind::Hang) => {
                wait_for_close(&mut reader);
                gave_up(state, &action);
                false
            }
            Some(FaultKind::HangAfter) => {
                let _ = forward(upstream, &req);
                wait_for_close(&mut reader);
                gave_up(state, &action);
                false
            }
            Some(FaultKind::Held) => {
                if hold(&mut reader, state) {
                    state.lock().unwrap().forwarded_late.push(action.clone().unwrap_or_default());
                    match forward(upstream, &req) {
                        Some(resp) => relay(&mut client, &resp, close),
                        None => false,
                    }
                } else {
                    gave_up(state, &action);
                    false
                }
            }
        };
        if !answered || close {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads one request; `None` when the client closed the connection (or broke the protocol).
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let (method, target, version) = (parts.next()?.to_owned(), parts.next()?.to_owned(), parts.next()?.to_owned());
    let headers = read_headers(reader)?;
    let body = read_body(reader, &headers, false)?;
    Some(Request { method, target, version, headers, body })
}

fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Some(headers);
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}

/// A message body framed by its headers; `to_eof` reads an unframed body to the end (responses).
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)], to_eof: bool) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    if is_chunked(headers) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, up to the empty line.
                read_headers(reader)?;
                return Some(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    }
    if let Some(len) = header(headers, "content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if to_eof {
        reader.read_to_end(&mut body).ok()?;
    }
    Some(body)
}

/// A response from moto: status line, headers (framing removed) and body.
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends `req` to moto on a fresh connection and reads the whole answer.
fn forward(upstream: u16, req: &Request) -> Option<Response> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.set_read_timeout(Some(IDLE)).ok()?;
    let mut head = format!("{} {} {}\r\n", req.method, req.target, req.version);
    for (k, v) in &req.headers {
        if !is_hop_by_hop(k) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", req.body.len()));
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(&req.body).ok()?;
    up.flush().ok()?;
    let mut reader = BufReader::new(up);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let headers = read_headers(&mut reader)?;
    let body = read_body(&mut reader, &headers, true)?;
    let headers = headers.into_iter().filter(|(k, _)| !is_hop_by_hop(k)).collect();
    Some(Response { status: status.trim_end().to_owned(), headers, body })
}

/// Headers that describe one hop's connection or framing (the proxy sets its own).
fn is_hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length", "te", "upgrade"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn relay(client: &mut TcpStream, resp: &Response, close: bool) -> bool {
    write_response(client, &resp.status, &resp.headers, &resp.body, close)
}

fn write_response(
    client: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> bool {
    let mut head = format!("{status}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let connection = if close { "close" } else { "keep-alive" };
    head.push_str(&format!("Content-Length: {}\r\nConnection: {connection}\r\n\r\n", body.len()));
    client.write_all(head.as_bytes()).is_ok() && client.write_all(body).is_ok() && client.flush().is_ok()
}

fn xml_headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "text/xml".into()),
        ("x-amzn-RequestId".into(), "00000000-0000-0000-0000-00000000fa17".into()),
    ]
}

/// An error in the query protocol's XML shape (as IAM and STS send it).
fn error_xml(kind: &str, code: &str, message: &str) -> Vec<u8> {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>00000000-0000-0000-0000-00000000fa17</RequestId></ErrorResponse>"
    )
    .into_bytes()
}

/// Notes that the client of a faulted request gave up on it.
fn gave_up(state: &Mutex<State>, action: &Option<String>) {
    state.lock().unwrap().given_up.push((action.clone().unwrap_or_default(), super::suite::now_ms()));
}

/// Holds a request until the test releases it (`true`) or its client closes the connection
/// (`false`), whichever comes first.
fn hold(reader: &mut BufReader<TcpStream>, state: &Mutex<State>) -> bool {
    state.lock().unwrap().holding += 1;
    let _ = reader.get_ref().set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = [0u8; 1];
    let released = loop {
        if state.lock().unwrap().released {
            break true;
        }
        match reader.get_ref().peek(&mut buf) {
            Ok(0) => break false,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // Bytes of another request (never sent while one waits), or a broken connection.
            Ok(_) | Err(_) => break false,
        }
    };
    state.lock().unwrap().holding -= 1;
    let _ = reader.get_ref().set_read_timeout(Some(IDLE));
    released
}

/// Holds a request unanswered until the client closes its connection (it gave up), or [`IDLE`].
fn wait_for_close(reader: &mut impl Read) {
    let mut buf = [0u8; 1024];
    while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
}
