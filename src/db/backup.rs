//! `coffer db backup` and `coffer db restore`: a consistent copy of a SQLite database taken
//! while the server writes, and putting such a copy back in place.
//!
//! A backup is SQLite's `VACUUM INTO` run on a connection of its own: one read transaction, so
//! in WAL mode it copies one snapshot (every commit before it began, nothing after) without
//! stopping the server's writer. It is written to a temporary file in the target directory
//! (created 0600, never through a symbolic link), fsynced, checked (`PRAGMA integrity_check`,
//! foreign keys, a schema this binary knows) and only then renamed to its name.
//!
//! A restore refuses to run while a server uses the database (its pid file is locked, see
//! [`crate::pidfile`]) and holds that lock itself, so no server starts meanwhile. It copies the
//! file next to the database, checks the copy as above, keeps the current database (with its
//! WAL) under `<database>.before-restore-<time>`, and renames the copy into place.
//!
//! PostgreSQL has its own tools (`pg_dump`, `pg_restore`): both commands refuse a PostgreSQL
//! URL with the recipe.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::pidfile::{PidFile, Role};

/// The migration table diesel keeps.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What a SQLite file holds, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Migration versions applied, oldest first.
    pub applied: Vec<String>,
    /// Versions this binary has that the file lacks (a server applies them when it starts).
    pub pending: Vec<String>,
    /// Every table (but the migration table) and its rows, by name.
    pub tables: Vec<(String, i64)>,
}

impl Inspection {
    /// `secrets 12, orders 3, ...`
    pub fn rows_text(&self) -> String {
        self.tables
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What `coffer db backup` wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub content: Inspection,
}

/// What `coffer db restore` did.
#[derive(Debug)]
pub struct RestoreReport {
    pub database: PathBuf,
    /// Where the database that was replaced is kept (none when there was none).
    pub kept: Option<PathBuf>,
    pub content: Inspection,
}

/// The message for a PostgreSQL database: what to run instead.
pub fn postgres_recipe(command: &str) -> String {
    let what = if command == "backup" {
        "back it up with pg_dump, e.g. `pg_dump --format=custom --file=coffer-$(date +%F).dump \
         \"$COFFER__DATABASE__URL\"` (a consistent snapshot, taken while Coffer runs)"
    } else {
        "restore a pg_dump archive with pg_restore into an empty database, e.g. \
         `createdb coffer_restored && pg_restore --no-owner --dbname=coffer_restored coffer.dump`, \
         then point database.url at it"
    };
    format!(
        "coffer db {command} works on SQLite databases; database.url names PostgreSQL: {what} \
         (see README, Operate: Backup and restore)"
    )
}

/// `coffer db backup`: a consistent copy of the SQLite database `database` (which a server may
/// be writing) into `dest`. An existing `dest` is refused unless `replace`; a symbolic link
/// always.
pub fn backup(
    database: &Path,
    dest: &Path,
    replace: bool,
    busy_timeout_ms: u64,
) -> anyhow::Result<BackupReport> {
    existing_database(database)?;
    let dest = std::path::absolute(dest).with_context(|| format!("{}", dest.display()))?;
    let database_abs = std::path::absolute(database)?;
    if super::sqlite_files(&database_abs).contains(&dest) {
        bail!(
            "the backup would overwrite the database itself ({}): name another file",
            dest.display()
        );
    }
    match fs::symlink_metadata(&dest) {
        Ok(m) if m.file_type().is_symlink() => {
            bail!("{} is a symbolic link: refused", dest.display())
        }
        Ok(m) if !m.is_file() => bail!("{} exists and is not a file", dest.display()),
        Ok(_) if !replace => bail!(
            "{} exists: name a new file, or pass --force to replace it",
            dest.display()
        ),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("{}", dest.display())),
    }
    let dir = dest
        .parent()
        .ok_or_else(|| anyhow!("{} has no directory", dest.display()))?;
    if !dir.is_dir() {
        bail!("the directory {} does not exist", dir.display());
    }
    let tmp = TempFile::create(dir, &dest)?;

    {
        let mut conn = open_existing(database, busy_timeout_ms)?;
        let target = tmp.path.to_str().ok_or_else(|| {
            anyhow!(
                "{} is not UTF-8: SQLite cannot be given it",
                tmp.path.display()
            )
        })?;
        // One read transaction: the snapshot of every commit made before it started.
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(target)
            .execute(&mut conn)
            .with_context(|| format!("copying {} (VACUUM INTO)", database.display()))?;
    }
    sync_file(&tmp.path)?;
    let content = inspect_file(&tmp.path, busy_timeout_ms)
        .with_context(|| format!("checking the copy {}", tmp.path.display()))?;
    let bytes = fs::metadata(&tmp.path)?.len();
    tmp.persist(&dest)?;
    Ok(BackupReport {
        file: dest,
        bytes,
        content,
    })
}

