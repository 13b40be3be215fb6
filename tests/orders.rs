//! Orders: a spec no store generates is accepted and ends in ERROR (as in Barbican), an empty
//! `payload_content_type` counts as absent, a refused or failed order keeps nothing of its
//! passphrase, a live worker keeps its lease however long it works, and the orders of a killed
//! instance, or of a worker the database failed, finish within 30 s of the restart.
//!
//! Real servers throughout: in-process (`TestServer`) or the `coffer` binary (`CofferProcess`),
//! with the example file store (an out-of-process store) where an order must stay in flight.
//! `COFFER_TEST_BACKEND=postgres` runs them on PostgreSQL; tests/postgres.rs adds two instances.

mod common;
mod order_support;

use std::time::Duration;

use coffer::config::StoreSettings;
use common::{settings_in, CofferProcess, TestServer};
use diesel::connection::SimpleConnection;
use order_support::{
    aes_order, file_store_section, files_of, get_json, id_of, openssl_wrapper, order_row, payload,
    rsa_order, secret_rows, submit, until, wait_done, Genpkey,
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

/// `coffer serve` in `dir` (its own database) with the file store and a slow or gated
/// `openssl`.
fn file_store_instance(
    dir: &std::path::Path,
    genpkey: Genpkey,
    orders: &str,
    env: &[(&str, &str)],
) -> CofferProcess {
    let files = dir.join("files");
    order_support::file_store_instance(
        dir,
        &files,
        &common::database_url(dir),
        genpkey,
        orders,
        env,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_worker_keeps_its_lease() {
    // A 3 s lease, renewed every second, and a generation that takes 5 s: without renewal the
    // instance's own poller would claim the order again after 3 s and generate it twice.
    let dir = tempfile::tempdir().unwrap();
    let srv = file_store_instance(
        dir.path(),
        Genpkey::Slow(5),
        "lease_seconds = 3\npoll_seconds = 1\ninline_wait_ms = 0",
        &[],
    );
    let client = reqwest::Client::new();
    let id = submit(&client, &srv.base, "p1", &rsa_order("slow-pass")).await;
    let (orders, _) = wait_done(
        &client,
        &srv.base,
        "p1",
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(orders[0]["status"], "ACTIVE", "{}", orders[0]);
    let mut conn = common::db(dir.path());
    assert_eq!(order_row(&mut conn, &id).1, 1, "claimed once");
    assert!(srv.log_lines("picked up a pending order").is_empty());
    assert_eq!(secret_rows(&mut conn, "p1"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_orders_finish_within_30_s_of_its_restart() {
    // Default lease and poll settings: what ships must meet the 30 s.
    let dir = tempfile::tempdir().unwrap();
    let orders_cfg = "workers = 2\ninline_wait_ms = 0";
    let first = file_store_instance(dir.path(), Genpkey::Slow(4), orders_cfg, &[]);
    let client = reqwest::Client::new();
    // Two slow key pairs (one per worker), then keys queued behind them.
    let mut ids = Vec::new();
    for i in 0..2 {
        ids.push(submit(&client, &first.base, "p1", &rsa_order(&format!("pass-{i}"))).await);
    }
    for _ in 0..6 {
        ids.push(submit(&client, &first.base, "p1", &aes_order()).await);
    }
    let mut conn = common::db(dir.path());
    // Orders claimed (by the only instance) and not finished.
    let held = |conn: &mut coffer::db::DbConn| -> Vec<String> {
        ids.iter()
            .filter(|id| {
                let (status, _, lease) = order_row(conn, id);
                status == "PENDING" && lease.is_some()
            })
            .cloned()
            .collect()
    };
    until(
        Duration::from_secs(30),
        "the workers never took the key pairs",
        || held(&mut conn).len() == 2,
    )
    .await;

    drop(first); // kill -9
    let in_flight = held(&mut conn);
    assert_eq!(
        in_flight.len(),
        2,
        "both key pairs were in flight at the kill"
    );

    let second = file_store_instance(dir.path(), Genpkey::Slow(4), orders_cfg, &[]);
    let (orders, took) =
        wait_done(&client, &second.base, "p1", &ids, Duration::from_secs(30)).await;
    eprintln!("all orders finished {took:?} after the restart");
    for o in &orders {
        assert_eq!(o["status"], "ACTIVE", "{o}");
    }
    for id in &in_flight {
        let (_, attempts, _) = order_row(&mut conn, id);
        assert_eq!(attempts, 2, "claimed again once: {id}");
    }
    // Each key pair's container holds its own passphrase, and no order made two results.
    for (i, o) in orders.iter().take(2).enumerate() {
        let container = get_json(&client, o["container_ref"].as_str().unwrap(), "p1").await;
        let pass = container["secret_refs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "private_key_passphrase")
            .map(|r| id_of(r, "secret_ref"))
            .expect("a passphrase ref");
        let (status, body) = payload(&client, &second.base, "p1", &pass).await;
        assert_eq!((status, body), (200, format!("pass-{i}").into_bytes()));
    }
    assert_eq!(
        secret_rows(&mut conn, "p1"),
        2 * 3 + 6,
        "one result per order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_database_failed_to_complete_is_retried_within_30_s() {
    // The database refuses the completion (on PostgreSQL a row lock, on SQLite the write lock,
    // held past database.timeout_ms: what an outage looks like to the worker). The worker gives
    // the order up; once the database is back, another claim finishes it.
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    std::fs::create_dir_all(&gate).unwrap();
    let srv = file_store_instance(
        dir.path(),
        Genpkey::Gated(gate.clone()),
        "inline_wait_ms = 0",
        &[("COFFER__DATABASE__TIMEOUT_MS", "1000")],
    );
    let client = reqwest::Client::new();
    let id = submit(&client, &srv.base, "p1", &rsa_order("gated-pass")).await;
    until(
        Duration::from_secs(30),
        "the generation never started",
        || gate.join("started").exists(),
    )
    .await;

    let mut locker = common::db(dir.path());
    match &mut locker {
        coffer::db::DbConn::Sqlite(c) => c.batch_execute("BEGIN IMMEDIATE").unwrap(),
        coffer::db::DbConn::Pg(c) => c
            .batch_execute(&format!(
                "BEGIN; SELECT id FROM orders WHERE id = '{id}' FOR UPDATE"
            ))
            .unwrap(),
    }
    std::fs::write(gate.join("release"), b"").unwrap();
    until(Duration::from_secs(60), "the worker never gave up", || {
        !srv.log_lines("order will be retried").is_empty()
    })
    .await;
    locker.batch_execute("ROLLBACK").unwrap();

    let (orders, took) = wait_done(
        &client,
        &srv.base,
        "p1",
        std::slice::from_ref(&id),
        Duration::from_secs(30),
    )
    .await;
    eprintln!("the order finished {took:?} after the database was back");
    assert_eq!(orders[0]["status"], "ACTIVE", "{}", orders[0]);
    let mut conn = common::db(dir.path());
    assert_eq!(order_row(&mut conn, &id).1, 2, "retried once");
    assert_eq!(secret_rows(&mut conn, "p1"), 3, "nothing of the failed try");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_completes_nothing() {
    use coffer::db::schema::orders::dsl as o;
    use diesel::prelude::*;
    // While the worker generates, another instance takes the order over (as after a lapse of
    // the lease): the worker's result is refused and the store's copies are released.
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    std::fs::create_dir_all(&gate).unwrap();
    let srv = file_store_instance(
        dir.path(),
        Genpkey::Gated(gate.clone()),
        "inline_wait_ms = 0",
        &[],
    );
    let client = reqwest::Client::new();
    let id = submit(&client, &srv.base, "p1", &rsa_order("taken-pass")).await;
    until(
        Duration::from_secs(30),
        "the generation never started",
        || gate.join("started").exists(),
    )
    .await;
    let mut conn = common::db(dir.path());
    let later = coffer::timefmt::now() + chrono::Duration::hours(1);
    let n = diesel::update(o::orders.filter(o::id.eq(&id)))
        .set((
            o::lease_owner.eq("another-instance"),
            o::lease_expires_at.eq(later),
        ))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    std::fs::write(gate.join("release"), b"").unwrap();
    until(Duration::from_secs(60), "the worker never finished", || {
        !srv.log_lines("no longer held by this worker").is_empty()
    })
    .await;

    let (status, attempts, owner) = order_row(&mut conn, &id);
    assert_eq!(
        (status.as_str(), attempts, owner.as_deref()),
        ("PENDING", 1, Some("another-instance"))
    );
    // Only the passphrase secret (the order's own) is left, in the database and the store.
    assert_eq!(secret_rows(&mut conn, "p1"), 1);
    assert_eq!(files_of(&dir.path().join("files"), "p1"), 1);
}
