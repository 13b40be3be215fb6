//! What every handler shares and that is about no one resource: the application state
//! ([`AppState`]), the request/response extensions the pipeline and handlers exchange
//! ([`Href`], [`Negotiated`], [`ReadClearance`], [`Created`], [`PayloadServed`]), running work on
//! the blocking pool ([`blocking`]), reading bodies, `Location` headers, and the helpers of
//! request validation ([`validate`], [`schema`]) and paging ([`paging`]).

mod body_json;
pub mod paging;
pub mod schema;
pub mod validate;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::host;
use crate::error::ApiError;
use crate::media::{Accept, ContentType};
use crate::service::Services;

/// Shared state of every handler.
pub struct AppState {
    pub services: Arc<Services>,
    pub auth: Arc<dyn plugin_api::AuthPlugin>,
    pub hosts: host::HostPolicy,
    pub max_request_bytes: usize,
    /// `server.body_timeout_ms`.
    pub body_timeout: std::time::Duration,
    /// `logging.access`: one info line per request.
    pub access_log: bool,
    /// `server.metrics`: count and time every request.
    pub metrics: bool,
}

/// The prefix of refs of a request, computed once by the pipeline.
#[derive(Clone)]
pub struct Href(pub String);

/// The `Accept` reading of a request, when the pipeline needed it to classify the request.
#[derive(Clone, Copy)]
pub struct Negotiated(pub Accept);

/// Set by the pipeline once a `secret.read` of this secret has passed its `before` phase
/// (fail-closed audit instances ready): the only way a handler may serve a payload.
#[derive(Clone)]
pub struct ReadClearance(pub String);

/// Response extension: the id of the entity a create made (for events).
#[derive(Clone)]
pub struct Created(pub String);

/// Response extension: the handler served a secret's payload.
#[derive(Clone, Copy)]
pub struct PayloadServed;

impl AppState {
    /// The prefix of refs for this request (no trailing slash).
    pub fn href(&self, req: &HttpRequest) -> String {
        if let Some(h) = req.extensions().get::<Href>() {
            return h.0.clone();
        }
        self.hosts.href(req).unwrap_or_default()
    }

    /// The prefix of refs for a request, or 400 for a malformed or foreign host.
    pub fn request_href(&self, req: &HttpRequest) -> Result<String, ApiError> {
        self.hosts.href(req)
    }
}

/// What the request's `Accept` header asks for: the pipeline's reading when it made one, the
/// same function otherwise.
pub fn accept_of(req: &HttpRequest) -> Accept {
    if let Some(n) = req.extensions().get::<Negotiated>() {
        return n.0;
    }
    Accept::of(
        req.headers()
            .get_all(header::ACCEPT)
            .map(|v| v.to_str().ok()),
    )
}

/// Whether the pipeline cleared a payload read of `secret_id`.
pub fn read_cleared(req: &HttpRequest, secret_id: &str) -> bool {
    req.extensions()
        .get::<ReadClearance>()
        .is_some_and(|c| c.0 == secret_id)
}

/// Add `Location` to a response.
pub fn with_location(mut res: HttpResponse, location: &str) -> HttpResponse {
    if let Some(v) = header_value(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A create's response: `Location`, and the new entity's id for events.
pub fn created(res: HttpResponse, location: &str, id: &str) -> HttpResponse {
    let mut res = with_location(res, location);
    res.extensions_mut().insert(Created(id.to_owned()));
    res
}

/// Run blocking work (database, plugins) off the async executor; its error (the service's or
/// the API's own) is answered through the one mapping in `crate::error`.
pub async fn blocking<T, E, F>(operation: &'static str, f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match web::block(f).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ApiError::failure(operation, &e)),
    }
}

/// Read a request body of at most `limit` bytes: 413 beyond, 408 when it has not all arrived
/// within `server.body_timeout_ms` (both close the connection). The buffer is sized once —
/// the declared length, or `limit` for a chunked body — so no copy of a payload is left in a
/// buffer freed by growing; the caller wipes it.
pub async fn read_body(
    state: &AppState,
    mut payload: web::Payload,
    req: &HttpRequest,
    limit: usize,
    too_large: fn() -> ApiError,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(limit).min(limit));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(())) => Ok(body),
        Ok(Err(e)) => {
            zeroize::Zeroize::zeroize(&mut body[..]);
            Err(e)
        }
        Err(_) => {
            zeroize::Zeroize::zeroize(&mut body[..]);
            Err(ApiError::new(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                "The request body did not arrive in time.",
            ))
        }
    }
}

/// A JSON request body: 415 unless `Content-Type` is `application/json`, 413 beyond
/// `max_request_bytes`.
pub async fn json_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<web::BytesMut, ApiError> {
    if request_media_type(req) != "application/json" {
        return Err(ApiError::unsupported_media_type(&["application/json"]));
    }
    read_body(
        state,
        payload,
        req,
        state.max_request_bytes,
        ApiError::too_large,
    )
    .await
}

/// `(offset, limit)` of a list request, cleaned as Barbican does.
pub fn paging_of(state: &AppState, req: &HttpRequest) -> (i64, i64) {
    let pairs = paging::query_pairs(req.query_string());
    let limits = &state.services.limits;
    paging::clean_paging(
        paging::param(&pairs, "offset"),
        paging::param(&pairs, "limit"),
        limits.default_limit_paging,
        limits.max_limit_paging,
    )
}

/// The media type of a request's `Content-Type` without parameters, lower case (`""` when
/// absent), as webob reports it; a header that is not one well-formed media type reads as
/// `"invalid"`, which no handler accepts (415).
pub fn request_media_type(req: &HttpRequest) -> String {
    match ContentType::of(
        req.headers()
            .get_all(header::CONTENT_TYPE)
            .map(|v| v.to_str().ok()),
    ) {
        ContentType::Invalid => "invalid".to_owned(),
        ct => ct.essence().to_owned(),
    }
}

/// A response header value from text known to be valid; an invalid one is dropped.
pub fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
