//! Local receivers for what rekey sends out: an HTTP endpoint for webhooks (answering each
//! request with a status the test sets) and syslog collectors over UDP and TCP. Each records
//! what it got; tests wait on conditions over the records, never on time.

use super::proxy::{read_request, Request};
use std::{
    io::{BufReader, Read, Write},
    net::{TcpListener, UdpSocket},
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// The HMAC key the tests' webhooks are signed with.
pub const HOOK_KEY: &str = "test-hook-key-0123456789abcdef";

/// An HTTP receiver on 127.0.0.1.
pub struct Receiver {
    pub url: String,
    pub status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<(u16, Request)>>>,
}

impl Receiver {
    /// Starts one answering 200 until told otherwise.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let status = Arc::new(AtomicU16::new(200));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (st, log) = (status.clone(), got.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (st, log) = (st.clone(), log.clone());
                std::thread::spawn(move || {
                    let Ok(read) = conn.try_clone() else { return };
                    let mut reader = BufReader::new(read);
                    let mut conn = conn;
                    while let Some(req) = read_request(&mut reader) {
                        let code = st.load(Ordering::SeqCst);
                        log.lock().expect("log").push((code, req));
                        let answer = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\n\r\nok");
                        if conn.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, status, got }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.got.lock().expect("log").iter().map(|(_, r)| r.clone()).collect()
    }

    /// The requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Request> {
        self.got.lock().expect("log").iter().filter(|(c, _)| (200..300).contains(c)).map(|(_, r)| r.clone()).collect()
    }

    /// Waits (up to a minute) until the requests satisfy `done`; returns them.
    pub fn wait(&self, what: &str, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        wait(what, || {
            let r = self.requests();
            done(&r).then_some(r)
        })
    }
}

/// The JSON body of a request whose signature verifies with [`HOOK_KEY`] (panics otherwise).
pub fn signed_json(r: &Request) -> serde_json::Value {
    let ts = r.header("x-rekey-timestamp").expect("timestamp header");
    let sig = r.header("x-rekey-signature").expect("signature header");
    assert!(rekey_engine::delivery::webhook::verify(HOOK_KEY.as_bytes(), ts, &r.body, sig), "the signature verifies");
    assert!(!rekey_engine::delivery::webhook::verify(b"another-key-0123456789", ts, &r.body, sig));
    serde_json::from_slice(&r.body).expect("a JSON body")
}

/// Polls `f` every 50 ms until it returns something, for up to a minute.
pub fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A syslog collector: UDP datagrams, or TCP octet-counted frames, as strings.
pub struct Syslog {
    pub address: String,
    got: Arc<Mutex<Vec<String>>>,
}

impl Syslog {
    pub fn udp() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let address = sock.local_addr().expect("addr").to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                log.lock().expect("log").push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        Self { address, got }
    }

    pub fn tcp() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().map_while(Result::ok) {
                let mut all = Vec::new();
                if conn.read_to_end(&mut all).is_err() {
                    continue;
                }
                // Octet counting: "LEN SP MSG" repeated.
                let mut rest = &all[..];
                while let Some(sp) = rest.iter().position(|b| *b == b' ') {
                    let len: usize = std::str::from_utf8(&rest[..sp]).expect("a length").parse().expect("a length");
                    let msg = &rest[sp + 1..sp + 1 + len];
                    log.lock().expect("log").push(String::from_utf8_lossy(msg).into_owned());
                    rest = &rest[sp + 1 + len..];
                }
            }
        });
        Self { address, got }
    }

    pub fn messages(&self) -> Vec<String> {
        self.got.lock().expect("log").clone()
    }
}
