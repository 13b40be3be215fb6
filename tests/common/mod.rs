//! Starts the real Coffer server on a random loopback port with its own data directory.

#![allow(dead_code)]

use std::path::PathBuf;

use coffer::config::Settings;

pub struct TestServer {
    pub base: String,
    /// `http://ADDR` of the `server.metrics_bind` listener, when configured.
    pub metrics_base: Option<String>,
    pub handle: actix_web::dev::ServerHandle,
    pub settings: Settings,
    pub client: reqwest::Client,
}

/// Settings for a server bound to 127.0.0.1:0 with its data under `dir` (and its database:
/// see [`database_url`]).
pub fn settings_in(dir: &std::path::Path) -> Settings {
    let mut s = Settings::defaults();
    s.server.bind = "127.0.0.1:0".into();
    s.server.data_dir = dir.to_path_buf();
    s.database.url = database_url(dir).into();
    s.server.workers = Some(2);
    s
}

/// The PostgreSQL cluster for tests (a superuser URL), from `COFFER_TEST_PG_URL`; scripts/test
/// starts one with scripts/postgres and sets it.
pub fn pg_admin_url() -> Option<String> {
    std::env::var("COFFER_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the integration tests run on PostgreSQL (`COFFER_TEST_BACKEND=postgres`) instead of
/// SQLite.
pub fn on_postgres() -> bool {
    std::env::var("COFFER_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The database of the server whose data lives in `dir`: `dir/coffer.db`, or on PostgreSQL a
/// database named after `dir` (created on first use, so a restarted server finds its data).
pub fn database_url(dir: &std::path::Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}/coffer.db", dir.display());
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    pg_database(&format!("coffer_test_{:016x}", h.finish()))
}

/// Create database `name` on the test cluster unless it exists; its URL.
pub fn pg_database(name: &str) -> String {
    use diesel::prelude::*;
    let admin = pg_admin_url()
        .expect("COFFER_TEST_BACKEND=postgres needs COFFER_TEST_PG_URL (scripts/test sets both)");
    let mut conn = diesel::PgConnection::establish(&admin).expect("connect to the test cluster");
    let created = diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn);
    if let Err(e) = created {
        assert!(
            e.to_string().contains("already exists"),
            "CREATE DATABASE {name}: {e}"
        );
    }
    let (base, _) = admin
        .rsplit_once('/')
        .expect("a database in COFFER_TEST_PG_URL");
    format!("{base}/{name}")
}

/// A connection to the database of the server whose data lives in `dir`, to look at or
/// tamper with rows.
pub fn db(dir: &std::path::Path) -> coffer::db::DbConn {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    if on_postgres() {
        let conn = diesel::PgConnection::establish(&database_url(dir)).expect("connect");
        return coffer::db::DbConn::Pg(conn);
    }
    let mut conn = diesel::SqliteConnection::establish(&format!("{}/coffer.db", dir.display()))
        .expect("open db");
    // The stopped server's pool may still be closing (and checkpointing) its connections.
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .expect("busy_timeout");
    coffer::db::DbConn::Sqlite(conn)
}

impl TestServer {
    /// Start a server with these settings (inside an actix runtime).
    pub fn start(settings: Settings) -> anyhow::Result<TestServer> {
        // Warnings and errors show under a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_ansi(false)
            .with_test_writer()
            .try_init();
        let running = coffer::server::start(&settings)?;
        let handle = running.server.handle();
        actix_web::rt::spawn(running.server);
        let metrics_base = running.metrics_server.map(|(metrics, addr)| {
            actix_web::rt::spawn(metrics);
            format!("http://{addr}")
        });
        Ok(TestServer {
            base: format!("http://{}", running.addr),
            metrics_base,
            handle,
            settings,
            client: reqwest::Client::new(),
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.settings.server.data_dir.clone()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST a secret as project `project`; returns its id.
    pub async fn create(&self, project: &str, body: serde_json::Value) -> String {
        let res = self
            .client
            .post(self.url("/v1/secrets"))
            .header("X-Project-Id", project)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: serde_json::Value = res.json().await.expect("json");
        v["secret_ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .expect("secret_ref")
            .to_owned()
    }

    /// GET a payload as project `project`: (status, body).
    pub async fn payload(&self, project: &str, id: &str) -> (u16, Vec<u8>) {
        let res = self
            .client
            .get(self.url(&format!("/v1/secrets/{id}/payload")))
            .header("X-Project-Id", project)
            .header("Accept", "application/octet-stream")
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.bytes().await.expect("body").to_vec())
    }
}

/// `marker` appears nowhere in the database of the server whose data lives in `dir`: not in
/// the SQLite files (WAL included, freed pages too), not in any PostgreSQL row.
pub fn assert_not_stored(dir: &std::path::Path, marker: &str) {
    use diesel::prelude::*;
    if !on_postgres() {
        let db = std::fs::read(dir.join("coffer.db")).expect("read coffer.db");
        let wal = std::fs::read(dir.join("coffer.db-wal")).unwrap_or_default();
        for bytes in [db, wal] {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} found in the database files"
            );
        }
        return;
    }
    #[derive(QueryableByName)]
    struct Dump {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let mut conn = db(dir);
    let tables: Vec<String> = {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            tablename: String,
        }
        diesel::sql_query(
            "SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = 'public'",
        )
        .load::<Name>(&mut conn)
        .expect("list tables")
        .into_iter()
        .map(|n| n.tablename)
        .collect()
    };
    assert!(tables.len() > 5, "{tables:?}");
    for table in tables {
        let dump: Dump = diesel::sql_query(format!(
            "SELECT coalesce(string_agg(t::text, ''), '') AS text FROM {table} t"
        ))
        .get_result(&mut conn)
        .expect("dump a table");
        assert!(
            !dump.text.contains(marker),
            "{marker} found in table {table}"
        );
    }
}

/// Insert a PENDING order as a crashed instance would leave it: never claimed (`lease` None)
/// or claimed by `owner` with a lease ending `secs` from now (negative: expired).
pub fn insert_pending_order(
    conn: &mut coffer::db::DbConn,
    project: &str,
    order_type: &str,
    meta: serde_json::Value,
    lease: Option<(&str, i64)>,
) -> String {
    use coffer::db::schema::orders::dsl as o;
    use diesel::prelude::*;
    let id = uuid::Uuid::new_v4().to_string();
    let now = coffer::timefmt::now();
    let (owner, until, attempts) = match lease {
        Some((owner, secs)) => (
            Some(owner.to_owned()),
            Some(now + chrono::Duration::seconds(secs)),
            1,
        ),
        None => (None, None, 0),
    };
    diesel::insert_into(o::orders)
        .values((
            o::id.eq(&id),
            o::project_id.eq(project),
            o::order_type.eq(order_type),
            o::status.eq("PENDING"),
            o::meta.eq(meta.to_string()),
            o::sub_status.eq("Unknown"),
            o::sub_status_message.eq("Unknown"),
            o::lease_owner.eq(owner),
            o::lease_expires_at.eq(until),
            o::attempts.eq(attempts),
            o::created_at.eq(now),
            o::updated_at.eq(now),
        ))
        .execute(conn)
        .expect("test helper");
    id
}

/// A `coffer serve` process (the real binary), bound to a free loopback port; killed (by its
/// PID, through the child handle) when dropped.
pub struct CofferProcess {
    pub base: String,
    pub log: PathBuf,
    child: std::process::Child,
}

/// The master key every instance of a multi-instance test shares.
pub const SHARED_MASTER_KEY: &str = "c2hhcmVkLW1hc3Rlci1rZXktZm9yLXRlc3RzLTMyYj0=";

impl CofferProcess {
    /// Start `coffer serve` with its data in `dir`, database `database_url`, the shared master
    /// key, and `COFFER__*` overrides from `env`; returns once it listens.
    pub fn spawn(dir: &std::path::Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut all = vec![(
            "COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY",
            SHARED_MASTER_KEY,
        )];
        all.extend_from_slice(env);
        Self::start(dir, database_url, &all)
    }

    /// Start `coffer serve` with the configuration file `config` (and no shared master key:
    /// the file says which keys to use).
    pub fn spawn_with_config(
        dir: &std::path::Path,
        database_url: &str,
        config: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let config = config.to_string_lossy();
        let mut all = vec![("COFFER_CONFIG", config.as_ref())];
        all.extend_from_slice(env);
        Self::start(dir, database_url, &all)
    }

    fn start(dir: &std::path::Path, database_url: &str, env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(dir).expect("data dir");
        let log = dir.join("coffer.log");
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.arg("serve")
            .env_remove("COFFER_CONFIG")
            .env("COFFER__SERVER__BIND", "127.0.0.1:0")
            .env("COFFER__SERVER__DATA_DIR", dir)
            .env("COFFER__SERVER__WORKERS", "2")
            .env("COFFER__DATABASE__URL", database_url)
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        for (k, v) in env {
            // An empty RUST_LOG: let the configuration's logging.level decide.
            if *k == "RUST_LOG" && v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().expect("start coffer");
        let mut p = CofferProcess {
            base: String::new(),
            log,
            child,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let listening = text.lines().find(|l| l.contains("coffer listening"));
            let addr = listening.and_then(|l| {
                // Text logs say `addr=...`; JSON logs have it among the fields.
                l.split("addr=")
                    .nth(1)
                    .map(|a| a.trim().to_owned())
                    .or_else(|| {
                        serde_json::from_str::<serde_json::Value>(l).ok()?["fields"]["addr"]
                            .as_str()
                            .map(str::to_owned)
                    })
            });
            if let Some(addr) = addr {
                p.base = format!("http://{addr}");
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("coffer exited ({status}) during start-up:\n{text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "coffer did not start:\n{}",
            std::fs::read_to_string(&p.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Lines of its log that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for CofferProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POST a text secret to the instance at `base`.
pub async fn create(
    client: &reqwest::Client,
    base: &str,
    project: &str,
    payload: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/v1/secrets"))
        .header("X-Project-Id", project)
        .json(&serde_json::json!({"payload": payload, "payload_content_type": "text/plain"}))
        .send()
        .await
        .expect("request")
}

/// GET a text payload from the instance at `base`: (status, body).
pub async fn read(client: &reqwest::Client, base: &str, project: &str, id: &str) -> (u16, String) {
    let res = client
        .get(format!("{base}/v1/secrets/{id}/payload"))
        .header("X-Project-Id", project)
        .header("Accept", "text/plain")
        .send()
        .await
        .expect("request");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// Serve `routes` on a loopback port (a stand-in for Keystone, a webhook receiver ...) inside
/// the current actix runtime; returns `http://127.0.0.1:PORT`.
pub fn spawn_loopback<F>(routes: F) -> String
where
    F: Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static,
{
    let server =
        actix_web::HttpServer::new(move || actix_web::App::new().configure(routes.clone()))
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("bind a loopback port");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}")
}

/// The value of the first series of metric `name` whose labels include each of `labels`
/// (`key="value"` as exported) in a Prometheus text scrape.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `GET {base}/metrics`, as text.
pub async fn scrape(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text")
}
