//! `webhook`: POST every event as JSON to a URL, in order, from a background thread.
//!
//! Settings (`[events.NAME.settings]`):
//! - `url` (required, http or https);
//! - `headers`: extra request headers (e.g. an `Authorization` the receiver expects);
//! - `timeout_ms` (default 2000) per attempt; `max_attempts` (default 5); `backoff_ms`
//!   (default 200, doubled after each failed attempt, at most 10 s);
//! - `queue_size` (default 1000): events waiting for delivery. When the queue is full the new
//!   event is dropped and counted (the request is never slowed down by a slow receiver).
//!
//! - `cafile`: a PEM file of CA certificates to trust for an `https` URL, besides the built-in
//!   Mozilla roots (a private CA).
//!
//! A 2xx is delivered; a 408, 429 or 5xx, or no answer, is retried; any other status is
//! dropped at once (the receiver refused it). Redirects are never followed (a redirect would
//! carry the event and the custom headers to another URL): a 3xx is logged with its `Location`
//! and the event dropped without retrying, since a redirect will not fix itself. The body is
//! the event's JSON (no payloads ever), with `Content-Type: application/json` and
//! `X-Coffer-Event: <kind>`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use plugin_api::metrics::names;
use plugin_api::{
    Event, EventPlugin, Factory, Metrics, PluginContext, PluginDescriptor, PluginError,
    PluginStatus,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: String,
    /// Values are secrets (an `Authorization` token): never in `Debug`, marked sensitive.
    #[serde(default)]
    headers: BTreeMap<String, SecretString>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_attempts")]
    max_attempts: u32,
    #[serde(default = "default_backoff")]
    backoff_ms: u64,
    #[serde(default = "default_queue")]
    queue_size: usize,
    /// PEM file of CA certificates to trust, besides the built-in Mozilla roots.
    #[serde(default)]
    cafile: Option<PathBuf>,
}

fn default_timeout() -> u64 {
    2000
}
fn default_attempts() -> u32 {
    5
}
fn default_backoff() -> u64 {
    200
}
fn default_queue() -> usize {
    1000
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One event ready to send.
struct Delivery {
    kind: &'static str,
    body: Vec<u8>,
}

struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    max_attempts: u32,
    backoff: Duration,
    name: String,
    metrics: Metrics,
}

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn EventPlugin>, PluginError> {
    let s: Settings = ctx.parse_config()?;
    let config = |m: String| PluginError::Config(format!("events.{}: {m}", ctx.instance));
    let url = reqwest::Url::parse(&s.url).map_err(|e| config(format!("url {:?}: {e}", s.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config("url must be http(s)".into()));
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &s.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| config(format!("header {k:?}: {e}")))?;
        let mut value = reqwest::header::HeaderValue::from_str(v.expose_secret())
            .map_err(|e| config(format!("header {k:?}: {e}")))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    if s.max_attempts == 0 || s.queue_size == 0 || s.timeout_ms == 0 {
        return Err(config(
            "max_attempts, queue_size and timeout_ms must be positive".into(),
        ));
    }
    let mut client = reqwest::Client::builder()
        .timeout(Duration::from_millis(s.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("coffer-webhook/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &s.cafile {
        let cafile = |e: String| config(format!("cafile {}: {e}", path.display()));
        let pem = std::fs::read(path).map_err(|e| cafile(e.to_string()))?;
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| cafile(e.to_string()))?
        {
            client = client.add_root_certificate(cert);
        }
    }
    let client = client
        .build()
        .map_err(|e| config(format!("HTTP client: {e}")))?;
    let sender = Sender {
        client,
        url,
        headers,
        max_attempts: s.max_attempts,
        backoff: Duration::from_millis(s.backoff_ms),
        name: ctx.instance.to_owned(),
        metrics: ctx.metrics.clone(),
    };
    ctx.metrics.count(names::EVENT_RETRIES, &[], 0);
    ctx.metrics.count(names::EVENT_DROPPED, &[], 0);
    ctx.metrics.gauge(names::EVENT_PENDING, &[], 0.0);
    let (tx, rx) = sync_channel(s.queue_size);
    std::thread::Builder::new()
        .name(format!("webhook-{}", ctx.instance))
        .spawn(move || sender.run(rx))
        .map_err(|e| config(format!("cannot start the delivery thread: {e}")))?;
    Ok(Arc::new(Webhook {
        instance: ctx.instance.to_owned(),
        queue: tx,
        dropped: AtomicU64::new(0),
        metrics: ctx.metrics.clone(),
    }))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "webhook",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "POSTs each event as JSON to a URL (retries, bounded queue)",
    factory: Factory::Event(build),
    capabilities: plugin_api::Capabilities::NONE,
});

pub struct Webhook {
    instance: String,
    queue: SyncSender<Delivery>,
    dropped: AtomicU64,
    metrics: Metrics,
}

impl EventPlugin for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn handle(&self, event: &Event) -> Result<(), PluginError> {
        let body = event.to_json().into_bytes();
        match self.queue.try_send(Delivery {
            kind: event.kind.as_str(),
            body,
        }) {
            Ok(()) => {
                self.metrics.gauge_add(names::EVENT_PENDING, &[], 1.0);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.count(names::EVENT_DROPPED, &[], 1);
                Err(PluginError::Unavailable(format!(
                    "webhook '{}': queue full, event dropped ({n} dropped so far)",
                    self.instance
                )))
            }
            Err(TrySendError::Disconnected(_)) => Err(PluginError::Unavailable(format!(
                "webhook '{}': delivery thread gone",
                self.instance
            ))),
        }
    }
}

impl Sender {
    /// Deliver until every `Webhook` handle is gone and the queue is drained.
    fn run(self, rx: Receiver<Delivery>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(webhook = %self.name, error = %e, "no runtime; events will not be delivered");
                return;
            }
        };
        while let Ok(d) = rx.recv() {
            if !runtime.block_on(self.deliver(&d)) {
                self.metrics.count(names::EVENT_DROPPED, &[], 1);
            }
            self.metrics.gauge_add(names::EVENT_PENDING, &[], -1.0);
        }
    }

    /// Deliver one event (retrying as configured); whether the webhook took it.
    async fn deliver(&self, d: &Delivery) -> bool {
        let mut wait = self.backoff;
        for attempt in 1..=self.max_attempts {
            let result = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Coffer-Event", d.kind)
                .body(d.body.clone())
                .send()
                .await;
            let retry = match result {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) if r.status().is_redirection() => {
                    let location = r
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
                    tracing::warn!(webhook = %self.name, status = r.status().as_u16(), location = ?location,
                        "webhook answered with a redirect, which is not followed (set url to \
                         the final address); the event is not retried");
                    false
                }
                Ok(r) => {
                    let s = r.status().as_u16();
                    tracing::warn!(webhook = %self.name, status = s, attempt, "webhook refused an event");
                    s == 408 || s == 429 || s >= 500
                }
                Err(e) => {
                    tracing::warn!(webhook = %self.name, error = %e, attempt, "webhook unreachable");
                    true
                }
            };
            if !retry || attempt == self.max_attempts {
                break;
            }
            self.metrics.count(names::EVENT_RETRIES, &[], 1);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
        tracing::error!(webhook = %self.name, event = d.kind, "event not delivered");
        false
    }
}

#[cfg(test)]
mod tests;
