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
//! - `chain_key_file`: a key (16 bytes or more) for the hash chain: lines are then chained with
//!   HMAC-SHA256 instead of SHA-256, and only a holder of the key can recompute them.
//!
//! Lines that cannot be written (full disk, directory gone) wait in memory, oldest first, and
//! are written as soon as the file can be written again; a fail-closed log refuses requests as
//! long as any line is waiting.
//!
//! The log is tamper-evident ([`plugin_api::audit_chain`]): every line carries its sequence
//! number, the hash of the line before it and its own hash; every file begins with a start
//! record (new file, rotation, restart) linked to the last line of the file before it; dropped
//! lines are recorded as a gap. `coffer audit verify FILE...` checks the chain. A restarted
//! server continues the chain of the file it finds. Give each instance its own file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use plugin_api::audit_chain::{Chain, Hasher};
use plugin_api::metrics::names;
use plugin_api::{
    format_time, Capabilities, Event, EventPlugin, Factory, Metrics, PluginContext,
    PluginDescriptor, PluginError, PluginStatus,
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
    /// A key for the hash chain (HMAC-SHA256); without it, SHA-256.
    #[serde(default)]
    chain_key_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// The log file a configured instance appends to (relative paths are under the data directory).
fn private_files(section: &serde_json::Value, data_dir: &Path) -> Vec<(&'static str, PathBuf)> {
    section["path"]
        .as_str()
        .map(|p| vec![("audit log file", data_dir.join(p))])
        .unwrap_or_default()
}

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let s: Settings = ctx.parse_config()?;
    let config = |m: String| PluginError::Config(format!("events.{}: {m}", ctx.instance));
    let under_data = |p: PathBuf| {
        if p.is_absolute() {
            p
        } else {
            ctx.data_dir.join(p)
        }
    };
    let path = under_data(s.path);
    let hasher = match s.chain_key_file {
        Some(k) => plugin_api::audit_chain::read_key(&under_data(k))
            .map_err(|e| config(format!("chain_key_file: {e}")))?,
        None => Hasher::sha256(),
    };
    // A log that cannot be opened at start-up is a configuration error either way.
    let mut file = open(&path).map_err(config)?;
    let (chain, torn) = resume(&mut file, &path, hasher).map_err(config)?;
    ctx.metrics.count(names::EVENT_DROPPED, &[], 0);
    ctx.metrics.gauge(names::EVENT_PENDING, &[], 0.0);
    let log = AuditLog {
        instance: ctx.instance.to_owned(),
        metrics: ctx.metrics.clone(),
        path,
        fsync: s.fsync,
        fail_closed: s.fail_closed,
        reopen_each_write: s.reopen_each_write,
        state: Mutex::new(State {
            file: Some(file),
            start: Some(if torn.is_some() { "restart" } else { "new" }),
            torn: torn == Some(true),
            ..State::new(chain)
        }),
    };
    // The start record, written now: a restart shows in the log even before any event.
    {
        let mut state = log.lock()?;
        log.flush(&mut state).map_err(|e| config(e.to_string()))?;
    }
    Ok(Arc::new(log))
}

/// The chain of an existing file, from its last complete line; and whether the file had
/// content (`None`: empty) whose last line a crash left incomplete (`Some(true)`).
fn resume(file: &mut File, path: &Path, hasher: Hasher) -> Result<(Chain, Option<bool>), String> {
    let read_err = |e: std::io::Error| format!("cannot read audit log {}: {e}", path.display());
    let len = file.metadata().map_err(read_err)?.len();
    if len == 0 {
        return Ok((Chain::new(hasher), None));
    }
    let window = len.min(TAIL_WINDOW);
    file.seek(SeekFrom::Start(len - window)).map_err(read_err)?;
    let mut tail = Vec::with_capacity(window as usize);
    file.take(window).read_to_end(&mut tail).map_err(read_err)?;
    let torn = tail.last() != Some(&b'\n');
    let complete = match tail.iter().rposition(|b| *b == b'\n') {
        Some(end) => &tail[..end],
        None => &[][..],
    };
    let last = complete
        .rsplit(|b| *b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or("");
    let chain = match Chain::resume(hasher.clone(), last) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(path = %path.display(), reason = %e.0,
                "audit log: its last line does not continue a chain; a new chain starts here");
            Chain::new(hasher)
        }
    };
    Ok((chain, Some(torn)))
}

/// An event line as written: sealed into the chain.
#[cfg(not(feature = "bench-unchained"))]
fn seal(chain: &mut Chain, event: &str) -> String {
    chain.seal(event)
}

