//! The server in `auth.mode = "keystone"`, against a minimal Keystone stand-in on a loopback
//! port: what a client sees on the wire (401 shape and challenge, 503 shape, the caller taken
//! from the token only). The real Keystone is exercised by scripts/test-keystone.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use common::{settings_in, TestServer};
use serde_json::json;

#[derive(Default)]
struct Fake {
    hang: AtomicBool,
}

fn expires_at() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

async fn issue(fake: web::Data<Fake>) -> HttpResponse {
    if fake.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    HttpResponse::Created()
        .insert_header(("X-Subject-Token", "service-token"))
        .json(json!({"token": {"expires_at": expires_at()}}))
}

async fn check(fake: web::Data<Fake>, req: HttpRequest) -> HttpResponse {
    if fake.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let subject = req
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (project, roles, user) = match subject {
        "creator-a" => ("project-a", vec!["creator"], "user-a"),
        "observer-b" => ("project-b", vec!["observer"], "user-b"),
        _ => return HttpResponse::NotFound().finish(),
    };
    let roles: Vec<_> = roles.iter().map(|r| json!({"name": r})).collect();
    HttpResponse::Ok().json(json!({"token": {
        "expires_at": expires_at(),
        "project": {"id": project},
        "user": {"id": user},
        "roles": roles,
    }}))
}

fn start_fake(fake: web::Data<Fake>) -> String {
    common::spawn_loopback(move |cfg| {
        cfg.app_data(fake.clone())
            .route("/v3/auth/tokens", web::post().to(issue))
            .route("/v3/auth/tokens", web::get().to(check));
    })
}

async fn server(dir: &std::path::Path, keystone: &str) -> TestServer {
    let mut s = settings_in(dir);
    s.auth.mode = "keystone".into();
    s.auth.plugin_settings.insert(
        "keystone".into(),
        json!({
            "auth_url": format!("{keystone}/v3"),
            "username": "coffer",
            "password": "pw",
            "timeout_ms": 300,
            "cache_ttl_seconds": 60,
            "www_authenticate_uri": "https://keystone.example:5000",
        }),
    );
    TestServer::start(s).expect("start")
}

#[actix_web::test]
async fn requests_without_a_valid_token_get_keystonemiddlewares_401() {
    let fake = web::Data::new(Fake::default());
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), &start_fake(fake)).await;
    let c = &srv.client;

    // The version document needs no token.
    assert_eq!(c.get(srv.url("/")).send().await.unwrap().status(), 300);

    for headers in [
        vec![],
        vec![("X-Auth-Token", "nonsense")],
        vec![("X-Project-Id", "project-a"), ("X-Roles", "admin")],
    ] {
        let mut req = c.get(srv.url("/v1/secrets"));
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{headers:?}");
        let h = res.headers();
        assert_eq!(
            h["www-authenticate"],
            "Keystone uri=\"https://keystone.example:5000\""
        );
        assert_eq!(h["content-type"], "application/json; charset=UTF-8");
        assert!(h.contains_key("x-openstack-request-id"));
        assert_eq!(
            res.text().await.unwrap(),
            "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \
             \"The request you have made requires authentication.\"}}"
        );
    }
    srv.stop().await;
}

#[actix_web::test]
async fn the_caller_comes_from_the_token_and_not_from_identity_headers() {
    let fake = web::Data::new(Fake::default());
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), &start_fake(fake)).await;
    let c = &srv.client;

    let res = c
        .post(srv.url("/v1/secrets"))
        .header("X-Auth-Token", "creator-a")
        .header("X-Project-Id", "project-b")
        .header("X-User-Id", "impostor")
        .json(&json!({"payload": "p", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let secret = body["secret_ref"].as_str().unwrap().to_owned();

    let meta: serde_json::Value = c
        .get(&secret)
        .header("X-Auth-Token", "creator-a")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["creator_id"], "user-a");
    // Another project's token does not reach it, whatever headers it adds (Barbican: 403).
    let res = c
        .get(&secret)
        .header("X-Auth-Token", "observer-b")
        .header("X-Project-Id", "project-a")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // An observer cannot create.
    let res = c
        .post(srv.url("/v1/secrets"))
        .header("X-Auth-Token", "observer-b")
        .json(&json!({"payload": "p", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    srv.stop().await;
}

#[actix_web::test]
async fn keystone_unreachable_is_a_fast_503_in_barbicans_shape() {
    let fake = web::Data::new(Fake::default());
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), &start_fake(fake.clone())).await;
    fake.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let res = srv
        .client
        .get(srv.url("/v1/secrets"))
        .header("X-Auth-Token", "creator-a")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": 503, "title": "Service Unavailable",
               "description": "The Keystone service is temporarily unavailable."})
    );
    fake.hang.store(false, Ordering::SeqCst);
    let res = srv
        .client
        .get(srv.url("/v1/secrets"))
        .header("X-Auth-Token", "creator-a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    srv.stop().await;
}

#[actix_web::test]
async fn readiness_follows_keystone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = web::Data::new(Fake::default());
    let srv = server(dir.path(), &start_fake(fake.clone())).await;
    let readyz = || async {
        let r = srv
            .client
            .get(srv.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.expect("json"))
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["components"]["auth:keystone"], "ok");
    // Keystone stops answering: the first probe says so.
    fake.hang.store(true, Ordering::SeqCst);
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["components"]["auth:keystone"], "unavailable");
    fake.hang.store(false, Ordering::SeqCst);
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    srv.stop().await;
}

#[actix_web::test]
async fn validations_cache_hits_and_failures_are_counted() {
    let fake = web::Data::new(Fake::default());
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), &start_fake(fake.clone())).await;
    let get = |token: &'static str| {
        srv.client
            .get(srv.url("/v1/secrets"))
            .header("X-Auth-Token", token)
            .send()
    };
    assert_eq!(get("creator-a").await.unwrap().status(), 200);
    assert_eq!(get("creator-a").await.unwrap().status(), 200);
    assert_eq!(get("nonsense").await.unwrap().status(), 401);
    fake.hang.store(true, Ordering::SeqCst);
    assert_eq!(get("observer-b").await.unwrap().status(), 503);
    fake.hang.store(false, Ordering::SeqCst);
    let text = common::scrape(&srv.client, &srv.base).await;
    for (name, labels) in [
        (
            "coffer_keystone_validations_total",
            &["result=\"valid\""][..],
        ),
        (
            "coffer_keystone_validations_total",
            &["result=\"rejected\""][..],
        ),
        ("coffer_keystone_cache_hits_total", &[][..]),
        ("coffer_keystone_failures_total", &[][..]),
    ] {
        let n = common::metric(&text, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"));
        assert!(n >= 1.0, "{name} {labels:?} = {n}");
    }
    srv.stop().await;
}
