//! What each API route is, declared with the route (route data): whether it needs a caller,
//! what it acts on, which path parameter names its subject, and which event each method is.
//! The pipeline reads this from the *routed* request — the route actix matched and its
//! decoded parameters — so every spelling of a request that reaches a handler is understood
//! exactly as that handler understands it.

use actix_web::dev::ServiceRequest;
use plugin_api::{EventKind, Subject};

use crate::service::{is_project_id, is_uuid4};

/// The form a subject id must have to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdForm {
    /// A lower-case UUID4, as Barbican's entity ids (and its uuid check).
    Uuid4,
    /// A project id (`/v1/project-quotas/{project_id}`).
    Project,
}

/// The event a method of a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Always this event.
    Event(EventKind),
    /// `GET /v1/secrets/{id}`: `secret.read` when the `Accept` header asks for the payload
    /// (decided by [`crate::media::Accept`], the same reading the handler uses), no event when
    /// it asks for metadata.
    ReadOrMetadata,
}

/// One route of the API.
#[derive(Debug)]
pub struct ApiRoute {
    /// The route pattern, as requests are recorded (`/v1/secrets/{secret_id}`).
    pub pattern: &'static str,
    /// Whether the caller must be authenticated (everything under `/v1`).
    pub authenticated: bool,
    /// The type of what the route acts on (`secret`, `container`, ...; `""` for none).
    pub subject: &'static str,
    /// The path parameter holding the subject's id, and its form.
    pub id: Option<(&'static str, IdForm)>,
    /// The event of each method that is one.
    pub actions: &'static [(&'static str, Action)],
}

/// The standard methods, as recorded; anything else is recorded as `OTHER`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// A request method as events record it.
pub fn method_name(method: &str) -> &'static str {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("OTHER")
}

/// A path parameter's value, fully percent-decoded (as `web::Path` decodes it for handlers).
pub fn path_param(req: &ServiceRequest, name: &str) -> Option<String> {
    let raw = req.match_info().get(name)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The subject of a routed request, and whether its id was valid. An id that is not of the
/// route's form is never recorded: `subject.id` stays empty and `valid` is false.
pub struct RoutedSubject {
    pub subject: Subject,
    pub valid: bool,
}

impl ApiRoute {
    /// What a method of this route is, for events.
    pub fn action(&self, method: &str) -> Option<Action> {
        self.actions
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, a)| *a)
    }

    /// The subject of a request routed here.
    pub fn subject_of(&self, req: &ServiceRequest) -> RoutedSubject {
        let mut subject = Subject {
            kind: self.subject.to_owned(),
            id: None,
        };
        let Some((param, form)) = self.id else {
            return RoutedSubject {
                subject,
                valid: true,
            };
        };
        let id = path_param(req, param).filter(|id| match form {
            IdForm::Uuid4 => is_uuid4(id),
            IdForm::Project => is_project_id(id),
        });
        let valid = id.is_some();
        subject.id = id;
        RoutedSubject { subject, valid }
    }

    /// `METHOD pattern`, with the subject's id in place of its parameter when it is valid.
    pub fn request_line(&self, method: &str, subject: &Subject) -> String {
        let mut path = self.pattern.to_owned();
        if let (Some((param, _)), Some(id)) = (self.id, subject.id.as_deref()) {
            path = path.replace(&format!("{{{param}}}"), id);
        }
        format!("{} {path}", method_name(method))
    }
}