/// `coffer db restore`: put the backup `file` in place of the SQLite database `database`.
/// Refused while a server runs on it, or when `file` is not a sound Coffer database of a schema
/// this binary knows.
pub fn restore(
    database: &Path,
    file: &Path,
    busy_timeout_ms: u64,
) -> anyhow::Result<RestoreReport> {
    let lock = PidFile::acquire(database, Role::Restore)?;
    for f in super::sqlite_files(database) {
        crate::files::refuse_symlink(&f)
            .map_err(|e| anyhow!("refusing the database file {}: {e}", f.display()))?;
    }
    let meta = fs::metadata(file).with_context(|| format!("{}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", file.display());
    }
    let mut source = File::open(file).with_context(|| format!("{}", file.display()))?;
    let mut magic = [0u8; 16];
    let header = io::Read::read_exact(&mut source, &mut magic);
    if header.is_err() || &magic != SQLITE_MAGIC {
        bail!("{} is not a SQLite database", file.display());
    }

    // The copy is made next to the database (the final rename stays on one file system) and
    // checked there: what is checked is what is put in place.
    let database_abs = std::path::absolute(database)?;
    let dir = database_abs
        .parent()
        .ok_or_else(|| anyhow!("{} has no directory", database.display()))?;
    let tmp = TempFile::create(dir, &database_abs)?;
    {
        let mut source = File::open(file)?;
        let mut out = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp.path)?;
        io::copy(&mut source, &mut out).with_context(|| format!("copying {}", file.display()))?;
        out.sync_all()?;
    }
    let content = inspect_file(&tmp.path, busy_timeout_ms).with_context(|| {
        format!(
            "{} cannot be restored (the database is unchanged)",
            file.display()
        )
    })?;

    let kept = set_aside(&database_abs, busy_timeout_ms)?;
    tmp.persist(&database_abs)?;
    drop(lock);
    Ok(RestoreReport {
        database: database.to_owned(),
        kept,
        content,
    })
}

/// Check a SQLite file: integrity, foreign keys, a Coffer schema this binary knows; count the
/// rows of its tables.
pub fn inspect_file(path: &Path, busy_timeout_ms: u64) -> anyhow::Result<Inspection> {
    let mut conn = open(path, busy_timeout_ms)?;
    inspect(&mut conn)
}

/// [`inspect_file`] on an open connection.
pub fn inspect(conn: &mut SqliteConnection) -> anyhow::Result<Inspection> {
    #[derive(QueryableByName)]
    struct Integrity {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    #[derive(QueryableByName)]
    struct ForeignKey {
        #[diesel(sql_type = Text)]
        table: String,
        #[diesel(sql_type = Text)]
        parent: String,
    }
    let integrity: Vec<Integrity> = diesel::sql_query("PRAGMA integrity_check")
        .load(conn)
        .map_err(|e| anyhow!("not a readable SQLite database: {e}"))?;
    let problems: Vec<String> = integrity.into_iter().map(|r| r.integrity_check).collect();
    if problems != ["ok"] {
        bail!(
            "the integrity check failed: {}",
            problems
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let broken: Vec<ForeignKey> = diesel::sql_query("PRAGMA foreign_key_check").load(conn)?;
    if let Some(first) = broken.first() {
        bail!(
            "{} row(s) reference missing rows (the first: a row of {} without its {})",
            broken.len(),
            first.table,
            first.parent
        );
    }
    let tables = table_names(conn)?;
    if !tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        bail!("not a Coffer database: it has no {MIGRATIONS_TABLE} table");
    }
    let applied = applied_versions(conn)?;
    if applied.is_empty() {
        bail!("not a Coffer database: no migration was ever applied to it");
    }
    let known = super::known_sqlite_versions();
    let unknown: Vec<&String> = applied.iter().filter(|v| !known.contains(v)).collect();
    if !unknown.is_empty() {
        bail!(
            "its schema is newer than this coffer knows (unknown migrations: {}); use a newer coffer",
            unknown
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let pending = known
        .iter()
        .filter(|v| !applied.contains(v))
        .cloned()
        .collect();
    let mut counts = Vec::new();
    for table in tables.into_iter().filter(|t| t != MIGRATIONS_TABLE) {
        let rows = count_rows(conn, &table)?;
        counts.push((table, rows));
    }
    Ok(Inspection {
        applied,
        pending,
        tables: counts,
    })
}

/// The tables of a SQLite database (SQLite's own excepted), by name.
pub(crate) fn table_names(conn: &mut SqliteConnection) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .load(conn)?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// The migration versions applied to a SQLite database, oldest first.
pub(crate) fn applied_versions(conn: &mut SqliteConnection) -> anyhow::Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let versions: Vec<Version> = diesel::sql_query(format!(
        "SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version"
    ))
    .load(conn)?;
    Ok(versions.into_iter().map(|v| v.version).collect())
}

/// `SELECT count(*)` of a table named by the database itself (quoted as an identifier).
pub(crate) fn count_rows<C>(conn: &mut C, table: &str) -> anyhow::Result<i64>
where
    C: Connection,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM \"{}\"",
        table.replace('"', "\"\"")
    ))
    .get_result(conn)
    .with_context(|| format!("counting the rows of {table}"))?;
    Ok(count.n)
}

