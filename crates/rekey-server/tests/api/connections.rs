//! Connections on real sockets (`serve_on` with a listener on 127.0.0.1): half-open and idle
//! connections are closed, connections beyond the limit wait (idle keep-alive ones give their
//! slots up to them), and shutdown does not wait for clients that never finish a request.

use crate::world::World;
use rekey_server::{config::LimitsConfig, Config};
use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::Duration,
};
use tokio::sync::oneshot;

/// A server on a port of its own; dropping `stop` (or sending on it) shuts it down.
struct Running {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    _world: World,
}

async fn start(limits: LimitsConfig) -> Running {
    let config = Config {
        limits,
        scheduler: rekey_server::config::SchedulerConfig { enabled: false, ..Default::default() },
        ..Config::default()
    };
    let world = World::with_config(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let state = world.state.clone();
    let done = tokio::spawn(async move {
        rekey_server::serve_on(state, rekey_server::Jobs::default(), listener, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running { port, stop: Some(stop), done, _world: world }
}

fn limits(max_connections: usize, header_timeout: &str) -> LimitsConfig {
    LimitsConfig {
        max_connections,
        header_timeout: header_timeout.parse().expect("a duration"),
        shutdown_grace: rekey_domain::DurationMs::from_secs(3_600),
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A failure detector only: a correct server closes these long before.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// A request whose head never ends.
fn half_open(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
    s
}

/// A keep-alive connection that got its answer and then says nothing.
fn idle(port: u16) -> TcpStream {
    answered(port).0
}

/// A request on a new connection, and the head of its answer (lower case).
fn answered(port: u16) -> (TcpStream, String) {
    let mut s = connect(port);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "answered: {head}");
    (s, head)
}

/// Blocks until the server closes `s` (end of stream or reset); panics if it is still open
/// after the read timeout.
fn closed_by_server(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m5_half_open_and_idle_connections_are_closed() {
    let server = start(limits(512, "300ms")).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let mut conns: Vec<TcpStream> = (0..10).map(|_| half_open(port)).collect();
        conns.extend((0..10).map(|_| idle(port)));
        for c in conns {
            closed_by_server(c);
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m5_connections_beyond_the_limit_wait_for_a_free_slot() {
    let server = start(limits(2, "1h")).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let held = [half_open(port), half_open(port)];
        let mut third = connect(port);
        third.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        third.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 4096];
        let early = third.read(&mut buf);
        assert!(
            matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "no answer while both slots are held: {early:?}"
        );
        drop(held);
        third.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let n = third.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "answered once a slot is free");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_close_their_connection_while_every_slot_is_taken() {
    // One slot, held by this very client: its answer says `Connection: close` and the server
    // closes the connection after it, so the next client is served without a request cut off.
    let server = start(limits(1, "1h")).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let (a, head) = answered(port);
        assert!(head.contains("connection: close"), "{head}");
        closed_by_server(a);
        drop(idle(port));
    })
    .await
    .unwrap();
    // With slots to spare, connections are kept alive.
    let server = start(limits(8, "1h")).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let (_a, head) = answered(port);
        assert!(!head.contains("connection: close"), "{head}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_give_their_slots_up_to_a_waiting_client() {
    // One slot held by an idle keep-alive client, the other by a request still arriving; the
    // header timeout is an hour. The third client is answered once the idle one has been quiet
    // for the reclaim delay: the idle connection is closed to make room, the arriving one kept.
    let server = start(limits(2, "1h")).await;
    let port = server.port;
    tokio::task::spawn_blocking(move || {
        let kept_alive = idle(port);
        let arriving = half_open(port);
        let third = idle(port);
        closed_by_server(kept_alive);
        drop((third, arriving));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m5_shutdown_does_not_wait_for_half_open_or_idle_clients() {
    let mut server = start(limits(512, "1h")).await;
    let port = server.port;
    let conns = tokio::task::spawn_blocking(move || {
        let mut conns: Vec<TcpStream> = (0..20).map(|_| half_open(port)).collect();
        conns.extend((0..5).map(|_| idle(port)));
        conns
    })
    .await
    .unwrap();
    let _ = server.stop.take().unwrap().send(());
    tokio::time::timeout(Duration::from_secs(60), &mut server.done)
        .await
        .expect("the server stopped while 25 clients held their connections")
        .unwrap();
    tokio::task::spawn_blocking(move || conns.into_iter().for_each(closed_by_server)).await.unwrap();
}
