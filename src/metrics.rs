//! Prometheus metrics: the catalogue of every metric Coffer exports, the process-wide
//! recorder (the `metrics` facade with `metrics-exporter-prometheus`'s text format), the sink
//! plugins report through ([`plugin_api::Metrics`]), and the gauges read when `/metrics` is
//! scraped (database pool, order queue).
//!
//! Without an installed recorder (`server.metrics = false`, and every command but `serve`)
//! each measurement is a no-op.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::Label;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use plugin_api::metrics::names;
use plugin_api::{
    GeneratedKeyPairMetadata, KeyPairTargets, KeySpec, Labels, MetricsSink, PluginError, SecretDto,
    SecretStore, SecretType, StoreContext, StoreMetadata,
};

use crate::service::Services;

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric: its name, kind, labels and help text.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn m(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

pub const HTTP_REQUESTS: &str = "coffer_http_requests_total";
pub const HTTP_DURATION: &str = "coffer_http_request_duration_seconds";
pub const DB_POOL: &str = "coffer_db_pool_connections";
pub const DB_POOL_WAITING: &str = "coffer_db_pool_waiting";
pub const SQLITE_BATCH: &str = "coffer_sqlite_commit_batch_size";
pub const SQLITE_FSYNC: &str = "coffer_sqlite_commit_seconds";
pub const STORE_CALL: &str = "coffer_store_call_duration_seconds";
pub const STORE_ERRORS: &str = "coffer_store_call_errors_total";
pub const ORDERS_PENDING: &str = "coffer_orders_pending";
pub const ORDERS_OLDEST: &str = "coffer_orders_oldest_pending_age_seconds";
pub const EVENT_DELIVERIES: &str = "coffer_event_deliveries_total";

/// Every metric Coffer exports (the core's and its in-tree plugins'). The Grafana dashboard
/// under `deploy/grafana/` uses only these names (a test checks it).
#[rustfmt::skip]
pub const CATALOGUE: &[Metric] = &[
    m(HTTP_REQUESTS, Counter, &["route", "method", "status"],
        "HTTP requests answered, by route pattern, method and status"),
    m(HTTP_DURATION, Histogram, &["route", "method"],
        "Time to answer an HTTP request, by route pattern and method"),
    m(DB_POOL, Gauge, &["state"],
        "Pooled database connections, in_use or idle"),
    m(DB_POOL_WAITING, Gauge, &[],
        "Requests waiting for a pooled database connection"),
    m(SQLITE_BATCH, Histogram, &[],
        "Writes committed together by one SQLite group commit"),
    m(SQLITE_FSYNC, Histogram, &[],
        "Time to commit one SQLite group (its fsyncs)"),
    m(STORE_CALL, Histogram, &["store", "operation"],
        "Time of a call into a secret store plugin, by store and operation"),
    m(STORE_ERRORS, Counter, &["store", "operation"],
        "Calls into a secret store plugin that failed, by store and operation"),
    m(names::KEK_CACHE, Counter, &["store", "result"],
        "Project KEK lookups in a crypto plugin's cache of unwrapped KEKs, hit or miss"),
    m(ORDERS_PENDING, Gauge, &[], "Orders waiting to be processed (PENDING)"),
    m(ORDERS_OLDEST, Gauge, &[],
        "Age of the oldest PENDING order (0 when none)"),
    m(EVENT_DELIVERIES, Counter, &["instance", "result"],
        "Events handed to an event instance, delivered or failed"),
    m(names::EVENT_RETRIES, Counter, &["instance"],
        "Repeated delivery attempts of an event instance"),
    m(names::EVENT_DROPPED, Counter, &["instance"],
        "Events an event instance dropped (queue full, lines dropped while a file was unwritable)"),
    m(names::EVENT_PENDING, Gauge, &["instance"],
        "Events an event instance holds, not yet delivered"),
    m(names::KEYSTONE_VALIDATIONS, Counter, &["result"],
        "Keystone tokens validated by Keystone, valid or rejected"),
    m(names::KEYSTONE_CACHE_HITS, Counter, &[],
        "Keystone tokens answered from the token cache"),
    m(names::KEYSTONE_FAILURES, Counter, &[],
        "Calls to Keystone that failed (unreachable, timeout, 5xx)"),
    m(names::EXTERNAL_RESTARTS, Counter, &["store"],
        "Restarts of an external store plugin's process"),
    m(names::HSM_SESSIONS, Gauge, &["store"],
        "PKCS#11 sessions an HSM crypto plugin has lent out"),
];

/// The catalogue entry of `name`.
pub fn describe(name: &str) -> Option<&'static Metric> {
    CATALOGUE.iter().find(|m| m.name == name)
}

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Install the process-wide recorder (once; later calls return the same handle) and start its
/// upkeep thread (histogram samples are folded into buckets every few seconds, so memory stays
/// bounded even when nobody scrapes).
pub fn install() -> anyhow::Result<&'static PrometheusHandle> {
    let installed = HANDLE.get_or_init(|| {
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let batch = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(SQLITE_BATCH.into()), &batch))
            .map_err(|e| e.to_string())?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
        for m in CATALOGUE {
            match m.kind {
                Counter => metrics::describe_counter!(m.name, m.help),
                Gauge => metrics::describe_gauge!(m.name, m.help),
                Histogram => metrics::describe_histogram!(m.name, m.help),
            }
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("coffer-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .map_err(|e| e.to_string())?;
        Ok(handle)
    });
    installed
        .as_ref()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))
}

