//! Orders survive restarts, quotas hold under concurrency, stores keep their secrets, policy
//! files apply.

mod common;

use std::time::Duration;

use coffer::config::StoreSettings;
use common::{settings_in, TestServer};
use diesel::prelude::*;
use serde_json::{json, Value};

async fn order_status(srv: &TestServer, project: &str, id: &str) -> Value {
    srv.client
        .get(srv.url(&format!("/v1/orders/{id}")))
        .header("X-Project-Id", project)
        .send()
        .await
        .expect("test helper")
        .json()
        .await
        .expect("test helper")
}

async fn wait_for(srv: &TestServer, project: &str, id: &str) -> Value {
    for _ in 0..150 {
        let o = order_status(srv, project, id).await;
        if o["status"] != "PENDING" {
            return o;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {id} stayed PENDING");
}

#[actix_web::test]
async fn orders_left_pending_by_a_crash_complete_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.orders.poll_seconds = 1;
    // First start creates the schema (and the dev key); then "crash" with two orders pending:
    // one never claimed, one claimed by a worker that died (its lease expired).
    let srv = TestServer::start(s.clone()).unwrap();
    srv.stop().await;
    let meta = json!({"name": "k", "algorithm": "aes", "bit_length": 256, "mode": "cbc", "expiration": null});
    let unclaimed =
        common::insert_pending_order(&mut common::db(dir.path()), "p1", "key", meta.clone(), None);
    let orphaned = common::insert_pending_order(
        &mut common::db(dir.path()),
        "p1",
        "key",
        meta.clone(),
        Some(("dead-worker", -5)),
    );
    let held = common::insert_pending_order(
        &mut common::db(dir.path()),
        "p1",
        "key",
        meta,
        Some(("live-worker", 3600)),
    );

    let srv = TestServer::start(s).unwrap();
    for id in [&unclaimed, &orphaned] {
        let o = wait_for(&srv, "p1", id).await;
        assert_eq!(o["status"], "ACTIVE", "{o}");
        let secret = o["secret_ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let (status, key) = srv.payload("p1", &secret).await;
        assert_eq!((status, key.len()), (200, 32));
    }
    // An order another live worker holds is left alone.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(order_status(&srv, "p1", &held).await["status"], "PENDING");
    srv.stop().await;
}

#[actix_web::test]
async fn asymmetric_orders_make_an_rsa_container_and_keep_the_passphrase_out_of_meta() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let res = srv
        .client
        .post(srv.url("/v1/orders"))
        .header("X-Project-Id", "p1")
        .json(&json!({"type": "asymmetric", "meta": {"name": "kp", "algorithm": "rsa", "bit_length": 2048, "passphrase": "s3cret-pass"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["order_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let o = wait_for(&srv, "p1", &id).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert!(o["meta"].get("passphrase").is_none(), "{o}");
    assert!(!o.to_string().contains("s3cret-pass"));
    let container: Value = srv
        .client
        .get(o["container_ref"].as_str().unwrap())
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = container["secret_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["private_key", "public_key", "private_key_passphrase"]
    );
    let refs = container["secret_refs"].as_array().unwrap();
    let payload_of = |i: usize| {
        refs[i]["secret_ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let (_, private) = srv.payload("p1", &payload_of(0)).await;
    assert!(private.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let (_, public) = srv.payload("p1", &payload_of(1)).await;
    assert!(public.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        srv.payload("p1", &payload_of(2)).await,
        (200, b"s3cret-pass".to_vec())
    );
    srv.stop().await;
    // Nothing stores the passphrase in clear.
    common::assert_not_stored(dir.path(), "s3cret-pass");
}

#[actix_web::test]
async fn quotas_hold_under_concurrent_creation() {
    let dir = tempfile::tempdir().unwrap();
    let srv = std::sync::Arc::new(TestServer::start(settings_in(dir.path())).unwrap());
    let res = srv
        .client
        .put(srv.url("/v1/project-quotas/pq"))
        .header("X-Project-Id", "admin-project")
        .header("X-Roles", "key-manager:service-admin")
        .json(&json!({"project_quotas": {"secrets": 5, "containers": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let srv = srv.clone();
        tasks.push(actix_web::rt::spawn(async move {
            srv.client
                .post(srv.url("/v1/secrets"))
                .header("X-Project-Id", "pq")
                .json(&json!({"payload": format!("v{i}"), "payload_content_type": "text/plain"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 5, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 403).count(), 35, "{codes:?}");
    // 0 disables creation.
    let res = srv
        .client
        .post(srv.url("/v1/containers"))
        .header("X-Project-Id", "pq")
        .json(&json!({"type": "generic", "name": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["description"],
        "Container creation issue seen - Creation not allowed because a quota has been reached."
    );
}

fn two_stores(default: &str) -> std::collections::BTreeMap<String, StoreSettings> {
    ["software", "software-b"]
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                StoreSettings {
                    store_plugin: "store_crypto".into(),
                    crypto_plugin: Some("simple_crypto".into()),
                    global_default: name == default,
                    store: None,
                    crypto: None,
                },
            )
        })
        .collect()
}

#[actix_web::test]
async fn secrets_stay_with_their_store_and_projects_can_prefer_another() {
    use coffer::db::schema::secrets::dsl as s;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.stores = two_stores("software");
    let srv = TestServer::start(settings.clone()).unwrap();
    let a = srv
        .create(
            "p1",
            json!({"payload": "in a", "payload_content_type": "text/plain"}),
        )
        .await;

    // The project prefers software-b: new secrets go there.
    let stores: Value = srv
        .client
        .get(srv.url("/v1/secret-stores"))
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = stores["secret_stores"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let b_ref = list.iter().find(|x| x["name"] == "software-b").unwrap()["secret_store_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        list.iter().find(|x| x["name"] == "software").unwrap()["store_plugin_status"],
        "stable"
    );
    let res = srv
        .client
        .post(format!("{b_ref}/preferred"))
        .header("X-Project-Id", "p1")
        .header("X-Roles", "creator")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "only project admins set preferences");
    let res = srv
        .client
        .post(format!("{b_ref}/preferred"))
        .header("X-Project-Id", "p1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let b = srv
        .create(
            "p1",
            json!({"payload": "in b", "payload_content_type": "text/plain"}),
        )
        .await;
    let other = srv
        .create(
            "p2",
            json!({"payload": "default", "payload_content_type": "text/plain"}),
        )
        .await;
    srv.stop().await;
    let store_of = |id: &str| -> String {
        s::secrets
            .filter(s::id.eq(id))
            .select(s::store_name.assume_not_null())
            .first(&mut common::db(dir.path()))
            .unwrap()
    };
    assert_eq!(store_of(&a), "software");
    assert_eq!(store_of(&b), "software-b");
    assert_eq!(store_of(&other), "software");

    // Switching the global default never orphans existing secrets.
    settings.stores = two_stores("software-b");
    let srv = TestServer::start(settings).unwrap();
    assert_eq!(srv.payload("p1", &a).await, (200, b"in a".to_vec()));
    assert_eq!(srv.payload("p1", &b).await, (200, b"in b".to_vec()));
    assert_eq!(srv.payload("p2", &other).await, (200, b"default".to_vec()));
    let new = srv
        .create(
            "p3",
            json!({"payload": "new default", "payload_content_type": "text/plain"}),
        )
        .await;
    srv.stop().await;
    assert_eq!(store_of(&new), "software-b");
}

#[actix_web::test]
async fn a_policy_file_changes_who_may_do_what() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "\"secrets:post\": \"role:admin\"\n").unwrap();
    let mut s = settings_in(dir.path());
    s.policy.file = Some(policy);
    let srv = TestServer::start(s).unwrap();
    let post = |roles: &'static str| {
        srv.client
            .post(srv.url("/v1/secrets"))
            .header("X-Project-Id", "p")
            .header("X-Roles", roles)
            .json(&json!({"name": "x"}))
            .send()
    };
    assert_eq!(post("creator").await.unwrap().status(), 403);
    assert_eq!(post("admin").await.unwrap().status(), 201);
    srv.stop().await;

    let mut s = settings_in(dir.path());
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "\"secrets:post\": \"role:admin or\"\n").unwrap();
    s.policy.file = Some(bad);
    let err = coffer::server::start(&s)
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("secrets:post"), "{err}");
}
