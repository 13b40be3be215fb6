//! Orders: a spec no store generates is accepted and ends in ERROR (as in Barbican), an empty
//! `payload_content_type` counts as absent, and a refused or failed order keeps nothing of its
//! passphrase.
//!
//! Real servers throughout: in-process (`TestServer`) or the `coffer` binary (`CofferProcess`).
//! `COFFER_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;
mod order_support;

use std::time::Duration;

use coffer::config::StoreSettings;
use common::{settings_in, TestServer};
use order_support::{
    file_store_section, files_of, get_json, id_of, openssl_wrapper, submit, wait_done, Genpkey,
};
use serde_json::{json, Value};

/// The order of Barbican's keys in an order that ended in ERROR.
const ERROR_ORDER_KEYS: [&str; 9] = [
    "created",
    "updated",
    "status",
    "type",
    "meta",
    "error_status_code",
    "error_reason",
    "sub_status",
    "sub_status_message",
];

const NOT_GENERATED: &str =
    "Process TypeOrder issue seen - Secret generate supported plugin not found..";

#[actix_web::test]
async fn specs_no_store_generates_are_accepted_and_end_in_error() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let bodies = [
        json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 8}}),
        json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 64, "mode": "cbc"}}),
        json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 1024}}),
        json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 2048}}),
        json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 4096, "mode": "cbc"}}),
        json!({"type": "key", "meta": {"algorithm": "des", "bit_length": 64}}),
        json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 1024}}),
        json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 1024, "passphrase": "never-stored"}}),
    ];
    let mut ids = Vec::new();
    for body in &bodies {
        ids.push(submit(&srv.client, &srv.base, "p1", body).await);
    }
    let (orders, _) = wait_done(&srv.client, &srv.base, "p1", &ids, Duration::from_secs(30)).await;
    for ((o, body), id) in orders.iter().zip(&bodies).zip(&ids) {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = ERROR_ORDER_KEYS.to_vec();
        expected.push("order_ref");
        assert_eq!(keys, expected, "{o}");
        assert_eq!(o["status"], "ERROR", "{body}: {o}");
        assert_eq!(o["error_status_code"], "400", "{o}");
        assert_eq!(o["error_reason"], NOT_GENERATED, "{o}");
        assert_eq!(o["order_ref"], srv.url(&format!("/v1/orders/{id}")));
        assert!(o.get("secret_ref").is_none() && o.get("container_ref").is_none());
        assert!(!o.to_string().contains("never-stored"));
    }
    // Nothing was generated, and no passphrase secret stays behind.
    let secrets = get_json(&srv.client, &srv.url("/v1/secrets"), "p1").await;
    assert_eq!(secrets["total"], 0, "{secrets}");
    let containers = get_json(&srv.client, &srv.url("/v1/containers"), "p1").await;
    assert_eq!(containers["total"], 0, "{containers}");
    // A supported spec still works next to them.
    let ok = submit(
        &srv.client,
        &srv.base,
        "p1",
        &json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}}),
    )
    .await;
    let (done, _) = wait_done(&srv.client, &srv.base, "p1", &[ok], Duration::from_secs(30)).await;
    assert_eq!(done[0]["status"], "ACTIVE", "{}", done[0]);
    srv.stop().await;
    common::assert_not_stored(dir.path(), "never-stored");
}

