//! Persistence on SQLite (embedded; WAL, `synchronous=FULL`, one group-commit writer) or
//! PostgreSQL (several instances on one database), chosen by the scheme of `database.url`: one
//! diesel code path over both (`conn::DbConn`), embedded migrations per backend, and the queries
//! of each table. Everything here is blocking: callers run it on the blocking thread pool,
//! never on the async executor.

pub mod acl;
pub mod backup;
mod conn;
pub mod consumers;
pub mod containers;
pub mod copy;
pub mod keks;
pub mod metadata;
pub mod orders;
pub mod quotas;
pub mod schema;
pub mod secrets;
mod sql;
pub mod stores;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{self, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;
use thiserror::Error;

use crate::config::DatabaseSettings;
pub(crate) use conn::per_backend;
pub use conn::{redact_url, serialize_on, DbConn, Target, Timeouts};

/// The migrations compiled into this binary, one set per backend (the same logical schema).
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A pooled connection.
pub type Conn = PooledConnection<conn::Manager>;

/// How long a request waits for a connection while the database is known to be unreachable.
const FAIL_FAST: Duration = Duration::from_millis(200);

/// Why a database operation failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// No connection in time, the connection was lost, or a lock or statement timed out.
    /// Retry later.
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
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure,
                info,
            ) => DbError::Unavailable(info.message().trim().to_owned()),
            DieselError::DatabaseError(_, info) if is_transient(info.message()) => {
                DbError::Unavailable(info.message().trim().to_owned())
            }
            DieselError::BrokenTransactionManager => DbError::Unavailable(e.to_string()),
            _ => DbError::Query(e.to_string()),
        }
    }
}

/// Messages of errors that pass by themselves: a busy SQLite file, a PostgreSQL lock or
/// statement timeout, a server shutting down or starting up.
fn is_transient(message: &str) -> bool {
    const SIGNS: &[&str] = &[
        "database is locked",
        "database is busy",
        "database table is locked",
        "lock timeout",
        "canceling statement due to",
        "terminating connection",
        "the database system is",
        "server closed the connection",
        "no connection to the server",
        "could not connect",
        "deadlock detected",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}

/// Run `f` in a write transaction (a savepoint when one is already open). SQLite takes its
/// write lock up front; checks inside `f` see no concurrent writer on SQLite, and on
/// PostgreSQL after [`serialize_on`].
pub fn write_tx<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn::write_transaction(conn, f)
}

/// Whether a diesel error is a unique-constraint violation.
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The database: a pool of connections, and on SQLite the group-commit writer that runs
/// every write.
#[derive(Clone)]
pub struct Db {
    target: Target,
    pool: r2d2::Pool<conn::Manager>,
    /// SQLite only; PostgreSQL writes run on pooled connections, concurrently.
    writer: Option<Arc<writer::Writer>>,
    health: Arc<conn::Health>,
    timeout: Duration,
    /// Callers waiting in [`Db::conn`] for a pooled connection.
    waiting: Arc<AtomicUsize>,
}

/// The connection pool at one moment (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
    pub waiting: usize,
}

/// Counts a caller of [`Db::conn`] as waiting while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Waiting(n)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The migration state of a database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    /// Applied versions this binary does not know: the schema is newer than the code.
    pub unknown: Vec<String>,
}

