//! One running plugin process: its pipes, the three threads that serve them, and the calls in
//! flight.
//!
//! * the writer thread takes request frames from a channel and writes them to the child's stdin,
//!   so a caller never blocks on a full pipe;
//! * the reader thread reads response frames from the child's stdout and hands each to the
//!   caller waiting for its id (responses may come in any order);
//! * the stderr thread forwards the child's log lines to `tracing`.
//!
//! When the child's stdout ends, a frame is malformed, or the child is killed, the connection
//! closes: every call in flight fails at once with `Unavailable`, and later calls on this
//! connection too. The [`crate::supervisor`] then replaces it.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use plugin_api::PluginError;
use serde::Serialize;

use crate::settings::ExternalSettings;
use crate::wire::{self, Frame, HandshakeResult, PROTOCOL_VERSIONS};

/// How many of the child's last stderr lines are kept for start-up error messages.
const STDERR_TAIL: usize = 12;
/// Longest stderr line forwarded (longer lines are split).
const MAX_LOG_LINE: u64 = 4096;
/// How long a child may take to exit after its stdin is closed before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(1000);
/// Entries of the `supports` answer cache per child.
const SUPPORTS_CACHE: usize = 4096;

/// Everything needed to start the plugin.
pub struct Launch {
    /// The store's name (`[stores.NAME]`).
    pub instance: String,
    pub settings: ExternalSettings,
    pub data_dir: PathBuf,
    /// Where restarts are counted.
    pub metrics: plugin_api::Metrics,
}

impl Launch {
    /// How messages name this store.
    pub fn label(&self) -> String {
        format!("external store '{}'", self.instance)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Reply = Result<Frame, PluginError>;

/// The calls waiting for a response, and why the connection closed, once it has.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, SyncSender<Reply>>,
    closed: Option<String>,
}

/// What the connection's threads share with it.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Frames received so far: a call that times out while this did not move means the child
    /// is not answering anything.
    frames_in: AtomicU64,
    stderr_tail: Mutex<VecDeque<String>>,
    stderr_done: AtomicBool,
}

impl Shared {
    /// Close the connection: fail every waiting call with `Unavailable` naming `why`.
    /// The first reason wins.
    fn close(&self, label: &str, why: &str) {
        let mut p = lock(&self.pending);
        if p.closed.is_some() {
            return;
        }
        p.closed = Some(why.to_owned());
        for (_, tx) in p.waiting.drain() {
            let _ = tx.try_send(Err(PluginError::Unavailable(format!(
                "{label}: the call was in flight when {why}; the plugin restarts on the next call"
            ))));
        }
    }

    fn closed(&self) -> Option<String> {
        lock(&self.pending).closed.clone()
    }
}

