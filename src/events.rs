//! Lifecycle events and their delivery to the configured event plugin instances
//! (`[events.NAME]`), each with its own `on` (phases) and `events` (kinds) filters.
//!
//! Which event a request is, and what it acts on, is declared by its route
//! ([`crate::api::route::ApiRoute`]) and read by the request pipeline from the routed request;
//! the pipeline emits `before` (authenticated, about to run) and `success` / `failure` (by the
//! status answered; 401 and 403 also emit `auth.denied`); the order workers emit
//! `order.completed` / `order.failed`. Plugins are called on the blocking
//! pool, and only when some instance wants the event: with no `[events]`, nothing runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, bail};
use plugin_api::{Actor, AuthContext, Event, EventKind, EventPlugin, Phase, Subject};

use crate::config::EventSettings;

/// One configured instance.
pub struct Instance {
    pub name: String,
    pub plugin: Arc<dyn EventPlugin>,
    phases: BTreeSet<Phase>,
    kinds: BTreeSet<EventKind>,
    /// `coffer_event_deliveries_total` of this instance, by result.
    delivered: metrics::Counter,
    failed: metrics::Counter,
}

impl Instance {
    /// Check an instance's filters; `plugin` is built by the caller.
    pub fn new(
        name: &str,
        cfg: &EventSettings,
        plugin: Arc<dyn EventPlugin>,
    ) -> anyhow::Result<Instance> {
        let mut phases = BTreeSet::new();
        for p in &cfg.on {
            phases.insert(Phase::parse(p).ok_or_else(|| {
                anyhow!("events.{name}.on: unknown phase {p:?} (before, success, failure)")
            })?);
        }
        let kinds = match &cfg.events {
            None => EventKind::ALL.into_iter().collect(),
            Some(list) => {
                let mut kinds = BTreeSet::new();
                for k in list {
                    kinds.insert(EventKind::parse(k).ok_or_else(|| {
                        let known: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                        anyhow!(
                            "events.{name}.events: unknown event {k:?} (known: {})",
                            known.join(", ")
                        )
                    })?);
                }
                kinds
            }
        };
        if phases.is_empty() || kinds.is_empty() {
            bail!("events.{name}: `on` and `events` must not be empty");
        }
        // Registered once (and exported from zero); a delivery only increments.
        let [delivered, failed] = ["delivered", "failed"].map(|result| {
            let counter = metrics::counter!(crate::metrics::EVENT_DELIVERIES,
                "instance" => name.to_owned(), "result" => result);
            counter.absolute(0);
            counter
        });
        Ok(Instance {
            delivered,
            failed,
            name: name.to_owned(),
            plugin,
            phases,
            kinds,
        })
    }

    fn wants(&self, kind: EventKind, phase: Phase) -> bool {
        self.kinds.contains(&kind) && self.phases.contains(&phase)
    }

    /// Hand `event` to the plugin, counting the outcome.
    fn deliver(&self, event: &Event) -> Result<(), plugin_api::PluginError> {
        let result = self.plugin.handle(event);
        match result {
            Ok(()) => &self.delivered,
            Err(_) => &self.failed,
        }
        .increment(1);
        result
    }
}

/// Every configured instance.
#[derive(Default)]
pub struct Events {
    instances: Vec<Instance>,
}

/// A request refused because a fail-closed instance cannot take its events.
#[derive(Debug)]
pub struct Refused {
    pub instance: String,
    pub detail: String,
}