/// Benchmarks only: the event line as it is, to measure what the chain costs.
#[cfg(feature = "bench-unchained")]
fn seal(_: &mut Chain, event: &str) -> String {
    event.to_owned()
}

/// How much of an existing file's end is read to find its last line.
const TAIL_WINDOW: u64 = 1 << 20;

plugin_api::register_plugin!(PluginDescriptor {
    name: "audit_log",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "JSON-lines audit log of lifecycle events (optionally fail-closed)",
    factory: Factory::Event(build),
    capabilities: Capabilities {
        private_files: Some(private_files),
        ..Capabilities::NONE
    },
});

pub struct AuditLog {
    instance: String,
    /// Lines dropped and lines waiting for the file are reported here.
    metrics: Metrics,
    path: PathBuf,
    fsync: bool,
    fail_closed: bool,
    reopen_each_write: bool,
    state: Mutex<State>,
}

/// Lines not yet written (after a failure they wait here, oldest first), the open file and
/// the chain.
struct State {
    file: Option<File>,
    /// Events as JSON objects, sealed into the chain when written.
    pending: VecDeque<String>,
    /// Lines dropped since the last write (recorded as a gap).
    dropped: u64,
    chain: Chain,
    /// A start record is owed (its reason); a file found empty owes one too (`rotated`).
    start: Option<&'static str>,
    /// The file ends with a line a crash left incomplete: end it before the next record.
    torn: bool,
}

impl State {
    fn new(chain: Chain) -> State {
        State {
            file: None,
            pending: VecDeque::new(),
            dropped: 0,
            chain,
            start: None,
            torn: false,
        }
    }
}

/// Lines kept while the file cannot be written; beyond, the oldest are dropped (and counted).
const MAX_PENDING: usize = 10_000;

/// Open (creating it mode 0600) the log file for appending (and reading its last line),
/// never through a symbolic link.
fn open(path: &Path) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
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

    /// Write every pending line, oldest first, sealed into the chain (after a start record
    /// when the file is new and a gap record when lines were dropped), in one write and one
    /// sync. On failure nothing is sealed: the file is cut back, the chain and the lines kept
    /// for the next attempt.
    fn flush(&self, state: &mut State) -> Result<(), PluginError> {
        // Keep the open file unless it must be reopened (closed after a failure, reopened for
        // every line, or no longer the file at `path`).
        let file = match state.file.take() {
            Some(f) if !self.reopen_each_write && self.still_at_path(&f) => f,
            _ => open(&self.path).map_err(|e| self.unavailable(e))?,
        };
        let len = file
            .metadata()
            .map_err(|e| self.unavailable(format!("cannot stat {}: {e}", self.path.display())))?
            .len();
        let file = state.file.insert(file);
        if len == 0 {
            state.torn = false;
            state.start.get_or_insert("rotated");
        }
        // (Lines are only dropped to make room for a newer one, so a drop count never comes
        // without a pending line.)
        if state.start.is_none() && state.pending.is_empty() {
            return Ok(());
        }
        let saved = state.chain.clone();
        let now = format_time(std::time::SystemTime::now());
        let mut out = Vec::new();
        if state.torn {
            out.push(b'\n');
        }
        let mut push = |line: String| {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        };
        if let Some(reason) = state.start {
            push(state.chain.start_record(&now, reason));
        }
        if state.dropped > 0 {
            push(state.chain.gap_record(&now, state.dropped));
        }
        for event in &state.pending {
            push(seal(&mut state.chain, event));
        }
        let written = file
            .write_all(&out)
            .map_err(|e| ("write to", e))
            .and_then(|()| {
                if self.fsync {
                    file.sync_data().map_err(|e| ("sync of", e))
                } else {
                    Ok(())
                }
            });
        if let Err((what, e)) = written {
            // Nothing of this batch may stay half-written: the next attempt writes it whole.
            let _ = file.set_len(len);
            state.chain = saved;
            state.file = None;
            return Err(self.unavailable(format!("{what} {} failed: {e}", self.path.display())));
        }
        if state.dropped > 0 {
            tracing::error!(instance = %self.instance, dropped = state.dropped,
                "audit log lines were dropped while the file could not be written");
        }
        state.pending.clear();
        state.dropped = 0;
        state.start = None;
        state.torn = false;
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
        let line = event.to_json();
        let mut state = self.lock()?;
        if state.pending.len() >= MAX_PENDING {
            state.pending.pop_front();
            state.dropped += 1;
            self.metrics.count(names::EVENT_DROPPED, &[], 1);
        }
        state.pending.push_back(line);
        let written = self.flush(&mut state);
        self.metrics
            .gauge(names::EVENT_PENDING, &[], state.pending.len() as f64);
        written
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