/// One `count(*)`.
#[derive(QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A connection to an existing SQLite file that only reads (it never creates the file).
pub(crate) fn open(path: &Path, busy_timeout_ms: u64) -> anyhow::Result<SqliteConnection> {
    let mut conn = open_existing(path, busy_timeout_ms)?;
    conn.batch_execute("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// A connection to an existing SQLite file (never created here). `VACUUM INTO` needs one that
/// is not `query_only`, although it writes only to its output.
fn open_existing(path: &Path, busy_timeout_ms: u64) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&uri(path, "rw")?)
        .map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
    conn.batch_execute(&format!("PRAGMA busy_timeout = {busy_timeout_ms};"))?;
    Ok(conn)
}

/// A `file:` URI for `path` (SQLite reads `%`, `?` and `#` specially in one).
fn uri(path: &Path, mode: &str) -> anyhow::Result<String> {
    use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
    use std::os::unix::ffi::OsStrExt;
    const RESERVED: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b' ');
    let path = std::path::absolute(path)?;
    Ok(format!(
        "file:{}?mode={mode}",
        percent_encode(path.as_os_str().as_bytes(), RESERVED)
    ))
}

/// `database` must exist as a regular file (a backup or a copy never creates one).
pub(crate) fn existing_database(database: &Path) -> anyhow::Result<()> {
    for f in super::sqlite_files(database) {
        crate::files::refuse_symlink(&f)
            .map_err(|e| anyhow!("refusing the database file {}: {e}", f.display()))?;
    }
    match fs::metadata(database) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => bail!("{} is not a file", database.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "there is no database at {} (check database.url)",
            database.display()
        ),
        Err(e) => Err(e).with_context(|| format!("{}", database.display())),
    }
}

/// Move the current database (if any) out of the way: fold its WAL into it when it can be
/// opened, then rename it — and any WAL or journal left — to `<database>.before-restore-<time>`
/// (suffixed `-wal` / `-journal`, which SQLite pairs by name), and remove its shared-memory
/// index. No file of the old database is left where the restored one goes.
fn set_aside(database: &Path, busy_timeout_ms: u64) -> anyhow::Result<Option<PathBuf>> {
    let [db, wal, shm, journal] = super::sqlite_files(database);
    if !db.exists() {
        // Left-overs of a database that is gone would be applied to the restored one.
        for f in [&wal, &shm, &journal] {
            remove_if_present(f)?;
        }
        return Ok(None);
    }
    let checkpoint = open_existing(&db, busy_timeout_ms).and_then(|mut c| {
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(anyhow::Error::from)
    });
    if let Err(e) = checkpoint {
        tracing::warn!(error = %e, "the current database's WAL could not be folded into it; it is kept beside it");
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut kept = PathBuf::from(format!("{}.before-restore-{stamp}", db.display()));
    let mut n = 1;
    while fs::symlink_metadata(&kept).is_ok() {
        n += 1;
        kept = PathBuf::from(format!("{}.before-restore-{stamp}-{n}", db.display()));
    }
    let with = |suffix: &str| {
        let mut name = kept.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    // The WAL and journal first: a database without them is whole as of its last checkpoint.
    for (from, to) in [(&wal, with("-wal")), (&journal, with("-journal"))] {
        match fs::metadata(from) {
            Ok(m) if m.len() > 0 => fs::rename(from, &to)
                .with_context(|| format!("keeping {} as {}", from.display(), to.display()))?,
            Ok(_) => remove_if_present(from)?,
            Err(_) => {}
        }
    }
    remove_if_present(&shm)?;
    fs::rename(&db, &kept)
        .with_context(|| format!("keeping {} as {}", db.display(), kept.display()))?;
    Ok(Some(kept))
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

/// A new owner-only file next to `beside`, removed (with any SQLite side file) unless it is
/// renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn create(dir: &Path, beside: &Path) -> anyhow::Result<TempFile> {
        let name = beside
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "coffer".into());
        let path = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        // create_new: O_EXCL, which never follows a symbolic link.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(TempFile { path, armed: true })
    }

    /// Rename to `dest` (removing any side file SQLite left under the temporary name) and
    /// sync the directory.
    fn persist(mut self, dest: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, dest)
            .with_context(|| format!("renaming {} to {}", self.path.display(), dest.display()))?;
        self.armed = false;
        for side in super::sqlite_files(&self.path).iter().skip(1) {
            remove_if_present(side)?;
        }
        if let Some(dir) = dest.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            for f in super::sqlite_files(&self.path) {
                let _ = fs::remove_file(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_sqlite_reads_specially() {
        assert_eq!(
            uri(Path::new("/tmp/a b/c%d?e#f.db"), "ro").unwrap(),
            "file:/tmp/a%20b/c%25d%3Fe%23f.db?mode=ro"
        );
    }

    #[test]
    fn the_recipes_name_the_postgresql_tools() {
        assert!(postgres_recipe("backup").contains("pg_dump --format=custom"));
        assert!(postgres_recipe("restore").contains("pg_restore"));
    }
}