/// The installed recorder's handle, if any.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get().and_then(|h| h.as_ref().ok())
}

/// The text exposition of every metric, after reading the gauges that are measured when
/// scraped. Blocking (a database query).
pub fn render(services: &Services) -> Option<String> {
    let handle = handle()?;
    let pool = services.db.pool_state();
    metrics::gauge!(DB_POOL, "state" => "in_use").set(pool.in_use as f64);
    metrics::gauge!(DB_POOL, "state" => "idle").set(pool.idle as f64);
    metrics::gauge!(DB_POOL_WAITING).set(pool.waiting as f64);
    match services.orders().pending() {
        Ok((pending, oldest)) => {
            metrics::gauge!(ORDERS_PENDING).set(pending as f64);
            metrics::gauge!(ORDERS_OLDEST).set(oldest.as_secs_f64());
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the order queue could not be read"),
    }
    Some(handle.render())
}

fn labels(l: Labels<'_>) -> Vec<Label> {
    l.iter()
        .map(|(k, v)| Label::new(*k, (*v).to_owned()))
        .collect()
}

/// The sink behind every plugin's [`plugin_api::Metrics`] handle: the global recorder.
struct Recorder;

impl MetricsSink for Recorder {
    fn count(&self, name: &'static str, l: Labels<'_>, by: u64) {
        metrics::counter!(name, labels(l)).increment(by);
    }

    fn gauge(&self, name: &'static str, l: Labels<'_>, value: f64) {
        metrics::gauge!(name, labels(l)).set(value);
    }

    fn gauge_add(&self, name: &'static str, l: Labels<'_>, delta: f64) {
        metrics::gauge!(name, labels(l)).increment(delta);
    }

    fn observe(&self, name: &'static str, l: Labels<'_>, value: f64) {
        metrics::histogram!(name, labels(l)).record(value);
    }
}

/// A plugin's handle: reports to the global recorder, labelled with its instance.
pub fn for_plugin(scope: Option<(&'static str, &str)>) -> plugin_api::Metrics {
    static SINK: OnceLock<Arc<dyn MetricsSink>> = OnceLock::new();
    let sink = SINK.get_or_init(|| Arc::new(Recorder));
    plugin_api::Metrics::new(Arc::clone(sink), scope)
}

/// Count one answered HTTP request.
pub fn http_request(
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
    elapsed: Duration,
) {
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method,
        "status" => status.to_string())
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
}

/// A secret store whose every call is timed and whose failures are counted
/// ([`STORE_CALL`], [`STORE_ERRORS`], labelled with the store's configured name). The
/// handles of each operation are registered once, when the store is wrapped, so a call records
/// without building labels.
pub struct MeteredStore {
    inner: Arc<dyn SecretStore>,
    /// Per operation (indexed as [`STORE_OPERATIONS`]): its timings and its failures.
    handles: [(metrics::Histogram, metrics::Counter); 5],
}

/// The operations [`MeteredStore`] labels, in the order of its handles.
const STORE_OPERATIONS: [&str; 5] = [
    "store_secret",
    "get_secret",
    "delete_secret",
    "generate_symmetric_key",
    "generate_asymmetric_key",
];
const STORE_SECRET: usize = 0;
const GET_SECRET: usize = 1;
const DELETE_SECRET: usize = 2;
const GENERATE_SYMMETRIC: usize = 3;
const GENERATE_ASYMMETRIC: usize = 4;

impl MeteredStore {
    /// Wrap `inner`, the store configured as `[stores.NAME]`. Its error counters start at zero,
    /// so a dashboard sees them before the first failure.
    pub fn wrap(store: &str, inner: Arc<dyn SecretStore>) -> Arc<dyn SecretStore> {
        let handles = STORE_OPERATIONS.map(|op| {
            let labels = [("store", store.to_owned()), ("operation", op.to_owned())];
            let errors = metrics::counter!(STORE_ERRORS, &labels);
            errors.absolute(0);
            (metrics::histogram!(STORE_CALL, &labels), errors)
        });
        Arc::new(MeteredStore { inner, handles })
    }

    fn timed<T>(
        &self,
        operation: usize,
        call: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let (timings, errors) = &self.handles[operation];
        let started = Instant::now();
        let result = call();
        timings.record(started.elapsed().as_secs_f64());
        if result.is_err() {
            errors.increment(1);
        }
        result
    }
}

impl SecretStore for MeteredStore {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn health(&self) -> Result<(), PluginError> {
        self.inner.health()
    }

    fn store_secret(
        &self,
        ctx: StoreContext<'_>,
        secret: &SecretDto,
    ) -> Result<StoreMetadata, PluginError> {
        self.timed(STORE_SECRET, || self.inner.store_secret(ctx, secret))
    }

    fn get_secret(
        &self,
        ctx: StoreContext<'_>,
        secret_type: SecretType,
        metadata: &StoreMetadata,
    ) -> Result<SecretDto, PluginError> {
        self.timed(GET_SECRET, || {
            self.inner.get_secret(ctx, secret_type, metadata)
        })
    }

    fn delete_secret(
        &self,
        ctx: StoreContext<'_>,
        metadata: &StoreMetadata,
    ) -> Result<(), PluginError> {
        self.timed(DELETE_SECRET, || self.inner.delete_secret(ctx, metadata))
    }

    fn generate_symmetric_key(
        &self,
        ctx: StoreContext<'_>,
        spec: &KeySpec,
    ) -> Result<StoreMetadata, PluginError> {
        self.timed(GENERATE_SYMMETRIC, || {
            self.inner.generate_symmetric_key(ctx, spec)
        })
    }

    fn generate_asymmetric_key(
        &self,
        targets: KeyPairTargets<'_>,
        spec: &KeySpec,
    ) -> Result<GeneratedKeyPairMetadata, PluginError> {
        self.timed(GENERATE_ASYMMETRIC, || {
            self.inner.generate_asymmetric_key(targets, spec)
        })
    }

    fn store_secret_supports(&self, spec: &KeySpec) -> bool {
        self.inner.store_secret_supports(spec)
    }

    fn generate_supports(&self, spec: &KeySpec) -> bool {
        self.inner.generate_supports(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in CATALOGUE {
            assert!(seen.insert(m.name), "{} listed twice", m.name);
            assert!(m.name.starts_with("coffer_"), "{}", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            assert_eq!(m.kind == Counter, m.name.ends_with("_total"), "{}", m.name);
            assert!(!m.help.is_empty());
        }
        assert!(describe(HTTP_REQUESTS).is_some());
        assert!(describe("coffer_nope").is_none());
    }
}
