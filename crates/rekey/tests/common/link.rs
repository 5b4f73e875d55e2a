//! A TCP link a test can cut: a relay on 127.0.0.1 in front of one upstream (a node's
//! database connection). [`Link::cut`] freezes it the way a network partition does: every
//! connection stays open but no byte moves either way (what is sent waits in the kernels'
//! buffers; new connections are accepted and get no answer), so neither end learns anything
//! until its own timeouts say so. [`Link::heal`] lets the bytes flow again, in order.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

/// A running relay; its threads end when it is dropped (connections close).
pub struct Link {
    /// The relay's port (what the node connects to).
    pub port: u16,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// How often a frozen or idle pump looks at the flags.
const POLL: Duration = Duration::from_millis(20);

impl Link {
    /// A relay to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the link");
        let port = listener.local_addr().expect("link address").port();
        listener.set_nonblocking(true).expect("nonblocking listener");
        let (cut, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (c, s, up) = (cut.clone(), stop.clone(), upstream.to_owned());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(&up) else { continue };
                        relay(client, server, &c, &s);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                    Err(_) => return,
                }
            }
        });
        Self { port, cut, stop }
    }

    /// Freezes every connection, present and future.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Lets bytes flow again.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Two pumps, one per direction.
fn relay(client: TcpStream, server: TcpStream, cut: &Arc<AtomicBool>, stop: &Arc<AtomicBool>) {
    for (from, to) in [(&client, &server), (&server, &client)] {
        let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else { return };
        let (cut, stop) = (cut.clone(), stop.clone());
        thread::spawn(move || pump(from, to, &cut, &stop));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        if cut.load(Ordering::SeqCst) {
            thread::sleep(POLL);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// The URL `url` with its host and port replaced by 127.0.0.1:`port`, and the original
/// `host:port`.
pub fn through(url: &str, port: u16) -> (String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let path_at = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..path_at];
    let host_at = authority.rfind('@').map_or(0, |a| a + 1);
    let upstream = authority[host_at..].to_owned();
    let upstream = if upstream.contains(':') { upstream } else { format!("{upstream}:5432") };
    let url = format!("{}{}127.0.0.1:{port}{}", &url[..scheme_end], &authority[..host_at], &rest[path_at..]);
    (url, upstream)
}
