//! The audit trail cannot be slipped past: every spelling of an auditable request — percent-
//! encoded segments and ids, `%2F`, double and trailing slashes, upper-case escapes, odd
//! `Accept` values, HEAD — is either refused or audited exactly as the plain spelling, and a
//! payload is never served while a fail-closed audit log cannot write. Requests go over a raw
//! socket, so no client normalizes them first.

// The fixture and helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{settings_in, TestServer};
use serde_json::{json, Value};

const PAYLOAD: &str = "the-audited-payload-93c1";

/// A response read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_payload(&self) -> bool {
        self.body
            .windows(PAYLOAD.len())
            .any(|w| w == PAYLOAD.as_bytes())
    }
}

/// Send `method target` exactly as written, with `headers`, and read the whole response.
fn raw(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Raw {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = all[end + 4..].to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// The server shared by the tests of this file: an audit log (every phase, fail-closed) and a
/// command that records its arguments.
struct Fixture {
    addr: SocketAddr,
    logs: PathBuf,
    audit: PathBuf,
    command_out: PathBuf,
    /// Serializes the tests that read the audit file.
    lock: std::sync::Mutex<()>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let audit = logs.join("audit.jsonl");
        let command_out = dir.path().join("command.txt");
        let script = dir.path().join("record.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {}\n",
                command_out.display()
            ),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut s = settings_in(dir.path());
        s.events.insert(
            "audit".into(),
            coffer::config::EventSettings {
                plugin: "audit_log".into(),
                on: vec!["before".into(), "success".into(), "failure".into()],
                events: None,
                settings: Some(json!({"path": audit, "fail_closed": true, "fsync": false})),
            },
        );
        s.events.insert(
            "notify".into(),
            coffer::config::EventSettings {
                plugin: "command".into(),
                on: vec!["success".into(), "failure".into()],
                events: Some(vec!["secret.deleted".into(), "auth.denied".into()]),
                settings: Some(json!({"argv": [
                    script, "{{ subject.id }}", "{{ request.line }}", "{{ project.id }}",
                    "{{ user.id }}"
                ]})),
            },
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let srv = TestServer::start(s).unwrap();
                tx.send(srv.base.clone()).unwrap();
                std::future::pending::<()>().await;
            })
        });
        let base = rx.recv().unwrap();
        let addr = base.trim_start_matches("http://").parse().unwrap();
        Fixture {
            addr,
            logs,
            audit,
            command_out,
            lock: std::sync::Mutex::new(()),
        }
    })
}

/// The audit file's event lines from byte `from` on, and the file's length.
fn audit_since(path: &Path, from: usize) -> (Vec<Value>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let from = from.min(text.len());
    let lines = text[from..]
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|e| !e["kind"].as_str().unwrap_or("").starts_with("audit."))
        .collect();
    (lines, text.len())
}

/// (kind, phase, subject id, status) of each record: what must be the same for every spelling.
fn records(lines: &[Value]) -> Vec<(String, String, Value, Value)> {
    lines
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_owned(),
                e["phase"].as_str().unwrap_or("").to_owned(),
                e["subject"]["id"].clone(),
                e["status"].clone(),
            )
        })
        .collect()
}

