//! `audit_log`: one JSON line per event — who (project, user, roles), what (event, subject,
//! request), when, outcome (phase, HTTP status), request id — appended to a file. Events never
//! carry payloads, keys or tokens, so neither does the log.
//!
//! Settings (`[events.NAME.settings]`):
//! - `path`: the file (relative paths are under the data directory); created mode 0600.
//! - `fsync`: sync every line to disk before the request goes on (default true).
//! - `fail_closed`: refuse auditable requests (503) while the log cannot be written
//!   (default false: log the failure and go on).
//!
//! - `reopen_each_write`: open the file for every line (default false; the file is reopened
//!   anyway when it was renamed or deleted, so rotation by rename just works).
//!
//! Lines that cannot be written (full disk, directory gone) wait in memory, oldest first, and
//! are written as soon as the file can be written again; a fail-closed log refuses requests as
//! long as any line is waiting.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use plugin_api::{
    Event, EventPlugin, Factory, PluginContext, PluginDescriptor, PluginError, PluginStatus,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: PathBuf,
    #[serde(default = "yes")]
    fsync: bool,
    #[serde(default)]
    fail_closed: bool,
    /// Open the file for every line (log rotation by rename takes effect at once).
    #[serde(default)]
    reopen_each_write: bool,
}

fn yes() -> bool {
    true
}

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let s: Settings = ctx.parse_config()?;
    let path = if s.path.is_absolute() {
        s.path
    } else {
        ctx.data_dir.join(s.path)
    };
    // A log that cannot be opened at start-up is a configuration error either way.
    let file =
        open(&path).map_err(|e| PluginError::Config(format!("events.{}: {e}", ctx.instance)))?;
    Ok(Arc::new(AuditLog {
        instance: ctx.instance.to_owned(),
        path,
        fsync: s.fsync,
        fail_closed: s.fail_closed,
        reopen_each_write: s.reopen_each_write,
        state: Mutex::new(State {
            file: Some(file),
            ..State::default()
        }),
    }))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "audit_log",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "JSON-lines audit log of lifecycle events (optionally fail-closed)",
    factory: Factory::Event(build),
});

pub struct AuditLog {
    instance: String,
    path: PathBuf,
    fsync: bool,
    fail_closed: bool,
    reopen_each_write: bool,
    state: Mutex<State>,
}

/// Lines not yet written (after a failure they wait here, oldest first) and the open file.
#[derive(Default)]
struct State {
    file: Option<File>,
    pending: VecDeque<Vec<u8>>,
    dropped: u64,
}

/// Lines kept while the file cannot be written; beyond, the oldest are dropped (and counted).
const MAX_PENDING: usize = 10_000;

/// Open (creating it mode 0600) the log file for appending.
fn open(path: &Path) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| format!("cannot open audit log {}: {e}", path.display()))
}

impl AuditLog {
    fn unavailable(&self, detail: String) -> PluginError {
        PluginError::Unavailable(format!("audit log '{}': {detail}", self.instance))
    }

    /// Whether the open file is still the one at `path` (not renamed away or deleted).
    #[cfg(unix)]
    fn still_at_path(&self, file: &File) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }

    #[cfg(not(unix))]
    fn still_at_path(&self, _file: &File) -> bool {
        true
    }

    /// Write every pending line, oldest first; on failure keep them for the next attempt.
    fn flush(&self, state: &mut State) -> Result<(), PluginError> {
        // Keep the open file unless it must be reopened (closed after a failure, reopened for
        // every line, or no longer the file at `path`).
        let file = match state.file.take() {
            Some(f) if !self.reopen_each_write && self.still_at_path(&f) => f,
            _ => open(&self.path).map_err(|e| self.unavailable(e))?,
        };
        let file = state.file.insert(file);
        let mut wrote = false;
        while let Some(line) = state.pending.front() {
            if let Err(e) = file.write_all(line) {
                state.file = None;
                return Err(
                    self.unavailable(format!("write to {} failed: {e}", self.path.display()))
                );
            }
            state.pending.pop_front();
            wrote = true;
        }
        if wrote && self.fsync {
            if let Err(e) = file.sync_data() {
                state.file = None;
                return Err(
                    self.unavailable(format!("sync of {} failed: {e}", self.path.display()))
                );
            }
        }
        if state.dropped > 0 {
            tracing::error!(instance = %self.instance, dropped = state.dropped,
                "audit log lines were dropped while the file could not be written");
            state.dropped = 0;
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, PluginError> {
        self.state
            .lock()
            .map_err(|_| self.unavailable("lock poisoned".into()))
    }
}

impl EventPlugin for AuditLog {
    fn name(&self) -> &'static str {
        "audit_log"
    }

    fn handle(&self, event: &Event) -> Result<(), PluginError> {
        let mut line = event.to_json().into_bytes();
        line.push(b'\n');
        let mut state = self.lock()?;
        if state.pending.len() >= MAX_PENDING {
            state.pending.pop_front();
            state.dropped += 1;
        }
        state.pending.push_back(line);
        self.flush(&mut state)
    }

    fn fail_closed(&self) -> bool {
        self.fail_closed
    }

    /// Healthy when the file is open at its path and nothing is waiting to be written (or it
    /// can be written now).
    fn ready(&self) -> Result<(), PluginError> {
        let mut state = self.lock()?;
        self.flush(&mut state)
    }
}

#[cfg(test)]
mod tests;
