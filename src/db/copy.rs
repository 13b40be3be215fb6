//! `coffer db copy`: move the database of a stopped SQLite deployment into PostgreSQL.
//!
//! The source is the configured SQLite database, locked against `coffer serve` for the whole
//! copy (its pid file, see [`crate::pidfile`]) and read in one read transaction. The target is
//! a PostgreSQL database that holds no Coffer rows: migrated first when it has no schema (or an
//! older one), then, in one transaction that locks every table against writers, checked empty
//! and filled table by table, parents before children, in batches (memory stays bounded by the
//! batch size). A progress bar shows on a terminal.
//!
//! After the commit each table is verified: its row count, and a SHA-256 over its rows in
//! primary-key order — every column in a canonical, length-prefixed encoding — computed from
//! the rows read out of SQLite and again from the rows read back out of PostgreSQL. Both
//! backends sort keys byte-wise (`COLLATE "C"` on PostgreSQL), so the orders agree.
//!
//! The row types below list every column of every table: loading a table's default selection
//! (all its columns) into them fails to compile when a column is added and not copied, and a
//! source table this code does not know stops the copy before anything is written.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use chrono::NaiveDateTime;
use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use indicatif::{ProgressBar, ProgressStyle};
use ring::digest;
use secrecy::{ExposeSecret, SecretString};

use super::backup;
use super::{redact_url, Db, DbConn, Target};
use crate::config::DatabaseSettings;
use crate::pidfile::{PidFile, Role};

/// What to copy where.
pub struct CopyOptions {
    /// The PostgreSQL URL (it may hold a password: never shown).
    pub to: SecretString,
    /// Rows per INSERT.
    pub batch_size: usize,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// The most rows one INSERT carries: PostgreSQL takes at most 65535 bound values per statement
/// and the widest table has 19 columns.
pub const MAX_BATCH: usize = 3000;

/// One table after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: &'static str,
    pub source_rows: u64,
    pub target_rows: u64,
    /// SHA-256 (hex) of the rows read from SQLite.
    pub source_sum: String,
    /// SHA-256 (hex) of the rows read back from PostgreSQL.
    pub target_sum: String,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sum == self.target_sum
    }
}

/// What `coffer db copy` did.
#[derive(Debug)]
pub struct CopyReport {
    /// The source, `sqlite://...`.
    pub source: String,
    /// The target's URL without its password.
    pub target: String,
    /// Migrations applied to the target first.
    pub migrated: Vec<String>,
    pub tables: Vec<TableCheck>,
}

impl CopyReport {
    /// Every table arrived whole.
    pub fn verified(&self) -> bool {
        self.tables.iter().all(TableCheck::matches)
    }
}