fn create(f: &Fixture, project: &str) -> String {
    let body = json!({"payload": PAYLOAD, "payload_content_type": "text/plain"}).to_string();
    let r = raw(
        f.addr,
        "POST",
        "/v1/secrets",
        &[("X-Project-Id", project)],
        &body,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.header("location")
        .and_then(|l| l.rsplit('/').next())
        .expect("Location")
        .to_owned()
}

fn encode_all(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// Spellings of `GET /v1/secrets/{id}/payload` (and of the legacy payload read): target and
/// `Accept`, with a name.
fn read_spellings(id: &str) -> Vec<(&'static str, &'static str, String, Option<&'static str>)> {
    let oct = Some("application/octet-stream");
    vec![
        ("plain", "GET", format!("/v1/secrets/{id}/payload"), oct),
        (
            "%70ayload",
            "GET",
            format!("/v1/secrets/{id}/%70ayload"),
            oct,
        ),
        (
            "payload all encoded, upper case",
            "GET",
            format!("/v1/secrets/{id}/{}", encode_all("payload", true)),
            oct,
        ),
        (
            "payload all encoded, lower case",
            "GET",
            format!("/v1/secrets/{id}/{}", encode_all("payload", false)),
            oct,
        ),
        (
            "id all encoded",
            "GET",
            format!("/v1/secrets/{}/payload", encode_all(id, true)),
            oct,
        ),
        (
            "id dashes %2D",
            "GET",
            format!("/v1/secrets/{}/payload", id.replace('-', "%2D")),
            oct,
        ),
        (
            "id dashes %2d",
            "GET",
            format!("/v1/secrets/{}/payload", id.replace('-', "%2d")),
            oct,
        ),
        (
            "%76%31",
            "GET",
            format!("/%76%31/secrets/{id}/payload"),
            oct,
        ),
        (
            "%73ecrets",
            "GET",
            format!("/v1/%73ecrets/{id}/payload"),
            oct,
        ),
        (
            "double slashes",
            "GET",
            format!("//v1//secrets//{id}//payload"),
            oct,
        ),
        (
            "trailing slash",
            "GET",
            format!("/v1/secrets/{id}/payload/"),
            oct,
        ),
        (
            "two trailing slashes",
            "GET",
            format!("/v1/secrets/{id}/payload//"),
            oct,
        ),
        (
            "query",
            "GET",
            format!("/v1/secrets/{id}/payload?x=1&y"),
            oct,
        ),
        ("%2F", "GET", format!("/v1/secrets/{id}%2Fpayload"), oct),
        ("%2f", "GET", format!("/v1/secrets/{id}%2fpayload"), oct),
        (
            "dot segment",
            "GET",
            format!("/v1/secrets/{id}/./payload"),
            oct,
        ),
        (
            "dot-dot segment",
            "GET",
            format!("/v1/secrets/x/../{id}/payload"),
            oct,
        ),
        (
            "path parameter",
            "GET",
            format!("/v1/secrets/{id}/payload;x=1"),
            oct,
        ),
        (
            "upper-case id",
            "GET",
            format!("/v1/secrets/{}/payload", id.to_uppercase()),
            oct,
        ),
        ("HEAD", "HEAD", format!("/v1/secrets/{id}/payload"), oct),
        (
            "no Accept",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            None,
        ),
        (
            "Accept */*",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            Some("*/*"),
        ),
        (
            "Accept text",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            Some("text/plain"),
        ),
        (
            "Accept TEXT",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            Some("TEXT/PLAIN"),
        ),
        (
            "Accept json",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            Some("application/json"),
        ),
        (
            "Accept glued",
            "GET",
            format!("/v1/secrets/{id}/payload"),
            Some("text/plain;charset=utf-8;application/json"),
        ),
        (
            "legacy text",
            "GET",
            format!("/v1/secrets/{id}"),
            Some("text/plain"),
        ),
        (
            "legacy charset",
            "GET",
            format!("/v1/secrets/{id}"),
            Some("text/plain; charset=UTF-8"),
        ),
        (
            "legacy glued",
            "GET",
            format!("/v1/secrets/{id}"),
            Some("text/plain;charset=utf-8;application/json"),
        ),
        (
            "legacy duplicate charset",
            "GET",
            format!("/v1/secrets/{id}"),
            Some("text/plain;charset=utf-8;charset=utf-8"),
        ),
        (
            "legacy list",
            "GET",
            format!("/v1/secrets/{id}"),
            Some("application/json, text/plain"),
        ),
        (
            "legacy encoded",
            "GET",
            format!("/%76%31/secrets/{}", encode_all(id, false)),
            Some("text/plain"),
        ),
    ]
}

/// What a spelling did: (status, served the payload, the audit records it added).
fn send_read(
    f: &Fixture,
    method: &str,
    target: &str,
    accept: Option<&str>,
) -> (u16, bool, Vec<Value>) {
    let (_, start) = audit_since(&f.audit, usize::MAX);
    let mut headers = vec![("X-Project-Id", "p1")];
    if let Some(a) = accept {
        headers.push(("Accept", a));
    }
    let r = raw(f.addr, method, target, &headers, "");
    let (lines, _) = audit_since(&f.audit, start);
    (r.status, r.has_payload(), lines)
}

#[test]
fn every_spelling_of_a_payload_read_is_refused_or_audited_as_the_plain_one() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    let id = create(f, "p1");
    let (status, served, plain) = send_read(
        f,
        "GET",
        &format!("/v1/secrets/{id}/payload"),
        Some("application/octet-stream"),
    );
    assert_eq!((status, served), (200, true));
    let expected = vec![
        (
            "secret.read".to_owned(),
            "before".to_owned(),
            json!(id),
            Value::Null,
        ),
        (
            "secret.read".to_owned(),
            "success".to_owned(),
            json!(id),
            json!(200),
        ),
    ];
    assert_eq!(records(&plain), expected);
    assert_eq!(plain[1]["request"], format!("GET /v1/secrets/{id}/payload"));

    let mut served_by = Vec::new();
    for (name, method, target, accept) in read_spellings(&id) {
        let (status, served, lines) = send_read(f, method, &target, accept);
        if served {
            assert_eq!(status, 200, "{name}");
            assert_eq!(records(&lines), expected, "{name}: {target}");
            served_by.push(name);
        } else {
            assert!(
                (400..500).contains(&status),
                "{name}: {target} answered {status} without the payload"
            );
            // A refused read is recorded, if at all, as a failure; never as a success.
            for e in &lines {
                assert_ne!(e["phase"], "success", "{name}: {e}");
                if let Some(sid) = e["subject"]["id"].as_str() {
                    assert_eq!(sid, id, "{name}: a subject id is the real one or none");
                }
            }
        }
    }
    // The spellings that reach the payload route are all audited (and served).
    for must in [
        "plain",
        "%70ayload",
        "payload all encoded, upper case",
        "id all encoded",
        "id dashes %2D",
        "%76%31",
        "double slashes",
        "trailing slash",
        "legacy text",
        "legacy encoded",
        "Accept TEXT",
    ] {
        assert!(
            served_by.contains(&must),
            "{must} was not served: {served_by:?}"
        );
    }
    for refused in [
        "Accept glued",
        "legacy glued",
        "legacy duplicate charset",
        "%2F",
        "HEAD",
    ] {
        assert!(!served_by.contains(&refused), "{refused} was served");
    }
}

#[test]
fn a_fail_closed_log_that_cannot_write_stops_every_spelling() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    let id = create(f, "p1");
    let parked = f.logs.with_extension("parked");
    std::fs::rename(&f.logs, &parked).unwrap();
    let mut refused_503 = 0;
    for (name, method, target, accept) in read_spellings(&id) {
        let mut headers = vec![("X-Project-Id", "p1")];
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        let r = raw(f.addr, method, &target, &headers, "");
        assert!(
            !r.has_payload(),
            "{name}: {target} served the payload unaudited"
        );
        assert_ne!(r.status, 200, "{name}");
        refused_503 += usize::from(r.status == 503);
    }
    assert!(refused_503 >= 10, "{refused_503}");
    std::fs::rename(&parked, &f.logs).unwrap();
    let (status, served, _) = send_read(f, "GET", &format!("/v1/secrets/{id}/payload"), None);
    assert_eq!((status, served), (200, true));
}

