//! The request pipeline, in Barbican's order, run on the *routed* request:
//!
//! router (actix matches the route and decodes its parameters) → [`pipeline`]: host check →
//! authentication (routes under `/v1`) → microversion negotiation → events (`before`, with
//! fail-closed readiness) → the handler → events (`success` / `failure`, `auth.denied`).
//!
//! Everything the pipeline knows about a request comes from its route's [`ApiRoute`] and the
//! decoded route parameters, never from the raw path, so every spelling that reaches a handler
//! is audited as that handler understands it. [`request_id`] (every response, routed or not)
//! makes the request id and adds `x-openstack-request-id`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use plugin_api::{AuthContext, AuthError, EventKind, HeaderLookup, Phase, Subject};
use tracing::Instrument;

use super::context::{requested_microversion, ApiVersion, Caller, MicroversionError};
use super::route::{method_name, Action, ApiRoute};
use super::support::{AppState, Created, Href, Negotiated, PayloadServed, ReadClearance};
use crate::error::ApiError;
use crate::events::{self, Events};
use crate::media::Accept;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");
const API_VERSION: HeaderName = HeaderName::from_static("openstack-api-version");

/// The id of a request (`req-<uuid>`), made by [`request_id`].
#[derive(Clone)]
pub struct RequestId(pub String);

struct Headers<'a>(&'a header::HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

fn auth_error(state: &AppState, err: AuthError) -> ApiError {
    match err {
        AuthError::Unauthenticated(msg) => {
            let mut e = match state.auth.rejection() {
                Some(r) => ApiError::raw(StatusCode::UNAUTHORIZED, msg, r.content_type, r.body),
                None => ApiError::new(StatusCode::UNAUTHORIZED, msg),
            };
            if let Some(challenge) = state
                .auth
                .challenge()
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                e = e.with_header(header::WWW_AUTHENTICATE, challenge);
            }
            e
        }
        // The plugin logged the cause; its message is what the client may know.
        AuthError::Unavailable(msg) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg),
    }
}

fn microversion_error(err: MicroversionError, accept: Option<&str>) -> ApiError {
    match err {
        MicroversionError::Unacceptable(detail) => ApiError::plain(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "406 Not Acceptable\n\nThe resource could not be generated that was acceptable to \
                 your browser (content of type {}. \n\n Invalid microversion: {detail}",
                accept.unwrap_or("${HTTP_ACCEPT}")
            ),
        ),
        MicroversionError::Invalid(detail) => ApiError::plain(
            StatusCode::BAD_REQUEST,
            format!(
                "400 Bad Request\n\nThe server could not comply with the request since it is \
                 either malformed or otherwise incorrect.\n\n Invalid microversion: {detail}"
            ),
        ),
    }
}

/// The longest user id and role name accepted, and the most roles (both databases index ids
/// of this size; Barbican's columns are `String(255)`).
const MAX_ID: usize = 255;
const MAX_ROLES: usize = 64;

/// An identity the service can store and index: a valid project id, user id and roles of
/// bounded length without control characters; 401 otherwise.
fn checked_identity(ctx: AuthContext) -> Result<AuthContext, AuthError> {
    let text_ok = |s: &str| s.len() <= MAX_ID && !s.chars().any(char::is_control);
    let problem = if !crate::service::is_project_id(&ctx.project_id) {
        Some("project id")
    } else if !ctx.user_id.as_deref().is_none_or(text_ok) {
        Some("user id")
    } else if ctx.roles.len() > MAX_ROLES || !ctx.roles.iter().all(|r| text_ok(r)) {
        Some("roles")
    } else {
        None
    };
    match problem {
        None => Ok(ctx),
        Some(what) => Err(AuthError::Unauthenticated(format!(
            "Invalid {what}: at most {MAX_ID} characters, no control characters{}",
            if what == "roles" {
                format!(", at most {MAX_ROLES} roles")
            } else {
                String::new()
            }
        ))),
    }
}

