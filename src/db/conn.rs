//! The connection: one diesel code path over SQLite and PostgreSQL.
//!
//! [`DbConn`] is a diesel `MultiConnection` over both backends. Every query of `db/` is written
//! once with the DSL and run through [`per_backend!`], which compiles it for each backend's own
//! connection: running it on the `MultiConnection` itself would re-render its SQL and re-bind
//! its values on every execution, which cost up to 40% of the throughput of simple reads
//! (bench/, get-metadata). The `MultiConnection` still carries transactions and ad-hoc queries.
//!
//! What the two backends do differently lives here: opening and configuring a connection
//! (SQLite pragmas; PostgreSQL session timeouts), starting a write transaction (SQLite takes
//! its write lock up front), and making competing writers take turns ([`serialize_on`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::result::Error as DieselError;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use super::DbError;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Run `$body` on the inner connection of whichever backend `$conn` holds. The body is
/// compiled once per backend: it runs as fast as on a plain connection, and it may use what
/// diesel's common `MultiBackend` cannot express (upserts, batch inserts).
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Which database a `database.url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, handed to libpq as is.
    Postgres(String),
}

impl Target {
    /// The backend a URL selects, by its scheme.
    pub fn parse(url: &str) -> Result<Target, DbError> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(DbError::Migration(format!(
                    "database.url {url:?} has no path"
                )));
            }
            return Ok(Target::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_owned()));
        }
        Err(DbError::Migration(format!(
            "unsupported database.url {}: expected sqlite://path/to/file.db (sqlite:///absolute/path.db) \
             or postgres://user:password@host:port/database",
            redact_url(url)
        )))
    }

    /// The URL for messages, without any password.
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(path) => format!("sqlite://{}", path.display()),
            Target::Postgres(url) => redact_url(url),
        }
    }
}

/// `url` with the password of its user-info part replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            let masked = if user_info.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Timeouts applied to every connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Waiting for a lock (SQLite's busy timeout, PostgreSQL's `lock_timeout`) and for a new
    /// PostgreSQL connection.
    pub lock_ms: u64,
    /// The longest one PostgreSQL statement may run.
    pub statement_ms: u64,
}

/// Opens connections for the pool (and the SQLite writer), configured for Coffer.
pub struct Manager {
    target: Target,
    timeouts: Timeouts,
    health: Arc<Health>,
}

impl Manager {
    pub fn new(target: Target, timeouts: Timeouts, health: Arc<Health>) -> Self {
        Manager {
            target,
            timeouts,
            health,
        }
    }

    fn open(&self) -> Result<DbConn, DbError> {
        match &self.target {
            Target::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| {
                    DbError::Unavailable(format!("cannot open {}: {e}", path.display()))
                })?;
                c.batch_execute(&sqlite_pragmas(self.timeouts.lock_ms))?;
                Ok(DbConn::Sqlite(c))
            }
            Target::Postgres(url) => {
                let url = with_default_params(url, self.timeouts.lock_ms);
                let mut c = PgConnection::establish(&url).map_err(|e| {
                    DbError::Unavailable(format!(
                        "cannot connect to {}: {}",
                        redact_url(&url),
                        e.to_string().trim()
                    ))
                })?;
                c.batch_execute(&pg_session(self.timeouts))?;
                Ok(DbConn::Pg(c))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        let opened = self.open();
        self.health.record(opened.is_ok());
        opened
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        let alive = conn.ping().map_err(DbError::from);
        if alive.is_err() {
            // Likely the server went away; the next successful connect says otherwise.
            self.health.record(false);
        }
        alive
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// Whether the database answered the last attempt to connect (or to check an idle
/// connection). While it does not, requests wait only briefly for a connection instead of the
/// whole timeout (fail fast with 503); the pool keeps trying in the background and the flag
/// clears on the first successful connect.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    fn record(&self, connected: bool) {
        let was_down = self.down.swap(!connected, Ordering::Relaxed);
        match (was_down, connected) {
            (false, false) => {
                tracing::warn!("database unreachable; requests fail with 503 until it is back")
            }
            (true, true) => tracing::info!("database reachable again"),
            _ => {}
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// SQLite settings for every connection. `synchronous=FULL`: a commit is on disk before it
/// returns, so an acknowledged write survives a crash or power loss. `secure_delete`
/// overwrites deleted rows' bytes.
pub fn sqlite_pragmas(busy_timeout_ms: u64) -> String {
    format!(
        "PRAGMA busy_timeout = {busy_timeout_ms};
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = FAST;"
    )
}

/// PostgreSQL session settings: no wait on a lock or a statement beyond its timeout, no
/// transaction left open by a stuck client, timestamps in UTC.
fn pg_session(t: Timeouts) -> String {
    format!(
        "SET lock_timeout = {}; SET statement_timeout = {}; \
         SET idle_in_transaction_session_timeout = 60000; SET TIME ZONE 'UTC';",
        t.lock_ms.max(1),
        t.statement_ms.max(1)
    )
}

/// Add libpq's `connect_timeout` (whole seconds, at least 1) and an `application_name` unless
/// the URL sets them.
fn with_default_params(url: &str, timeout_ms: u64) -> String {
    let mut url = url.to_owned();
    let mut add = |key: &str, value: &str| {
        let present = url
            .split_once('?')
            .is_some_and(|(_, q)| q.split('&').any(|kv| kv.split('=').next() == Some(key)));
        if !present {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    };
    add(
        "connect_timeout",
        &timeout_ms.div_ceil(1000).max(1).to_string(),
    );
    add("application_name", "coffer");
    url
}

/// Whether a transaction is open on `conn`.
pub fn in_transaction(conn: &mut DbConn) -> bool {
    <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some()
}

/// Begin a write transaction. SQLite takes its write lock up front (`BEGIN IMMEDIATE`), so it
/// waits on a busy database instead of failing when it would upgrade a read lock.
pub fn begin_write(conn: &mut DbConn) -> Result<(), DieselError> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

/// Run `f` in a write transaction: a savepoint inside an open transaction, otherwise one begun
/// with [`begin_write`], committed when `f` succeeds and rolled back when it fails.
pub fn write_transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    if in_transaction(conn) {
        return conn.transaction(f);
    }
    begin_write(conn)?;
    type Tm = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Make writers that name the same `key` take turns until the end of the current transaction.
/// SQLite needs nothing: its writes already run one at a time (the group-commit writer).
/// PostgreSQL takes a transaction-scoped advisory lock, which holds across Coffer instances.
/// Use it before a read-check-write (quota counts, "next position", "does this key exist").
pub fn serialize_on(conn: &mut DbConn, key: &str) -> Result<(), DbError> {
    match conn {
        DbConn::Sqlite(_) => Ok(()),
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<Text, _>(key)
                .execute(c)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            Target::parse("sqlite://coffer-data/c.db").unwrap(),
            Target::Sqlite(PathBuf::from("coffer-data/c.db"))
        );
        assert_eq!(
            Target::parse("sqlite:///tmp/c.db").unwrap(),
            Target::Sqlite(PathBuf::from("/tmp/c.db"))
        );
        assert!(matches!(
            Target::parse("postgres://u:p@127.0.0.1:5432/coffer").unwrap(),
            Target::Postgres(_)
        ));
        assert!(matches!(
            Target::parse("postgresql://h/db").unwrap(),
            Target::Postgres(_)
        ));
        assert!(Target::parse("sqlite://").is_err());
        let err = Target::parse("mysql://u:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2") && err.contains("u:***@h"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://coffer:s3cret@db:5432/c?sslmode=require"),
            "postgres://coffer:***@db:5432/c?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://coffer@db/c"),
            "postgres://coffer@db/c"
        );
        assert_eq!(redact_url("postgres://db/c"), "postgres://db/c");
        assert_eq!(
            redact_url("postgres://u:p@ss@db/c"),
            "postgres://u:***@db/c",
            "an @ in the password"
        );
    }

    #[test]
    fn libpq_defaults_are_added_once() {
        assert_eq!(
            with_default_params("postgres://h/db", 2500),
            "postgres://h/db?connect_timeout=3&application_name=coffer"
        );
        assert_eq!(
            with_default_params("postgres://h/db?connect_timeout=9&sslmode=disable", 100),
            "postgres://h/db?connect_timeout=9&sslmode=disable&application_name=coffer"
        );
    }
}
