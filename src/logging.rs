//! Logging: a `tracing` filter from `logging.level` (or `RUST_LOG`) — one that does not parse
//! is a start-up error —, text or JSON lines (`logging.format`), to stderr or to
//! `logging.file`. On SIGHUP the server reopens the file (log rotation by rename) and reads
//! `logging.level` from its configuration again.
//!
//! The access log (`coffer::access`, one line per request) is written by a background thread
//! (`tracing-appender`'s non-blocking writer, buffered): a request only queues its line. The
//! queue holds 64Ki lines; when it is full a request waits for room rather than lose a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{anyhow, Context};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::config::LoggingSettings;

/// Where log lines go: stderr, or a file that SIGHUP reopens.
#[derive(Clone)]
pub struct Sink {
    file: Option<(PathBuf, Arc<Mutex<File>>)>,
}

/// One line's writer.
pub enum SinkWriter {
    Stderr(std::io::Stderr),
    File(Arc<Mutex<File>>),
}

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            SinkWriter::Stderr(s) => s.write(buf),
            SinkWriter::File(f) => f.lock().unwrap_or_else(PoisonError::into_inner).write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SinkWriter::Stderr(s) => s.flush(),
            SinkWriter::File(f) => f.lock().unwrap_or_else(PoisonError::into_inner).flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        match &self.file {
            Some((_, f)) => SinkWriter::File(Arc::clone(f)),
            None => SinkWriter::Stderr(std::io::stderr()),
        }
    }
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
        .open(path)
        .with_context(|| format!("logging.file: cannot open {}", path.display()))
}

/// A filter from `RUST_LOG`, else `logging.level`; an error names the one that does not parse.
pub fn filter(level: &str) -> anyhow::Result<EnvFilter> {
    if let Ok(env) = std::env::var("RUST_LOG") {
        return EnvFilter::try_new(&env)
            .map_err(|e| anyhow!("RUST_LOG {env:?} is not a filter: {e}"));
    }
    EnvFilter::try_new(level)
        .map_err(|e| anyhow!("logging.level {level:?} is not a log filter (e.g. \"info\", \"coffer=debug,actix_web=warn\"): {e}"))
}

/// The installed logging, for SIGHUP.
pub struct Logging {
    sink: Sink,
    filter: reload::Handle<EnvFilter, Registry>,
    /// Flushes the access log's queued lines when dropped (at exit).
    _access: tracing_appender::non_blocking::WorkerGuard,
}

/// Lines of the access log waiting for the background writer.
const ACCESS_BACKLOG: usize = 64 * 1024;

/// The target of the access log's lines.
pub const ACCESS_TARGET: &str = "coffer::access";

impl Logging {
    /// Reopen the log file (after a rotation by rename) and apply `level` (the configuration
    /// read again); a level that does not parse keeps the current one, with an error line.
    pub fn reload(&self, level: Option<&str>) {
        if let Some((path, file)) = &self.sink.file {
            match open_log(path) {
                Ok(new) => *file.lock().unwrap_or_else(PoisonError::into_inner) = new,
                Err(e) => tracing::error!(error = %format!("{e:#}"), "log file not reopened"),
            }
        }
        if let Some(level) = level {
            match filter(level) {
                Ok(f) => {
                    if let Err(e) = self.filter.reload(f) {
                        tracing::error!(error = %e, "log level not changed");
                    } else {
                        tracing::info!(level, "log level set");
                    }
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "log level not changed"),
            }
        }
    }
}

/// Install the subscriber. `Ok(None)` when one is installed already (tests).
pub fn init(settings: &LoggingSettings) -> anyhow::Result<Option<Logging>> {
    let filter = filter(&settings.level)?;
    let sink = Sink {
        file: match &settings.file {
            Some(path) => Some((path.clone(), Arc::new(Mutex::new(open_log(path)?)))),
            None => None,
        },
    };
    use std::io::IsTerminal;
    let ansi = sink.file.is_none() && std::io::stderr().is_terminal();
    let (filter, handle) = reload::Layer::new(filter);
    let (access_writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(ACCESS_BACKLOG)
        .thread_name("coffer-access-log")
        .finish(std::io::BufWriter::new(sink.make_writer()));
    // Spans go to both layers (an access line names its request's span, as any other line).
    let is_access = |m: &tracing::Metadata<'_>| m.target() == ACCESS_TARGET;
    let access = filter_fn(move |m| m.is_span() || is_access(m));
    let others = filter_fn(move |m| !is_access(m));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if settings.format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(sink.clone())
                    .with_filter(others),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(access_writer)
                    .with_filter(access),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(sink.clone())
                    .with_filter(others),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(access_writer)
                    .with_filter(access),
            )
            .try_init()
    };
    Ok(installed.ok().map(|()| Logging {
        sink,
        filter: handle,
        _access: guard,
    }))
}
