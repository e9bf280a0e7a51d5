//! Malformed requests over a real socket: each gets a clean 4xx (or hyper closes the
//! connection), never a 5xx or a panic, and the server keeps serving.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use diurnal_trigger::server::Settings;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends raw bytes and returns the status code of the answer, or None if the connection was
/// closed without one.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before all of a huge request is written.
    let _ = s.write_all(bytes).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok())
}

#[tokio::test]
async fn malformed_requests_get_4xx_and_the_server_survives() {
    let server = common::start(&Settings::default());
    let a = server.addr;
    let t = server.token.expose().to_owned();
    let path = common::PATH;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad UTF-8 in the path", b"GET /hooks/v1/namespaces/shop/triggers/\xff\xfe\xfd?token=x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()),
        ("bad UTF-8 in the query", [format!("GET {path}?token=").into_bytes(), b"\xff\xfe HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec()].concat()),
        ("percent-encoded garbage", format!("GET {path}?token=%ff%fe%zz&image=%c3%28 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").into_bytes()),
        ("garbage request line", b"\x00\x01\x02 NOT HTTP\r\n\r\n".to_vec()),
        ("bad UTF-8 header value", [format!("POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ").into_bytes(), b"\xff\xfe\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()].concat()),
        ("huge header", [format!("GET {path}?token={t}x HTTP/1.1\r\nHost: a\r\nX-Big: ").into_bytes(), vec![b'a'; 1 << 20], b"\r\nConnection: close\r\n\r\n".to_vec()].concat()),
        ("lying content length", format!("POST {path}?token={t}x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n{{").into_bytes()),
        ("bad JSON with a valid token", [format!("POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: 8\r\nConnection: close\r\n\r\n").into_bytes(), b"{\"a\": \xff}".to_vec()].concat()),
        ("chunked body over the limit", [format!("POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes(), b"10000\r\n".to_vec(), vec![b'{'; 0x10000], b"\r\n10000\r\n".to_vec(), vec![b'{'; 0x10000], b"\r\n0\r\n\r\n".to_vec()].concat()),
    ];
    for (what, bytes) in cases {
        let status = raw(a, &bytes).await;
        if let Some(code) = status {
            assert!((400..500).contains(&code), "{what}: {code}");
        }
        // hyper may close on a request it cannot parse; only the huge header and garbage line may.
        assert!(
            status.is_some() || what == "garbage request line" || what == "huge header",
            "{what}: no answer"
        );
    }
    assert_eq!(server.rollouts.0.load(Ordering::SeqCst), 0, "no malformed request rolled anything");

    let ok = format!("GET {path}?token={t} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(a, ok.as_bytes()).await, Some(200), "still serving");
    assert_eq!(server.rollouts.0.load(Ordering::SeqCst), 1);
}
