//! Event plugins in the running server: an audit log, a webhook to a loopback receiver and a
//! command, each configured as `[events.NAME]` with its own filters; a fail-closed audit log
//! refusing auditable requests while it cannot write.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use coffer::config::EventSettings;
use common::{settings_in, TestServer};
use serde_json::{json, Value};

const PAYLOAD: &str = "never-in-any-event-4f1d";

fn instance(plugin: &str, on: &[&str], events: Option<&[&str]>, settings: Value) -> EventSettings {
    EventSettings {
        plugin: plugin.into(),
        on: on.iter().map(|s| s.to_string()).collect(),
        events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        settings: Some(settings),
    }
}

/// The event lines of an audit file (its chain's start and gap records left out).
fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|e| !e["kind"].as_str().unwrap_or("").starts_with("audit."))
        .collect()
}

async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Received = web::Data<Mutex<Vec<Value>>>;

async fn receive(got: Received, body: web::Json<Value>) -> HttpResponse {
    got.lock().expect("lock").push(body.into_inner());
    HttpResponse::NoContent().finish()
}

fn receiver(got: Received) -> String {
    let base = common::spawn_loopback(move |cfg| {
        cfg.app_data(got.clone())
            .route("/hook", web::post().to(receive));
    });
    format!("{base}/hook")
}

