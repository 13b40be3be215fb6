//! The HTTP API: routes, the request pipeline (request id, authentication, microversion),
//! extractors and handlers. Handlers parse and validate on the executor (cheap, bounded work)
//! and run database and plugin calls on the blocking pool.

pub mod acls;
pub mod consumers;
pub mod containers;
pub mod context;
pub mod metadata;
mod middleware;
pub mod orders;
pub mod paging;
pub mod quotas;
pub mod schema;
pub mod secrets;
pub mod stores;
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
    read_body(payload, req, state.max_request_bytes, ApiError::too_large).await
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
    .service(
        web::resource("/v1/secrets/{secret_id}/metadata")
            .route(web::get().to(metadata::get_all))
            .route(web::put().to(metadata::put_all))
            .route(web::post().to(metadata::post_one))
            .default_service(web::to(not_allowed("GET, POST, PUT"))),
    )
    .service(
        web::resource("/v1/secrets/{secret_id}/metadata/{key}")
            .route(web::get().to(metadata::get_one))
            .route(web::put().to(metadata::put_one))
            .route(web::delete().to(metadata::delete_one))
            .default_service(web::to(not_allowed("DELETE, GET, PUT"))),
    )
    .service(
        web::resource("/v1/secrets/{secret_id}/acl")
            .route(web::get().to(acls::secret_get))
            .route(web::put().to(acls::secret_put))
            .route(web::patch().to(acls::secret_patch))
            .route(web::delete().to(acls::secret_delete))
            .default_service(web::to(not_allowed("DELETE, GET, PATCH, PUT"))),
    )
    .service(
        web::resource("/v1/secrets/{secret_id}/consumers")
            .route(web::get().to(consumers::list))
            .route(web::post().to(consumers::add))
            .route(web::delete().to(consumers::remove))
            .default_service(web::to(not_allowed("DELETE, GET, POST"))),
    )
    .service(
        web::resource("/v1/containers")
            .route(web::get().to(containers::list))
            .route(web::post().to(containers::create))
            .default_service(web::to(not_allowed("GET, POST"))),
    )
    .service(
        web::resource("/v1/containers/{container_id}")
            .route(web::get().to(containers::get))
            .route(web::delete().to(containers::delete))
            .default_service(web::to(not_allowed("DELETE, GET"))),
    )
    .service(
        web::resource("/v1/containers/{container_id}/secrets")
            .route(web::post().to(containers::add_secret))
            .route(web::delete().to(containers::remove_secret))
            .default_service(web::to(not_allowed("DELETE, POST"))),
    )
    .service(
        web::resource("/v1/containers/{container_id}/consumers")
            .route(web::get().to(containers::list_consumers))
            .route(web::post().to(containers::add_consumer))
            .route(web::delete().to(containers::remove_consumer))
            .default_service(web::to(not_allowed("DELETE, GET, POST"))),
    )
    .service(
        web::resource("/v1/containers/{container_id}/acl")
            .route(web::get().to(acls::container_get))
            .route(web::put().to(acls::container_put))
            .route(web::patch().to(acls::container_patch))
            .route(web::delete().to(acls::container_delete))
            .default_service(web::to(not_allowed("DELETE, GET, PATCH, PUT"))),
    )
    .service(
        web::resource("/v1/orders")
            .route(web::get().to(orders::list))
            .route(web::post().to(orders::create))
            .route(web::put().to(orders::update))
            .default_service(web::to(not_allowed("GET, POST, PUT"))),
    )
    .service(
        web::resource("/v1/orders/{order_id}")
            .route(web::get().to(orders::get))
            .route(web::delete().to(orders::delete))
            .default_service(web::to(not_allowed("DELETE, GET"))),
    )
    .service(
        web::resource("/v1/quotas")
            .route(web::get().to(quotas::effective))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/project-quotas")
            .route(web::get().to(quotas::list))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/project-quotas/{project_id}")
            .route(web::get().to(quotas::get))
            .route(web::put().to(quotas::put))
            .route(web::delete().to(quotas::delete))
            .default_service(web::to(not_allowed("DELETE, GET, PUT"))),
    )
    .service(
        web::resource("/v1/secret-stores")
            .route(web::get().to(stores::list))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/secret-stores/global-default")
            .route(web::get().to(stores::global_default))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/secret-stores/preferred")
            .route(web::get().to(stores::preferred))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/secret-stores/{store_id}")
            .route(web::get().to(stores::get))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/secret-stores/{store_id}/preferred")
            .route(web::post().to(stores::set_preferred))
            .route(web::delete().to(stores::clear_preferred))
            .default_service(web::to(not_allowed("DELETE, POST"))),
    )
    .service(
        web::resource("/v1/transport_keys")
            .route(web::get().to(stores::transport_keys))
            .default_service(web::to(not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/transport_keys/{key_id}")
            .route(web::get().to(stores::transport_key))
            .route(web::delete().to(stores::transport_key))
            .default_service(web::to(not_allowed("DELETE, GET"))),
    )
    .default_service(web::to(not_found));
}

/// A response header value from text known to be valid; an invalid one is dropped.
pub fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
