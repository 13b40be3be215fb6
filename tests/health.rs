//! `/healthz`, `/readyz` and `coffer health`: liveness without I/O; readiness that turns 503
//! as soon as a part a request needs cannot work (here: a fail-closed audit log that cannot
//! write; the database and the HSM in tests/postgres.rs and tests/hsm.rs), and 200 again when
//! it is back.

// Helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use common::{settings_in, CofferProcess, TestServer};
use serde_json::{json, Value};

async fn get(srv: &TestServer, path: &str) -> (u16, Value) {
    let r = srv.client.get(srv.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn liveness_and_readiness_need_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    assert_eq!(get(&srv, "/healthz").await, (200, json!({"status": "ok"})));
    let (status, body) = get(&srv, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "components": {
            "auth:trusted_headers": "ok",
            "crypto:software": "ok",
            "database": "ok",
            "store:software": "ok",
        }})
    );
    for path in ["/healthz", "/readyz"] {
        let r = srv.client.head(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {path}");
        assert!(r.headers().contains_key("x-openstack-request-id"));
        assert!(r.bytes().await.unwrap().is_empty());
    }
    srv.stop().await;
}

#[actix_web::test]
async fn a_fail_closed_audit_log_that_cannot_write_makes_the_service_unready() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut s = settings_in(dir.path());
    s.events.insert(
        "audit".into(),
        coffer::config::EventSettings {
            plugin: "audit_log".into(),
            on: vec!["success".into()],
            events: None,
            settings: Some(json!({"path": logs.join("audit.jsonl"), "fail_closed": true})),
        },
    );
    let srv = TestServer::start(s).unwrap();
    assert_eq!(get(&srv, "/readyz").await.0, 200);
    let parked = dir.path().join("parked");
    std::fs::rename(&logs, &parked).unwrap();
    // The first probe after the outage already sees it.
    let (status, body) = get(&srv, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["components"]["event:audit"], "unavailable");
    assert_eq!(body["components"]["database"], "ok");
    assert_eq!(get(&srv, "/healthz").await.0, 200, "alive all the same");
    std::fs::rename(&parked, &logs).unwrap();
    let (status, body) = get(&srv, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    srv.stop().await;
}

fn coffer_health(url: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["health", "--url", url, "--timeout-ms", "2000"])
        .env_remove("COFFER_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn coffer_health_exits_zero_only_when_ready() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = dir.path().join("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "[events.audit]\nplugin = \"audit_log\"\n[events.audit.settings]\npath = \"{}\"\n\
             fail_closed = true\n",
            logs.join("audit.jsonl").display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let p = CofferProcess::spawn_with_config(
        &data,
        &format!("sqlite://{}/coffer.db", data.display()),
        &config,
        &[(
            "COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY",
            common::SHARED_MASTER_KEY,
        )],
    );
    let (ok, said) = coffer_health(&p.base);
    assert!(ok, "{said}");
    assert!(said.contains("\"status\": \"ok\""), "{said}");
    std::fs::rename(&logs, dir.path().join("parked")).unwrap();
    let (ok, said) = coffer_health(&p.base);
    assert!(!ok, "{said}");
    assert!(said.contains("answered 503"), "{said}");
    // Nothing listening: a failure too, with the reason.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (ok, said) = coffer_health(&format!("http://{closed}"));
    assert!(!ok && said.contains("connecting to"), "{said}");
    let (ok, said) = coffer_health("https://localhost:1");
    assert!(!ok && said.contains("only http://"), "{said}");
}
