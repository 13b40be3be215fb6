//! How a plugin reports measurements: a [`Metrics`] handle in its [`crate::PluginContext`].
//!
//! The core owns the exporter (Prometheus text at `/metrics`); a plugin never imports it. The
//! handle it receives already carries the labels that say which instance is reporting
//! (`store="NAME"` for store and crypto plugins, `instance="NAME"` for event plugins), so a
//! plugin names only the metric and what is its own (an operation, a result).
//!
//! Names follow Prometheus conventions (`coffer_` prefix, `_total` for counters, base units in
//! the name: `_seconds`); the core's catalogue (README: Operate, Metrics) lists every
//! name a plugin may use, with its help text.

use std::fmt;
use std::sync::Arc;

/// The names plugins report under (the core's catalogue describes each).
pub mod names {
    /// Counter, label `result` = `hit` | `miss`: lookups in a crypto plugin's cache of
    /// unwrapped project KEKs.
    pub const KEK_CACHE: &str = "coffer_kek_cache_requests_total";
    /// Counter: repeated delivery attempts of an event instance.
    pub const EVENT_RETRIES: &str = "coffer_event_retries_total";
    /// Counter: events an event instance dropped.
    pub const EVENT_DROPPED: &str = "coffer_event_dropped_total";
    /// Gauge: events an event instance holds, not yet delivered.
    pub const EVENT_PENDING: &str = "coffer_event_pending";
    /// Counter, label `result` = `valid` | `rejected`: tokens Keystone validated.
    pub const KEYSTONE_VALIDATIONS: &str = "coffer_keystone_validations_total";
    /// Counter: tokens answered from the token cache.
    pub const KEYSTONE_CACHE_HITS: &str = "coffer_keystone_cache_hits_total";
    /// Counter: calls to Keystone that failed (unreachable, timeout, 5xx).
    pub const KEYSTONE_FAILURES: &str = "coffer_keystone_failures_total";
    /// Counter: restarts of an external store plugin's process.
    pub const EXTERNAL_RESTARTS: &str = "coffer_external_restarts_total";
    /// Gauge: PKCS#11 sessions an HSM plugin has lent out.
    pub const HSM_SESSIONS: &str = "coffer_hsm_sessions_in_use";
}

/// Labels of one measurement: `(name, value)` pairs.
pub type Labels<'a> = &'a [(&'static str, &'a str)];

/// Where measurements go; implemented by the core.
pub trait MetricsSink: Send + Sync {
    /// Add `by` to a counter.
    fn count(&self, name: &'static str, labels: Labels<'_>, by: u64);
    /// Set a gauge.
    fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64);
    /// Add `delta` (which may be negative) to a gauge.
    fn gauge_add(&self, name: &'static str, labels: Labels<'_>, delta: f64);
    /// Record one observation in a histogram.
    fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64);
}

/// A plugin's metrics handle: a sink and the labels naming the reporting instance. Cheap to
/// clone; a plugin keeps one for its lifetime. [`Metrics::discard`] drops everything (tests,
/// tools that serve no metrics).
#[derive(Clone)]
pub struct Metrics {
    sink: Option<Arc<dyn MetricsSink>>,
    scope: Option<(&'static str, Arc<str>)>,
}

impl Metrics {
    /// A handle reporting to `sink`, every measurement labelled `scope` (when given).
    pub fn new(sink: Arc<dyn MetricsSink>, scope: Option<(&'static str, &str)>) -> Metrics {
        Metrics {
            sink: Some(sink),
            scope: scope.map(|(k, v)| (k, Arc::from(v))),
        }
    }

    /// A handle that records nothing.
    pub const fn discard() -> Metrics {
        Metrics {
            sink: None,
            scope: None,
        }
    }

    /// A shared handle that records nothing (for contexts built in tests and tools).
    pub fn discarding() -> &'static Metrics {
        static DISCARD: Metrics = Metrics::discard();
        &DISCARD
    }

    fn with(&self, labels: Labels<'_>, f: impl FnOnce(&dyn MetricsSink, Labels<'_>)) {
        let Some(sink) = &self.sink else { return };
        match &self.scope {
            None => f(sink.as_ref(), labels),
            Some((k, v)) => {
                let mut all = Vec::with_capacity(labels.len() + 1);
                all.push((*k, v.as_ref()));
                all.extend_from_slice(labels);
                f(sink.as_ref(), &all);
            }
        }
    }

    /// Add `by` to the counter `name`.
    pub fn count(&self, name: &'static str, labels: Labels<'_>, by: u64) {
        self.with(labels, |s, l| s.count(name, l, by));
    }

    /// Set the gauge `name`.
    pub fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64) {
        self.with(labels, |s, l| s.gauge(name, l, value));
    }

    /// Add `delta` (which may be negative) to the gauge `name`: for levels several threads
    /// move at once (sessions lent out, events queued).
    pub fn gauge_add(&self, name: &'static str, labels: Labels<'_>, delta: f64) {
        self.with(labels, |s, l| s.gauge_add(name, l, delta));
    }

    /// Record `value` in the histogram `name`.
    pub fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64) {
        self.with(labels, |s, l| s.observe(name, l, value));
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::discard()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("recording", &self.sink.is_some())
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl MetricsSink for Seen {
        fn count(&self, name: &'static str, labels: Labels<'_>, by: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{name} {labels:?} +{by}"));
        }
        fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{name} {labels:?} ={value}"));
        }
        fn gauge_add(&self, name: &'static str, labels: Labels<'_>, delta: f64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{name} {labels:?} +={delta}"));
        }
        fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{name} {labels:?} ~{value}"));
        }
    }

    #[test]
    fn the_scope_label_comes_first_and_discard_records_nothing() {
        let seen = Arc::new(Seen::default());
        let m = Metrics::new(seen.clone(), Some(("store", "hsm")));
        m.count("coffer_x_total", &[("result", "hit")], 2);
        m.gauge("coffer_y", &[], 3.0);
        m.gauge_add("coffer_y", &[], -1.0);
        m.observe("coffer_z_seconds", &[("operation", "get")], 0.5);
        Metrics::discard().count("coffer_x_total", &[], 1);
        Metrics::new(seen.clone(), None).count("coffer_w_total", &[], 1);
        assert_eq!(
            *seen.0.lock().unwrap(),
            vec![
                r#"coffer_x_total [("store", "hsm"), ("result", "hit")] +2"#,
                r#"coffer_y [("store", "hsm")] =3"#,
                r#"coffer_y [("store", "hsm")] +=-1"#,
                r#"coffer_z_seconds [("store", "hsm"), ("operation", "get")] ~0.5"#,
                r#"coffer_w_total [] +1"#,
            ]
        );
        assert!(format!("{m:?}").contains("recording: true"));
        assert!(format!("{:?}", Metrics::default()).contains("recording: false"));
    }
}