#[actix_web::test]
async fn events_reach_the_audit_log_a_webhook_and_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let got: Received = web::Data::new(Mutex::new(Vec::new()));
    let hook_url = receiver(got.clone());
    let script = dir.path().join("on-delete.sh");
    let out = dir.path().join("deleted.txt");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", out.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let mut s = settings_in(dir.path());
    s.events.insert(
        "audit".into(),
        instance(
            "audit_log",
            &["before", "success", "failure"],
            None,
            json!({"path": "audit.jsonl"}),
        ),
    );
    s.events.insert(
        "hook".into(),
        instance(
            "webhook",
            &["success"],
            Some(&["secret.created", "order.completed"]),
            json!({"url": hook_url, "backoff_ms": 10}),
        ),
    );
    s.events.insert(
        "on-delete".into(),
        instance(
            "command",
            &["success"],
            Some(&["secret.deleted"]),
            json!({"argv": [script, "{{ secret.id }}", "{{ project.id }}"]}),
        ),
    );
    let srv = TestServer::start(s).unwrap();
    let c = &srv.client;

    // secret.created, secret.read, acl.changed, secret.deleted by a creator of p1.
    let id = srv
        .create(
            "p1",
            json!({"payload": PAYLOAD, "payload_content_type": "text/plain"}),
        )
        .await;
    let (status, body) = srv.payload("p1", &id).await;
    assert_eq!((status, body.as_slice()), (200, PAYLOAD.as_bytes()));
    let acl = c
        .put(srv.url(&format!("/v1/secrets/{id}/acl")))
        .header("X-Project-Id", "p1")
        .json(&json!({"read": {"users": ["u9"], "project-access": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(acl.status(), 200);
    // Refusals: no project (401), an observer creating (403).
    let r = c
        .post(srv.url("/v1/secrets"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p1")
        .header("X-Roles", "observer")
        .header("X-User-Id", "u-obs")
        .json(&json!({"payload": "x", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // An order that completes.
    let r = c
        .post(srv.url("/v1/orders"))
        .header("X-Project-Id", "p1")
        .json(
            &json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "mode": "cbc",
            "payload_content_type": "application/octet-stream"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let order_id = r.json::<Value>().await.unwrap()["order_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let r = c
        .delete(srv.url(&format!("/v1/secrets/{id}")))
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // The audit log has every step, before and after, with who, what and the outcome.
    let audit = dir.path().join("audit.jsonl");
    let lines = eventually(|| {
        let l = read_lines(&audit);
        l.iter()
            .any(|e| e["kind"] == "order.completed")
            .then_some(l)
    })
    .await;
    let seen: Vec<(String, String, Value)> = lines
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["phase"].as_str().unwrap().to_owned(),
                e["status"].clone(),
            )
        })
        .collect();
    for expected in [
        ("secret.created", "before", Value::Null),
        ("secret.created", "success", json!(201)),
        ("secret.read", "before", Value::Null),
        ("secret.read", "success", json!(200)),
        ("acl.changed", "success", json!(200)),
        ("auth.denied", "failure", json!(401)),
        ("secret.created", "failure", json!(403)),
        ("auth.denied", "failure", json!(403)),
        ("order.completed", "success", Value::Null),
        ("secret.deleted", "success", json!(204)),
    ] {
        let e = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.clone(),
        );
        assert!(seen.contains(&e), "{e:?} missing from {seen:?}");
    }
    let created = lines
        .iter()
        .find(|e| e["kind"] == "secret.created" && e["phase"] == "success")
        .unwrap();
    assert_eq!(created["subject"], json!({"type": "secret", "id": id}));
    assert_eq!(created["actor"]["project_id"], "p1");
    assert_eq!(created["actor"]["roles"], json!(["admin"]));
    assert!(created["request_id"].as_str().unwrap().starts_with("req-"));
    assert_eq!(created["request"], "POST /v1/secrets");
    let denied = lines
        .iter()
        .find(|e| e["kind"] == "auth.denied" && e["status"] == 403)
        .unwrap();
    assert_eq!(denied["actor"]["user_id"], "u-obs");
    assert_eq!(denied["details"]["action"], "secret.created");
    let order = lines
        .iter()
        .find(|e| e["kind"] == "order.completed")
        .unwrap();
    assert_eq!(order["subject"]["id"], order_id.as_str());
    assert!(
        !std::fs::read_to_string(&audit).unwrap().contains(PAYLOAD),
        "a payload reached the audit log"
    );

    // The webhook got exactly what its filter asks for.
    let hooks = eventually(|| {
        let g = got.lock().unwrap().clone();
        (g.len() >= 2).then_some(g)
    })
    .await;
    let kinds: Vec<&str> = hooks.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["secret.created", "order.completed"]);
    assert_eq!(hooks[0]["subject"]["id"], id.as_str());

    // The command ran once, for the delete, with the templated arguments.
    // (The script's shell creates the file before it writes the line: wait for the line.)
    let ran = eventually(|| {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|t| t.ends_with('\n'))
    })
    .await;
    assert_eq!(ran, format!("{id} p1\n"));
    srv.stop().await;
}

#[actix_web::test]
async fn a_fail_closed_audit_log_refuses_auditable_requests_while_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let audit = logs.join("audit.jsonl");
    let mut s = settings_in(dir.path());
    s.events.insert(
        "audit".into(),
        instance(
            "audit_log",
            &["success", "failure"],
            None,
            json!({"path": audit, "fail_closed": true}),
        ),
    );
    let srv = Arc::new(TestServer::start(s).unwrap());
    let id = srv
        .create(
            "p1",
            json!({"payload": "a", "payload_content_type": "text/plain"}),
        )
        .await;

    std::fs::remove_dir_all(&logs).unwrap();
    let r = srv
        .client
        .post(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p1")
        .json(&json!({"payload": "b", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 503);
    assert!(
        body["description"].as_str().unwrap().contains("audited"),
        "{body}"
    );
    let (status, _) = srv.payload("p1", &id).await;
    assert_eq!(status, 503, "a payload read is auditable too");
    // What is not an audited event goes on.
    let r = srv
        .client
        .get(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    std::fs::create_dir(&logs).unwrap();
    let (status, body) = srv.payload("p1", &id).await;
    assert_eq!((status, body.as_slice()), (200, b"a".as_slice()));
    let lines = read_lines(&audit);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["kind"], "secret.read");
    if let Ok(srv) = Arc::try_unwrap(srv) {
        srv.stop().await;
    }
}

#[actix_web::test]
async fn bad_event_configuration_fails_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.events
        .insert("x".into(), instance("nope", &["success"], None, json!({})));
    let err = format!("{:#}", coffer::server::start(&s).err().unwrap());
    assert!(err.contains("events.x.plugin"), "{err}");
    assert!(err.contains("audit_log"), "known plugins are listed: {err}");
    let mut s = settings_in(dir.path());
    s.events.insert(
        "y".into(),
        instance("command", &["later"], None, json!({"argv": ["/bin/true"]})),
    );
    let err = format!("{:#}", coffer::server::start(&s).err().unwrap());
    assert!(err.contains("events.y.on"), "{err}");
}
