//! Clients that hold connections without finishing their requests: 500 connections that sent
//! their headers and part of a body are answered 408 and closed after `server.body_timeout_ms`,
//! a normal client keeps working meanwhile, and a GET with a body it never needed does not
//! keep its connection.

// Helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::CofferProcess;

fn addr(p: &CofferProcess) -> String {
    p.base.trim_start_matches("http://").to_owned()
}

/// Read what the server sends until it closes the connection (or `limit` passes).
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[actix_web::test]
async fn half_sent_bodies_time_out_while_normal_clients_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let p = CofferProcess::spawn(
        dir.path(),
        &format!("sqlite://{}/coffer.db", dir.path().display()),
        &[("COFFER__SERVER__BODY_TIMEOUT_MS", "5000")],
    );
    let a = addr(&p);
    let mut slow = Vec::new();
    for _ in 0..500 {
        let mut s = TcpStream::connect(&a).unwrap();
        write!(
            s,
            "POST /v1/secrets HTTP/1.1\r\nHost: {a}\r\nX-Project-Id: slow\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"payload\": \"xx"
        )
        .unwrap();
        slow.push(s);
    }
    // Meanwhile a normal client creates and reads secrets.
    let client = reqwest::Client::new();
    for i in 0..50 {
        let r = common::create(&client, &p.base, "normal", &format!("secret-{i}")).await;
        assert_eq!(r.status(), 201);
        let id = r.json::<serde_json::Value>().await.unwrap()["secret_ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let (status, body) = common::read(&client, &p.base, "normal", &id).await;
        assert_eq!((status, body), (200, format!("secret-{i}")));
    }
    // Every slow connection gets its 408 and is closed.
    let mut answered = 0;
    for s in &mut slow {
        let (text, closed) = read_until_closed(s, Duration::from_secs(20));
        assert!(closed, "a half-sent request kept its connection: {text}");
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        answered += 1;
    }
    assert_eq!(answered, 500);
    assert!(
        p.log_lines("panicked").is_empty(),
        "{:?}",
        p.log_lines("panicked")
    );
}

#[actix_web::test]
async fn a_get_with_a_body_is_answered_and_its_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let p = CofferProcess::spawn(
        dir.path(),
        &format!("sqlite://{}/coffer.db", dir.path().display()),
        &[],
    );
    let a = addr(&p);
    let mut s = TcpStream::connect(&a).unwrap();
    let body = "x".repeat(200_000);
    write!(
        s,
        "GET /v1/secrets HTTP/1.1\r\nHost: {a}\r\nX-Project-Id: p\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // Part of the body only: the answer comes anyway, and the connection is not kept.
    s.write_all(&body.as_bytes()[..1000]).unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "the connection was kept with an unread body");
    // A refused upload (413) does not keep its connection either.
    let mut s = TcpStream::connect(&a).unwrap();
    write!(
        s,
        "POST /v1/secrets HTTP/1.1\r\nHost: {a}\r\nX-Project-Id: p\r\n\
         Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n{{"
    )
    .unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(closed);
}
