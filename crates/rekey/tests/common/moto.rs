//! moto's standalone server, started on 127.0.0.1 on a free port below 32768 and killed (by
//! PID) when the fixture is dropped.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// A running moto server.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Moto {
    /// Starts moto with request authentication off.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts moto with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        for _ in 0..20 {
            let port = free_port();
            let mut cmd = Command::new("moto_server");
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("moto_server on PATH (pip install 'moto[server]' flask flask-cors)");
            if wait_ready(&mut child, port) {
                return Self { child, port, url: format!("http://127.0.0.1:{port}") };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// moto's internal state (`/moto-api/data.json`), e.g. to read stored passwords.
    pub fn state(&self) -> serde_json::Value {
        let body = http_get(self.port, "/moto-api/data.json").expect("moto state");
        serde_json::from_str(&body).expect("moto state is JSON")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port in 20000..32768 that is free right now (moto binds it next; a lost race is retried).
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port =
            20000 + ((std::process::id().wrapping_mul(7919).wrapping_add(n.wrapping_mul(104_729))) % 12768) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls until moto answers HTTP, or it exits, or 60 s pass.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if http_get(port, "/moto-api/").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}
