//! End-to-end behaviour of the real server: durability across restarts, integrity failures,
//! concurrency, references.

mod common;

use common::{settings_in, TestServer};
use diesel::prelude::*;
use serde_json::json;

fn text_secret(payload: &str) -> serde_json::Value {
    json!({"name": "t", "payload": payload, "payload_content_type": "text/plain"})
}

#[actix_web::test]
async fn secrets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let id = srv.create("p1", text_secret("kept across restarts")).await;
    let bin = srv
        .create(
            "p1",
            json!({"payload": "AAEC/w==", "payload_content_type": "application/octet-stream",
                   "payload_content_encoding": "base64"}),
        )
        .await;
    srv.stop().await;

    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    assert_eq!(
        srv.payload("p1", &id).await,
        (200, b"kept across restarts".to_vec())
    );
    assert_eq!(srv.payload("p1", &bin).await, (200, vec![0, 1, 2, 255]));
    srv.stop().await;
}

#[actix_web::test]
async fn payloads_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let id = srv.create("p1", text_secret("plaintext-marker-7f3a")).await;
    srv.stop().await;
    common::assert_not_stored(dir.path(), "plaintext-marker-7f3a");
    let meta: String = coffer::db::schema::secrets::table
        .filter(coffer::db::schema::secrets::id.eq(&id))
        .select(coffer::db::schema::secrets::store_metadata.assume_not_null())
        .first(&mut common::db(dir.path()))
        .unwrap();
    assert!(
        meta.contains("\"ciphertext\"") && meta.contains("\"kek_id\""),
        "{meta}"
    );
}

#[actix_web::test]
async fn tampered_or_moved_ciphertext_fails_with_a_clear_error() {
    use coffer::db::schema::{project_keks, secrets};

    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let a = srv.create("p1", text_secret("secret a")).await;
    let b = srv.create("p1", text_secret("secret b")).await;
    let c = srv.create("p1", text_secret("secret c")).await;
    srv.stop().await;

    let mut conn = common::db(dir.path());
    let meta_of = |conn: &mut coffer::db::DbConn, id: &str| -> String {
        secrets::table
            .filter(secrets::id.eq(id))
            .select(secrets::store_metadata.assume_not_null())
            .first(conn)
            .unwrap()
    };
    // b gets a's ciphertext (a row copied onto another secret).
    let a_meta = meta_of(&mut conn, &a);
    diesel::update(secrets::table.filter(secrets::id.eq(&b)))
        .set(secrets::store_metadata.eq(&a_meta))
        .execute(&mut conn)
        .unwrap();
    // c's ciphertext gets one character changed.
    let mut c_meta: serde_json::Value = serde_json::from_str(&meta_of(&mut conn, &c)).unwrap();
    let ct = c_meta["ciphertext"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if ct.starts_with('A') { "B" } else { "A" },
        &ct[1..]
    );
    c_meta["ciphertext"] = json!(flipped);
    diesel::update(secrets::table.filter(secrets::id.eq(&c)))
        .set(secrets::store_metadata.eq(c_meta.to_string()))
        .execute(&mut conn)
        .unwrap();

    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    assert_eq!(srv.payload("p1", &a).await, (200, b"secret a".to_vec()));
    for id in [&b, &c] {
        let (status, body) = srv.payload("p1", id).await;
        assert_eq!(status, 500);
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.contains(
                "Secret payload retrieval failure seen - please contact site administrator."
            ),
            "{body}"
        );
        assert!(
            !body.contains("integrity") && !body.contains("secret a"),
            "{body}"
        );
    }
    srv.stop().await;

    // The wrapped project KEK itself tampered with: every payload of the project fails.
    let wrapped: Vec<u8> = project_keks::table
        .select(project_keks::wrapped_kek)
        .first(&mut conn)
        .unwrap();
    let mut bad = wrapped.clone();
    bad[10] ^= 0x40;
    diesel::update(project_keks::table)
        .set(project_keks::wrapped_kek.eq(&bad))
        .execute(&mut conn)
        .unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    assert_eq!(srv.payload("p1", &a).await.0, 500);
    srv.stop().await;
    diesel::update(project_keks::table)
        .set(project_keks::wrapped_kek.eq(&wrapped))
        .execute(&mut conn)
        .unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    assert_eq!(srv.payload("p1", &a).await, (200, b"secret a".to_vec()));
    srv.stop().await;
}

#[actix_web::test]
async fn another_master_key_cannot_read_old_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let id = srv.create("p1", text_secret("under the dev key")).await;
    srv.stop().await;

    let mut s = settings_in(dir.path());
    s.crypto.insert(
        "simple_crypto".into(),
        json!({"master_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}),
    );
    let srv = TestServer::start(s).unwrap();
    let (status, body) = srv.payload("p1", &id).await;
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("please contact site administrator"));
    // The project's KEK is wrapped by a master key that is gone, so the project cannot get new
    // secrets either, until the old key is configured again.
    let res = srv
        .client
        .post(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p1")
        .json(&text_secret("fresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    // Other projects work under the new key.
    let other = srv.create("p2", text_secret("fresh")).await;
    assert_eq!(srv.payload("p2", &other).await, (200, b"fresh".to_vec()));
    srv.stop().await;
}

#[actix_web::test]
async fn concurrent_writes_all_succeed_and_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let srv = std::sync::Arc::new(TestServer::start(settings_in(dir.path())).unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let srv = srv.clone();
        tasks.push(actix_web::rt::spawn(async move {
            let project = format!("proj-{}", i % 7);
            let id = srv
                .create(&project, text_secret(&format!("value-{i}")))
                .await;
            (project, id, i)
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.unwrap());
    }
    for (project, id, i) in created {
        assert_eq!(
            srv.payload(&project, &id).await,
            (200, format!("value-{i}").into_bytes())
        );
    }
    // Seven projects, seven KEKs, however the requests raced.
    let n: i64 = coffer::db::schema::project_keks::table
        .count()
        .get_result(&mut common::db(dir.path()))
        .unwrap();
    assert_eq!(n, 7);
}

#[actix_web::test]
async fn host_href_prefixes_refs() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.server.host_href = Some("https://kms.example.com/".into());
    let srv = TestServer::start(s).unwrap();
    let res = srv
        .client
        .post(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://kms.example.com/v1/secrets/"),
        "{location}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["secret_ref"], location);
    srv.stop().await;
}

#[actix_web::test]
async fn openapi_and_docs_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let doc: serde_json::Value = srv
        .client
        .get(srv.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["info"]["title"], "Coffer");
    assert!(doc["paths"]["/v1/secrets"]["post"].is_object());
    let ui = srv
        .client
        .get(srv.url("/docs/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    srv.stop().await;
}
