//! Backup, restore and the move to PostgreSQL, with the real binary:
//!
//! - `coffer db backup` taken while several writers create secrets: a server started on the
//!   restored copy reads back every secret acknowledged before the backup began, with its
//!   payload; restored in place, the database is the backup's (a secret acknowledged after the
//!   backup is gone from it, and kept in the `.before-restore-*` file);
//! - `coffer db restore` refused while a server runs on the database, and for a file that is
//!   not a database, is damaged, truncated, not Coffer's or of a newer schema — the database
//!   untouched each time; a pid file left by a killed server does not stop it; a clean stop
//!   removes the pid file;
//! - both refuse a PostgreSQL `database.url` with the pg_dump / pg_restore recipe;
//! - `coffer db copy` of a populated SQLite database (secrets with payloads, metadata, ACLs,
//!   containers, consumers, orders, quotas, preferred stores) into a fresh PostgreSQL database:
//!   a server on PostgreSQL answers every read as the SQLite one did; refused while the SQLite
//!   server runs and into a database that is not empty; the password never shown.
//!
//! The copy tests need a PostgreSQL cluster (`COFFER_TEST_PG_URL`); without one they are
//! skipped, unless `COFFER_REQUIRE_PG=1`.

// Helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::CofferProcess;
use diesel::prelude::*;
use serde_json::{json, Value};

