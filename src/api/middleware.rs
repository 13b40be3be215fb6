//! The request pipeline, in Barbican's order: request id → authentication (for `/v1`) →
//! microversion negotiation (for `/` and `/v1`) → the handler. Responses get
//! `x-openstack-request-id`, and past negotiation `openstack-api-version` and `vary`.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use plugin_api::{AuthError, EventKind, HeaderLookup, Phase};
use tracing::Instrument;

use super::context::{requested_microversion, ApiVersion, Caller, MicroversionError};
use super::AppState;
use crate::error::ApiError;
use crate::events::{self, Events};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");
const API_VERSION: HeaderName = HeaderName::from_static("openstack-api-version");

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

/// Whether a path belongs to the versioned API (authentication required).
fn is_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// A request's events: `before` once authenticated, then `success` / `failure` by status.
struct Audit {
    events: Arc<Events>,
    classified: events::Classified,
    caller: Arc<plugin_api::AuthContext>,
    request_id: String,
    request_line: String,
}

impl Audit {
    fn event(&self, kind: EventKind, phase: Phase, status: Option<u16>) -> plugin_api::Event {
        events::request_event(
            kind,
            phase,
            &self.request_id,
            Some(&self.caller),
            self.classified.subject.clone(),
            self.request_line.clone(),
            status,
        )
    }

    /// Fail-closed instances must be ready; `before` events are delivered.
    async fn before(&self) -> Result<(), ApiError> {
        let Some(kind) = self.classified.kind else {
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

    /// `success` or `failure` of the action, and `auth.denied` for a 401/403.
    async fn after(mut self, status: StatusCode, location: Option<String>) {
        let code = status.as_u16();
        let phase = if status.is_success() {
            Phase::Success
        } else {
            Phase::Failure
        };
        if self.classified.subject.id.is_none() && phase == Phase::Success {
            // A create: the new entity's id is the last segment of its Location.
            self.classified.subject.id = location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_owned);
        }
        let mut out = Vec::new();
        if let Some(kind) = self.classified.kind {
            if self.events.wants(kind, phase) {
                out.push(self.event(kind, phase, Some(code)));
            }
        }
        if (code == 401 || code == 403) && self.events.wants(EventKind::AuthDenied, Phase::Failure)
        {
            out.push(events::auth_denied(
                &self.request_id,
                Some(&self.caller),
                &self.classified,
                self.request_line.clone(),
                code,
            ));
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

/// The pipeline (wrap it with `actix_web::middleware::from_fn`).
pub async fn pipeline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.path());
    async move {
        let rid = HeaderValue::from_str(&request_id).ok();
        let finish_error = |req: ServiceRequest, err: ApiError| {
            let mut res = req
                .into_response(err.error_response())
                .map_into_right_body();
            if let Some(rid) = rid.clone() {
                res.headers_mut().insert(REQUEST_ID, rid);
            }
            tracing::debug!(status = res.status().as_u16(), "refused");
            Ok(res)
        };

        let path = req.path().to_owned();
        // Events of this request: its classification, the caller, and the instances.
        let mut audit: Option<Audit> = None;
        if is_api(&path) {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return finish_error(
                    req,
                    ApiError::failure("Request", &"application state missing"),
                );
            };
            let events = state.services.plugins.events.clone();
            let classified = (!events.is_empty()).then(|| {
                let accept = req
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                events::classify(req.method().as_str(), &path, accept)
            });
            let request_line = match classified {
                Some(_) => format!("{} {}", req.method(), path),
                None => String::new(),
            };
            match state.auth.authenticate(&Headers(req.headers())).await {
                Ok(ctx) => {
                    let ctx = Arc::new(ctx);
                    req.extensions_mut().insert(Caller(ctx.clone()));
                    if let Some(classified) = classified {
                        let a = Audit {
                            events,
                            classified,
                            caller: ctx,
                            request_id: request_id.clone(),
                            request_line,
                        };
                        if let Err(refused) = a.before().await {
                            return finish_error(req, refused);
                        }
                        audit = Some(a);
                    }
                }
                Err(e) => {
                    let err = auth_error(&state, e);
                    if let Some(classified) = classified {
                        if err.status() == StatusCode::UNAUTHORIZED
                            && events.wants(EventKind::AuthDenied, Phase::Failure)
                        {
                            let ev = events::auth_denied(
                                &request_id,
                                None,
                                &classified,
                                request_line,
                                401,
                            );
                            emit(events, ev).await;
                        }
                    }
                    return finish_error(req, err);
                }
            }
        }

        let versioned = path == "/" || is_api(&path);
        let version = if versioned {
            let header = req
                .headers()
                .get("openstack-api-version")
                .and_then(|v| v.to_str().ok());
            match requested_microversion(header) {
                Ok(v) => {
                    req.extensions_mut().insert(ApiVersion(v));
                    Some(v)
                }
                Err(e) => {
                    let accept = req
                        .headers()
                        .get(header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    return finish_error(req, microversion_error(e, accept.as_deref()));
                }
            }
        } else {
            None
        };

        // Handler and extractor errors arrive here as responses; only failures of the
        // framework itself are `Err` (and get actix's own response).
        let mut res = next.call(req).await?.map_into_left_body();
        if let Some(a) = audit {
            let location = res
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            a.after(res.status(), location).await;
        }
        let headers = res.headers_mut();
        if let Some(v) = version {
            if let Ok(value) = HeaderValue::from_str(&format!("key-manager {v}")) {
                headers.insert(API_VERSION, value);
                headers.insert(
                    header::VARY,
                    HeaderValue::from_static("openstack-api-version"),
                );
            }
        }
        if let Some(rid) = rid {
            headers.insert(REQUEST_ID, rid);
        }
        tracing::debug!(status = res.status().as_u16(), "done");
        Ok(res)
    }
    .instrument(span)
    .await
}