/// The events of one request: `before` once authenticated, then `success` / `failure` by
/// status, and `auth.denied` for a 401 or 403.
struct Audit {
    events: Arc<Events>,
    kind: Option<EventKind>,
    subject: Subject,
    /// The subject's id in the path was not of the route's form (recorded as such).
    invalid_id: bool,
    caller: Option<Arc<AuthContext>>,
    request_id: String,
    request_line: String,
}

impl Audit {
    fn event(&self, kind: EventKind, phase: Phase, status: Option<u16>) -> plugin_api::Event {
        let mut ev = events::request_event(
            kind,
            phase,
            &self.request_id,
            self.caller.as_deref(),
            self.subject.clone(),
            self.request_line.clone(),
            status,
        );
        if self.invalid_id {
            ev.details.insert("subject_id".into(), "invalid".into());
        }
        ev
    }

    /// `auth.denied` for a request refused with `status`; `details.action` names the event the
    /// request would have been.
    fn denied(&self, status: u16) -> plugin_api::Event {
        let mut ev = self.event(EventKind::AuthDenied, Phase::Failure, Some(status));
        if let Some(kind) = self.kind {
            ev.details.insert("action".into(), kind.as_str().into());
        }
        ev
    }

    /// Fail-closed instances must be ready; `before` events are delivered.
    async fn before(&self) -> Result<(), ApiError> {
        let Some(kind) = self.kind else {
            return Ok(());
        };
        if !self.events.interested(kind) {
            return Ok(());
        }
        let ev = self.event(kind, Phase::Before, None);
        let events = self.events.clone();
        match web::block(move || events.before(&ev)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refused)) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The request cannot be audited right now (event instance '{}'); retry \
                     later.",
                    refused.instance
                ),
            )),
            Err(e) => Err(ApiError::failure("Audit", &e)),
        }
    }

    /// `success` or `failure` of the action, and `auth.denied` for a 401/403. `created`: the
    /// id a create reported; `served`: the handler served a payload.
    async fn after(mut self, status: StatusCode, created: Option<String>, served: bool) {
        let code = status.as_u16();
        let phase = if status.is_success() {
            Phase::Success
        } else {
            Phase::Failure
        };
        if phase == Phase::Success && self.subject.id.is_none() {
            self.subject.id = created;
        }
        if served {
            self.kind = Some(EventKind::SecretRead);
        }
        let mut out = Vec::new();
        if let Some(kind) = self.kind {
            if self.events.wants(kind, phase) {
                out.push(self.event(kind, phase, Some(code)));
            }
        }
        if (code == 401 || code == 403) && self.events.wants(EventKind::AuthDenied, Phase::Failure)
        {
            out.push(self.denied(code));
        }
        for ev in out {
            emit(self.events.clone(), ev).await;
        }
    }
}

/// Deliver one event on the blocking pool.
async fn emit(events: Arc<Events>, ev: plugin_api::Event) {
    if let Err(e) = web::block(move || events.emit(&ev)).await {
        tracing::error!(error = %e, "event delivery failed");
    }
}

/// The route pattern a request was routed to (for the access log).
#[derive(Clone, Copy)]
pub struct RoutePattern(pub &'static str);

/// An incoming `X-Openstack-Request-Id` of the form Coffer issues (`req-<uuid>`), kept as
/// the request's id, as oslo's request-id middleware does.
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let uuid = v.strip_prefix("req-")?;
    uuid::Uuid::parse_str(uuid)
        .ok()
        .filter(|u| u.hyphenated().to_string() == uuid)
        .map(|_| v.to_owned())
}

