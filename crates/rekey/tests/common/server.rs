//! A running `rekey serve` for end-to-end tests: started on a free port (read from its
//! "listening on" line), its stderr collected for leak scans, stopped by SIGTERM or on drop.

use super::Sandbox;
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, ExitStatus, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

pub struct Server {
    child: Child,
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `rekey serve` on 127.0.0.1:0 with `env` added.
    pub fn start(sb: &Sandbox, env: &[(&str, &str)]) -> Self {
        Self::start_with(sb, &[], env)
    }

    /// Starts `rekey serve` on 127.0.0.1:0 with `args` (e.g. `--config FILE`) and `env` added.
    pub fn start_with(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut s = Self::spawn(sb, args, env);
        let line = s.wait_for("listening on");
        s.port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("a port in the listening line");
        s
    }

    /// Starts `rekey serve` like [`Server::start_with`] without waiting for it to listen (`port`
    /// stays 0), for tests of its start-up.
    pub fn spawn(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = sb.std_rekey();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args).envs(env.iter().copied());
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start rekey serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line.clone());
                let _ = tx.send(line);
            }
        });
        Self { child, port: 0, log, lines }
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait")
    }

    /// Waits (up to a minute) for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("rekey serve never printed {needle:?}; log: {:?}", self.log.lock().expect("log")),
            }
        }
    }

    /// Whether a line containing `needle` was logged already.
    pub fn wait_for_logged(&mut self, needle: &str) -> bool {
        self.log.lock().expect("log").iter().any(|l| l.contains(needle))
    }

    /// One HTTP request; the status and the JSON (or text) body.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
        request(self.port, method, path, token, body)
    }

    /// Like [`Server::call`], parsing the body as JSON.
    pub fn json(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, serde_json::Value) {
        let (status, text) = self.call(method, path, token, body);
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {}", self.child.id());
    }

    /// Kills the server (SIGKILL: no journal boundary, no release) and reaps it.
    pub fn kill(&mut self) {
        self.signal("KILL");
        self.child.wait().expect("wait");
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        self.child.wait().expect("wait")
    }

    /// Sends SIGTERM and waits up to `limit` for the exit (`None` if it is still running; it is
    /// killed on drop).
    pub fn terminate_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything the server wrote to stderr so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let (status, _, body) = request_with_head(port, method, path, token, body);
    (status, body)
}

/// Like [`request`], also returning the response's head (status line and headers, lower-cased).
pub fn request_with_head(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to rekey serve");
    s.set_read_timeout(Some(Duration::from_secs(120))).expect("timeout");
    let body = body.unwrap_or("");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let ctype = if body.is_empty() { "" } else { "Content-Type: application/json\r\n" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status line");
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.into() };
    (status, head.to_ascii_lowercase(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
