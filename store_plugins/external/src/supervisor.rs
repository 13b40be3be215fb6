//! Keeps one plugin process running: starts it, notices when it died or was killed, restarts
//! it on the next call with capped exponential backoff, and bounds every call by the call
//! timeout — waiting for a restart included.
//!
//! Backoff: a child that served at least one call and then died is restarted at once on the
//! next call. A start that fails, or a child that dies before serving anything, counts as a
//! failure; after `n` consecutive failures the next start waits
//! `min(restart_backoff_ms * 2^(n-1), restart_backoff_max_ms)`. Calls that arrive meanwhile
//! wait for the restart if it can finish before their deadline, and fail with `Unavailable`
//! otherwise.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use plugin_api::PluginError;
use serde::Serialize;

use crate::child::{Conn, Launch, SupportsKey};
use crate::wire::{self, SupportedResult};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct State {
    conn: Option<Arc<Conn>>,
    /// A start is under way (in its own thread).
    starting: bool,
    failures: u32,
    not_before: Option<Instant>,
    last_error: Option<String>,
    /// The store was dropped: no more starts.
    closed: bool,
}

struct Inner {
    launch: Launch,
    label: String,
    state: Mutex<State>,
    changed: Condvar,
}

/// The supervisor of one store's plugin process.
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    /// Start the child and run the handshake, synchronously (at plugin load).
    pub fn start(launch: Launch) -> Result<Supervisor, String> {
        let conn = Conn::start(&launch)?;
        launch
            .metrics
            .count(plugin_api::metrics::names::EXTERNAL_RESTARTS, &[], 0);
        let label = launch.label();
        Ok(Supervisor {
            inner: Arc::new(Inner {
                launch,
                label,
                state: Mutex::new(State {
                    conn: Some(Arc::new(conn)),
                    ..State::default()
                }),
                changed: Condvar::new(),
            }),
        })
    }

    /// The running child's pid, if one is running.
    pub fn pid(&self) -> Option<u32> {
        let st = lock(&self.inner.state);
        st.conn
            .as_ref()
            .filter(|c| c.closed().is_none())
            .map(|c| c.pid)
    }

    /// `name version` of the running plugin, as its handshake said.
    pub fn plugin(&self) -> Option<String> {
        lock(&self.inner.state)
            .conn
            .as_ref()
            .map(|c| c.plugin.clone())
    }

    /// One call: a live child (started or restarted as needed), the request, the response
    /// frame, `parse` — all within the call timeout.
    pub fn call<T>(
        &self,
        method: &str,
        params: &impl Serialize,
        parse: impl FnOnce(&[u8], &str) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let timeout = self.inner.launch.settings.call_timeout();
        let deadline = Instant::now() + timeout;
        let conn = self.acquire(method, deadline, timeout)?;
        let frame = conn.call(method, params, deadline, timeout)?;
        parse(&frame, &format!("{}: {method}", self.inner.label))
    }

    /// A `supports` question, answered from the per-child cache when possible. When the child
    /// cannot be asked (down, restarting, timed out) the answer is `true`, so that the call
    /// that follows reports the real failure (503) instead of a misleading "not supported".
    pub fn supports(
        &self,
        method: &'static str,
        key: SupportsKey,
        params: &impl Serialize,
    ) -> bool {
        let timeout = self.inner.launch.settings.call_timeout();
        let deadline = Instant::now() + timeout;
        let conn = match self.acquire(method, deadline, timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask the plugin; answering `supported`");
                return true;
            }
        };
        if let Some(answer) = conn.cached_support(&key) {
            return answer;
        }
        let context = format!("{}: {method}", self.inner.label);
        let answer = conn
            .call(method, params, deadline, timeout)
            .and_then(|frame| wire::parse_response::<SupportedResult>(&frame, &context));
        match answer {
            Ok(r) => {
                conn.cache_support(key, r.supported);
                r.supported
            }
            Err(e @ PluginError::Unavailable(_)) => {
                tracing::warn!(error = %e, "cannot ask the plugin; answering `supported`");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "the plugin failed a supports question; answering no");
                false
            }
        }
    }

    /// A live connection, waiting (until `deadline`) for a start or restart if needed.
    fn acquire(
        &self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Arc<Conn>, PluginError> {
        let inner = &self.inner;
        let mut st = lock(&inner.state);
        loop {
            if let Some(conn) = &st.conn {
                match conn.closed() {
                    None => return Ok(conn.clone()),
                    Some(why) => {
                        let dead = st.conn.take();
                        Self::note_death(inner, &mut st, dead, &why);
                    }
                }
            }
            if st.closed {
                return Err(PluginError::Unavailable(format!(
                    "{}: {method}: the store is shut down",
                    inner.label
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.down(&st, method, timeout));
            }
            if st.starting {
                st = inner
                    .changed
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            if let Some(at) = st.not_before.filter(|&at| at > now) {
                if at >= deadline {
                    return Err(self.down(&st, method, timeout));
                }
                drop(st);
                thread::sleep(at - now);
                st = lock(&inner.state);
                continue;
            }
            st.starting = true;
            let worker = inner.clone();
            let spawned = thread::Builder::new()
                .name(format!("ext-{}-start", inner.launch.instance))
                .spawn(move || Self::restart(&worker));
            if let Err(e) = spawned {
                st.starting = false;
                return Err(PluginError::Unavailable(format!(
                    "{}: {method}: cannot start a thread to restart the plugin: {e}",
                    inner.label
                )));
            }
        }
    }

    /// The error for a call that found no live child before its deadline.
    fn down(&self, st: &State, method: &str, timeout: Duration) -> PluginError {
        let last = st
            .last_error
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        let next = match st.not_before {
            Some(at) if at > Instant::now() => format!(
                "; next restart attempt in {} ms",
                at.saturating_duration_since(Instant::now()).as_millis()
            ),
            _ if st.starting => "; a restart is under way".to_owned(),
            _ => String::new(),
        };
        PluginError::Unavailable(format!(
            "{}: {method}: the plugin process is not running and did not come back within \
             {} ms{last}{next}",
            self.inner.label,
            timeout.as_millis()
        ))
    }

    /// Record that the current child died; decide when the next start may happen.
    fn note_death(inner: &Inner, st: &mut State, dead: Option<Arc<Conn>>, why: &str) {
        let Some(dead) = dead else { return };
        // Its output just ended: give the process a moment to finish exiting, for the log.
        let mut status = dead.exit_status();
        let until = Instant::now() + Duration::from_millis(50);
        while status.is_none() && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
            status = dead.exit_status();
        }
        let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
        if dead.served() {
            st.failures = 0;
            st.not_before = None;
        } else {
            st.failures = st.failures.saturating_add(1);
            st.not_before = Some(Instant::now() + inner.launch.settings.backoff(st.failures));
        }
        st.last_error = Some(format!("pid {}: {why}{status}", dead.pid));
        tracing::warn!(
            store = %inner.launch.instance,
            pid = dead.pid,
            reason = %format!("{why}{status}"),
            consecutive_failures = st.failures,
            "external store plugin process is gone; it restarts on the next call"
        );
        // Killing and reaping happen when the last call holding it lets go (`Conn::drop`).
    }

    /// Start a new child (in the start thread) and publish the outcome.
    fn restart(inner: &Arc<Inner>) {
        let started = Conn::start(&inner.launch);
        let mut st = lock(&inner.state);
        st.starting = false;
        let leftover = match started {
            Ok(conn) if !st.closed => {
                st.conn = Some(Arc::new(conn));
                st.not_before = None;
                inner
                    .launch
                    .metrics
                    .count(plugin_api::metrics::names::EXTERNAL_RESTARTS, &[], 1);
                None
            }
            Ok(conn) => Some(conn),
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                let delay = inner.launch.settings.backoff(st.failures);
                st.not_before = Some(Instant::now() + delay);
                tracing::warn!(
                    store = %inner.launch.instance,
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "external store plugin did not restart"
                );
                st.last_error = Some(e);
                None
            }
        };
        drop(st);
        inner.changed.notify_all();
        // Started after the store was dropped: stop it again.
        drop(leftover);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let conn = {
            let mut st = lock(&self.inner.state);
            st.closed = true;
            st.conn.take()
        };
        self.inner.changed.notify_all();
        // Closes the child's stdin, waits briefly for it to exit, kills it otherwise.
        drop(conn);
    }
}