/// Copy the SQLite database of `source` into the empty PostgreSQL database `opts.to`.
pub fn copy(source: &DatabaseSettings, opts: &CopyOptions) -> anyhow::Result<CopyReport> {
    let Target::Sqlite(path) = Target::parse(source.url.expose_secret())? else {
        bail!(
            "coffer db copy moves a SQLite database to PostgreSQL, and database.url already names \
             PostgreSQL ({})",
            redact_url(source.url.expose_secret())
        );
    };
    let target = Target::parse(opts.to.expose_secret())?;
    if !matches!(target, Target::Postgres(_)) {
        bail!(
            "--to must be a PostgreSQL URL (postgres://user@host:port/database), not {}",
            target.describe()
        );
    }
    if !(1..=MAX_BATCH).contains(&opts.batch_size) {
        bail!("--batch-size must be between 1 and {MAX_BATCH}");
    }
    backup::existing_database(&path)?;
    let _lock = PidFile::acquire(&path, Role::Copy)?;

    let mut src = backup::open(&path, source.timeout_ms)?;
    // One read transaction: one snapshot of the source.
    src.batch_execute("BEGIN")?;
    let source_versions = check_source(&mut src, &path)?;

    let db = Db::open(&DatabaseSettings {
        url: opts.to.clone(),
        pool_size: 1,
        auto_migrate: true,
        timeout_ms: source.timeout_ms,
        statement_timeout_ms: source.statement_timeout_ms,
    })
    .context("opening the target")?;
    let status = db.schema_status().context("reading the target's schema")?;
    if !status.unknown.is_empty() {
        bail!(
            "the target's schema is newer than this coffer knows (unknown migrations: {})",
            status.unknown.join(", ")
        );
    }
    let migrated = if status.pending.is_empty() {
        Vec::new()
    } else {
        db.upgrade().context("migrating the target")?
    };
    let target_versions = {
        let mut status = db.schema_status()?;
        status.applied.sort();
        status.applied
    };
    if target_versions != source_versions {
        bail!(
            "the schemas differ: SQLite has migrations {}, the target {}",
            source_versions.join(", "),
            target_versions.join(", ")
        );
    }

    let mut source_counts = Vec::new();
    for table in TABLES {
        source_counts.push(row_count(&mut src, table.name)?);
    }
    let total: u64 = source_counts.iter().sum();
    let bar = if opts.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} rows ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut conn = db.conn()?;
    let copied = {
        let DbConn::Pg(pg) = &mut *conn else {
            bail!("the target is not PostgreSQL");
        };
        // A maintenance session: no statement or idle-in-transaction limit while SQLite is read.
        pg.batch_execute(
            "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0;",
        )?;
        let batch = opts.batch_size;
        let copied = pg.transaction::<_, anyhow::Error, _>(|pg| {
            // Writers (a Coffer started on the target too early) wait until the copy commits.
            let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
            pg.batch_execute(&format!(
                "LOCK TABLE {} IN EXCLUSIVE MODE",
                names.join(", ")
            ))
            .context("locking the target's tables")?;
            let mut not_empty = Vec::new();
            for table in TABLES {
                let rows = backup::count_rows(pg, table.name)?;
                if rows > 0 {
                    not_empty.push(format!("{} ({rows} rows)", table.name));
                }
            }
            if !not_empty.is_empty() {
                bail!(
                    "the target {} is not empty: {}. Copy into a new database (createdb), or \
                     drop this one's Coffer tables first",
                    redact_url(opts.to.expose_secret()),
                    not_empty.join(", ")
                );
            }
            let mut sums = Vec::new();
            for table in TABLES {
                bar.set_message(table.name);
                let sum = (table.copy)(&mut src, pg, batch, &mut |n| bar.inc(n))
                    .with_context(|| format!("copying {}", table.name))?;
                sums.push(sum);
            }
            Ok(sums)
        })?;
        bar.finish_and_clear();
        pg.batch_execute(&format!(
            "ANALYZE {}",
            TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ))?;
        copied
    };
    src.batch_execute("COMMIT")?;

    // Read everything back from PostgreSQL.
    let mut tables = Vec::new();
    for ((table, source_sum), counted) in TABLES.iter().zip(copied).zip(source_counts) {
        let (read, source_sum) = source_sum.finish();
        if read != counted {
            bail!(
                "{}: {counted} rows counted in SQLite but {read} read",
                table.name
            );
        }
        let target_rows = match &mut *conn {
            DbConn::Pg(pg) => row_count(pg, table.name)?,
            DbConn::Sqlite(_) => bail!("the target is not PostgreSQL"),
        };
        let (summed_rows, target_sum) = (table.sum)(&mut conn)
            .with_context(|| format!("reading {} back", table.name))?
            .finish();
        if summed_rows != target_rows {
            bail!(
                "{}: {target_rows} rows counted in PostgreSQL but {summed_rows} read",
                table.name
            );
        }
        tables.push(TableCheck {
            table: table.name,
            source_rows: read,
            target_rows,
            source_sum,
            target_sum,
        });
    }
    Ok(CopyReport {
        source: format!("sqlite://{}", path.display()),
        target: redact_url(opts.to.expose_secret()),
        migrated,
        tables,
    })
}

/// The source is a Coffer database at the schema this binary has, with no table this code
/// does not copy. Its applied versions, sorted.
fn check_source(src: &mut SqliteConnection, path: &Path) -> anyhow::Result<Vec<String>> {
    let names = backup::table_names(src)?;
    if !names.iter().any(|t| t == "__diesel_schema_migrations") {
        bail!(
            "{} is not a Coffer database (no migrations)",
            path.display()
        );
    }
    let mut applied = backup::applied_versions(src)?;
    applied.sort();
    let mut known = super::known_sqlite_versions();
    known.sort();
    if applied != known {
        let unknown: Vec<&str> = applied
            .iter()
            .filter(|v| !known.contains(v))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "the SQLite schema is newer than this coffer knows (unknown migrations: {}); use a newer coffer",
                unknown.join(", ")
            );
        }
        bail!(
            "the SQLite database lacks migrations this coffer has: run `coffer db upgrade` first"
        );
    }
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "__diesel_schema_migrations" && !TABLES.iter().any(|t| t.name == *n))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "the SQLite database has tables this coffer does not copy: {}",
            unknown.join(", ")
        );
    }
    Ok(applied)
}

