//! PostgreSQL: the schema matches SQLite's, several instances share one database (writes,
//! reads, deletes, orders and quotas across instances), pending orders are worked exactly once,
//! a killed instance's orders are taken over by another within 30 s while a live instance
//! keeps its own, and a PostgreSQL restart under load loses nothing acknowledged.
//!
//! These need a PostgreSQL cluster: `COFFER_TEST_PG_URL` (a superuser URL; scripts/test starts a
//! private cluster with scripts/postgres and sets it). Without it they are skipped, unless
//! `COFFER_REQUIRE_PG=1` (as in scripts/test), which makes a missing cluster a failure.

mod common;
mod order_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{create, read, CofferProcess};
use diesel::prelude::*;
use serde_json::{json, Value};

/// The test cluster, or `None` (skip) when there is none and none is required.
fn cluster() -> Option<String> {
    let url = common::pg_admin_url();
    if url.is_none() {
        assert!(
            std::env::var("COFFER_REQUIRE_PG").is_err(),
            "COFFER_REQUIRE_PG is set but COFFER_TEST_PG_URL is not"
        );
        eprintln!("skipped: no PostgreSQL (set COFFER_TEST_PG_URL; scripts/test does)");
    }
    url
}

/// A new, empty database on the test cluster.
fn fresh_database(label: &str) -> String {
    common::pg_database(&format!("coffer_{label}_{}", uuid::Uuid::new_v4().simple()))
}

// ---------------------------------------------------------------------------------------------
// The schema

/// What a table is, independent of how each backend spells it.
#[derive(Debug, PartialEq, Eq, Default)]
struct TableShape {
    /// (name, type, not null, default) in declaration order.
    columns: Vec<(String, String, bool, Option<String>)>,
    primary_key: Vec<String>,
    /// (columns, unique, partial) of every other index.
    indexes: Vec<(Vec<String>, bool, bool)>,
    /// (column, referenced table, referenced column, on delete).
    foreign_keys: Vec<(String, String, String, String)>,
}

fn canonical_type(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "text" => "text",
        "integer" => "integer",
        "boolean" => "boolean",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "blob" | "bytea" => "bytes",
        other => return format!("unknown:{other}"),
    }
    .to_owned()
}