fn delete_spellings(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("plain", format!("/v1/secrets/{id}")),
        (
            "encoded id",
            format!("/v1/secrets/{}", encode_all(id, true)),
        ),
        ("%76%31", format!("/%76%31/secrets/{id}")),
        ("%73ecrets", format!("/v1/%73ecrets/{id}")),
        ("double slashes", format!("//v1//secrets//{id}")),
        ("trailing slash", format!("/v1/secrets/{id}/")),
        ("query", format!("/v1/secrets/{id}?force=true")),
        ("%2F", format!("/v1/secrets%2F{id}")),
        (
            "upper-case id",
            format!("/v1/secrets/{}", id.to_uppercase()),
        ),
    ]
}

#[test]
fn deletes_and_acl_changes_are_audited_the_same_way_whatever_the_spelling() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    for (name, _) in delete_spellings("x") {
        let id = create(f, "p1");
        let target = delete_spellings(&id)
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1;
        let (_, start) = audit_since(&f.audit, usize::MAX);
        let r = raw(f.addr, "DELETE", &target, &[("X-Project-Id", "p1")], "");
        let (lines, _) = audit_since(&f.audit, start);
        let still_there = raw(
            f.addr,
            "GET",
            &format!("/v1/secrets/{id}"),
            &[("X-Project-Id", "p1")],
            "",
        )
        .status
            == 200;
        if r.status == 204 {
            assert!(!still_there, "{name}");
            assert_eq!(
                records(&lines),
                vec![
                    (
                        "secret.deleted".into(),
                        "before".into(),
                        json!(id),
                        Value::Null
                    ),
                    (
                        "secret.deleted".into(),
                        "success".into(),
                        json!(id),
                        json!(204)
                    ),
                ],
                "{name}: {target}"
            );
            assert_eq!(lines[1]["request"], format!("DELETE /v1/secrets/{id}"));
        } else {
            assert!((400..500).contains(&r.status), "{name}: {}", r.status);
            assert!(still_there, "{name}: refused, yet deleted");
        }
    }

    let acl = json!({"read": {"users": ["u2"], "project-access": true}}).to_string();
    for spelling in [
        "/v1/secrets/{id}/acl",
        "/v1/secrets/{id}/%61cl",
        "/%76%31/secrets/{ID}/acl",
    ] {
        let id = create(f, "p1");
        let target = spelling
            .replace("{id}", &id)
            .replace("{ID}", &encode_all(&id, false));
        let (_, start) = audit_since(&f.audit, usize::MAX);
        let r = raw(f.addr, "PUT", &target, &[("X-Project-Id", "p1")], &acl);
        assert_eq!(r.status, 200, "{target}");
        let (lines, _) = audit_since(&f.audit, start);
        assert_eq!(
            records(&lines),
            vec![
                (
                    "acl.changed".into(),
                    "before".into(),
                    json!(id),
                    Value::Null
                ),
                (
                    "acl.changed".into(),
                    "success".into(),
                    json!(id),
                    json!(200)
                ),
            ],
            "{target}"
        );
    }
}