/// The request id (a new one, or the caller's when well formed), a span for the request's
/// logs, `x-openstack-request-id` on the response, and one access-log line per request
/// (`coffer::access`: method, route pattern, status, duration, project — never a payload or
/// a token). Wraps the whole app (`actix_web::middleware::from_fn`).
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let id = incoming_request_id(&req).unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()));
    let (access, metered) = req
        .app_data::<web::Data<AppState>>()
        .map_or((false, false), |s| (s.access_log, s.metrics));
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.path());
    let value = HeaderValue::from_str(&id).ok();
    req.extensions_mut().insert(RequestId(id));
    async move {
        let mut res = next.call(req).await?;
        if let Some(v) = value {
            res.headers_mut().insert(REQUEST_ID, v);
        }
        if access || metered {
            let ext = res.request().extensions();
            let pattern = ext.get::<RoutePattern>().map(|r| r.0);
            let project = access
                .then(|| ext.get::<Caller>().map(|c| c.0.project_id.clone()))
                .flatten();
            drop(ext);
            // The pattern the pipeline recorded, else actix's (health, metrics, the console),
            // else "-" for a path no route matches.
            let route: Cow<'static, str> = match pattern {
                Some(p) => Cow::Borrowed(p),
                None => res
                    .request()
                    .match_pattern()
                    .map_or(Cow::Borrowed("-"), Cow::Owned),
            };
            let method = method_name(res.request().method().as_str());
            let status = res.status().as_u16();
            let elapsed = started.elapsed();
            if access {
                tracing::info!(
                    target: crate::logging::ACCESS_TARGET,
                    method = %method,
                    route = %route,
                    status = status,
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    project = %project.as_deref().unwrap_or("-"),
                    "request"
                );
            }
            if metered {
                crate::metrics::http_request(route, method, status, elapsed);
            }
        }
        Ok(res)
    }
    .instrument(span)
    .await
}

fn refuse<B>(req: ServiceRequest, err: ApiError) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let unread_body = has_body(req.headers());
    let mut res = req
        .into_response(err.error_response())
        .map_into_right_body();
    if unread_body {
        close_after(&mut res);
    }
    tracing::debug!(status = res.status().as_u16(), "refused");
    Ok(res)
}

/// Whether a request says it carries a body.
fn has_body(headers: &header::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// End the connection after this response (the request's body was not read to its end).
fn close_after<B>(res: &mut ServiceResponse<B>) {
    res.response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
}

type BodyChunk = Result<bytes::Bytes, actix_web::error::PayloadError>;

/// A request body that records whether it was read to its end.
struct TrackedBody {
    inner: actix_web::dev::Payload,
    ended: Arc<AtomicBool>,
}

impl futures_util::Stream for TrackedBody {
    type Item = BodyChunk;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if let std::task::Poll::Ready(None) = next {
            self.ended.store(true, Ordering::Relaxed);
        }
        next
    }
}