/// `'ACTIVE'::text` and `'ACTIVE'` are the same default.
fn canonical_default(d: Option<String>) -> Option<String> {
    d.map(|d| match d.split_once("::") {
        Some((value, _)) => value.to_owned(),
        None => d,
    })
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// A foreign key as both catalogs describe it.
#[derive(QueryableByName)]
struct Fk {
    #[diesel(sql_type = diesel::sql_types::Text)]
    col: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ref_table: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ref_col: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    on_delete: String,
}

impl Fk {
    fn shape(self) -> (String, String, String, String) {
        (self.col, self.ref_table, self.ref_col, self.on_delete)
    }
}

fn sqlite_schema(conn: &mut SqliteConnection) -> BTreeMap<String, TableShape> {
    use diesel::sql_types::{Integer, Nullable, Text};
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        ty: String,
        #[diesel(sql_type = Integer)]
        not_null: i32,
        #[diesel(sql_type = Nullable<Text>)]
        dflt: Option<String>,
        #[diesel(sql_type = Integer)]
        pk: i32,
    }
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Integer)]
        is_unique: i32,
        #[diesel(sql_type = Text)]
        origin: String,
        #[diesel(sql_type = Integer)]
        partial: i32,
    }
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '__diesel_schema_migrations'",
    )
    .load(conn)
    .expect("schema query");
    let mut out = BTreeMap::new();
    for Name { name: table } in tables {
        let mut shape = TableShape::default();
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT name, type AS ty, \"notnull\" AS not_null, dflt_value AS dflt, pk \
             FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        let mut pk: Vec<(i32, String)> = Vec::new();
        for c in columns {
            if c.pk > 0 {
                pk.push((c.pk, c.name.clone()));
            }
            // A primary key column is NOT NULL whether or not it says so.
            let not_null = c.not_null == 1 || c.pk > 0;
            shape.columns.push((
                c.name,
                canonical_type(&c.ty),
                not_null,
                canonical_default(c.dflt),
            ));
        }
        pk.sort();
        shape.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        let indexes: Vec<Index> = diesel::sql_query(
            "SELECT name, \"unique\" AS is_unique, origin, partial FROM pragma_index_list(?)",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        for ix in indexes.into_iter().filter(|ix| ix.origin != "pk") {
            let cols: Vec<Name> =
                diesel::sql_query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind::<Text, _>(&ix.name)
                    .load(conn)
                    .expect("schema query");
            shape.indexes.push((
                cols.into_iter().map(|c| c.name).collect(),
                ix.is_unique == 1,
                ix.partial == 1,
            ));
        }
        shape.indexes.sort();
        let fks: Vec<Fk> = diesel::sql_query(
            "SELECT \"from\" AS col, \"table\" AS ref_table, \"to\" AS ref_col, on_delete \
             FROM pragma_foreign_key_list(?)",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        shape.foreign_keys = fks.into_iter().map(Fk::shape).collect();
        shape.foreign_keys.sort();
        out.insert(table, shape);
    }
    out
}

fn pg_schema(conn: &mut PgConnection) -> BTreeMap<String, TableShape> {
    use diesel::sql_types::{Bool, Nullable, Text};
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        ty: String,
        #[diesel(sql_type = Bool)]
        not_null: bool,
        #[diesel(sql_type = Nullable<Text>)]
        dflt: Option<String>,
    }
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = Text)]
        cols: String,
        #[diesel(sql_type = Bool)]
        is_unique: bool,
        #[diesel(sql_type = Bool)]
        is_primary: bool,
        #[diesel(sql_type = Bool)]
        partial: bool,
    }
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> '__diesel_schema_migrations'",
    )
    .load(conn)
    .expect("schema query");
    let mut out = BTreeMap::new();
    for Name { name: table } in tables {
        let mut shape = TableShape::default();
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT column_name::text AS name, data_type::text AS ty, \
             (is_nullable = 'NO') AS not_null, column_default::text AS dflt \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        shape.columns = columns
            .into_iter()
            .map(|c| {
                (
                    c.name,
                    canonical_type(&c.ty),
                    c.not_null,
                    canonical_default(c.dflt),
                )
            })
            .collect();
        let indexes: Vec<Index> = diesel::sql_query(
            "SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) \
                 WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a \
                 ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS cols, \
             ix.indisunique AS is_unique, ix.indisprimary AS is_primary, \
             (ix.indpred IS NOT NULL) AS partial \
             FROM pg_index ix WHERE ix.indrelid = $1::regclass",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        for ix in indexes {
            let cols: Vec<String> = ix.cols.split(',').map(str::to_owned).collect();
            if ix.is_primary {
                shape.primary_key = cols;
            } else {
                shape.indexes.push((cols, ix.is_unique, ix.partial));
            }
        }
        shape.indexes.sort();
        let fks: Vec<Fk> = diesel::sql_query(
            "SELECT kcu.column_name::text AS col, ccu.table_name::text AS ref_table, \
             ccu.column_name::text AS ref_col, rc.delete_rule::text AS on_delete \
             FROM information_schema.referential_constraints rc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = rc.constraint_name AND kcu.table_schema = 'public' \
             JOIN information_schema.constraint_column_usage ccu \
               ON ccu.constraint_name = rc.unique_constraint_name AND ccu.table_schema = 'public' \
             WHERE kcu.table_name = $1",
        )
        .bind::<Text, _>(&table)
        .load(conn)
        .expect("schema query");
        shape.foreign_keys = fks.into_iter().map(Fk::shape).collect();
        shape.foreign_keys.sort();
        out.insert(table, shape);
    }
    out
}

fn migrated(url: String) {
    let mut settings = coffer::config::Settings::defaults();
    settings.database.url = url.into();
    let db = coffer::db::Db::open(&settings.database).expect("migrate");
    assert!(!db.prepare(true).expect("migrate").is_empty());
}