fn sqlite(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

/// What a `coffer` command did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Run `coffer ARGS` with `database_url` and the extra environment.
fn coffer(args: &[&str], database_url: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.args(args)
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_DB_COPY_TO")
        .env("COFFER__DATABASE__URL", database_url)
        .env(
            "COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY",
            common::SHARED_MASTER_KEY,
        )
        .current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run coffer");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Start `coffer serve` with its data in `dir` on the SQLite database `db`.
fn serve(dir: &Path, db: &Path) -> CofferProcess {
    CofferProcess::spawn(dir, &sqlite(db), &[])
}

/// POST a text secret; its id once acknowledged (201), or `None`.
async fn create_text(
    client: &reqwest::Client,
    base: &str,
    project: &str,
    text: &str,
) -> Option<String> {
    let res = common::create(client, base, project, text).await;
    if res.status() != 201 {
        return None;
    }
    let v: Value = res.json().await.ok()?;
    v["secret_ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned)
}

/// The files of `dir` whose names start with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// An acknowledged secret: (project, id, payload).
type Acked = (String, String, String);

// ---------------------------------------------------------------------------------------------
// Backup under load, restore

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_restores_every_acknowledged_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let live_dir = tmp.path().join("live");
    let live_db = live_dir.join("coffer.db");
    let p = serve(&live_dir, &live_db);
    let client = reqwest::Client::new();

    // Several writers, each acknowledging secrets in its own project, until told to stop.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (client, base, acked, stop) =
            (client.clone(), p.base.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let project = format!("load-{w}");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("payload-{w}-{i}");
                if let Some(id) = create_text(&client, &base, &project, &payload).await {
                    acked.lock().unwrap().push((project.clone(), id, payload));
                }
                i += 1;
            }
            i
        }));
    }
    let acked_count = || acked.lock().unwrap().len();
    // Wait for `n` acknowledgements (a guard against a hang, not a timing assertion).
    let wait_for = |n: usize| {
        let acked = acked.clone();
        async move {
            for _ in 0..6000 {
                if acked.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("the writers never reached {n} acknowledged secrets");
        }
    };
    wait_for(300).await;

    // The backup runs while the writers go on.
    let before: Vec<Acked> = acked.lock().unwrap().clone();
    let backup_file = tmp.path().join("backups/coffer-backup.db");
    std::fs::create_dir_all(backup_file.parent().unwrap()).unwrap();
    let run = {
        let (db, file) = (sqlite(&live_db), backup_file.clone());
        tokio::task::spawn_blocking(move || {
            coffer(&["db", "backup", file.to_str().unwrap()], &db, &[])
        })
        .await
        .unwrap()
    };
    let during = acked_count() - before.len();
    assert!(run.ok, "{}", run.all());
    assert!(
        run.stdout.contains("integrity ok") && run.stdout.contains("secrets "),
        "{}",
        run.stdout
    );
    eprintln!(
        "backup taken with {} secrets acknowledged before it and {during} while it ran",
        before.len()
    );
    wait_for(acked_count() + 50).await;
    stop.store(true, Ordering::Relaxed);
    let mut attempted = 0;
    for w in writers {
        attempted += w.await.unwrap();
    }
    // One more, certainly after the backup.
    let late = create_text(&client, &p.base, "late", "acknowledged-after-the-backup")
        .await
        .expect("201");
    assert_eq!(mode(&backup_file), 0o600);
    assert!(
        files_starting(backup_file.parent().unwrap(), ".").is_empty(),
        "no temporary file left"
    );

    // A server on the restored copy, elsewhere: every secret acknowledged before the backup.
    let restored_dir = tmp.path().join("restored");
    let restored_db = restored_dir.join("coffer.db");
    let run = coffer(
        &["db", "restore", backup_file.to_str().unwrap()],
        &sqlite(&restored_db),
        &[],
    );
    assert!(run.ok, "{}", run.all());
    assert!(
        run.stdout.contains("there was no database before"),
        "{}",
        run.stdout
    );
    let r = serve(&restored_dir, &restored_db);
    let mut total = 0;
    for w in 0..6 {
        let list: Value = client
            .get(r.url("/v1/secrets?limit=1"))
            .header("X-Project-Id", format!("load-{w}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        total += list["total"].as_u64().unwrap();
    }
    assert!(
        total >= before.len() as u64 && total <= attempted,
        "{total} secrets restored: {} acknowledged before the backup, {attempted} attempted",
        before.len()
    );
    for (project, id, payload) in &before {
        assert_eq!(
            common::read(&client, &r.base, project, id).await,
            (200, payload.clone()),
            "secret {id} of {project}"
        );
    }
    assert_eq!(common::read(&client, &r.base, "late", &late).await.0, 404);
    drop(r);

    // In place: the server killed (its pid file stays, stale), the backup put back.
    let pid = p.pid();
    drop(p);
    let pid_file = live_dir.join("coffer.db.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        format!("{pid} serve\n"),
        "a killed server leaves its pid file"
    );
    let run = coffer(
        &["db", "restore", backup_file.to_str().unwrap()],
        &sqlite(&live_db),
        &[],
    );
    assert!(
        run.ok,
        "a stale pid file does not stop a restore: {}",
        run.all()
    );
    let kept = files_starting(&live_dir, "coffer.db.before-restore-");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        run.stdout.contains(&kept[0].display().to_string()),
        "{}",
        run.stdout
    );
    for stale in [
        "coffer.db-wal",
        "coffer.db-shm",
        "coffer.db-journal",
        "coffer.db.pid",
    ] {
        assert!(
            !live_dir.join(stale).exists(),
            "{stale} left after the restore"
        );
    }
    assert_eq!(mode(&live_db), 0o600);
    assert!(files_starting(&live_dir, ".coffer.db.tmp").is_empty());

    let p = serve(&live_dir, &live_db);
    for (project, id, payload) in &before {
        assert_eq!(
            common::read(&client, &p.base, project, id).await,
            (200, payload.clone()),
            "secret {id} of {project}"
        );
    }
    assert_eq!(
        common::read(&client, &p.base, "late", &late).await.0,
        404,
        "the restored database is the backup's"
    );
    // The replaced database, kept, still has it.
    let mut kept_conn = diesel::SqliteConnection::establish(&kept[0].to_string_lossy()).unwrap();
    let n: i64 = coffer::db::schema::secrets::table
        .filter(coffer::db::schema::secrets::id.eq(&late))
        .count()
        .get_result(&mut kept_conn)
        .unwrap();
    assert_eq!(n, 1, "the previous database is kept whole");
}

#[tokio::test]
async fn restore_is_refused_while_a_server_runs_and_for_files_that_are_not_sound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = dir.join("coffer.db");
    let p = serve(&dir, &db);
    let client = reqwest::Client::new();
    let kept_secret = create_text(&client, &p.base, "p1", "before-the-backup")
        .await
        .unwrap();
    let good = tmp.path().join("good.db");
    let run = coffer(&["db", "backup", good.to_str().unwrap()], &sqlite(&db), &[]);
    assert!(run.ok, "{}", run.all());
    // A second backup to the same name is refused, then replaces it when forced.
    let run = coffer(&["db", "backup", good.to_str().unwrap()], &sqlite(&db), &[]);
    assert!(!run.ok && run.stderr.contains("--force"), "{}", run.all());
    let run = coffer(
        &["db", "backup", "--force", good.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(run.ok, "{}", run.all());
    // Never through a symbolic link, never onto the database itself.
    let link = tmp.path().join("link.db");
    std::os::unix::fs::symlink(tmp.path().join("elsewhere.db"), &link).unwrap();
    let run = coffer(
        &["db", "backup", "--force", link.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("symbolic link"),
        "{}",
        run.all()
    );
    assert!(!tmp.path().join("elsewhere.db").exists());
    let run = coffer(
        &["db", "backup", "--force", db.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("the database itself"),
        "{}",
        run.all()
    );
    let after = create_text(&client, &p.base, "p1", "after-the-backup")
        .await
        .unwrap();

    // While the server runs: refused, naming it; nothing changes.
    let run = coffer(
        &["db", "restore", good.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("a coffer server (PID {}) runs on", p.pid())),
        "{}",
        run.stderr
    );
    assert!(files_starting(&dir, "coffer.db.before-restore").is_empty());
    assert_eq!(
        common::read(&client, &p.base, "p1", &after).await,
        (200, "after-the-backup".to_owned())
    );

    // A clean stop (SIGTERM) removes the pid file.
    let pid_file = dir.join("coffer.db.pid");
    assert!(pid_file.exists());
    let mut p = p;
    let term = Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    for _ in 0..200 {
        if !p.running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!p.running(), "coffer serve did not stop on SIGTERM");
    assert!(!pid_file.exists(), "a clean stop removes the pid file");
    drop(p);

    // Files that must not be restored; the database stays as it is each time.
    let good_bytes = std::fs::read(&good).unwrap();
    let variants: Vec<(&str, Vec<u8>, &str)> = {
        let mut v = Vec::new();
        v.push((
            "garbage",
            b"this is not a database at all, just text".repeat(100),
            "is not a SQLite database",
        ));
        v.push(("empty", Vec::new(), "is not a SQLite database"));
        v.push((
            "truncated",
            good_bytes[..good_bytes.len() / 2].to_vec(),
            "cannot be restored",
        ));
        // Overwrite the middle of the secrets' pages.
        let mut damaged = good_bytes.clone();
        let page = 4096;
        for b in &mut damaged[page * 2..page * 2 + 600] {
            *b = 0xA5;
        }
        v.push(("damaged", damaged, "cannot be restored"));
        v
    };
    let newer = tmp.path().join("newer.db");
    std::fs::write(&newer, &good_bytes).unwrap();
    {
        let mut c = diesel::SqliteConnection::establish(&newer.to_string_lossy()).unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')",
        )
        .execute(&mut c)
        .unwrap();
    }
    let foreign = tmp.path().join("foreign.db");
    {
        let mut c = diesel::SqliteConnection::establish(&foreign.to_string_lossy()).unwrap();
        diesel::sql_query("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
            .execute(&mut c)
            .unwrap();
    }
    let mut cases: Vec<(String, PathBuf, &str)> = Vec::new();
    for (name, bytes, expected) in variants {
        let path = tmp.path().join(format!("{name}.db"));
        std::fs::write(&path, bytes).unwrap();
        cases.push((name.to_owned(), path, expected));
    }
    cases.push(("newer".into(), newer, "newer than this coffer knows"));
    cases.push(("foreign".into(), foreign, "not a Coffer database"));
    let current = std::fs::read(&db).unwrap();
    for (name, path, expected) in &cases {
        let run = coffer(
            &["db", "restore", path.to_str().unwrap()],
            &sqlite(&db),
            &[],
        );
        assert!(!run.ok, "{name}: restored: {}", run.all());
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        assert_eq!(
            std::fs::read(&db).unwrap(),
            current,
            "{name}: the database changed"
        );
        assert!(
            files_starting(&dir, "coffer.db.before-restore").is_empty(),
            "{name}"
        );
        assert!(
            files_starting(&dir, ".coffer.db.tmp").is_empty(),
            "{name}: a temporary file is left"
        );
    }
    // The damaged copy's message says what failed.
    let run = coffer(
        &["db", "restore", cases[3].1.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(
        run.stderr.contains("integrity") || run.stderr.contains("malformed"),
        "{}",
        run.stderr
    );

    // The good backup restores; a server on it has what the backup had.
    let run = coffer(
        &["db", "restore", good.to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(run.ok, "{}", run.all());
    let p = serve(&dir, &db);
    assert_eq!(
        common::read(&client, &p.base, "p1", &kept_secret).await,
        (200, "before-the-backup".to_owned())
    );
    assert_eq!(common::read(&client, &p.base, "p1", &after).await.0, 404);
}

#[test]
fn backup_and_restore_refuse_postgresql_with_the_recipe() {
    let url = "postgres://coffer:pg-password-never-shown@127.0.0.1:1/coffer";
    let run = coffer(&["db", "backup", "/tmp/never-written.db"], url, &[]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("pg_dump --format=custom"),
        "{}",
        run.stderr
    );
    let run2 = coffer(&["db", "restore", "/tmp/never-read.db"], url, &[]);
    assert!(!run2.ok);
    assert!(run2.stderr.contains("pg_restore"), "{}", run2.stderr);
    for r in [&run, &run2] {
        assert!(!r.all().contains("pg-password-never-shown"), "{}", r.all());
    }
    assert!(!Path::new("/tmp/never-written.db").exists());

    // A backup of a database that does not exist creates nothing.
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("missing/coffer.db");
    let run = coffer(
        &["db", "backup", tmp.path().join("b.db").to_str().unwrap()],
        &sqlite(&db),
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("no database at"),
        "{}",
        run.all()
    );
    assert!(!db.parent().unwrap().exists());
}

// ---------------------------------------------------------------------------------------------
// SQLite → PostgreSQL

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

const TWO_STORES: &str = r#"
[stores.software]
store_plugin = "store_crypto"
crypto_plugin = "simple_crypto"
global_default = true

[stores.software-b]
store_plugin = "store_crypto"
crypto_plugin = "simple_crypto"
"#;

const ADMIN: &str = "key-manager:service-admin";

/// Requests to one instance, as project admins (trusted headers).
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        project: &str,
        roles: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-Project-Id", project)
            .header("X-Roles", roles)
            .header("X-User-Id", "user-1")
            .header("OpenStack-API-Version", "key-manager 1.1");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn post(&self, path: &str, project: &str, body: Value) -> Value {
        let (status, v) = self
            .send(reqwest::Method::POST, path, project, "admin", Some(body))
            .await;
        assert!(
            status == 201 || status == 202 || status == 200,
            "POST {path}: {status} {v}"
        );
        v
    }

    async fn put(&self, path: &str, project: &str, roles: &str, body: Value) {
        let (status, v) = self
            .send(reqwest::Method::PUT, path, project, roles, Some(body))
            .await;
        assert!(
            status == 200 || status == 201 || status == 204,
            "PUT {path}: {status} {v}"
        );
    }

    async fn get(&self, path: &str, project: &str, roles: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, project, roles, None)
            .await
    }

    /// GET a payload with the Accept its secret names: (status, base64 of the body).
    async fn payload(&self, project: &str, id: &str, accept: &str) -> (u16, String) {
        use base64::Engine;
        let res = self
            .client
            .get(format!("{}/v1/secrets/{id}/payload", self.base))
            .header("X-Project-Id", project)
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.bytes().await.unwrap();
        (
            status,
            base64::engine::general_purpose::STANDARD.encode(body),
        )
    }
}

fn id_of(reference: &Value) -> String {
    reference
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap()
        .to_owned()
}

/// Fill the instance with every kind of row, in two projects.
async fn populate(api: &Api) {
    let (_, stores) = api.get("/v1/secret-stores", "p-one", "admin").await;
    let store_b = stores["secret_stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "software-b")
        .unwrap()["secret_store_ref"]
        .clone();
    for project in ["p-one", "p-two"] {
        if project == "p-two" {
            // A preferred store: p-two's later secrets go to software-b.
            let (status, v) = api
                .send(
                    reqwest::Method::POST,
                    &format!("/v1/secret-stores/{}/preferred", id_of(&store_b)),
                    project,
                    "admin",
                    None,
                )
                .await;
            assert_eq!(status, 204, "{v}");
        }
        let mut ids = Vec::new();
        for i in 0..23 {
            let body = match i % 3 {
                0 => {
                    json!({"name": format!("text-{i}"), "payload": format!("text payload {i} of {project}"),
                            "payload_content_type": "text/plain", "expiration": "2999-01-01T00:00:00"})
                }
                1 => json!({"name": format!("bin-{i}"), "payload": "AAECAwQFBgcICQoLDA0ODw==",
                            "payload_content_type": "application/octet-stream",
                            "payload_content_encoding": "base64", "algorithm": "aes", "bit_length": 128,
                            "mode": "cbc", "secret_type": "symmetric"}),
                _ => json!({"name": format!("no-payload-{i}")}),
            };
            ids.push(id_of(
                &api.post("/v1/secrets", project, body).await["secret_ref"],
            ));
        }
        for (i, id) in ids.iter().enumerate().take(6) {
            api.put(
                &format!("/v1/secrets/{id}/metadata"),
                project,
                "admin",
                json!({"metadata": {"owner": format!("team-{i}"), "tier": "gold"}}),
            )
            .await;
            api.post(
                &format!("/v1/secrets/{id}/consumers"),
                project,
                json!({"service": "nova", "resource_type": "instance", "resource_id": format!("vm-{i}")}),
            )
            .await;
        }
        api.put(
            &format!("/v1/secrets/{}/acl", ids[1]),
            project,
            "admin",
            json!({"read": {"users": ["alice", "bob"], "project-access": false}}),
        )
        .await;
        let mut containers = Vec::new();
        for c in 0..3 {
            let refs: Vec<Value> = ids[c * 3..c * 3 + 3]
                .iter()
                .enumerate()
                .map(|(n, id)| json!({"name": format!("ref-{n}"), "secret_ref": format!("{}/v1/secrets/{id}", api.base)}))
                .collect();
            let v = api
                .post(
                    "/v1/containers",
                    project,
                    json!({"type": "generic", "name": format!("box-{c}"), "secret_refs": refs}),
                )
                .await;
            containers.push(id_of(&v["container_ref"]));
        }
        api.post(
            &format!("/v1/containers/{}/consumers", containers[0]),
            project,
            json!({"name": "lb", "URL": "http://lb.example/1"}),
        )
        .await;
        api.put(
            &format!("/v1/containers/{}/acl", containers[1]),
            project,
            "admin",
            json!({"read": {"users": ["carol"], "project-access": true}}),
        )
        .await;
        let mut orders = Vec::new();
        for o in 0..2 {
            let v = api
                .post(
                    "/v1/orders",
                    project,
                    json!({"type": "key", "meta": {"name": format!("generated-{o}"), "algorithm": "aes",
                           "bit_length": 256, "mode": "cbc", "payload_content_type": "application/octet-stream"}}),
                )
                .await;
            orders.push(id_of(&v["order_ref"]));
        }
        for order in &orders {
            let mut done = false;
            for _ in 0..300 {
                let (_, o) = api
                    .get(&format!("/v1/orders/{order}"), project, "admin")
                    .await;
                if o["status"] != "PENDING" {
                    assert_eq!(o["status"], "ACTIVE", "{o}");
                    done = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(done, "order {order} still PENDING");
        }
        api.put(
            &format!("/v1/project-quotas/{project}"),
            "admin-project",
            ADMIN,
            json!({"project_quotas": {"secrets": 500, "orders": 50, "containers": 20, "consumers": 100, "cas": 5}}),
        )
        .await;
    }
}

/// Every read of the two projects: request → (status, body), refs relative to the instance.
async fn snapshot(api: &Api) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    let base = api.base.clone();
    let relative = |v: Value| -> Value {
        serde_json::from_str(&v.to_string().replace(&base, "BASE")).unwrap()
    };
    let mut record = |key: String, status: u16, body: Value| {
        seen.insert(key, json!({"status": status, "body": relative(body)}));
    };
    let (status, stores) = api.get("/v1/secret-stores", "p-one", "admin").await;
    record("stores".into(), status, stores);
    for project in ["p-one", "p-two"] {
        let get_all = |path: &'static str| async move {
            let (status, v) = api
                .get(&format!("{path}?limit=100"), project, "admin")
                .await;
            assert_eq!(status, 200, "{path}: {v}");
            v
        };
        let secrets = get_all("/v1/secrets").await;
        let containers = get_all("/v1/containers").await;
        let orders = get_all("/v1/orders").await;
        assert!(secrets["total"].as_u64().unwrap() > 20, "{secrets}");
        for s in secrets["secrets"].as_array().unwrap() {
            let id = id_of(&s["secret_ref"]);
            for sub in ["", "/metadata", "/acl", "/consumers"] {
                let (status, v) = api
                    .get(&format!("/v1/secrets/{id}{sub}"), project, "admin")
                    .await;
                record(format!("{project} secret {id}{sub}"), status, v);
            }
            let accept = s["content_types"]["default"]
                .as_str()
                .unwrap_or("application/octet-stream");
            let (status, body) = api.payload(project, &id, accept).await;
            record(
                format!("{project} secret {id} payload"),
                status,
                Value::String(body),
            );
        }
        for c in containers["containers"].as_array().unwrap() {
            let id = id_of(&c["container_ref"]);
            for sub in ["", "/acl", "/consumers"] {
                let (status, v) = api
                    .get(&format!("/v1/containers/{id}{sub}"), project, "admin")
                    .await;
                record(format!("{project} container {id}{sub}"), status, v);
            }
        }
        for o in orders["orders"].as_array().unwrap() {
            let id = id_of(&o["order_ref"]);
            let (status, v) = api.get(&format!("/v1/orders/{id}"), project, "admin").await;
            record(format!("{project} order {id}"), status, v);
        }
        record(format!("{project} secrets"), 200, secrets);
        record(format!("{project} containers"), 200, containers);
        record(format!("{project} orders"), 200, orders);
        let (status, v) = api.get("/v1/quotas", project, "admin").await;
        record(format!("{project} quotas"), status, v);
        let (status, v) = api
            .get(
                &format!("/v1/project-quotas/{project}"),
                "admin-project",
                ADMIN,
            )
            .await;
        record(format!("{project} project-quotas"), status, v);
        let (status, v) = api
            .get("/v1/secret-stores/preferred", project, "admin")
            .await;
        record(format!("{project} preferred"), status, v);
    }
    seen
}

/// The password of a `postgres://user:password@...` URL.
fn password_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .password()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_a_populated_database_to_postgresql_and_every_read_matches() {
    let Some(_) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("stores.toml");
    std::fs::write(&config, TWO_STORES).unwrap();
    let master = [(
        "COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY",
        common::SHARED_MASTER_KEY,
    )];
    let dir = tmp.path().join("sqlite");
    let db = dir.join("coffer.db");
    let p = CofferProcess::spawn_with_config(&dir, &sqlite(&db), &config, &master);
    let api = Api {
        client: reqwest::Client::new(),
        base: p.base.clone(),
    };
    populate(&api).await;
    let before = snapshot(&api).await;
    assert!(before.len() > 150, "{}", before.len());

    let target = common::pg_database(&format!("coffer_copy_{}", uuid::Uuid::new_v4().simple()));
    let password = password_of(&target);
    assert!(
        !password.is_empty(),
        "the test cluster's URL has a password"
    );
    let config_arg = config.to_str().unwrap();
    let copy = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["--config", config_arg, "db", "copy"];
        args.extend_from_slice(extra);
        let run = coffer(&args, &sqlite(&db), env);
        assert!(
            !run.all().contains(&password),
            "the password was shown: {}",
            run.all()
        );
        run
    };
    let public_tables = |url: &str| -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = diesel::PgConnection::establish(url).unwrap();
        diesel::sql_query("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")
            .get_result::<N>(&mut c)
            .unwrap()
            .n
    };

    // Not while the SQLite server runs; the target is not touched.
    let run = copy(&["--to", &target], &[]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("a coffer server (PID {}) runs on", p.pid())),
        "{}",
        run.stderr
    );
    assert_eq!(public_tables(&target), 0);
    drop(p);

    // The URL from the environment; small batches, so that tables take several.
    let run = copy(&["--batch-size", "7"], &[("COFFER_DB_COPY_TO", &target)]);
    assert!(run.ok, "{}", run.all());
    eprintln!("{}", run.stdout);
    assert!(run.stdout.contains("target migrated: "), "{}", run.stdout);
    assert!(run.stdout.contains("verified"), "{}", run.stdout);
    for table in [
        "secret_stores",
        "project_secret_stores",
        "project_keks",
        "project_quotas",
        "secrets",
        "secret_metadata",
        "secret_consumers",
        "containers",
        "container_secrets",
        "container_consumers",
        "orders",
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no line for {table}: {}", run.stdout));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.last(), Some(&"ok"), "{line}");
        assert_eq!(cols[1], cols[2], "{line}");
        assert_eq!(cols[3], cols[4], "{line}");
        assert_ne!(cols[1], "0", "{table} has rows to copy: {line}");
    }

    // A server on PostgreSQL answers every read as the SQLite one did.
    let pg = CofferProcess::spawn_with_config(&tmp.path().join("pg"), &target, &config, &master);
    let api = Api {
        client: reqwest::Client::new(),
        base: pg.base.clone(),
    };
    let after = snapshot(&api).await;
    assert_eq!(before.len(), after.len());
    for (key, was) in &before {
        assert_eq!(Some(was), after.get(key), "{key}");
    }
    // ... and keeps working: a new secret in the preferred store.
    let v = api
        .post(
            "/v1/secrets",
            "p-two",
            json!({"payload": "written on postgresql", "payload_content_type": "text/plain"}),
        )
        .await;
    let id = id_of(&v["secret_ref"]);
    assert_eq!(
        common::read(&api.client, &api.base, "p-two", &id).await,
        (200, "written on postgresql".to_owned())
    );

    // A second copy into the same database is refused, and changes nothing.
    let run = copy(&["--to", &target], &[]);
    assert!(!run.ok, "{}", run.all());
    assert!(
        run.stderr.contains("is not empty") && run.stderr.contains("secrets ("),
        "{}",
        run.stderr
    );
    let (_, list) = api.get("/v1/secrets?limit=1", "p-two", "admin").await;
    let (_, was) = (0, &before["p-two secrets"]["body"]["total"]);
    assert_eq!(list["total"].as_u64().unwrap(), was.as_u64().unwrap() + 1);
}

#[test]
fn copy_refuses_what_it_cannot_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("coffer.db");
    // No database.
    let run = coffer(
        &["db", "copy", "--to", "postgres://u:secret-pw@127.0.0.1:1/x"],
        &sqlite(&db),
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("no database at"),
        "{}",
        run.all()
    );
    // Not a PostgreSQL target; a PostgreSQL source.
    let run = coffer(&["db", "upgrade"], &sqlite(&db), &[]);
    assert!(run.ok, "{}", run.all());
    let run = coffer(
        &["db", "copy", "--to", "sqlite:///tmp/x.db"],
        &sqlite(&db),
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("--to must be a PostgreSQL URL"),
        "{}",
        run.all()
    );
    let run = coffer(
        &["db", "copy", "--to", "postgres://u:secret-pw@127.0.0.1:1/x"],
        "postgres://u:secret-pw@127.0.0.1:1/y",
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("already names PostgreSQL"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("secret-pw"), "{}", run.all());
    // A target that cannot be reached: named without its password.
    let run = coffer(
        &["db", "copy", "--to", "postgres://u:secret-pw@127.0.0.1:1/x"],
        &sqlite(&db),
        &[],
    );
    assert!(!run.ok, "{}", run.all());
    assert!(run.stderr.contains("u:***@127.0.0.1:1/x"), "{}", run.stderr);
    assert!(!run.all().contains("secret-pw"), "{}", run.all());
    // The lock was released: nothing left behind.
    assert!(!tmp.path().join("coffer.db.pid").exists());
}