impl Db {
    /// Open the database `settings.url` names (creating a SQLite file and its directory if
    /// needed) and pool connections. PostgreSQL must be reachable now.
    pub fn open(settings: &DatabaseSettings) -> Result<Db, DbError> {
        let target = Target::parse(settings.url.expose_secret())?;
        let timeouts = Timeouts {
            lock_ms: settings.timeout_ms,
            statement_ms: settings.statement_timeout_ms,
        };
        let writer = match &target {
            Target::Sqlite(path) => Some(Arc::new(start_sqlite_writer(path, timeouts)?)),
            Target::Postgres(_) => None,
        };
        let health = Arc::new(conn::Health::default());
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let manager = conn::Manager::new(target.clone(), timeouts, Arc::clone(&health));
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .connection_timeout(timeout)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", target.describe())))?;
        Ok(Db {
            target,
            pool,
            writer,
            health,
            timeout,
            waiting: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Connections in use and idle, and callers waiting for one.
    pub fn pool_state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState {
            in_use: s.connections.saturating_sub(s.idle_connections),
            idle: s.idle_connections,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// The database's URL without its password, for logs.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// Run a write in its own transaction (on SQLite: its own savepoint of the next group
    /// commit); returns once it is durable. `f` must not call `write` itself.
    pub fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(f),
            None => {
                let mut conn = self.conn()?;
                write_tx(&mut conn, f)
            }
        }
    }

    /// A pooled connection. While the database is unreachable (a connection attempt or a
    /// check of an idle connection failed), fail within `FAIL_FAST` (200 ms) instead of the whole
    /// timeout; a busy pool with a healthy database is waited on for the whole timeout.
    pub fn conn(&self) -> Result<Conn, DbError> {
        let unavailable = |e: r2d2::PoolError| DbError::Unavailable(e.to_string());
        let first = FAIL_FAST.min(self.timeout);
        let _waiting = Waiting::start(&self.waiting);
        match self.pool.get_timeout(first) {
            Ok(c) => Ok(c),
            Err(e) if self.health.is_down() || first >= self.timeout => Err(unavailable(e)),
            Err(_) => self
                .pool
                .get_timeout(self.timeout - first)
                .map_err(unavailable),
        }
    }

    /// Whether the database answers and writes can be made: a pooled connection runs a
    /// query, and on SQLite the writer thread commits an empty write (no fsync: nothing was
    /// written).
    pub fn health(&self) -> Result<(), DbError> {
        use diesel::RunQueryDsl;
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        drop(conn);
        if let Some(writer) = &self.writer {
            writer.write(|_| Ok(()))?;
        }
        Ok(())
    }

    /// Which migrations are applied, pending, or unknown to this binary.
    pub fn schema_status(&self) -> Result<SchemaStatus, DbError> {
        let mut conn = self.conn()?;
        schema_status(&mut conn)
    }

    /// Apply pending migrations; refuse a schema newer than this binary knows. Returns the
    /// versions applied. On PostgreSQL, instances starting together take turns (a session
    /// advisory lock), so each migration runs once.
    pub fn upgrade(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.conn()?;
        with_migration_lock(&mut conn, |conn| {
            refuse_newer(conn)?;
            let done = per_backend!(conn, |c| {
                c.run_pending_migrations(migrations_for(c))
                    .map(|v| v.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            });
            done.map_err(|e| DbError::Migration(e.to_string()))
        })
    }

    /// The start-up check: apply pending migrations when `auto_migrate`, otherwise refuse to
    /// start with pending ones; always refuse a newer schema.
    pub fn prepare(&self, auto_migrate: bool) -> Result<Vec<String>, DbError> {
        let status = {
            let mut conn = self.conn()?;
            refuse_newer(&mut conn)?
        };
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

/// The files of a SQLite database: the database, its WAL and shared-memory index, and its
/// rollback journal (used before WAL is switched on).
pub fn sqlite_files(path: &std::path::Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        path.to_owned(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
    ]
}

/// Open the SQLite writer's connection and start the writer. WAL is a property of the file:
/// it is switched here, before the pool opens connections concurrently (switching needs an
/// exclusive lock).
///
/// The directory is created 0700 and the database file 0600 before SQLite opens it (SQLite
/// would create it 0644; it creates `-wal`, `-shm` and `-journal` with the database's mode).
/// None of these files may be a symbolic link.
fn start_sqlite_writer(path: &std::path::Path, t: Timeouts) -> Result<writer::Writer, DbError> {
    use diesel::connection::SimpleConnection;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)
            .map_err(|e| DbError::Migration(format!("cannot create {}: {e}", dir.display())))?;
    }
    for file in sqlite_files(path) {
        crate::files::refuse_symlink(&file).map_err(|e| {
            DbError::Migration(format!(
                "refusing the database file {}: {e}",
                file.display()
            ))
        })?;
    }
    crate::files::ensure_private_file(path).map_err(|e| {
        DbError::Migration(format!(
            "cannot open the database file {}: {e}",
            path.display()
        ))
    })?;
    let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| DbError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    c.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL;",
        t.lock_ms
    ))?;
    c.batch_execute(&conn::sqlite_pragmas(t.lock_ms))?;
    writer::Writer::start(DbConn::Sqlite(c))
        .map_err(|e| DbError::Unavailable(format!("cannot start the database writer: {e}")))
}

/// The migrations of `conn`'s backend.
trait MigrationsFor {
    fn migrations(&self) -> EmbeddedMigrations;
}
impl MigrationsFor for diesel::SqliteConnection {
    fn migrations(&self) -> EmbeddedMigrations {
        SQLITE_MIGRATIONS
    }
}
impl MigrationsFor for diesel::PgConnection {
    fn migrations(&self) -> EmbeddedMigrations {
        POSTGRES_MIGRATIONS
    }
}
fn migrations_for(c: &impl MigrationsFor) -> EmbeddedMigrations {
    c.migrations()
}

fn schema_status(conn: &mut DbConn) -> Result<SchemaStatus, DbError> {
    let (known, applied) = per_backend!(conn, |c| versions(c))?;
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

/// The migration versions this binary has for `c`'s backend, and those applied.
fn versions<C>(c: &mut C) -> Result<(Vec<String>, Vec<String>), DbError>
where
    C: MigrationsFor + MigrationHarness<<C as Connection>::Backend> + Connection,
    EmbeddedMigrations: diesel::migration::MigrationSource<<C as Connection>::Backend>,
{
    let known = diesel::migration::MigrationSource::<<C as Connection>::Backend>::migrations(
        &c.migrations(),
    )
    .map_err(|e| DbError::Migration(e.to_string()))?
    .iter()
    .map(|m| m.name().version().to_string())
    .collect();
    let applied = c
        .applied_migrations()
        .map_err(|e| DbError::Migration(e.to_string()))?
        .iter()
        .map(|v| v.to_string())
        .collect();
    Ok((known, applied))
}

/// The SQLite migration versions this binary has (what a new SQLite database would get).
pub fn known_sqlite_versions() -> Vec<String> {
    diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

fn refuse_newer(conn: &mut DbConn) -> Result<SchemaStatus, DbError> {
    let status = schema_status(conn)?;
    if !status.unknown.is_empty() {
        return Err(DbError::Migration(format!(
            "the database schema is newer than this coffer knows (unknown migrations: {}); \
             run a newer coffer",
            status.unknown.join(", ")
        )));
    }
    Ok(status)
}

/// Run `f` holding PostgreSQL's session advisory lock for migrations (nothing on SQLite,
/// whose migrations take the file's write lock).
fn with_migration_lock<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    const LOCK: &str = "SELECT pg_advisory_lock(hashtextextended('coffer.migrations', 0))";
    const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended('coffer.migrations', 0))";
    let DbConn::Pg(pg) = conn else {
        return f(conn);
    };
    diesel::sql_query(LOCK).execute(pg)?;
    let result = f(conn);
    if let DbConn::Pg(pg) = conn {
        if let Err(e) = diesel::sql_query(UNLOCK).execute(pg) {
            tracing::warn!(error = %e, "could not release the migration lock (it goes with the connection)");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;

    pub(crate) fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: format!("sqlite://{}/sub/c.db", dir.path().display()).into(),
            pool_size: 4,
            auto_migrate: true,
            timeout_ms: 2000,
            statement_timeout_ms: 30_000,
        };
        let db = Db::open(&settings).unwrap();
        (dir, db)
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

    #[test]
    fn sqlite_files_are_owner_only_and_never_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let (dir, db) = temp_db();
        db.prepare(true).unwrap();
        // A write, so that the WAL and its index exist.
        db.write(|c| {
            diesel::sql_query("CREATE TABLE t (x INTEGER)")
                .execute(c)
                .map_err(DbError::from)
        })
        .unwrap();
        let path = dir.path().join("sub/c.db");
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        let [file, wal, shm, _journal] = sqlite_files(&path);
        for f in [&file, &wal, &shm] {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        drop(db);

        // A database file (or its WAL) that is a symbolic link is refused, and nothing is
        // written through it.
        let elsewhere = dir.path().join("elsewhere.db");
        std::fs::write(&elsewhere, b"").unwrap();
        for (name, link) in [("l.db", "l.db"), ("w.db", "w.db-wal")] {
            let linked = dir.path().join(link);
            std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
            let settings = DatabaseSettings {
                url: format!("sqlite://{}", dir.path().join(name).display()).into(),
                pool_size: 1,
                auto_migrate: true,
                timeout_ms: 2000,
                statement_timeout_ms: 30_000,
            };
            let err = Db::open(&settings)
                .err()
                .expect("a symbolic link is refused");
            assert!(
                err.to_string().contains("refusing the database file")
                    && err.to_string().contains(link),
                "{err}"
            );
        }
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"");
    }
}