#[test]
fn both_backends_build_the_same_schema() {
    if cluster().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite_path = dir.path().join("schema.db");
    migrated(format!("sqlite://{}", sqlite_path.display()));
    let pg_url = fresh_database("schema");
    migrated(pg_url.clone());

    let sqlite =
        sqlite_schema(&mut SqliteConnection::establish(&sqlite_path.to_string_lossy()).unwrap());
    let pg = pg_schema(&mut PgConnection::establish(&pg_url).unwrap());
    assert_eq!(sqlite.len(), 11, "{:?}", sqlite.keys());
    for shape in sqlite.values().chain(pg.values()) {
        assert!(
            !shape.columns.iter().any(|c| c.1.starts_with("unknown")),
            "{shape:?}"
        );
    }
    // Table by table, for a readable failure.
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>()
    );
    for (table, shape) in &sqlite {
        assert_eq!(Some(shape), pg.get(table), "table {table}");
    }
}

// ---------------------------------------------------------------------------------------------
// Several instances

fn id_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_owned()
}

/// What happened to one secret of the workload.
struct Written {
    project: String,
    id: String,
    payload: String,
    deleted: bool,
    order: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_database() {
    if cluster().is_none() {
        return;
    }
    let url = fresh_database("two");
    let dir = tempfile::tempdir().unwrap();
    let poll = [("COFFER__ORDERS__POLL_SECONDS", "1")];
    let a = CofferProcess::spawn(&dir.path().join("a"), &url, &poll);
    let b = CofferProcess::spawn(&dir.path().join("b"), &url, &poll);
    let bases = Arc::new([a.base.clone(), b.base.clone()]);
    let client = reqwest::Client::new();

    // A project limited to 40 secrets, filled from both instances at once below.
    let res = client
        .put(format!("{}/v1/project-quotas/quota-project", bases[0]))
        .header("X-Project-Id", "admin")
        .header("X-Roles", "key-manager:service-admin")
        .json(&json!({"project_quotas": {"secrets": 40}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let permits = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..2000usize {
        let (client, bases, permits) = (client.clone(), bases.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let (mine, other) = (&bases[i % 2], &bases[(i + 1) % 2]);
            let project = format!("shared-{}", i % 8);
            let payload = format!("payload-{i}-{}", uuid::Uuid::new_v4());
            let res = create(&client, mine, &project, &payload).await;
            assert_eq!(res.status(), 201, "create {i}");
            let id = id_of(&res.json().await.unwrap(), "secret_ref");
            let mut w = Written {
                project,
                id,
                payload,
                deleted: false,
                order: None,
            };
            if i % 5 == 0 {
                // Read-your-write through the other instance.
                assert_eq!(
                    read(&client, other, &w.project, &w.id).await,
                    (200, w.payload.clone())
                );
            }
            if i % 7 == 0 {
                let res = client
                    .delete(format!("{other}/v1/secrets/{}", w.id))
                    .header("X-Project-Id", &w.project)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 204);
                assert_eq!(read(&client, mine, &w.project, &w.id).await.0, 404);
                w.deleted = true;
            }
            if i % 40 == 0 {
                let res = client
                    .post(format!("{other}/v1/orders"))
                    .header("X-Project-Id", &w.project)
                    .json(&json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "mode": "cbc"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 202);
                w.order = Some(id_of(&res.json().await.unwrap(), "order_ref"));
            }
            w
        }));
    }
    let mut quota_tasks = Vec::new();
    for i in 0..120usize {
        let (client, bases) = (client.clone(), bases.clone());
        quota_tasks.push(tokio::spawn(async move {
            create(&client, &bases[i % 2], "quota-project", "q")
                .await
                .status()
                .as_u16()
        }));
    }

    let mut written = Vec::new();
    for t in tasks {
        written.push(t.await.expect("a workload task failed"));
    }
    let mut statuses = BTreeMap::new();
    for t in quota_tasks {
        *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        BTreeMap::from([(201u16, 40), (403u16, 80)]),
        "quota across instances"
    );
    let res = client
        .get(format!("{}/v1/secrets?limit=1", bases[1]))
        .header("X-Project-Id", "quota-project")
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["total"], 40);

