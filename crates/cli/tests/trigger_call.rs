//! `diurnal trigger call` as a CI script runs it: exit status, message, and what goes on the
//! wire (the token as a bearer header, never in the URL or the output).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;

use assert_cmd::Command;
use predicates::prelude::*;

/// Answers one request with `status` and `body`; hands back the request head it received.
fn one_shot(status: &'static str, body: &'static str) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(answer.as_bytes()).unwrap();
        tx.send(String::from_utf8_lossy(&head).into_owned()).unwrap();
    });
    (base, rx)
}

fn call(url: &str) -> Command {
    let mut cmd = Command::cargo_bin("diurnal").unwrap();
    cmd.env_remove("DIURNAL_TRIGGER_TOKEN").args([
        "trigger",
        "call",
        url,
        "--retries",
        "0",
        "--timeout",
        "5s",
    ]);
    cmd
}

#[test]
fn a_rolled_call_exits_0_and_sends_the_token_as_a_bearer_header() {
    let (base, head) = one_shot("200 OK", r#"{"result":"rolled"}"#);
    call(&format!("{base}/hooks/v1/namespaces/shop/triggers/web?token=s3cretTOKEN"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("rolled"))
        .stdout(predicate::str::contains("s3cretTOKEN").not());
    let head = head.recv().unwrap();
    assert!(head.starts_with("POST /hooks/v1/namespaces/shop/triggers/web HTTP/1.1\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("authorization: bearer s3crettoken"), "{head}");
}

#[test]
fn a_refused_call_exits_2_with_the_servers_message() {
    let (base, _) = one_shot("404 Not Found", r#"{"error":"no trigger with this id and token"}"#);
    call(&format!("{base}/hooks/v1/namespaces/shop/triggers/web?token=s3cretTOKEN"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no trigger with this id and token"))
        .stderr(predicate::str::contains("s3cretTOKEN").not());
}

#[test]
fn rate_limited_and_unreachable_exit_3() {
    let (base, _) = one_shot("429 Too Many Requests", r#"{"error":"too many calls to this trigger"}"#);
    call(&format!("{base}/hooks/v1/namespaces/shop/triggers/web?token=t")).assert().code(3);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    call(&format!("http://{closed}/hooks/v1/namespaces/shop/triggers/web?token=s3cretTOKEN"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("s3cretTOKEN").not());
}

#[test]
fn no_token_exits_2_and_says_where_to_put_it() {
    call("http://127.0.0.1:9/hooks/v1/namespaces/shop/triggers/web")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("DIURNAL_TRIGGER_TOKEN"));
}