/// Key of the `supports` cache: the question and the spec, normalized.
pub type SupportsKey = (&'static str, Option<String>, Option<u32>, Option<String>);

/// A running child and its protocol connection.
pub struct Conn {
    pub pid: u32,
    /// `name version` as the plugin reported it in the handshake.
    pub plugin: String,
    label: String,
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Frame>>>,
    child: Mutex<Child>,
    next_id: AtomicU64,
    /// Whether a call other than the handshake got an answer (the child works).
    served: AtomicBool,
    killed: AtomicBool,
    supports: Mutex<HashMap<SupportsKey, bool>>,
}

impl Conn {
    /// Start the child and run the handshake. The error names the command and includes the
    /// child's last stderr lines.
    pub fn start(launch: &Launch) -> Result<Conn, String> {
        let s = &launch.settings;
        let label = launch.label();
        let cmdline = s.command_line();
        let mut cmd = Command::new(&s.command);
        cmd.args(&s.args)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            )
            .envs(&s.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &s.working_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{label}: cannot start the plugin `{cmdline}`: {e}"))?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{label}: `{cmdline}` started without its pipes"));
        };
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel::<Frame>();
        let thread_err = |e: std::io::Error| format!("{label}: cannot start a thread: {e}");
        let name = |role: &str| format!("ext-{}-{role}", launch.instance);
        let spawned: std::io::Result<()> = (|| {
            let (sh, l) = (shared.clone(), label.clone());
            thread::Builder::new()
                .name(name("writer"))
                .spawn(move || write_frames(stdin, rx, &sh, &l))?;
            let (sh, l) = (shared.clone(), label.clone());
            thread::Builder::new()
                .name(name("reader"))
                .spawn(move || read_frames(stdout, &sh, &l))?;
            let (sh, inst) = (shared.clone(), launch.instance.clone());
            thread::Builder::new()
                .name(name("stderr"))
                .spawn(move || forward_stderr(stderr, &sh, &inst, pid))?;
            Ok(())
        })();
        let mut conn = Conn {
            pid,
            plugin: String::new(),
            label: label.clone(),
            shared,
            tx: Mutex::new(Some(tx)),
            child: Mutex::new(child),
            next_id: AtomicU64::new(0),
            served: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            supports: Mutex::new(HashMap::new()),
        };
        spawned.map_err(thread_err)?;

        match conn.handshake(launch) {
            Ok(hs) => {
                conn.plugin = format!("{} {}", hs.plugin_name, hs.plugin_version);
                tracing::info!(
                    store = %launch.instance,
                    pid,
                    command = %cmdline,
                    plugin = %hs.plugin_name,
                    plugin_version = %hs.plugin_version,
                    protocol = hs.protocol_version,
                    "external store plugin started"
                );
                Ok(conn)
            }
            Err(why) => {
                let status = conn
                    .exit_status()
                    .map(|st| format!(" ({st})"))
                    .unwrap_or_default();
                conn.kill("the handshake failed");
                let tail = conn.stderr_tail();
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    format!("; its last stderr lines:\n  {}", tail.join("\n  "))
                };
                Err(format!(
                    "{label}: the plugin `{cmdline}` (pid {pid}) failed its handshake: {why}{status}{tail}"
                ))
            }
        }
    }

    fn handshake(&self, launch: &Launch) -> Result<HandshakeResult, String> {
        #[derive(Serialize)]
        struct Params<'a> {
            protocol_versions: &'a [u32],
            coffer_version: &'a str,
            instance: &'a str,
            data_dir: String,
            settings: &'a serde_json::Value,
        }
        let s = &launch.settings;
        let params = Params {
            protocol_versions: &PROTOCOL_VERSIONS,
            coffer_version: env!("CARGO_PKG_VERSION"),
            instance: &launch.instance,
            data_dir: launch.data_dir.display().to_string(),
            settings: &s.settings,
        };
        let deadline = Instant::now() + s.start_timeout();
        // When the connection closed, its reason says what happened (exited, broke the
        // protocol, timed out and killed); otherwise the error does.
        let frame = self
            .call("handshake", &params, deadline, s.start_timeout())
            .map_err(|e| self.closed().unwrap_or_else(|| e.to_string()))?;
        let hs: HandshakeResult =
            wire::parse_response(&frame, "handshake").map_err(|e| e.to_string())?;
        if !PROTOCOL_VERSIONS.contains(&hs.protocol_version) {
            return Err(format!(
                "it speaks protocol version {}, Coffer speaks {:?}",
                hs.protocol_version, PROTOCOL_VERSIONS
            ));
        }
        Ok(hs)
    }

    /// Send one request and wait for its response frame until `deadline`. On a timeout during
    /// which the child sent nothing at all, the child is killed as hung.
    pub fn call(
        &self,
        method: &str,
        params: &impl Serialize,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Frame, PluginError> {
        let label = &self.label;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::request(id, method, params)?;
        let (reply_tx, reply_rx) = mpsc::sync_channel::<Reply>(1);
        {
            let mut p = lock(&self.shared.pending);
            if let Some(why) = &p.closed {
                return Err(PluginError::Unavailable(format!(
                    "{label}: {method}: the plugin process is gone ({why})"
                )));
            }
            p.waiting.insert(id, reply_tx);
        }
        let seen = self.shared.frames_in.load(Ordering::SeqCst);
        let sent = lock(&self.tx)
            .as_ref()
            .is_some_and(|tx| tx.send(frame).is_ok());
        if !sent {
            lock(&self.shared.pending).waiting.remove(&id);
            return Err(PluginError::Unavailable(format!(
                "{label}: {method}: the plugin process no longer reads its input"
            )));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match reply_rx.recv_timeout(wait) {
            Ok(Ok(frame)) => {
                if method != "handshake" {
                    self.served.store(true, Ordering::Relaxed);
                }
                Ok(frame)
            }
            Ok(Err(e)) => Err(e),
            Err(RecvTimeoutError::Timeout) => {
                lock(&self.shared.pending).waiting.remove(&id);
                let silent = self.shared.frames_in.load(Ordering::SeqCst) == seen;
                let ms = timeout.as_millis();
                let what = if silent {
                    self.kill(&format!(
                        "{method} timed out after {ms} ms and the plugin sent nothing meanwhile \
                         (killed as hung)"
                    ));
                    format!(
                        "; the plugin process (pid {}) sent nothing meanwhile and was killed as \
                         hung, it restarts on the next call",
                        self.pid
                    )
                } else {
                    String::new()
                };
                Err(PluginError::Unavailable(format!(
                    "{label}: {method} timed out after {ms} ms{what}"
                )))
            }
            Err(RecvTimeoutError::Disconnected) => Err(PluginError::Unavailable(format!(
                "{label}: {method}: the connection to the plugin closed"
            ))),
        }
    }

    /// Why the connection closed, if it has (the child died, broke the protocol or was killed).
    pub fn closed(&self) -> Option<String> {
        self.shared.closed()
    }

    /// Whether a call other than the handshake was answered.
    pub fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Kill the child (SIGKILL) and fail every call in flight.
    pub fn kill(&self, why: &str) {
        self.shared.close(&self.label, why);
        self.killed.store(true, Ordering::SeqCst);
        let _ = lock(&self.child).kill();
    }

    /// The child's exit status, if it has exited (reaps it).
    pub fn exit_status(&self) -> Option<String> {
        match lock(&self.child).try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            _ => None,
        }
    }

    pub fn cached_support(&self, key: &SupportsKey) -> Option<bool> {
        lock(&self.supports).get(key).copied()
    }

    pub fn cache_support(&self, key: SupportsKey, answer: bool) {
        let mut cache = lock(&self.supports);
        if cache.len() >= SUPPORTS_CACHE {
            cache.clear();
        }
        cache.insert(key, answer);
    }

    /// The last lines the child wrote to stderr (waits briefly for it to finish writing).
    fn stderr_tail(&self) -> Vec<String> {
        let until = Instant::now() + Duration::from_millis(500);
        while !self.shared.stderr_done.load(Ordering::SeqCst) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        lock(&self.shared.stderr_tail).iter().cloned().collect()
    }
}

