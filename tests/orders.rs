//! Orders: an empty `payload_content_type` counts as absent.
//!
//! Real servers throughout: in-process (`TestServer`) or the `coffer` binary (`CofferProcess`).
//! `COFFER_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;
mod order_support;

use std::time::Duration;

use common::{settings_in, TestServer};
use order_support::{get_json, id_of, submit, wait_done};
use serde_json::json;

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