fn row_count<C>(conn: &mut C, table: &str) -> anyhow::Result<u64>
where
    C: Connection,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, backup::Count>,
{
    let n = backup::count_rows(conn, table)?;
    u64::try_from(n).map_err(|_| anyhow!("{table}: a negative count"))
}

/// A running SHA-256 over rows, and how many went in.
pub struct Sum {
    rows: u64,
    ctx: digest::Context,
}

impl Default for Sum {
    fn default() -> Self {
        Sum {
            rows: 0,
            ctx: digest::Context::new(&digest::SHA256),
        }
    }
}

impl Sum {
    fn add(&mut self, row: &impl Canonical) {
        self.rows += 1;
        row.feed(&mut self.ctx);
        self.ctx.update(b";");
    }

    /// (rows, hex digest).
    fn finish(self) -> (u64, String) {
        let digest = self.ctx.finish();
        let hex = digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        (self.rows, hex)
    }
}

/// A value in the checksum's encoding: a type tag, then a length-prefixed or fixed-size body,
/// so that no two different rows encode alike.
trait Canonical {
    fn feed(&self, h: &mut digest::Context);
}

impl Canonical for String {
    fn feed(&self, h: &mut digest::Context) {
        h.update(b"s");
        h.update(&(self.len() as u64).to_be_bytes());
        h.update(self.as_bytes());
    }
}

impl Canonical for Vec<u8> {
    fn feed(&self, h: &mut digest::Context) {
        h.update(b"b");
        h.update(&(self.len() as u64).to_be_bytes());
        h.update(self);
    }
}

impl Canonical for i32 {
    fn feed(&self, h: &mut digest::Context) {
        h.update(b"i");
        h.update(&self.to_be_bytes());
    }
}

impl Canonical for bool {
    fn feed(&self, h: &mut digest::Context) {
        h.update(if *self { b"T" } else { b"F" });
    }
}

impl Canonical for NaiveDateTime {
    fn feed(&self, h: &mut digest::Context) {
        let t = self.and_utc();
        h.update(b"t");
        h.update(&t.timestamp().to_be_bytes());
        h.update(&t.timestamp_subsec_nanos().to_be_bytes());
    }
}

impl<T: Canonical> Canonical for Option<T> {
    fn feed(&self, h: &mut digest::Context) {
        match self {
            None => h.update(b"n"),
            Some(v) => v.feed(h),
        }
    }
}

/// Streams a SQLite table in key order into PostgreSQL, `batch` rows per INSERT, calling the
/// progress function after each; returns the checksum of what was read.
type CopyFn =
    fn(&mut SqliteConnection, &mut PgConnection, usize, &mut dyn FnMut(u64)) -> QueryResult<Sum>;

/// The checksum of a table, read in key order from either backend.
type SumFn = fn(&mut DbConn) -> QueryResult<Sum>;

/// How to copy and check one table.
struct Table {
    name: &'static str,
    copy: CopyFn,
    sum: SumFn,
}

