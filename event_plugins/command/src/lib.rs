//! `command`: run a program for each event, with arguments templated from the event — never
//! through a shell, so a value is always exactly one argument.
//!
//! Settings (`[events.NAME.settings]`):
//! - `argv` (required): the program and its arguments, e.g.
//!   `["/usr/local/bin/notify", "--secret", "{{ secret.id }}", "--project", "{{ project.id }}"]`.
//!   Placeholders: `{{ event.kind }}`, `{{ event.phase }}`, `{{ event.time }}`,
//!   `{{ request.id }}`, `{{ request.line }}`, `{{ project.id }}`, `{{ user.id }}`,
//!   `{{ subject.type }}`, `{{ subject.id }}`, `{{ secret.id }}`, `{{ container.id }}`,
//!   `{{ order.id }}`, `{{ status }}`, `{{ details.NAME }}`; a field the event lacks is empty.
//!   An unknown placeholder is a start-up error. An argument that would begin with `-` because
//!   of an event's value (a placeholder at its start) is never passed — the program could take
//!   it for an option —: the run is skipped and the refusal logged.
//! - `timeout_ms` (default 5000): a run still going then is killed (and logged); processes it
//!   started itself are not followed.
//! - `env`: the child's environment (default: only `PATH=/usr/local/bin:/usr/bin:/bin`);
//!   Coffer's own environment is never passed on.
//! - `queue_size` (default 100): events waiting for their run; when full, new events are
//!   dropped and counted. Runs happen one at a time, in order, off the request path.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_api::metrics::names;
use plugin_api::{
    Event, EventPlugin, Factory, Metrics, PluginContext, PluginDescriptor, PluginError,
    PluginStatus,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    argv: Vec<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default = "default_queue")]
    queue_size: usize,
}

fn default_timeout() -> u64 {
    5000
}
fn default_queue() -> usize {
    100
}

/// One piece of an argument: literal text or a field of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

/// Split `{{ name }}` placeholders out of `arg`; `Err` names what is wrong.
fn parse_template(arg: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = arg;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed '{{{{' in {arg:?}"))?;
        let name = after[..end].trim();
        if !Event::is_field(name) {
            return Err(format!("unknown placeholder {{{{ {name} }}}} in {arg:?}"));
        }
        pieces.push(Piece::Field(name.to_owned()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

fn render(template: &[Piece], event: &Event) -> String {
    template
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.clone(),
            Piece::Field(f) => event.field(f).unwrap_or_default(),
        })
        .collect()
}

/// Whether a rendered argument could be read as an option because of an event's value: it
/// begins with `-` and its template does not begin with the operator's own text.
fn option_like(template: &[Piece], rendered: &str) -> bool {
    rendered.starts_with('-') && !matches!(template.first(), Some(Piece::Text(_)))
}

struct Runner {
    name: String,
    /// `argv[0]`, which is never templated.
    program: String,
    timeout: Duration,
    env: BTreeMap<String, String>,
    metrics: Metrics,
}

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let s: Settings = ctx.parse_config()?;
    let config = |m: String| PluginError::Config(format!("events.{}: {m}", ctx.instance));
    if s.argv.is_empty() || s.argv[0].trim().is_empty() {
        return Err(config("argv needs at least the program".into()));
    }
    if s.argv[0].contains("{{") {
        return Err(config("the program itself cannot be templated".into()));
    }
    if s.queue_size == 0 || s.timeout_ms == 0 {
        return Err(config("queue_size and timeout_ms must be positive".into()));
    }
    let (program, args) = (&s.argv[0], &s.argv[1..]);
    let args = args
        .iter()
        .map(|a| parse_template(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(config)?;
    let env = s.env.unwrap_or_else(|| {
        BTreeMap::from([("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned())])
    });
    let runner = Runner {
        name: ctx.instance.to_owned(),
        program: program.clone(),
        timeout: Duration::from_millis(s.timeout_ms),
        env,
        metrics: ctx.metrics.clone(),
    };
    ctx.metrics.count(names::EVENT_DROPPED, &[], 0);
    ctx.metrics.gauge(names::EVENT_PENDING, &[], 0.0);
    let (tx, rx) = sync_channel(s.queue_size);
    std::thread::Builder::new()
        .name(format!("command-{}", ctx.instance))
        .spawn(move || runner.run(rx))
        .map_err(|e| config(format!("cannot start the runner thread: {e}")))?;
    Ok(Arc::new(CommandPlugin {
        instance: ctx.instance.to_owned(),
        args,
        queue: tx,
        dropped: AtomicU64::new(0),
        metrics: ctx.metrics.clone(),
    }))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "command",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "runs a program (no shell) with arguments templated from each event",
    factory: Factory::Event(build),
    capabilities: plugin_api::Capabilities::NONE,
});

pub struct CommandPlugin {
    instance: String,
    /// The templates of `argv[1..]`.
    args: Vec<Vec<Piece>>,
    /// The rendered arguments of each event, for the runner.
    queue: SyncSender<Vec<String>>,
    dropped: AtomicU64,
    metrics: Metrics,
}

impl EventPlugin for CommandPlugin {
    fn name(&self) -> &'static str {
        "command"
    }

    fn handle(&self, event: &Event) -> Result<(), PluginError> {
        let args: Vec<String> = self.args.iter().map(|t| render(t, event)).collect();
        if let Some(i) = self
            .args
            .iter()
            .zip(&args)
            .position(|(t, a)| option_like(t, a))
        {
            return Err(PluginError::InvalidInput(format!(
                "command '{}': argument {} would begin with '-' from the event's values; not run",
                self.instance,
                i + 1
            )));
        }
        match self.queue.try_send(args) {
            Ok(()) => {
                self.metrics.gauge_add(names::EVENT_PENDING, &[], 1.0);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.count(names::EVENT_DROPPED, &[], 1);
                Err(PluginError::Unavailable(format!(
                    "command '{}': queue full, event dropped ({n} dropped so far)",
                    self.instance
                )))
            }
            Err(TrySendError::Disconnected(_)) => Err(PluginError::Unavailable(format!(
                "command '{}': runner thread gone",
                self.instance
            ))),
        }
    }
}

impl Runner {
    fn run(self, rx: Receiver<Vec<String>>) {
        while let Ok(args) = rx.recv() {
            self.run_one(&args);
            self.metrics.gauge_add(names::EVENT_PENDING, &[], -1.0);
        }
    }

    fn run_one(&self, args: &[String]) {
        let program = &self.program;
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(command = %self.name, program = %program, error = %e, "cannot run");
                return;
            }
        };
        // Keep the first 4 KiB of stderr for the log, drain the rest so the child never blocks.
        let stderr_reader = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let _ = err.by_ref().take(4096).read_to_end(&mut kept);
                let _ = std::io::copy(&mut err, &mut std::io::sink());
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    tracing::error!(command = %self.name, program = %program,
                        timeout_ms = self.timeout.as_millis() as u64, "killed after its timeout");
                    break None;
                }
                Err(e) => {
                    tracing::error!(command = %self.name, error = %e, "cannot wait for the command");
                    break None;
                }
            }
        };
        // After a kill, a grandchild may still hold stderr open: do not wait for it.
        let stderr = match (&status, stderr_reader) {
            (Some(_), Some(r)) => r.join().unwrap_or_default(),
            _ => String::new(),
        };
        match status {
            Some(s) if s.success() => {}
            Some(s) => tracing::warn!(command = %self.name, program = %program, status = %s,
                stderr = %stderr.trim(), "command failed"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
