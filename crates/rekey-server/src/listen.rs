//! Connections, held to limits a hostile client cannot stretch:
//!
//! - at most `limits.max_connections` open at once (more wait in the kernel's listen backlog);
//! - a connection that has not sent a complete request head within `limits.header_timeout` of
//!   opening, or of its previous answer, is closed: a slow or half-open request, and an idle
//!   keep-alive connection, alike (the TLS handshake has the same limit);
//! - accept errors (out of file descriptors, …) are retried after a pause that doubles from
//!   10 ms to 1 s, not at once in a loop;
//! - at shutdown, connections without a request under way (idle, half-open) are closed at once;
//!   requests under way get `limits.shutdown_grace` to finish, then their connections are closed;
//! - while every slot is taken, answers say `Connection: close` (the client closes the
//!   connection after reading its answer, so no request is cut), and connections idle for
//!   [`RECLAIM_IDLE`] give their slots up (as nginx reuses its keep-alive connections when it runs
//!   short): a burst of more clients than slots is served as slots free up, not after the idle
//!   connections' header timeout.
//!
//! Each request carries its client's address ([`ConnectInfo`]) for the throttling of failed
//! authentication.

use axum::{
    extract::ConnectInfo,
    http::{header::CONNECTION, HeaderValue},
    Router,
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{watch, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

/// The limits of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time allowed for a request head (and a TLS handshake), and for a request body.
    pub header_timeout: Duration,
    /// Time requests under way get at shutdown.
    pub shutdown_grace: Duration,
}

impl From<&crate::config::LimitsConfig> for Limits {
    fn from(c: &crate::config::LimitsConfig) -> Self {
        Self {
            max_connections: c.max_connections,
            header_timeout: c.header_timeout.duration(),
            shutdown_grace: c.shutdown_grace.duration(),
        }
    }
}

/// Something connections are accepted from (a [`TcpListener`]; a double in tests).
pub trait Accept: Send {
    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self).await
    }
}

/// Serves `router` on connections from `listener` until `shutdown` resolves, then closes idle
/// connections and waits (at most the grace period) for requests under way.
pub async fn run(
    mut listener: impl Accept,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let pressure = Arc::new(Pressure::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = next(&mut listener, &slots, &pressure) => accepted,
        };
        let (stream, peer, permit) = accepted;
        let conn = Conn {
            peer,
            router: router.clone(),
            limits,
            stop: stop.clone(),
            pressure: pressure.clone(),
            _permit: permit,
        };
        connections.spawn(conn.serve(stream, tls.clone()));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = connections.len(), "requests still under way after the shutdown grace period; closing");
    }
    connections.abort_all();
}

/// How often, while every slot is taken, idle connections are asked to give theirs up.
const RECLAIM_EVERY: Duration = Duration::from_millis(50);

/// How long a connection must have been idle to give its slot up. A client may send its next
/// request on a keep-alive connection at the very moment the server closes it, and that request
/// is lost; a connection quiet this long is unlikely to be in that moment (the same race as its
/// header timeout), while connections answered under pressure are closed by their client.
pub const RECLAIM_IDLE: Duration = Duration::from_secs(1);

/// Whether every slot is taken (the acceptor waits for one), and the call to idle connections
/// to free theirs.
#[derive(Debug, Default)]
struct Pressure {
    waiting: AtomicBool,
    reclaim: Notify,
}

/// A free connection slot, then the next connection. While every slot is taken, answers say
/// `Connection: close` and idle connections are asked (every [`RECLAIM_EVERY`]) to close.
async fn next(
    listener: &mut impl Accept,
    slots: &Arc<Semaphore>,
    pressure: &Pressure,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let permit = match slots.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            pressure.waiting.store(true, Ordering::Release);
            let p = loop {
                pressure.reclaim.notify_waiters();
                // The semaphore is never closed; should it be, waiting is all there is to do.
                match tokio::time::timeout(RECLAIM_EVERY, slots.clone().acquire_owned()).await {
                    Ok(Ok(p)) => break p,
                    Ok(Err(_)) => std::future::pending::<()>().await,
                    Err(_) => {}
                }
            };
            pressure.waiting.store(false, Ordering::Release);
            p
        }
    };
    let (stream, peer) = accept_with_backoff(listener).await;
    (stream, peer, permit)
}

/// The first pause after an accept error, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Accepts, pausing after errors that are not about one connection (those, the client gave up,
/// are retried at once).
pub async fn accept_with_backoff(listener: &mut impl Accept) -> (TcpStream, SocketAddr) {
    let mut pause = FIRST_PAUSE;
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, pause_ms = pause.as_millis(), "cannot accept connections; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// One connection's task.
struct Conn {
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
    /// Whether every slot is taken: answers then close their connection, idle ones close.
    pressure: Arc<Pressure>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    async fn serve(mut self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = tls else { return self.http(TokioIo::new(stream)).await };
        let handshake = tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
            },
            _ = self.stop.wait_for(|s| *s) => return,
        };
        self.http(TokioIo::new(stream)).await;
    }

    async fn http<I>(mut self, io: TokioIo<I>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let (router, peer, counter, pressure) =
            (self.router.clone(), self.peer, activity.clone(), self.pressure.clone());
        let service = service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let (router, in_flight, pressure) = (router.clone(), InFlight::enter(&counter), pressure.clone());
            async move {
                let mut answer = tower::ServiceExt::oneshot(router, req.map(axum::body::Body::new)).await;
                if pressure.waiting.load(Ordering::Acquire) {
                    if let Ok(a) = &mut answer {
                        a.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                }
                drop(in_flight);
                answer
            }
        });
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(self.limits.header_timeout);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let pressure = self.pressure.clone();
        loop {
            let reclaimed = tokio::select! {
                _ = conn.as_mut() => return,
                _ = self.stop.wait_for(|s| *s) => false,
                () = pressure.reclaim.notified() => true,
            };
            if !reclaimed {
                break;
            }
            if activity.idle_for().is_some_and(|d| d >= RECLAIM_IDLE) {
                // Idle while others wait for a slot: close once the connection is between
                // requests (a request whose head is arriving is answered first).
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
                return;
            }
        }
        if activity.idle_for().is_some() {
            return; // idle or half-open: dropping the connection closes it
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// What a connection is doing: its requests under way (counted while their handlers run), and
/// since when it has had none.
#[derive(Debug)]
struct Activity {
    busy: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self { busy: AtomicUsize::new(0), idle_since: Mutex::new(Instant::now()) }
    }

    /// How long the connection has had no request under way; `None` while it has one.
    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        self.idle_since.lock().ok().map(|t| t.elapsed())
    }
}

/// A request under way on a connection.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.idle_since.lock() {
            *t = Instant::now();
        }
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener whose every accept fails as when the process is out of file descriptors.
    struct Exhausted(Arc<AtomicUsize>);

    impl Accept for Exhausted {
        async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(io::Error::from_raw_os_error(24)) // EMFILE
        }
    }

    #[tokio::test(start_paused = true)]
    async fn m5_accept_errors_back_off_instead_of_spinning() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let mut listener = Exhausted(attempts.clone());
        // Ten seconds of (virtual) time: 10 ms, 20 ms, … doubling to 1 s, then once a second.
        let _ = tokio::time::timeout(Duration::from_secs(10), accept_with_backoff(&mut listener)).await;
        let n = attempts.load(Ordering::Relaxed);
        assert!((10..=20).contains(&n), "{n} accept attempts in 10 s");
    }
}