/// Per table: its primary key and every column, in the order of `schema.rs`.
macro_rules! tables {
    ($($table:ident [$($key:ident),+] { $($field:ident: $ty:ty,)+ })+) => {
        $(
            mod $table {
                use super::*;
                use crate::db::schema::$table as t;

                #[derive(Queryable, Insertable)]
                #[diesel(table_name = t, treat_none_as_default_value = false)]
                pub struct Row {
                    $(pub $field: $ty,)+
                }

                impl Canonical for Row {
                    fn feed(&self, h: &mut digest::Context) {
                        $(self.$field.feed(h);)+
                    }
                }

                pub fn copy(
                    src: &mut SqliteConnection,
                    dst: &mut PgConnection,
                    batch: usize,
                    progress: &mut dyn FnMut(u64),
                ) -> QueryResult<Sum> {
                    let mut sum = Sum::default();
                    let mut rows: Vec<Row> = Vec::with_capacity(batch);
                    let mut flush = |rows: &mut Vec<Row>| -> QueryResult<()> {
                        diesel::insert_into(t::table).values(&*rows).execute(dst)?;
                        progress(rows.len() as u64);
                        rows.clear();
                        Ok(())
                    };
                    let query = t::table.order(($(t::$key,)+));
                    for row in query.load_iter::<Row, DefaultLoadingMode>(src)? {
                        let row = row?;
                        sum.add(&row);
                        rows.push(row);
                        if rows.len() >= batch {
                            flush(&mut rows)?;
                        }
                    }
                    if !rows.is_empty() {
                        flush(&mut rows)?;
                    }
                    Ok(sum)
                }

                pub fn sum(conn: &mut DbConn) -> QueryResult<Sum> {
                    let query = t::table.order(($(t::$key,)+));
                    let mut sum = Sum::default();
                    match conn {
                        DbConn::Sqlite(c) => {
                            for row in query.load_iter::<Row, DefaultLoadingMode>(c)? {
                                sum.add(&row?);
                            }
                        }
                        DbConn::Pg(c) => {
                            for row in query.load_iter::<Row, PgRowByRowLoadingMode>(c)? {
                                sum.add(&row?);
                            }
                        }
                    }
                    Ok(sum)
                }
            }
        )+

        /// Every table, parents before children.
        const TABLES: &[Table] = &[$(Table {
            name: stringify!($table),
            copy: $table::copy,
            sum: $table::sum,
        }),+];
    };
}

