//! Files that hold secrets or the audit trail: the data directory, SQLite's files, key files,
//! audit files. Created owner-only (directories 0700, files 0600), opened without following a
//! symbolic link, and checked at start-up ([`loose`]) so that wider modes left by an operator
//! or an older release are reported.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Create `path` and its missing parents with mode 0700 (existing ones are left as they are:
/// [`loose`] reports them).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Open `path` for appending, creating it with mode 0600; a symbolic link is refused (the
/// OS answers ELOOP), so nobody can point an audit record at another file.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Make sure `path` is a regular file, creating it empty with mode 0600 when missing, never
/// through a symbolic link. Used before SQLite opens a database: SQLite would create the file
/// with 0644, and it gives its `-wal`, `-shm` and `-journal` files the database file's mode.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(())
}

/// Fail when `path` is a symbolic link (a missing path is fine).
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::other("a symbolic link")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A file or directory that group or others may access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    /// What it is (`data directory`, `database file`, `master key file` ...).
    pub what: &'static str,
    pub path: PathBuf,
    /// Its permission bits (`0o644`).
    pub mode: u32,
    pub is_dir: bool,
}

impl Loose {
    /// The mode as `chmod` spells it (`0644`).
    pub fn mode_text(&self) -> String {
        format!("{:04o}", self.mode)
    }
}

/// Which of `paths` exist with any group or other permission bit set. A symbolic link is
/// judged by what it points to (a key mounted as a link is as readable as its target).
pub fn loose<'a>(paths: impl IntoIterator<Item = (&'static str, &'a Path)>) -> Vec<Loose> {
    paths
        .into_iter()
        .filter_map(|(what, path)| {
            let meta = fs::metadata(path).ok()?;
            let mode = meta.permissions().mode() & 0o7777;
            (mode & 0o077 != 0).then(|| Loose {
                what,
                path: path.to_owned(),
                mode,
                is_dir: meta.is_dir(),
            })
        })
        .collect()
}

/// Log a warning for each of `paths` that group or others may access.
pub fn warn_loose<'a>(paths: impl IntoIterator<Item = (&'static str, &'a Path)>) {
    for l in loose(paths) {
        tracing::warn!(
            file = %l.path.display(),
            mode = %l.mode_text(),
            "the {} is accessible to group or others (mode {}); make it owner-only (chmod {} {})",
            l.what,
            l.mode_text(),
            if l.is_dir { "700" } else { "600" },
            l.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn directories_and_files_are_created_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        create_private_dir(&dir).unwrap(); // exists: fine

        let db = dir.join("c.db");
        ensure_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(fs::read(&db).unwrap(), b"");
        fs::write(&db, b"kept").unwrap();
        ensure_private_file(&db).unwrap();
        assert_eq!(
            fs::read(&db).unwrap(),
            b"kept",
            "an existing file is not truncated"
        );

        let log = dir.join("audit.jsonl");
        {
            use std::io::Write;
            let mut f = open_private_append(&log).unwrap();
            writeln!(f, "one").unwrap();
            let mut f = open_private_append(&log).unwrap();
            writeln!(f, "two").unwrap();
        }
        assert_eq!(mode(&log), 0o600);
        assert_eq!(fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        assert!(ensure_private_file(&dir).is_err(), "a directory");
    }

    #[test]
    fn symbolic_links_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, b"precious").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink(tmp.path().join("nothing"), &dangling).unwrap();

        for path in [&link, &dangling] {
            let err = open_private_append(path).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
            let err = ensure_private_file(path).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
            assert!(refuse_symlink(path).is_err());
        }
        assert!(
            !tmp.path().join("nothing").exists(),
            "nothing created through the link"
        );
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        refuse_symlink(&target).unwrap();
        refuse_symlink(&tmp.path().join("missing")).unwrap();
    }

    #[test]
    fn group_or_world_access_is_reported_with_the_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let set = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        let private = tmp.path().join("private");
        let readable = tmp.path().join("readable");
        let group = tmp.path().join("group");
        let dir = tmp.path().join("dir");
        for p in [&private, &readable, &group] {
            fs::write(p, b"k").unwrap();
        }
        fs::create_dir(&dir).unwrap();
        set(&private, 0o600);
        set(&readable, 0o644);
        set(&group, 0o640);
        set(&dir, 0o755);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&readable, &link).unwrap();
        let missing = tmp.path().join("missing");
        let found = loose([
            ("key file", private.as_path()),
            ("key file", readable.as_path()),
            ("pin file", group.as_path()),
            ("data directory", dir.as_path()),
            ("linked key", link.as_path()),
            ("absent", missing.as_path()),
        ]);
        let summary: Vec<_> = found
            .iter()
            .map(|l| (l.what, l.path.clone(), l.mode_text()))
            .collect();
        assert_eq!(
            summary,
            [
                ("key file", readable.clone(), "0644".to_owned()),
                ("pin file", group.clone(), "0640".to_owned()),
                ("data directory", dir.clone(), "0755".to_owned()),
                ("linked key", link.clone(), "0644".to_owned()),
            ]
        );
        set(&dir, 0o700);
        assert!(loose([("data directory", dir.as_path())]).is_empty());
    }
}