impl Events {
    pub fn new(instances: Vec<Instance>) -> Events {
        Events { instances }
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Whether any instance wants `kind` in some phase, or is fail-closed for it.
    pub fn interested(&self, kind: EventKind) -> bool {
        self.instances.iter().any(|i| i.kinds.contains(&kind))
    }

    /// Whether any instance wants `kind` in `phase`.
    pub fn wants(&self, kind: EventKind, phase: Phase) -> bool {
        self.instances.iter().any(|i| i.wants(kind, phase))
    }

    /// Before an auditable action: every fail-closed instance that records `kind` must be
    /// able to take events, and the `before` event is delivered. Blocking.
    pub fn before(&self, event: &Event) -> Result<(), Refused> {
        for i in &self.instances {
            if !i.kinds.contains(&event.kind) {
                continue;
            }
            let fail_closed = i.plugin.fail_closed();
            if fail_closed {
                if let Err(e) = i.plugin.ready() {
                    tracing::error!(instance = %i.name, error = %e, "event instance not ready; refusing");
                    return Err(Refused {
                        instance: i.name.clone(),
                        detail: e.to_string(),
                    });
                }
            }
            if i.phases.contains(&Phase::Before) {
                if let Err(e) = i.deliver(event) {
                    tracing::error!(instance = %i.name, event = %event.kind, error = %e, "event not delivered");
                    if fail_closed {
                        return Err(Refused {
                            instance: i.name.clone(),
                            detail: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Deliver a `success` or `failure` event (or any event outside a request). Blocking;
    /// failures are logged.
    pub fn emit(&self, event: &Event) {
        for i in &self.instances {
            if i.wants(event.kind, event.phase) {
                if let Err(e) = i.deliver(event) {
                    tracing::error!(instance = %i.name, event = %event.kind, error = %e, "event not delivered");
                }
            }
        }
    }

    /// The fail-closed instances (their readiness is the service's).
    pub fn fail_closed(&self) -> Vec<(String, Arc<dyn EventPlugin>)> {
        self.instances
            .iter()
            .filter(|i| i.plugin.fail_closed())
            .map(|i| (i.name.clone(), Arc::clone(&i.plugin)))
            .collect()
    }

    /// Names of the instances, with their plugin, for start-up logging.
    pub fn describe(&self) -> Vec<(String, &'static str)> {
        self.instances
            .iter()
            .map(|i| (i.name.clone(), i.plugin.name()))
            .collect()
    }
}

/// An event about a request.
pub fn request_event(
    kind: EventKind,
    phase: Phase,
    request_id: &str,
    caller: Option<&AuthContext>,
    subject: Subject,
    request_line: String,
    status: Option<u16>,
) -> Event {
    Event {
        kind,
        phase,
        time: SystemTime::now(),
        request_id: Some(request_id.to_owned()),
        actor: caller.map(actor).unwrap_or_default(),
        subject,
        request: Some(request_line),
        status,
        details: BTreeMap::new(),
    }
}

pub fn actor(c: &AuthContext) -> Actor {
    Actor {
        project_id: Some(c.project_id.clone()),
        user_id: c.user_id.clone(),
        roles: c.roles.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked() {
        struct Nop;
        impl EventPlugin for Nop {
            fn name(&self) -> &'static str {
                "nop"
            }
            fn handle(&self, _: &Event) -> Result<(), plugin_api::PluginError> {
                Ok(())
            }
        }
        let cfg = |on: &[&str], events: Option<&[&str]>| EventSettings {
            plugin: "nop".into(),
            on: on.iter().map(|s| s.to_string()).collect(),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
            settings: None,
        };
        let i = Instance::new(
            "a",
            &cfg(&["before"], Some(&["secret.read"])),
            Arc::new(Nop),
        )
        .unwrap();
        assert!(i.wants(EventKind::SecretRead, Phase::Before));
        assert!(!i.wants(EventKind::SecretRead, Phase::Success));
        assert!(!i.wants(EventKind::SecretCreated, Phase::Before));
        let all = Instance::new("b", &cfg(&["success", "failure"], None), Arc::new(Nop)).unwrap();
        assert!(all.wants(EventKind::AuthDenied, Phase::Failure));
        let err = Instance::new("c", &cfg(&["after"], None), Arc::new(Nop))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("events.c.on"), "{err}");
        let err = Instance::new(
            "d",
            &cfg(&["success"], Some(&["secret.exploded"])),
            Arc::new(Nop),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("secret.created"), "{err}");
        assert!(Instance::new("e", &cfg(&[], None), Arc::new(Nop)).is_err());
    }
}