#[test]
fn unauthenticated_requests_are_denied_and_recorded_whatever_their_spelling() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    let id = create(f, "p1");
    for target in [
        format!("/v1/secrets/{id}/payload"),
        format!("/%76%31/secrets/{id}/payload"),
        format!("/v1/secrets/{id}/%70ayload"),
        "/%76%31/no/such/route".to_owned(),
        "/v1/nothing-here".to_owned(),
    ] {
        let (_, start) = audit_since(&f.audit, usize::MAX);
        let r = raw(f.addr, "GET", &target, &[], "");
        assert_eq!(r.status, 401, "{target}");
        let (lines, _) = audit_since(&f.audit, start);
        let denied: Vec<_> = lines
            .iter()
            .filter(|e| e["kind"] == "auth.denied")
            .collect();
        assert_eq!(denied.len(), 1, "{target}: {lines:?}");
        assert_eq!(denied[0]["status"], 401);
    }
    // A path under no route is not found, once authenticated.
    let r = raw(
        f.addr,
        "GET",
        "/%76%31/no/such/route",
        &[("X-Project-Id", "p1")],
        "",
    );
    assert_eq!(r.status, 404);
}

#[test]
fn event_values_never_reach_a_command_as_options() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    let (_, start) = audit_since(&f.audit, usize::MAX);
    let r = raw(f.addr, "DELETE", "/v1/secrets/--config=/tmp/evil", &[], "");
    assert_eq!(r.status, 401);
    let r = raw(
        f.addr,
        "DELETE",
        "/v1/secrets/--config=/tmp/evil",
        &[("X-Project-Id", "p1")],
        "",
    );
    assert_eq!(r.status, 404);
    let (lines, _) = audit_since(&f.audit, start);
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains("--config"),
        "an invalid id was recorded verbatim: {text}"
    );
    let denied = lines
        .iter()
        .find(|e| e["kind"] == "auth.denied")
        .expect("the 401 is recorded");
    // That path is under no route at all.
    assert_eq!(denied["subject"], json!({"type": "", "id": null}));
    assert_eq!(denied["request"], "DELETE (no route)");
    // One that is routed, with an id that is not one, is recorded as invalid.
    let (_, start) = audit_since(&f.audit, usize::MAX);
    let r = raw(
        f.addr,
        "DELETE",
        "/v1/secrets/--config=%2Ftmp%2Fevil",
        &[],
        "",
    );
    assert_eq!(r.status, 401);
    let (lines, _) = audit_since(&f.audit, start);
    let denied = lines
        .iter()
        .find(|e| e["kind"] == "auth.denied")
        .expect("the 401 is recorded");
    assert_eq!(denied["subject"], json!({"type": "secret", "id": null}));
    assert_eq!(denied["details"]["subject_id"], "invalid");
    assert_eq!(denied["details"]["action"], "secret.deleted");
    assert_eq!(denied["request"], "DELETE /v1/secrets/{secret_id}");
    assert!(!serde_json::to_string(&lines).unwrap().contains("evil"));
    // A caller-chosen identity that looks like an option is never passed either.
    let r = raw(
        f.addr,
        "DELETE",
        "/v1/secrets/--config=/tmp/evil",
        &[("X-Project-Id", "-p"), ("X-User-Id", "--config=/tmp/evil")],
        "",
    );
    assert_eq!(r.status, 404);
    std::thread::sleep(Duration::from_millis(500));
    let ran = std::fs::read_to_string(&f.command_out).unwrap_or_default();
    assert!(
        ran.lines().all(|l| !l.starts_with('-')),
        "the command got an option-like argument: {ran}"
    );
    assert!(!ran.contains("evil"), "{ran}");
}