tables! {
    secret_stores [id] {
        id: String,
        name: String,
        store_plugin: String,
        crypto_plugin: Option<String>,
        global_default: bool,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    project_secret_stores [project_id] {
        project_id: String,
        secret_store_id: String,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    project_keks [id] {
        id: String,
        project_id: String,
        store_name: String,
        plugin_name: String,
        master_key_id: String,
        wrapped_kek: Vec<u8>,
        plugin_meta: Option<String>,
        active: bool,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    project_quotas [project_id] {
        project_id: String,
        secrets: Option<i32>,
        orders: Option<i32>,
        containers: Option<i32>,
        consumers: Option<i32>,
        cas: Option<i32>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    secrets [id] {
        id: String,
        project_id: String,
        creator_id: Option<String>,
        name: Option<String>,
        secret_type: String,
        algorithm: Option<String>,
        bit_length: Option<i32>,
        mode: Option<String>,
        expiration: Option<NaiveDateTime>,
        status: String,
        content_type: Option<String>,
        store_name: Option<String>,
        store_metadata: Option<String>,
        acl_project_access: Option<bool>,
        acl_users: Option<String>,
        acl_created_at: Option<NaiveDateTime>,
        acl_updated_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    secret_metadata [secret_id, key] {
        secret_id: String,
        key: String,
        value: String,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    secret_consumers [id] {
        id: String,
        secret_id: String,
        project_id: String,
        service: String,
        resource_type: String,
        resource_id: String,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    containers [id] {
        id: String,
        project_id: String,
        creator_id: Option<String>,
        name: Option<String>,
        container_type: String,
        status: String,
        acl_project_access: Option<bool>,
        acl_users: Option<String>,
        acl_created_at: Option<NaiveDateTime>,
        acl_updated_at: Option<NaiveDateTime>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    container_secrets [container_id, position] {
        container_id: String,
        position: i32,
        name: Option<String>,
        secret_id: String,
        created_at: NaiveDateTime,
    }
    container_consumers [id] {
        id: String,
        container_id: String,
        project_id: String,
        name: String,
        url: String,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
    orders [id] {
        id: String,
        project_id: String,
        creator_id: Option<String>,
        order_type: String,
        status: String,
        meta: String,
        secret_id: Option<String>,
        container_id: Option<String>,
        passphrase_secret_id: Option<String>,
        error_status_code: Option<i32>,
        error_reason: Option<String>,
        sub_status: Option<String>,
        sub_status_message: Option<String>,
        lease_owner: Option<String>,
        lease_expires_at: Option<NaiveDateTime>,
        attempts: i32,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::secret_metadata as m;

    fn sqlite_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&DatabaseSettings {
            url: format!("sqlite://{}/c.db", dir.path().display()).into(),
            pool_size: 2,
            auto_migrate: true,
            timeout_ms: 2000,
            statement_timeout_ms: 30_000,
        })
        .unwrap();
        db.prepare(true).unwrap();
        (dir, db)
    }

    /// A row as the values it feeds.
    type Feed<'a> = &'a dyn Fn(&mut digest::Context);

    fn digest_of(rows: &[Feed]) -> String {
        struct Row<'a>(Feed<'a>);
        impl Canonical for Row<'_> {
            fn feed(&self, h: &mut digest::Context) {
                (self.0)(h)
            }
        }
        let mut sum = Sum::default();
        for r in rows {
            sum.add(&Row(*r));
        }
        sum.finish().1
    }

    #[test]
    fn the_encoding_never_reads_two_rows_alike() {
        let s = |v: &str| v.to_owned();
        let pairs: [(Feed, Feed); 5] = [
            (
                &|h| {
                    s("ab").feed(h);
                    s("c").feed(h)
                },
                &|h| {
                    s("a").feed(h);
                    s("bc").feed(h)
                },
            ),
            (&|h| None::<String>.feed(h), &|h| Some(s("")).feed(h)),
            (&|h| Some(s("n")).feed(h), &|h| None::<String>.feed(h)),
            (&|h| 1i32.feed(h), &|h| true.feed(h)),
            (&|h| b"s".to_vec().feed(h), &|h| s("s").feed(h)),
        ];
        for (a, b) in pairs {
            assert_ne!(digest_of(&[a]), digest_of(&[b]));
        }
        // Row boundaries count: ("ab" | "c") is not ("ab", "c") in one row.
        let one: Feed = &|h| {
            s("ab").feed(h);
            s("c").feed(h);
        };
        let first: Feed = &|h| s("ab").feed(h);
        let second: Feed = &|h| s("c").feed(h);
        assert_ne!(digest_of(&[one]), digest_of(&[first, second]));
    }

    #[test]
    fn a_table_sum_follows_every_column_and_row() {
        let (_dir, db) = sqlite_db();
        let t0 = crate::timefmt::now();
        db.write(move |c| {
            diesel::sql_query(
                "INSERT INTO secrets (id, project_id, secret_type, status, created_at, updated_at) \
                 VALUES ('s1', 'p', 'opaque', 'ACTIVE', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            )
            .execute(c)?;
            for key in ["a", "b", "c"] {
                diesel::insert_into(m::table)
                    .values((
                        m::secret_id.eq("s1"),
                        m::key.eq(key),
                        m::value.eq("v"),
                        m::created_at.eq(t0),
                        m::updated_at.eq(t0),
                    ))
                    .execute(c)?;
            }
            Ok(())
        })
        .unwrap();
        let sum = |db: &Db| {
            let mut conn = db.conn().unwrap();
            secret_metadata::sum(&mut conn).unwrap().finish()
        };
        let (rows, first) = sum(&db);
        assert_eq!(rows, 3);
        assert_eq!(sum(&db).1, first, "the same rows, the same sum");
        assert_eq!(first.len(), 64);
        // One microsecond on one row's timestamp changes it.
        db.write(move |c| {
            diesel::update(m::table.filter(m::key.eq("b")))
                .set(m::updated_at.eq(t0 + chrono::Duration::microseconds(1)))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
        let (_, touched) = sum(&db);
        assert_ne!(touched, first);
        // Back as it was: the same sum again; a row fewer: another.
        db.write(move |c| {
            diesel::update(m::table.filter(m::key.eq("b")))
                .set(m::updated_at.eq(t0))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(sum(&db).1, first);
        db.write(|c| {
            diesel::delete(m::table.filter(m::key.eq("c"))).execute(c)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(sum(&db).0, 2);
        assert_ne!(sum(&db).1, first);
    }

    #[test]
    fn every_table_of_the_schema_is_copied_parents_first() {
        let (_dir, db) = sqlite_db();
        let mut conn = db.conn().unwrap();
        let DbConn::Sqlite(c) = &mut *conn else {
            panic!("sqlite")
        };
        let mut names = backup::table_names(c).unwrap();
        names.retain(|n| n != "__diesel_schema_migrations");
        let mut copied: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        copied.sort();
        assert_eq!(names, copied);
        // Each table's foreign keys point at tables copied before it.
        #[derive(QueryableByName)]
        struct Fk {
            #[diesel(sql_type = diesel::sql_types::Text)]
            table: String,
        }
        for (i, t) in TABLES.iter().enumerate() {
            let parents: Vec<Fk> =
                diesel::sql_query(format!("PRAGMA foreign_key_list({})", t.name))
                    .load(c)
                    .unwrap();
            for p in parents {
                let at = TABLES.iter().position(|x| x.name == p.table).unwrap();
                assert!(at < i, "{} references {}, copied later", t.name, p.table);
            }
        }
    }
}
