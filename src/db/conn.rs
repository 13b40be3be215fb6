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
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

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
#[derive(Clone)]
pub enum Target {
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, handed to libpq as is (it may hold passwords).
    Postgres(SecretString),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Target::Postgres(_) => f.debug_tuple("Postgres").field(&self.describe()).finish(),
        }
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Target::Sqlite(a), Target::Sqlite(b)) => a == b,
            (Target::Postgres(a), Target::Postgres(b)) => a.expose_secret() == b.expose_secret(),
            _ => false,
        }
    }
}

impl Eq for Target {}

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
            return Ok(Target::Postgres(SecretString::from(url)));
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
            Target::Postgres(url) => redact_url(url.expose_secret()),
        }
    }
}

/// Query parameters whose value libpq takes as a password (compared percent-decoded and
/// without regard to case, which redacts a little more than libpq would read).
const PASSWORD_PARAMS: [&str; 2] = ["password", "sslpassword"];

/// The parts of a connection URL: scheme, user-info (before the last `@` ahead of the path:
/// libpq reads credentials up to an `@`, and a password may itself hold one), the rest.
fn split_url(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let path_start = rest.find('/').unwrap_or(rest.len());
    Some(match rest[..path_start].rfind('@') {
        Some(at) => (scheme, Some(&rest[..at]), &rest[at + 1..]),
        None => (scheme, None, rest),
    })
}

fn is_password_param(key: &str) -> bool {
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    PASSWORD_PARAMS
        .iter()
        .any(|p| key.trim().eq_ignore_ascii_case(p))
}

/// `url` with every password libpq would read from it replaced by `***`: the user-info's
/// (`user:password@`) and the `password=` and `sslpassword=` query parameters. A string that
/// is not a URL (a libpq `key=value` string) is not shown at all.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, user_info, rest)) = split_url(url) else {
        return "(not a URL, not shown)".to_owned();
    };
    let mut out = format!("{scheme}://");
    if let Some(user_info) = user_info {
        let (user, password) = match user_info.split_once(':') {
            Some((user, _)) => (user, true),
            None => (user_info, false),
        };
        if user.contains(['?', '&', '=', '#']) {
            // Not a plain user name: the '@' may belong to a query value. Show nothing more.
            out.push_str("***");
            return out;
        }
        if password {
            out.push_str(user);
            out.push_str(":***");
        } else {
            out.push_str(user);
        }
        out.push('@');
    }
    let (head, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    out.push_str(head);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| {
                let key = param.split_once('=').map_or(param, |(k, _)| k);
                if is_password_param(key) {
                    format!("{key}=***")
                } else {
                    param.to_owned()
                }
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// The passwords in `url` (as written and percent-decoded), for [`scrub`].
fn passwords_in(url: &str) -> Vec<String> {
    let Some((_, user_info, rest)) = split_url(url) else {
        return vec![url.to_owned()];
    };
    let mut found = Vec::new();
    if let Some((_, password)) = user_info.and_then(|u| u.split_once(':')) {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = rest.split_once('?') {
        for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            if is_password_param(key) {
                found.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = found
        .iter()
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    // Longest first, so that a password containing another is replaced whole.
    found.sort_by_key(|p| std::cmp::Reverse(p.len()));
    found
}

/// `message` (from libpq, which may quote part of the URL it could not parse) without any
/// password of `url`.
pub fn scrub(message: &str, url: &str) -> String {
    passwords_in(url)
        .iter()
        .fold(message.to_owned(), |m, p| m.replace(p.as_str(), "***"))
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
                let url = with_default_params(url.expose_secret(), self.timeouts.lock_ms);
                let mut c = PgConnection::establish(&url).map_err(|e| {
                    DbError::Unavailable(format!(
                        "cannot connect to {}: {}",
                        redact_url(&url),
                        scrub(e.to_string().trim(), &url)
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
/// the URL sets them. The result holds the URL's passwords: zeroized when dropped.
fn with_default_params(url: &str, timeout_ms: u64) -> Zeroizing<String> {
    let mut url = Zeroizing::new(url.to_owned());
    let mut add = |key: &str, value: &str| {
        let present = url
            .split_once('?')
            .is_some_and(|(_, q)| q.split('&').any(|kv| kv.split('=').next() == Some(key)));
        if !present {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push(separator);
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
        assert_eq!(
            Target::parse("postgres://u:p@h/c").unwrap(),
            Target::parse("postgres://u:p@h/c").unwrap()
        );
        assert_ne!(
            Target::parse("postgres://u:p@h/c").unwrap(),
            Target::parse("sqlite://c").unwrap()
        );
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
        assert_eq!(
            redact_url("postgres://db/c?sslmode=require&password=s3cret&sslpassword=k3y"),
            "postgres://db/c?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            redact_url("postgresql://u:a@h1:5432,h2/c?PassWord=x&pass%77ord=y&sslpassword"),
            "postgresql://u:***@h1:5432,h2/c?PassWord=***&pass%77ord=***&sslpassword=***",
            "every spelling libpq (or a lenient reader) takes as a password"
        );
        assert_eq!(
            redact_url("postgres://u:p?w@h?password=q"),
            "postgres://u:***@h?password=***",
            "a '?' in the password, no path"
        );
        assert_eq!(
            redact_url("postgres://h?user=a@b&password=c"),
            "postgres://***",
            "an '@' in a query value"
        );
        assert_eq!(
            redact_url("host=h password=s3cret"),
            "(not a URL, not shown)"
        );
    }

    #[test]
    fn every_password_form_is_redacted_from_descriptions_and_debug() {
        let url = "postgres://coffer:userinfo-pw@db:5432/c?password=query-pw&sslpassword=ssl%2Dpw";
        let target = Target::parse(url).unwrap();
        for shown in [target.describe(), format!("{target:?}"), redact_url(url)] {
            for secret in ["userinfo-pw", "query-pw", "ssl%2Dpw", "ssl-pw"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("coffer:***@db:5432/c"), "{shown}");
        }
        // libpq quotes what it cannot decode; the message keeps no password either way.
        let libpq = "invalid percent-encoded token: \"ssl-pw\" (query-pw, userinfo-pw)";
        assert_eq!(
            scrub(libpq, url),
            "invalid percent-encoded token: \"***\" (***, ***)"
        );
    }

    #[test]
    fn a_failed_connection_names_the_database_without_its_passwords() {
        // Nothing listens on port 1 of loopback: libpq fails at once.
        let url =
            "postgres://coffer:userinfo-pw@127.0.0.1:1/c?password=query-pw&sslpassword=ssl-pw";
        let manager = Manager::new(
            Target::parse(url).unwrap(),
            Timeouts {
                lock_ms: 1000,
                statement_ms: 1000,
            },
            Arc::new(Health::default()),
        );
        let Err(err) = manager.open() else {
            panic!("nothing listens on 127.0.0.1:1");
        };
        let err = err.to_string();
        assert!(
            err.contains("cannot connect to postgres://coffer:***@127.0.0.1:1/c"),
            "{err}"
        );
        for secret in ["userinfo-pw", "query-pw", "ssl-pw"] {
            assert!(!err.contains(secret), "{secret} in {err}");
        }
    }

    #[test]
    fn libpq_defaults_are_added_once() {
        assert_eq!(
            with_default_params("postgres://h/db", 2500).as_str(),
            "postgres://h/db?connect_timeout=3&application_name=coffer"
        );
        assert_eq!(
            with_default_params("postgres://h/db?connect_timeout=9&sslmode=disable", 100).as_str(),
            "postgres://h/db?connect_timeout=9&sslmode=disable&application_name=coffer"
        );
    }
}