#[actix_web::test]
async fn an_empty_payload_content_type_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(settings_in(dir.path())).unwrap();
    let key = submit(
        &srv.client,
        &srv.base,
        "p1",
        &json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "payload_content_type": ""}}),
    )
    .await;
    let pair = submit(
        &srv.client,
        &srv.base,
        "p1",
        &json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048, "payload_content_type": "", "passphrase": "pw"}}),
    )
    .await;
    let (orders, _) = wait_done(
        &srv.client,
        &srv.base,
        "p1",
        &[key, pair],
        Duration::from_secs(60),
    )
    .await;
    for o in &orders {
        assert_eq!(o["status"], "ACTIVE", "{o}");
        // The meta is echoed as sent.
        assert_eq!(o["meta"]["payload_content_type"], "", "{o}");
    }
    let secret = get_json(
        &srv.client,
        &srv.url(&format!("/v1/secrets/{}", id_of(&orders[0], "secret_ref"))),
        "p1",
    )
    .await;
    assert_eq!(
        secret["content_types"],
        json!({"default": "application/octet-stream"})
    );
    let (status, key) = srv.payload("p1", &id_of(&orders[0], "secret_ref")).await;
    assert_eq!((status, key.len()), (200, 32));
    let container = get_json(
        &srv.client,
        orders[1]["container_ref"].as_str().unwrap(),
        "p1",
    )
    .await;
    for r in container["secret_refs"].as_array().unwrap() {
        let s = get_json(&srv.client, r["secret_ref"].as_str().unwrap(), "p1").await;
        assert_eq!(
            s["content_types"],
            json!({"default": "application/octet-stream"}),
            "{s}"
        );
    }
    srv.stop().await;
}

/// A project `project` may not create orders (quota 0).
async fn no_orders_for(srv: &TestServer, project: &str) {
    let res = srv
        .client
        .put(srv.url(&format!("/v1/project-quotas/{project}")))
        .header("X-Project-Id", "admin")
        .header("X-Roles", "key-manager:service-admin")
        .json(&json!({"project_quotas": {"orders": 0}}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 204);
}

#[actix_web::test]
async fn a_refused_or_failed_order_keeps_nothing_of_its_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let openssl = openssl_wrapper(dir.path(), Genpkey::Now);
    let mut settings = settings_in(dir.path());
    settings.plugins.allow_out_of_tree = true;
    settings.stores = [(
        "files".to_owned(),
        StoreSettings {
            store_plugin: "external".into(),
            crypto_plugin: None,
            global_default: true,
            store: Some(file_store_section(&files, &openssl)),
            crypto: None,
        },
    )]
    .into();
    let srv = TestServer::start(settings).unwrap();
    let with_passphrase = |bits: u32, pass: &str| json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": bits, "passphrase": pass}});

    // Refused by the quota: the passphrase the store already held is released.
    no_orders_for(&srv, "capped").await;
    let res = srv
        .client
        .post(srv.url("/v1/orders"))
        .header("X-Project-Id", "capped")
        .json(&with_passphrase(2048, "refused-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["description"],
        "Order creation issue seen - Creation not allowed because a quota has been reached."
    );
    assert_eq!(
        files_of(&files, "capped"),
        0,
        "the passphrase file was left"
    );
    let secrets = get_json(&srv.client, &srv.url("/v1/secrets"), "capped").await;
    assert_eq!(secrets["total"], 0, "{secrets}");

    // Failed by the store (this openssl refuses 3072-bit keys): the passphrase secret goes.
    let failed = submit(
        &srv.client,
        &srv.base,
        "failing",
        &with_passphrase(3072, "failed-pass"),
    )
    .await;
    let (orders, _) = wait_done(
        &srv.client,
        &srv.base,
        "failing",
        &[failed],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(orders[0]["status"], "ERROR", "{}", orders[0]);
    assert_eq!(orders[0]["error_status_code"], "500", "{}", orders[0]);
    assert_eq!(
        orders[0]["error_reason"],
        "Process TypeOrder failure seen - please contact site administrator."
    );
    let secrets = get_json(&srv.client, &srv.url("/v1/secrets"), "failing").await;
    assert_eq!(secrets["total"], 0, "{secrets}");
    assert_eq!(
        files_of(&files, "failing"),
        0,
        "the passphrase file was left"
    );

    // The same order that succeeds keeps its three files (the store does hold them).
    let ok = submit(
        &srv.client,
        &srv.base,
        "ok",
        &with_passphrase(2048, "kept-pass"),
    )
    .await;
    let (orders, _) = wait_done(&srv.client, &srv.base, "ok", &[ok], Duration::from_secs(60)).await;
    assert_eq!(orders[0]["status"], "ACTIVE", "{}", orders[0]);
    assert_eq!(files_of(&files, "ok"), 3);
    srv.stop().await;
}
