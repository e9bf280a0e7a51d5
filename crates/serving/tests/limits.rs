//! The connection limits against real sockets on loopback: a slow-loris client that dribbles its
//! headers is cut off, a client that stops reading its answer is dropped at the idle timeout, a
//! thousand idle connections cost little memory and leave the server answering, and at the
//! connection cap new connections wait for a slot instead of piling up.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{exchange, start, status};
use diurnal_serving::{Limits, Options};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn router() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}

fn limits(header_read: Duration, idle: Duration, max_connections: usize) -> Options {
    Options {
        limits: Limits { header_read_timeout: header_read, idle_timeout: idle, max_connections },
        ..Options::default()
    }
}

/// How long until the server closes `stream`, while `dribble` sends one byte of a request head
/// every 50 ms (never finishing it); `None` if it is still open after `give_up`.
async fn closed_after(mut stream: TcpStream, dribble: bool, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".repeat(1000);
    let (mut read, mut write) = stream.split();
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let send = async {
        for byte in head.iter().take(if dribble { head.len() } else { 0 }) {
            if write.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = closed => Some(started.elapsed()),
        () = send => None,
        () = tokio::time::sleep(give_up) => None,
    }
}

#[tokio::test]
async fn dribbled_headers_get_the_connection_closed_at_the_header_read_timeout() {
    let server = start(router(), limits(Duration::from_millis(600), Duration::from_secs(30), 64));
    let stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let after = closed_after(stream, true, Duration::from_secs(5)).await;
    let after = after.expect("a connection dribbling its headers was still open after 5 s");
    assert!(after >= Duration::from_millis(500) && after < Duration::from_secs(3), "closed after {after:?}");
    // A connection that sends nothing at all goes the same way.
    let silent = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let after =
        closed_after(silent, false, Duration::from_secs(5)).await.expect("a silent connection is closed");
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
    // Meanwhile a whole request is answered.
    assert_eq!(status(&exchange(server.port, &common::get("/healthz", "")).await), 200);
    server.stop().await;
}

/// A body that never ends, and a flag set when the server drops it.
fn endless(dropped: Arc<AtomicBool>) -> Body {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let guard = Guard(dropped);
    let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
    Body::from_stream(futures::stream::repeat_with(move || {
        let _owned = &guard;
        Ok::<_, std::io::Error>(chunk.clone())
    }))
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_dropped_at_the_idle_timeout() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let router = Router::new().route("/endless", get(move || async move { endless(flag) }));
    let server = start(router, limits(Duration::from_secs(5), Duration::from_millis(500), 64));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    stream.write_all(common::get("/endless", "").as_bytes()).await.unwrap();
    // Read nothing: the socket buffers fill, the server's writes stall.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "a client reading nothing kept its connection for 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
    server.stop().await;
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn a_thousand_idle_connections_leave_memory_bounded_and_a_call_is_answered_promptly() {
    let server = start(router(), Options::default());
    assert_eq!(status(&exchange(server.port, &common::get("/healthz", "")).await), 200);
    let before = rss_bytes();
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(("127.0.0.1", server.port)).await.unwrap());
    }
    // The server accepts in order: once this one is answered, all thousand are held open.
    let started = Instant::now();
    let answer = exchange(server.port, &common::get("/healthz", "")).await;
    let took = started.elapsed();
    assert_eq!(status(&answer), 200);
    assert!(took < Duration::from_secs(1), "answered after {took:?} beside 1,000 idle connections");
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 48 * 1024 * 1024, "1,000 idle connections grew the process by {} MiB", grown >> 20);
    eprintln!("1,000 idle connections: +{} KiB resident, a call answered in {took:?}", grown >> 10);
    drop(idle);
    server.stop().await;
}

#[tokio::test]
async fn at_the_connection_cap_a_new_connection_waits_for_a_slot_that_idle_ones_free() {
    let server = start(router(), limits(Duration::from_millis(400), Duration::from_secs(30), 8));
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(("127.0.0.1", server.port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // all eight accepted
    let started = Instant::now();
    let answer = exchange(server.port, &common::get("/healthz", "")).await;
    let took = started.elapsed();
    assert_eq!(status(&answer), 200);
    // Not accepted until the idle eight were closed at the header-read timeout.
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(3), "answered after {took:?}");
    drop(idle);
    server.stop().await;
}
