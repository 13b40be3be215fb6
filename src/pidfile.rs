//! The trace a process leaves next to a SQLite database it uses: `<database>.pid`, holding its
//! PID and what it does (`serve`, `restore`, `copy`), and locked with `flock(2)` for as long as
//! the process runs.
//!
//! `coffer serve` holds a shared lock (several servers may share it), `coffer db restore` and
//! `coffer db copy` an exclusive one: a restore or a copy is refused while a server runs on the
//! database, and a server refuses to start during a restore or a copy. The lock, not the file,
//! decides: the kernel releases it when its process ends however it ends, so a file left by a
//! killed process (whose PID may since belong to something else) is ignored. The file is removed
//! when its last holder ends cleanly.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use thiserror::Error;

/// Why a lock could not be taken.
#[derive(Debug, Error)]
pub enum PidFileError {
    /// A `coffer serve` holds the database.
    #[error(
        "a coffer server (PID {pid}) runs on {}: stop it first (the lock is {})",
        database.display(),
        pid_file.display()
    )]
    ServerRunning {
        pid: String,
        database: PathBuf,
        pid_file: PathBuf,
    },
    /// A restore or a copy holds the database.
    #[error(
        "coffer db {what} (PID {pid}) is working on {}: wait for it to finish",
        database.display()
    )]
    Busy {
        what: String,
        pid: String,
        database: PathBuf,
    },
    #[error("the lock file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// What holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `coffer serve` (shared).
    Serve,
    /// `coffer db restore` (exclusive).
    Restore,
    /// `coffer db copy` (exclusive).
    Copy,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Restore => "restore",
            Role::Copy => "copy",
        }
    }
}

/// The lock file of the SQLite database `database`.
pub fn path_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".pid");
    PathBuf::from(name)
}

/// A held lock on a database's pid file; released (and the file removed when nobody else holds
/// it) when dropped.
#[derive(Debug)]
pub struct PidFile {
    file: File,
    path: PathBuf,
    role: Role,
}

impl PidFile {
    /// Take the lock for `role` on the SQLite database `database` (its directory is created
    /// 0700 if missing), without waiting: fail at once when a process with a conflicting role
    /// holds it. Writes this process's PID into the file.
    pub fn acquire(database: &Path, role: Role) -> Result<PidFile, PidFileError> {
        let path = path_for(database);
        let io_err = |source| PidFileError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir(dir).map_err(io_err)?;
        }
        let operation = match role {
            Role::Serve => FlockOperation::NonBlockingLockShared,
            Role::Restore | Role::Copy => FlockOperation::NonBlockingLockExclusive,
        };
        // The file may be removed by its last holder between our open and our lock: then we
        // hold a lock on a file nobody else will look at, so open it again.
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(io_err)?;
            if let Err(e) = flock(&file, operation) {
                if e != rustix::io::Errno::WOULDBLOCK {
                    return Err(io_err(e.into()));
                }
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(holder_error(database, &path, &text));
            }
            if !same_file(&file, &path).map_err(io_err)? {
                continue;
            }
            let line = format!("{} {}\n", std::process::id(), role.as_str());
            file.set_len(0)
                .and_then(|()| file.write_all_at(line.as_bytes(), 0))
                .map_err(io_err)?;
            return Ok(PidFile { file, path, role });
        }
        Err(io_err(io::Error::other(
            "removed and created again too often while taking the lock",
        )))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // The last holder removes the file: a server checks that no other server shares the
        // lock (taking it exclusively, which fails while another one holds it).
        let last = match self.role {
            Role::Serve => flock(&self.file, FlockOperation::NonBlockingLockExclusive).is_ok(),
            Role::Restore | Role::Copy => true,
        };
        if last && same_file(&self.file, &self.path).unwrap_or(false) {
            let _ = fs::remove_file(&self.path);
        }
        // Closing the file releases the lock.
    }
}

/// Whether `path` still names the open `file` (not removed, nor replaced).
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(named) => Ok(named.dev() == open.dev() && named.ino() == open.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The error for a lock held by someone else, from what the holder wrote (`PID ROLE`).
fn holder_error(database: &Path, path: &Path, text: &str) -> PidFileError {
    let mut words = text.split_whitespace();
    let pid = words
        .next()
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or("unknown")
        .to_owned();
    match words.next() {
        Some(what @ ("restore" | "copy")) => PidFileError::Busy {
            what: what.to_owned(),
            pid,
            database: database.to_owned(),
        },
        _ => PidFileError::ServerRunning {
            pid,
            database: database.to_owned(),
            pid_file: path.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_lock_and_restores_take_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/coffer.db");
        let path = path_for(&db);
        assert_eq!(path, dir.path().join("data/coffer.db.pid"));

        let one = PidFile::acquire(&db, Role::Serve).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{} serve\n", std::process::id())
        );
        let two = PidFile::acquire(&db, Role::Serve).unwrap();
        let err = PidFile::acquire(&db, Role::Restore).unwrap_err();
        assert!(
            matches!(&err, PidFileError::ServerRunning { pid, .. } if *pid == std::process::id().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("stop it first"), "{err}");
        drop(one);
        assert!(path.exists(), "the other server still holds it");
        assert!(PidFile::acquire(&db, Role::Copy).is_err());
        drop(two);
        assert!(!path.exists(), "the last server removes the file");

        let restore = PidFile::acquire(&db, Role::Restore).unwrap();
        let err = PidFile::acquire(&db, Role::Serve).unwrap_err();
        assert!(
            matches!(&err, PidFileError::Busy { what, .. } if what == "restore"),
            "{err}"
        );
        assert!(PidFile::acquire(&db, Role::Copy).is_err());
        drop(restore);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_nobody_locks_is_stale_and_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("coffer.db");
        // Left by a killed server: its PID may be anyone's now.
        fs::write(path_for(&db), "1 serve\n").unwrap();
        let lock = PidFile::acquire(&db, Role::Restore).unwrap();
        assert_eq!(
            fs::read_to_string(path_for(&db)).unwrap(),
            format!("{} restore\n", std::process::id())
        );
        drop(lock);

        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "precious").unwrap();
        std::os::unix::fs::symlink(&elsewhere, path_for(&db)).unwrap();
        let err = PidFile::acquire(&db, Role::Serve).unwrap_err();
        assert!(matches!(err, PidFileError::Io { .. }), "{err}");
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "precious");
    }
}
