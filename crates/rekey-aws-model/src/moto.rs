//! moto's standalone server as a child process: started on 127.0.0.1 on a free port below 32768,
//! killed (by PID) when dropped. The test fixtures put the model in front of it.

use crate::ModelError;
use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `moto_server`.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl MotoServer {
    /// Starts `moto_server` (from `PATH`) with extra environment, e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT`; a port lost to a race is retried.
    pub fn start(env: &[(&str, &str)]) -> Result<Self, ModelError> {
        for _ in 0..20 {
            let port = crate::bind_low()?.local_addr()?.port();
            let mut cmd = Command::new("moto_server");
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .envs(env.iter().copied());
            let mut child = cmd.spawn().map_err(|e| {
                ModelError::Upstream(format!(
                    "cannot run moto_server ({e}): pip install 'moto[server]' flask flask-cors"
                ))
            })?;
            if wait_ready(&mut child, port) {
                return Ok(Self { child, port });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(ModelError::Upstream("moto_server did not start".into()))
    }

    /// `GET path` on moto, the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Option<String> {
        http_get(self.port, path)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