mod generated {
    use proptest::prelude::*;

    use super::*;

    /// A spelling of `/v1/secrets/{id}/payload` or `/v1/secrets/{id}`: every byte kept or
    /// percent-encoded (either case), slashes doubled, a trailing slash, a query.
    fn spelling(id: String) -> impl Strategy<Value = (String, String, Option<&'static str>)> {
        let accept = prop::sample::select(vec![
            None,
            Some("application/octet-stream"),
            Some("*/*"),
            Some("text/plain"),
            Some("TEXT/plain; CHARSET=utf-8"),
            Some("application/json"),
            Some("text/plain;charset=utf-8;application/json"),
            Some("text/plain;;charset=utf-8"),
            Some("application/octet-stream, text/plain"),
            Some(""),
        ]);
        (
            any::<bool>(),
            prop::collection::vec(0u8..6, 64),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec!["GET", "GET", "GET", "HEAD"]),
            accept,
        )
            .prop_map(move |(legacy, choices, trailing, query, method, accept)| {
                let path = if legacy {
                    format!("/v1/secrets/{id}")
                } else {
                    format!("/v1/secrets/{id}/payload")
                };
                let mut out = String::new();
                for (i, b) in path.bytes().enumerate() {
                    match (b, choices[i % choices.len()]) {
                        (b'/', 5) => out.push_str("//"),
                        (b'/', 4) if i > 0 => out.push_str("%2F"),
                        (_, 1) => out.push_str(&format!("%{b:02X}")),
                        (_, 2) => out.push_str(&format!("%{b:02x}")),
                        _ => out.push(b as char),
                    }
                }
                if trailing {
                    out.push('/');
                }
                if query {
                    out.push_str("?a=%2F&b");
                }
                (method.to_owned(), out, accept)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// No request returns a payload without its `secret.read` record (before and success,
        /// naming the secret).
        #[test]
        fn no_spelling_returns_a_payload_without_a_read_record(
            (method, target, accept) in spelling(SECRET.get_or_init(created_secret).clone())
        ) {
            let f = fixture();
            let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
            let id = SECRET.get().unwrap();
            let (status, served, lines) = send_read(f, &method, &target, accept);
            if served {
                prop_assert_eq!(status, 200);
                let recs = records(&lines);
                prop_assert!(recs.contains(&("secret.read".into(), "before".into(), json!(id), Value::Null)), "{} {:?}", target, recs);
                prop_assert!(recs.contains(&("secret.read".into(), "success".into(), json!(id), json!(200))), "{} {:?}", target, recs);
            } else {
                prop_assert!(status != 200 || lines.iter().all(|e| e["kind"] != "secret.read"));
            }
        }
    }

    static SECRET: OnceLock<String> = OnceLock::new();

    /// The secret the spellings read, created under the fixture's lock so that its audit line
    /// never lands inside another test's window.
    fn created_secret() -> String {
        let f = fixture();
        let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
        create(f, "p1")
    }
}

mod hrefs {
    use super::*;

