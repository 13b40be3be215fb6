//! Persistence: a pooled diesel connection to SQLite (WAL, `synchronous=FULL`, busy timeout),
//! embedded migrations, and the queries of each table. Everything here is blocking: callers run
//! it on the blocking thread pool, never on the async executor.

pub mod acl;
pub mod consumers;
pub mod containers;
pub mod keks;
pub mod metadata;
pub mod orders;
pub mod quotas;
pub mod schema;
pub mod secrets;
pub mod stores;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use thiserror::Error;

use crate::config::DatabaseSettings;

/// The migrations compiled into this binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A pooled connection.
pub type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;
/// What queries run on (a pooled connection dereferences to it).
pub type DbConn = SqliteConnection;

/// Why a database operation failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// No connection in time, or the database stayed locked past the timeout. Retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("migration error: {0}")]
    Migration(String),
    /// A row holds something this code cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(_, info)
                if info.message().contains("locked") || info.message().contains("busy") =>
            {
                DbError::Unavailable(info.message().to_owned())
            }
            _ => DbError::Query(e.to_string()),
        }
    }
}

/// Run `f` in a write transaction that takes SQLite's write lock up front (`BEGIN
/// IMMEDIATE`), so it waits on a busy database instead of failing when it would upgrade a read
/// lock; reads and checks inside it see no concurrent writer (quota checks rely on this).
pub fn write_tx<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let nested = AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some();
    if nested {
        // Inside another write transaction: a savepoint.
        conn.transaction(f)
    } else {
        conn.immediate_transaction(f)
    }
}

/// Whether a diesel error is a unique-constraint violation.
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u64,
}

impl CustomizeConnection<SqliteConnection, r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute(&pragmas(self.busy_timeout_ms))
            .map_err(r2d2::Error::QueryError)
    }
}

/// The database: a pool of connections for reads, and the group-commit writer for writes.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager<SqliteConnection>>,
    writer: Arc<writer::Writer>,
}

fn pragmas(busy_timeout_ms: u64) -> String {
    // synchronous=FULL: a commit is on disk before it returns, so an acknowledged write
    // survives a crash or power loss. secure_delete overwrites deleted rows' bytes.
    format!(
        "PRAGMA busy_timeout = {busy_timeout_ms};
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = FAST;"
    )
}

/// The migration state of a database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    /// Applied versions this binary does not know: the schema is newer than the code.
    pub unknown: Vec<String>,
}

/// The file path of a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> Result<PathBuf, DbError> {
    let rest = url.strip_prefix("sqlite://").ok_or_else(|| {
        DbError::Migration(format!(
            "unsupported database.url {url:?}: expected sqlite://relative/path.db or sqlite:///absolute/path.db"
        ))
    })?;
    if rest.is_empty() {
        return Err(DbError::Migration(format!(
            "database.url {url:?} has no path"
        )));
    }
    Ok(PathBuf::from(rest))
}

