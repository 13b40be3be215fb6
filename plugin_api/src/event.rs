//! Event plugins: told about what happens to secrets, orders, containers and ACLs, and about
//! refused requests. They observe; they never see a payload or key material.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::PluginError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum EventKind {
    #[serde(rename = "secret.created")]
    SecretCreated,
    /// A payload was read (decrypted).
    #[serde(rename = "secret.read")]
    SecretRead,
    #[serde(rename = "secret.deleted")]
    SecretDeleted,
    #[serde(rename = "order.completed")]
    OrderCompleted,
    #[serde(rename = "order.failed")]
    OrderFailed,
    #[serde(rename = "container.created")]
    ContainerCreated,
    #[serde(rename = "container.deleted")]
    ContainerDeleted,
    /// A secret's or container's ACL was set, changed or removed.
    #[serde(rename = "acl.changed")]
    AclChanged,
    /// A request was refused by authentication (401) or policy (403).
    #[serde(rename = "auth.denied")]
    AuthDenied,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 9] = [
        EventKind::SecretCreated,
        EventKind::SecretRead,
        EventKind::SecretDeleted,
        EventKind::OrderCompleted,
        EventKind::OrderFailed,
        EventKind::ContainerCreated,
        EventKind::ContainerDeleted,
        EventKind::AclChanged,
        EventKind::AuthDenied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SecretCreated => "secret.created",
            EventKind::SecretRead => "secret.read",
            EventKind::SecretDeleted => "secret.deleted",
            EventKind::OrderCompleted => "order.completed",
            EventKind::OrderFailed => "order.failed",
            EventKind::ContainerCreated => "container.created",
            EventKind::ContainerDeleted => "container.deleted",
            EventKind::AclChanged => "acl.changed",
            EventKind::AuthDenied => "auth.denied",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When, relative to the action, an event is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The request was authenticated and is about to be handled.
    Before,
    /// The action succeeded.
    Success,
    /// The action was refused or failed.
    Failure,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Before, Phase::Success, Phase::Failure];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::Success => "success",
            Phase::Failure => "failure",
        }
    }

    pub fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Who acted (as authenticated; empty for refused or anonymous requests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub roles: Vec<String>,
}

/// What was acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// `secret`, `container`, `order` ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id, when known (not before a create succeeds).
    pub id: Option<String>,
}

/// One event. Holds identifiers and outcomes only: never a payload, key or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub phase: Phase,
    pub time: SystemTime,
    /// The `x-openstack-request-id` of the request (none for background work).
    pub request_id: Option<String>,
    pub actor: Actor,
    pub subject: Subject,
    /// The HTTP method and path of the request, when there was one.
    pub request: Option<String>,
    /// The HTTP status answered (success and failure phases of requests).
    pub status: Option<u16>,
    /// Short extra facts (an order's error reason, the refused action ...).
    pub details: BTreeMap<String, String>,
}

/// `2026-11-24T09:30:00.123456Z`.
pub fn format_time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl Event {
    /// The event as one line of JSON: `{"kind", "phase", "time", "request_id", "actor":
    /// {"project_id", "user_id", "roles"}, "subject": {"type", "id"}, "request", "status",
    /// "details"}` (what the audit log writes and the webhook posts).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "phase": self.phase.as_str(),
            "time": format_time(self.time),
            "request_id": self.request_id,
            "actor": {
                "project_id": self.actor.project_id,
                "user_id": self.actor.user_id,
                "roles": self.actor.roles,
            },
            "subject": {"type": self.subject.kind, "id": self.subject.id},
            "request": self.request,
            "status": self.status,
            "details": self.details,
        })
        .to_string()
    }

    /// A value by dotted name, for templates: `event.kind`, `event.phase`, `event.time`,
    /// `request.id`, `request.line`, `project.id`, `user.id`, `subject.type`, `subject.id`,
    /// `secret.id` / `container.id` / `order.id` (the subject's id when it is of that type),
    /// `status`, `details.NAME`.
    pub fn field(&self, name: &str) -> Option<String> {
        let subject_id = |kind: &str| {
            (self.subject.kind == kind)
                .then(|| self.subject.id.clone())
                .flatten()
        };
        match name {
            "event.kind" => Some(self.kind.as_str().to_owned()),
            "event.phase" => Some(self.phase.as_str().to_owned()),
            "event.time" => Some(format_time(self.time)),
            "request.id" => self.request_id.clone(),
            "request.line" => self.request.clone(),
            "project.id" => self.actor.project_id.clone(),
            "user.id" => self.actor.user_id.clone(),
            "subject.type" => Some(self.subject.kind.clone()),
            "subject.id" => self.subject.id.clone(),
            "secret.id" => subject_id("secret"),
            "container.id" => subject_id("container"),
            "order.id" => subject_id("order"),
            "status" => self.status.map(|s| s.to_string()),
            _ => name
                .strip_prefix("details.")
                .and_then(|k| self.details.get(k).cloned()),
        }
    }

    /// Whether `name` is a field [`Event::field`] knows (whether or not this event has it).
    pub fn is_field(name: &str) -> bool {
        matches!(
            name,
            "event.kind"
                | "event.phase"
                | "event.time"
                | "request.id"
                | "request.line"
                | "project.id"
                | "user.id"
                | "subject.type"
                | "subject.id"
                | "secret.id"
                | "container.id"
                | "order.id"
                | "status"
        ) || name.strip_prefix("details.").is_some_and(|k| !k.is_empty())
    }
}

/// An event plugin instance (`[events.NAME]`).
///
/// `handle` is called on a blocking thread, after the instance's `on` and `events` filters
/// matched. It should be quick (queue slow work); an `Err` is logged, and — for the `before`
/// phase of an instance that is [`EventPlugin::fail_closed`] — refuses the request with a 503.
pub trait EventPlugin: Send + Sync {
    /// The registry name of the plugin (`"audit_log"`).
    fn name(&self) -> &'static str;

    fn handle(&self, event: &Event) -> Result<(), PluginError>;

    /// Whether an auditable request must be refused while this instance cannot take events.
    fn fail_closed(&self) -> bool {
        false
    }

    /// For fail-closed instances: whether events can be taken right now (checked before every
    /// auditable request; cheap when healthy).
    fn ready(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso8601_utc() {
        let e = Event {
            kind: EventKind::SecretCreated,
            phase: Phase::Success,
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_795_478_400_000_123),
            request_id: None,
            actor: Actor::default(),
            subject: Subject {
                kind: "secret".into(),
                id: Some("s1".into()),
            },
            request: None,
            status: Some(201),
            details: BTreeMap::new(),
        };
        assert_eq!(
            e.field("event.time").unwrap(),
            "2026-11-24T00:00:00.000123Z"
        );
        assert_eq!(e.field("secret.id").unwrap(), "s1");
        assert_eq!(e.field("container.id"), None);
        assert_eq!(e.field("event.kind").unwrap(), "secret.created");
        assert!(Event::is_field("details.reason") && !Event::is_field("payload"));
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