    fn location(srv_addr: SocketAddr, headers: &[(&str, &str)]) -> String {
        let body = json!({"name": "x"}).to_string();
        let mut all = vec![("X-Project-Id", "p")];
        all.extend_from_slice(headers);
        let r = raw(srv_addr, "POST", "/v1/secrets", &all, &body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.header("location").unwrap().to_owned()
    }

    fn start(edit: impl FnOnce(&mut coffer::config::Settings) + Send + 'static) -> SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let mut s = settings_in(dir.path());
            edit(&mut s);
            actix_web::rt::System::new().block_on(async move {
                let srv = TestServer::start(s).unwrap();
                tx.send(srv.base.clone()).unwrap();
                std::future::pending::<()>().await;
            });
            drop(dir);
        });
        rx.recv()
            .unwrap()
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    #[test]
    fn refs_follow_the_host_but_forwarding_headers_only_from_trusted_proxies() {
        // Bound to a wildcard address (dev), no host_href: refs come from the Host header ...
        let addr = start(|s| {
            s.server.bind = "0.0.0.0:0".into();
            s.auth.trust_headers_on_public_bind = true;
        });
        let addr: SocketAddr = format!("127.0.0.1:{}", addr.port()).parse().unwrap();
        let loc = location(
            addr,
            &[
                ("X-Forwarded-Host", "evil.example"),
                ("Forwarded", "host=evil.example;proto=https"),
                ("X-Forwarded-Proto", "https"),
            ],
        );
        assert!(
            loc.starts_with(&format!("http://{addr}/v1/secrets/")),
            "{loc}"
        );
        // ... and a Host that is not this machine is refused while headers are believed.
        let r = raw(
            addr,
            "GET",
            "/v1/secrets",
            &[("X-Project-Id", "p"), ("Host", "evil.example")],
            "",
        );
        assert_eq!(r.status, 400);

        // Loopback bind without host_href: refs follow the request's Host, as Barbican does.
        let addr = start(|_| {});
        let loc = location(addr, &[]);
        assert!(
            loc.starts_with(&format!("http://{addr}/v1/secrets/")),
            "{loc}"
        );

        // From a trusted proxy, its forwarding headers count.
        let addr = start(|s| {
            s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
            s.server.host_href = None;
        });
        let loc = location(
            addr,
            &[
                ("X-Forwarded-Host", "localhost:8443"),
                ("X-Forwarded-Proto", "https"),
            ],
        );
        assert!(
            loc.starts_with("https://localhost:8443/v1/secrets/"),
            "{loc}"
        );
    }

    #[test]
    fn with_believed_headers_only_loopback_or_configured_hosts_are_answered() {
        let addr = start(|s| {
            s.server.host_href = Some("https://kms.example.com".into());
        });
        let send = |host: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                s,
                "GET /v1/secrets HTTP/1.1\r\nHost: {host}\r\nX-Project-Id: p\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.split(' ').nth(1).unwrap_or("").to_owned()
        };
        assert_eq!(send("attacker.example"), "400", "DNS rebinding");
        assert_eq!(send("attacker.example:80"), "400");
        assert_eq!(send("evil/../x"), "400", "a malformed Host");
        assert_eq!(send("localhost"), "200");
        assert_eq!(send(&addr.to_string()), "200");
        assert_eq!(send("kms.example.com"), "200");
        assert_eq!(send("[::1]:9311"), "200");
    }
}

/// `coffer audit verify` on a copy of the fixture's log: intact, then with a line edited,
/// deleted, or two lines swapped — each found at its line, with a non-zero exit.
#[test]
fn coffer_audit_verify_finds_edited_deleted_and_swapped_lines() {
    let f = fixture();
    let _guard = f.lock.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..3 {
        create(f, "p1");
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&f.audit).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 7, "{}", lines.len());
    let verify = |name: &str, lines: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["audit", "verify"])
            .arg(&path)
            .env_remove("COFFER_CONFIG")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    let all: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let (ok, said) = verify("intact.jsonl", &all);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("ok: {} line(s)", all.len())),
        "{said}"
    );

    let mut edited = all.clone();
    edited[4] = edited[4].replacen("\"p1\"", "\"p2\"", 1);
    assert_ne!(edited[4], all[4]);
    let (ok, said) = verify("edited.jsonl", &edited);
    assert!(!ok && said.contains("edited.jsonl:5:"), "{said}");

    let mut deleted = all.clone();
    deleted.remove(3);
    let (ok, said) = verify("deleted.jsonl", &deleted);
    assert!(!ok && said.contains("deleted.jsonl:4:"), "{said}");

    let mut swapped = all.clone();
    swapped.swap(5, 6);
    let (ok, said) = verify("swapped.jsonl", &swapped);
    assert!(!ok && said.contains("swapped.jsonl:6:"), "{said}");

    let report = plugin_api::audit_chain::verify(
        vec![(
            "audit".to_owned(),
            std::io::BufReader::new(std::fs::File::open(&f.audit).unwrap()),
        )],
        None,
    );
    assert_eq!(report.problem, None);
}