impl Db {
    /// Open (creating the file and its directory if needed) and pool connections.
    pub fn open(settings: &DatabaseSettings) -> Result<Db, DbError> {
        let path = sqlite_path(&settings.url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Migration(format!("cannot create {}: {e}", dir.display())))?;
        }
        // WAL is a property of the file: switch it once, before the pool opens connections
        // concurrently (switching needs an exclusive lock). This connection then becomes the
        // writer's.
        let mut writer_conn = SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        writer_conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
            settings.timeout_ms
        ))?;
        writer_conn.batch_execute(&pragmas(settings.timeout_ms))?;
        let writer = writer::Writer::start(writer_conn)
            .map_err(|e| DbError::Unavailable(format!("cannot start the database writer: {e}")))?;
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .connection_timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .connection_customizer(Box::new(SqlitePragmas {
                busy_timeout_ms: settings.timeout_ms,
            }))
            .build(manager)
            .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        Ok(Db {
            pool,
            writer: Arc::new(writer),
        })
    }

    /// Run a write (in its own savepoint) in the next group commit; returns once it is
    /// durable. `f` must not call `write` itself.
    pub fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        self.writer.write(f)
    }

    /// A pooled connection.
    pub fn conn(&self) -> Result<Conn, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Which migrations are applied, pending, or unknown to this binary.
    pub fn schema_status(&self) -> Result<SchemaStatus, DbError> {
        let mut conn = self.conn()?;
        let known: Vec<String> =
            diesel::migration::MigrationSource::<Sqlite>::migrations(&MIGRATIONS)
                .map_err(|e| DbError::Migration(e.to_string()))?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect();
        let applied: Vec<String> = conn
            .applied_migrations()
            .map_err(|e| DbError::Migration(e.to_string()))?
            .iter()
            .map(|v| v.to_string())
            .collect();
        Ok(SchemaStatus {
            pending: known
                .iter()
                .filter(|v| !applied.contains(v))
                .cloned()
                .collect(),
            unknown: applied
                .iter()
                .filter(|v| !known.contains(v))
                .cloned()
                .collect(),
            applied,
        })
    }

    /// Apply pending migrations; refuse a schema newer than this binary knows. Returns the
    /// versions applied.
    pub fn upgrade(&self) -> Result<Vec<String>, DbError> {
        self.refuse_newer()?;
        let mut conn = self.conn()?;
        let done = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(done.iter().map(|v| v.to_string()).collect())
    }

    fn refuse_newer(&self) -> Result<SchemaStatus, DbError> {
        let status = self.schema_status()?;
        if !status.unknown.is_empty() {
            return Err(DbError::Migration(format!(
                "the database schema is newer than this coffer knows (unknown migrations: {}); \
                 run a newer coffer",
                status.unknown.join(", ")
            )));
        }
        Ok(status)
    }

    /// The start-up check: apply pending migrations when `auto_migrate`, otherwise refuse to
    /// start with pending ones; always refuse a newer schema.
    pub fn prepare(&self, auto_migrate: bool) -> Result<Vec<String>, DbError> {
        let status = self.refuse_newer()?;
        if status.pending.is_empty() {
            return Ok(Vec::new());
        }
        if !auto_migrate {
            return Err(DbError::Migration(format!(
                "the database needs migrations {} and database.auto_migrate is off; run `coffer db upgrade`",
                status.pending.join(", ")
            )));
        }
        self.upgrade()
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;

    pub(crate) fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: format!("sqlite://{}/sub/c.db", dir.path().display()),
            pool_size: 4,
            auto_migrate: true,
            timeout_ms: 2000,
        };
        let db = Db::open(&settings).unwrap();
        (dir, db)
    }

    #[test]
    fn urls() {
        assert_eq!(
            sqlite_path("sqlite://coffer-data/c.db").unwrap(),
            PathBuf::from("coffer-data/c.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/c.db").unwrap(),
            PathBuf::from("/tmp/c.db")
        );
        assert!(sqlite_path("postgres://x").is_err());
        assert!(sqlite_path("sqlite://").is_err());
    }

    #[test]
    fn migrations_apply_once_and_newer_schemas_are_refused() {
        let (_dir, db) = temp_db();
        let before = db.schema_status().unwrap();
        assert!(before.applied.is_empty() && !before.pending.is_empty());
        assert!(db
            .prepare(false)
            .unwrap_err()
            .to_string()
            .contains("coffer db upgrade"));
        let applied = db.prepare(true).unwrap();
        assert_eq!(applied, before.pending);
        assert!(db.upgrade().unwrap().is_empty());
        assert!(db.schema_status().unwrap().pending.is_empty());

        // A migration from the future.
        let mut conn = db.conn().unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')",
        )
        .execute(&mut conn)
        .unwrap();
        let err = db.prepare(true).unwrap_err().to_string();
        assert!(
            err.contains("newer than this coffer knows") && err.contains("29991231000000"),
            "{err}"
        );
        assert!(db.upgrade().is_err());
    }

    #[test]
    fn connections_use_wal_and_full_sync() {
        let (_dir, db) = temp_db();
        let mut conn = db.conn().unwrap();
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        #[derive(diesel::QueryableByName)]
        struct Sync {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let m: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(m.journal_mode, "wal");
        let s: Sync = diesel::sql_query("PRAGMA synchronous")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(s.synchronous, 2, "FULL");
    }
}