impl Drop for Conn {
    /// Close the child's stdin (a plugin exits at end of input), give it a moment, then kill
    /// it; always reap it.
    fn drop(&mut self) {
        let broken = self.shared.closed().is_some() || self.killed.load(Ordering::SeqCst);
        self.shared.close(&self.label, "the store was shut down");
        lock(&self.tx).take();
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        if !broken {
            let until = Instant::now() + EXIT_GRACE;
            while Instant::now() < until {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

fn write_frames(mut stdin: ChildStdin, rx: mpsc::Receiver<Frame>, shared: &Shared, label: &str) {
    for frame in rx {
        if let Err(e) = wire::write_frame(&mut stdin, &frame) {
            shared.close(
                label,
                &format!("the plugin process stopped reading its input ({e})"),
            );
            return;
        }
    }
    // The sender was dropped: closing stdin tells the child to exit.
}

fn read_frames(mut stdout: ChildStdout, shared: &Shared, label: &str) {
    let why = loop {
        match wire::read_frame(&mut stdout) {
            Ok(Some(frame)) => {
                shared.frames_in.fetch_add(1, Ordering::SeqCst);
                match wire::response_id(&frame) {
                    Ok(id) => {
                        let waiter = lock(&shared.pending).waiting.remove(&id);
                        match waiter {
                            Some(tx) => {
                                let _ = tx.try_send(Ok(frame));
                            }
                            None => tracing::debug!(
                                store = label,
                                id,
                                "response to a call that is no longer waiting (timed out)"
                            ),
                        }
                    }
                    Err(what) => break format!("the plugin broke the protocol: it sent {what}"),
                }
            }
            Ok(None) => break "the plugin process closed its output (it exited)".to_owned(),
            Err(e) => break format!("the plugin broke the protocol: {e}"),
        }
    };
    shared.close(label, &why);
}

fn forward_stderr(stderr: ChildStderr, shared: &Shared, instance: &str, pid: u32) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_LOG_LINE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        let lower = text.trim_start().to_ascii_lowercase();
        let serious = ["error", "warn", "critical", "fatal", "traceback"]
            .iter()
            .any(|p| lower.starts_with(p));
        if serious {
            tracing::warn!(store = %instance, pid, "plugin: {text}");
        } else {
            tracing::info!(store = %instance, pid, "plugin: {text}");
        }
        let mut tail = lock(&shared.stderr_tail);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(text.to_owned());
    }
    shared.stderr_done.store(true, Ordering::SeqCst);
}
