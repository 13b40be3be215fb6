//! The HTTP API: routes, the request pipeline (request id, authentication, microversion),
//! extractors and handlers. Handlers parse and validate on the executor (cheap, bounded work)
//! and run database and plugin calls on the blocking pool.

pub mod context;
pub mod json;
mod middleware;
pub mod paging;
pub mod secrets;
pub mod validate;
pub mod versions;
pub mod views;

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::service::Services;

pub use middleware::pipeline;

/// Where refs in responses point.
#[derive(Debug, Clone)]
pub enum HostHref {
    /// A fixed prefix (`server.host_href`, or the bound address).
    Fixed(String),
    /// The scheme and Host of each request (bound to a wildcard address, no host_href).
    FromRequest,
}

/// Shared state of every handler.
pub struct AppState {
    pub services: Arc<Services>,
    pub auth: Arc<dyn plugin_api::AuthPlugin>,
    pub host_href: HostHref,
    pub max_request_bytes: usize,
}

impl AppState {
    /// The prefix of refs for this request (no trailing slash).
    pub fn href(&self, req: &HttpRequest) -> String {
        match &self.host_href {
            HostHref::Fixed(h) => h.trim_end_matches('/').to_owned(),
            HostHref::FromRequest => {
                let info = req.connection_info();
                format!("{}://{}", info.scheme(), info.host())
            }
        }
    }
}

/// Run blocking work (database, plugins) off the async executor.
pub async fn blocking<T, F>(operation: &'static str, f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    match web::block(f).await {
        Ok(result) => result,
        Err(e) => Err(ApiError::failure(operation, &e)),
    }
}

/// Read a request body of at most `limit` bytes; 413 beyond.
pub async fn read_body(
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
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The media type of a request's `Content-Type` without parameters, lower case (`""` when
/// absent), as webob reports it.
pub fn request_media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn not_allowed(
    allow: &'static str,
) -> impl Fn() -> futures_util::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move || futures_util::future::ready(Err(ApiError::method_not_allowed(allow)))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(""))
}

/// Register every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(versions::root))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1")
            .route(web::get().to(versions::v1))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/secrets")
            .route(web::get().to(secrets::list))
            .route(web::post().to(secrets::create))
            .default_service(web::to(not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/v1/secrets/{secret_id}")
            .route(web::get().to(secrets::get))
            .route(web::put().to(secrets::put_payload))
            .route(web::delete().to(secrets::delete))
            .default_service(web::to(not_allowed("DELETE, GET, PUT"))),
    )
    .service(
        web::resource("/v1/secrets/{secret_id}/payload")
            .route(web::get().to(secrets::payload))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(crate::openapi::swagger_ui())
    .default_service(web::to(not_found));
}

/// A response header value from text known to be valid; an invalid one is dropped.
pub fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