    // Every acknowledged write, as both instances see it.
    let mut kept = 0;
    for w in &written {
        for base in bases.iter() {
            let (status, body) = read(&client, base, &w.project, &w.id).await;
            if w.deleted {
                assert_eq!(status, 404, "deleted {}", w.id);
            } else {
                assert_eq!((status, body), (200, w.payload.clone()), "secret {}", w.id);
            }
        }
        kept += usize::from(!w.deleted);
    }
    assert_eq!(kept, 2000 - 2000usize.div_ceil(7));

    // Orders submitted to one instance complete, and their keys read through both.
    let mut order_secrets = 0;
    for w in written.iter().filter(|w| w.order.is_some()) {
        let order = w.order.as_deref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let done = loop {
            let o: Value = client
                .get(format!("{}/v1/orders/{order}", bases[0]))
                .header("X-Project-Id", &w.project)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if o["status"] != "PENDING" {
                break o;
            }
            assert!(Instant::now() < deadline, "order {order} stayed PENDING");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done["status"], "ACTIVE", "{done}");
        let secret = id_of(&done, "secret_ref");
        for base in bases.iter() {
            let res = client
                .get(format!("{base}/v1/secrets/{secret}/payload"))
                .header("X-Project-Id", &w.project)
                .header("Accept", "application/octet-stream")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.bytes().await.unwrap().len(), 32);
        }
        order_secrets += 1;
    }
    assert_eq!(order_secrets, 50);

    // And the database holds exactly that: no lost and no duplicated rows.
    use coffer::db::schema::secrets::dsl as s;
    let mut conn = PgConnection::establish(&url).unwrap();
    let rows: i64 = s::secrets
        .filter(s::project_id.like("shared-%"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(rows, i64::try_from(kept + order_secrets).unwrap());
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_orders_are_worked_exactly_once_across_instances() {
    use coffer::db::schema::orders::dsl as o;
    use coffer::db::schema::secrets::dsl as s;
    if cluster().is_none() {
        return;
    }
    let url = fresh_database("orders");
    let dir = tempfile::tempdir().unwrap();
    // A first start creates the schema; then a backlog appears, as if an instance had crashed.
    drop(CofferProcess::spawn(&dir.path().join("init"), &url, &[]));
    let mut conn = coffer::db::DbConn::Pg(PgConnection::establish(&url).unwrap());
    let meta = json!({"algorithm": "aes", "bit_length": 256, "mode": "cbc"});
    for i in 0..150 {
        common::insert_pending_order(
            &mut conn,
            &format!("backlog-{}", i % 3),
            "key",
            meta.clone(),
            None,
        );
    }
    let env = [
        ("COFFER__ORDERS__POLL_SECONDS", "1"),
        ("COFFER__ORDERS__WORKERS", "4"),
    ];
    let a = CofferProcess::spawn(&dir.path().join("a"), &url, &env);
    let b = CofferProcess::spawn(&dir.path().join("b"), &url, &env);

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending: i64 = o::orders
            .filter(o::status.eq("PENDING"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} orders still PENDING");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done: Vec<(String, i32, Option<String>)> = o::orders
        .select((o::status, o::attempts, o::secret_id))
        .load(&mut conn)
        .unwrap();
    assert_eq!(done.len(), 150);
    for (status, attempts, secret) in &done {
        assert_eq!(
            (status.as_str(), *attempts),
            ("ACTIVE", 1),
            "claimed exactly once"
        );
        assert!(secret.is_some());
    }
    let secrets: i64 = s::secrets.count().get_result(&mut conn).unwrap();
    assert_eq!(secrets, 150, "one key per order, none generated twice");
    let (by_a, by_b) = (
        a.log_lines("picked up a pending order").len(),
        b.log_lines("picked up a pending order").len(),
    );
    assert_eq!(by_a + by_b, 150);
    assert!(
        by_a > 0 && by_b > 0,
        "both instances worked: {by_a} + {by_b}"
    );
}

/// Instance `name` (data in `dir/name`) on `url`, storing in the file store `dir/files` that all
/// instances share, with `openssl genpkey` taking `genpkey_secs`.
fn file_store_instance(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    genpkey_secs: u32,
    orders: &str,
) -> CofferProcess {
    order_support::file_store_instance(
        &dir.join(name),
        &dir.join("files"),
        url,
        order_support::Genpkey::Slow(genpkey_secs),
        orders,
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_orders_are_taken_over_by_the_other_within_30_s() {
    use order_support::{aes_order, order_row, rsa_order, secret_rows, submit, until, wait_done};
    if cluster().is_none() {
        return;
    }
    let url = fresh_database("takeover");
    let dir = tempfile::tempdir().unwrap();
    // Default lease and poll settings: what ships must meet the 30 s.
    let cfg = "workers = 2\ninline_wait_ms = 0";
    let a = file_store_instance(dir.path(), "a", &url, 5, cfg);
    let client = reqwest::Client::new();
    // Two slow key pairs (one per worker of `a`), then keys queued behind them.
    let mut ids = Vec::new();
    for i in 0..2 {
        ids.push(submit(&client, &a.base, "p1", &rsa_order(&format!("pass-{i}"))).await);
    }
    for _ in 0..6 {
        ids.push(submit(&client, &a.base, "p1", &aes_order()).await);
    }
    let mut conn = coffer::db::DbConn::Pg(PgConnection::establish(&url).unwrap());
    let pairs = ids[..2].to_vec();
    until(
        Duration::from_secs(30),
        "the workers never took the key pairs",
        || {
            pairs.iter().all(|id| {
                let (status, _, lease) = order_row(&mut conn, id);
                status == "PENDING" && lease.is_some()
            })
        },
    )
    .await;
    // Only `a` runs: the key pairs' lease owner is `a`.
    let a_owner = order_row(&mut conn, &ids[0]).2.unwrap();

    let b = file_store_instance(dir.path(), "b", &url, 5, cfg);
    drop(a); // kill -9
    let held_by_a: Vec<String> = ids
        .iter()
        .filter(|id| {
            let (status, _, lease) = order_row(&mut conn, id);
            status == "PENDING" && lease.as_deref() == Some(a_owner.as_str())
        })
        .cloned()
        .collect();
    for id in &pairs {
        assert!(
            held_by_a.contains(id),
            "key pair {id} in flight at the kill"
        );
    }

    let (orders, took) = wait_done(&client, &b.base, "p1", &ids, Duration::from_secs(30)).await;
    eprintln!("all orders finished {took:?} after the kill, by the other instance");
    for o in &orders {
        assert_eq!(o["status"], "ACTIVE", "{o}");
    }
    let picked = b.log_lines("picked up a pending order");
    for id in &held_by_a {
        assert_eq!(order_row(&mut conn, id).1, 2, "claimed again once: {id}");
        assert!(
            picked.iter().any(|l| l.contains(id.as_str())),
            "{id} taken over by b: {picked:?}"
        );
    }
    for (i, o) in orders.iter().take(2).enumerate() {
        let container: Value =
            order_support::get_json(&client, o["container_ref"].as_str().unwrap(), "p1").await;
        let pass = container["secret_refs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "private_key_passphrase")
            .map(|r| id_of(r, "secret_ref"))
            .expect("a passphrase ref");
        assert_eq!(
            order_support::payload(&client, &b.base, "p1", &pass).await,
            (200, format!("pass-{i}").into_bytes())
        );
    }
    // No order completed twice: one result each.
    assert_eq!(secret_rows(&mut conn, "p1"), 2 * 3 + 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_keeps_its_orders_however_long_they_take() {
    use order_support::{order_row, rsa_order, secret_rows, submit, wait_done};
    if cluster().is_none() {
        return;
    }
    let url = fresh_database("lease");
    let dir = tempfile::tempdir().unwrap();
    // A 3 s lease, renewed every second; the key pair takes 5 s. Without renewal `b` would
    // claim it after 3 s and generate it again.
    let cfg = "lease_seconds = 3\npoll_seconds = 1\ninline_wait_ms = 0";
    let a = file_store_instance(dir.path(), "a", &url, 5, cfg);
    let b = file_store_instance(dir.path(), "b", &url, 5, cfg);
    let client = reqwest::Client::new();
    let id = submit(&client, &a.base, "p1", &rsa_order("slow-pass")).await;
    let (orders, _) = wait_done(
        &client,
        &a.base,
        "p1",
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(orders[0]["status"], "ACTIVE", "{}", orders[0]);
    let mut conn = coffer::db::DbConn::Pg(PgConnection::establish(&url).unwrap());
    assert_eq!(order_row(&mut conn, &id).1, 1, "claimed once");
    assert!(b.log_lines("picked up a pending order").is_empty());
    assert_eq!(secret_rows(&mut conn, "p1"), 3);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL restarting under load

/// A private cluster from scripts/postgres, stopped and removed when dropped.
struct PrivateCluster {
    dir: String,
    url: String,
}

impl PrivateCluster {
    fn script(args: &[&str]) -> String {
        let out =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres"))
                .args(args)
                .output()
                .expect("run scripts/postgres");
        assert!(
            out.status.success(),
            "scripts/postgres {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start() -> Self {
        let out = Self::script(&["start"]);
        let field = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {out}"))
                .to_owned()
        };
        PrivateCluster {
            dir: field("PGDIR"),
            url: field("PGURL"),
        }
    }

    fn restart(&self, mode: &str) {
        Self::script(&["restart", &self.dir, mode]);
    }

    fn halt(&self) {
        Self::script(&["halt", &self.dir, "immediate"]);
    }

    fn resume(&self) {
        Self::script(&["resume", &self.dir]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres"))
                .args(["stop", &self.dir])
                .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_loses_nothing_acknowledged() {
    if cluster().is_none() {
        return;
    }
    let pg = PrivateCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let srv = CofferProcess::spawn(
        dir.path(),
        &pg.url,
        &[("COFFER__DATABASE__TIMEOUT_MS", "2000")],
    );
    let base = srv.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let mut loops = Vec::new();
    for n in 0..8 {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        let (acknowledged, statuses, slowest) =
            (acknowledged.clone(), statuses.clone(), slowest.clone());
        loops.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let payload = format!("kept-{n}-{i}");
                let started = Instant::now();
                let res = create(&client, &base, "restart", &payload).await;
                let status = res.status().as_u16();
                if status == 201 {
                    let id = id_of(&res.json().await.unwrap(), "secret_ref");
                    acknowledged.lock().unwrap().push((id, payload));
                }
                let elapsed = started.elapsed();
                {
                    let mut s = slowest.lock().unwrap();
                    *s = (*s).max(elapsed);
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    let acked = || acknowledged.lock().unwrap().len();
    let wait_for_progress = |from: usize, what: &'static str| {
        let acked = &acked;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acked() < from + 20 {
                assert!(Instant::now() < deadline, "no successful write {what}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for_progress(0, "before the restarts").await;
    // A clean restart, then a crash (immediate shutdown: recovery from the WAL on start).
    pg.restart("fast");
    wait_for_progress(acked(), "after a fast restart").await;
    pg.restart("immediate");
    wait_for_progress(acked(), "after a crash restart").await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }

    let statuses = statuses.lock().unwrap().clone();
    assert!(
        statuses.keys().all(|s| [201, 503].contains(s)),
        "only successes and 503s during the outages: {statuses:?}"
    );
    assert!(
        statuses.contains_key(&503) || !srv.log_lines("database unreachable").is_empty(),
        "the outages were noticed: {statuses:?}"
    );
    let slowest = *slowest.lock().unwrap();
    assert!(
        slowest < Duration::from_secs(15),
        "a request hung for {slowest:?}"
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    for (id, payload) in &acknowledged {
        assert_eq!(
            read(&client, &base, "restart", id).await,
            (200, payload.clone()),
            "acknowledged secret {id}"
        );
    }
    eprintln!(
        "restart test: {} acknowledged writes, statuses {statuses:?}, slowest {slowest:?}",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    if cluster().is_none() {
        return;
    }
    let pg = PrivateCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let srv = CofferProcess::spawn(dir.path(), &pg.url, &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let readyz = || async {
        let r = client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    pg.halt();
    // The first probe after the database went away already says so.
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["components"]["database"], "unavailable");
    assert_eq!(body["components"]["store:software"], "ok");
    pg.resume();
    // Broken connections are replaced in the background: ready again within seconds.
    let mut last = (0, Value::Null);
    for _ in 0..100 {
        last = readyz().await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
}