/// The pipeline of every API route (wrap each routed resource, and the `/v1` scope's
/// fallback, with `actix_web::middleware::from_fn`). The route's [`ApiRoute`] is its route
/// data; a request without one matched no route (404 once authenticated).
pub async fn pipeline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return refuse(
            req,
            ApiError::failure("Request", &"application state missing"),
        );
    };
    let route: Option<&'static ApiRoute> = req.app_data::<&'static ApiRoute>().copied();
    if let Some(r) = route {
        req.extensions_mut().insert(RoutePattern(r.pattern));
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();

    // Where refs point, from the Host the client used (or a trusted proxy's): checked once.
    match state.request_href(req.request()) {
        Ok(href) => {
            req.extensions_mut().insert(Href(href));
        }
        Err(e) => return refuse(req, e),
    }

    // What the request is, from its route: subject (a validated id, or none), event kind.
    let method = req.method().as_str().to_owned();
    let (subject, invalid_id) = match route {
        Some(r) => {
            let s = r.subject_of(&req);
            (s.subject, !s.valid)
        }
        None => (Subject::default(), false),
    };
    let request_line = match route {
        Some(r) => r.request_line(&method, &subject),
        None => format!("{} (no route)", method_name(&method)),
    };
    let kind = match route.and_then(|r| r.action(&method)) {
        Some(Action::Event(kind)) => Some(kind),
        Some(Action::ReadOrMetadata) => {
            let accept = Accept::of(
                req.headers()
                    .get_all(header::ACCEPT)
                    .map(|v| v.to_str().ok()),
            );
            req.extensions_mut().insert(Negotiated(accept));
            (!accept.wants_metadata()).then_some(EventKind::SecretRead)
        }
        None => None,
    };
    let events = state.services.plugins.events.clone();
    let mut audit = (!events.is_empty()).then(|| Audit {
        events,
        kind,
        subject: subject.clone(),
        invalid_id,
        caller: None,
        request_id,
        request_line,
    });

    if route.is_none_or(|r| r.authenticated) {
        let identity = state
            .auth
            .authenticate(&Headers(req.headers()))
            .await
            .and_then(checked_identity);
        match identity {
            Ok(ctx) => {
                let ctx = Arc::new(ctx);
                req.extensions_mut().insert(Caller(ctx.clone()));
                if let Some(a) = audit.as_mut() {
                    a.caller = Some(ctx);
                }
            }
            Err(e) => {
                let err = auth_error(&state, e);
                if let Some(a) = &audit {
                    if err.status() == StatusCode::UNAUTHORIZED
                        && a.events.wants(EventKind::AuthDenied, Phase::Failure)
                    {
                        emit(a.events.clone(), a.denied(401)).await;
                    }
                }
                return refuse(req, err);
            }
        }
    }

    if let Err(e) = super::support::paging::check_query(req.query_string()) {
        return refuse(req, e);
    }
    // No id, key or name of any resource holds a NUL (PostgreSQL text cannot even be
    // compared with one): refused as bad input, like a NUL in a body or a query.
    if req
        .match_info()
        .iter()
        .any(|(name, _)| super::route::path_param(&req, name).is_some_and(|v| v.contains('\0')))
    {
        return refuse(
            req,
            ApiError::bad_request("Invalid path: a NUL character in an id or key."),
        );
    }

    let header = req
        .headers()
        .get("openstack-api-version")
        .and_then(|v| v.to_str().ok());
    let version = match requested_microversion(header) {
        Ok(v) => v,
        Err(e) => {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return refuse(req, microversion_error(e, accept.as_deref()));
        }
    };
    req.extensions_mut().insert(ApiVersion(version));

    if let Some(a) = &audit {
        if let Err(refused) = a.before().await {
            return refuse(req, refused);
        }
    }
    // Past `before`: a payload of this subject may be served.
    if kind == Some(EventKind::SecretRead) {
        if let Some(id) = &subject.id {
            req.extensions_mut().insert(ReadClearance(id.clone()));
        }
    }

    // A body the handler does not read to its end (a GET with a body, a refused upload) must
    // not hold the connection: it is closed after the response.
    let body_read = has_body(req.headers()).then(|| {
        let ended = Arc::new(AtomicBool::new(false));
        let inner = req.take_payload();
        let tracked: std::pin::Pin<Box<dyn futures_util::Stream<Item = BodyChunk>>> =
            Box::pin(TrackedBody {
                inner,
                ended: ended.clone(),
            });
        req.set_payload(actix_web::dev::Payload::Stream { payload: tracked });
        ended
    });

    // Handler and extractor errors arrive here as responses; only failures of the framework
    // itself are `Err` (and get actix's own response).
    let mut res = next.call(req).await?.map_into_left_body();
    if body_read.is_some_and(|ended| !ended.load(Ordering::Relaxed)) {
        close_after(&mut res);
    }
    if let Some(a) = audit {
        let (created, served) = {
            let ext = res.response().extensions();
            (
                ext.get::<Created>().map(|c| c.0.clone()),
                ext.get::<PayloadServed>().is_some(),
            )
        };
        a.after(res.status(), created, served).await;
    }
    if let Ok(value) = HeaderValue::from_str(&format!("key-manager {version}")) {
        let headers = res.headers_mut();
        headers.insert(API_VERSION, value);
        headers.insert(
            header::VARY,
            HeaderValue::from_static("openstack-api-version"),
        );
    }
    Ok(res)
}
