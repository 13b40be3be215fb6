//! The HTTP API: routes, the request pipeline (request id, authentication, microversion),
//! extractors and handlers. Handlers parse and validate on the executor (cheap, bounded work)
//! and run database and plugin calls on the blocking pool.

pub mod acls;
mod body_json;
pub mod consumers;
pub mod containers;
pub mod context;
pub mod health;
pub mod host;
pub mod metadata;
pub mod metrics;
mod middleware;
pub mod orders;
pub mod paging;
pub mod quotas;
pub mod route;
pub mod schema;
pub mod secrets;
pub mod stores;
pub mod validate;
pub mod versions;
pub mod views;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use plugin_api::EventKind;

use crate::error::ApiError;
use crate::media::{Accept, ContentType};
use crate::service::Services;
use route::{Action, ApiRoute, IdForm};

pub use middleware::{request_id, RequestId};

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

fn not_allowed(
    allow: &'static str,
) -> impl Fn() -> futures_util::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move || futures_util::future::ready(Err(ApiError::method_not_allowed(allow)))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(""))
}

/// What each route is (route data read by the pipeline).
mod routes {
    use super::*;

    const SECRET: Option<(&str, IdForm)> = Some(("secret_id", IdForm::Uuid4));
    const CONTAINER: Option<(&str, IdForm)> = Some(("container_id", IdForm::Uuid4));
    const ORDER: Option<(&str, IdForm)> = Some(("order_id", IdForm::Uuid4));

    macro_rules! route {
        ($name:ident, $pattern:literal, $subject:literal, $id:expr, [$($m:literal => $a:expr),*]) => {
            pub static $name: ApiRoute = ApiRoute {
                pattern: $pattern,
                authenticated: true,
                subject: $subject,
                id: $id,
                actions: &[$(($m, $a)),*],
            };
        };
    }

    pub static ROOT: ApiRoute = ApiRoute {
        pattern: "/",
        authenticated: false,
        subject: "",
        id: None,
        actions: &[],
    };
    route!(V1, "/v1", "", None, []);
    route!(SECRETS, "/v1/secrets", "secret", None,
        ["POST" => Action::Event(EventKind::SecretCreated)]);
    route!(SECRET_ONE, "/v1/secrets/{secret_id}", "secret", SECRET,
        ["GET" => Action::ReadOrMetadata, "DELETE" => Action::Event(EventKind::SecretDeleted)]);
    route!(SECRET_PAYLOAD, "/v1/secrets/{secret_id}/payload", "secret", SECRET,
        ["GET" => Action::Event(EventKind::SecretRead)]);
    route!(
        SECRET_METADATA,
        "/v1/secrets/{secret_id}/metadata",
        "secret",
        SECRET,
        []
    );
    route!(
        SECRET_METADATUM,
        "/v1/secrets/{secret_id}/metadata/{key}",
        "secret",
        SECRET,
        []
    );
    route!(SECRET_ACL, "/v1/secrets/{secret_id}/acl", "secret", SECRET, [
        "PUT" => Action::Event(EventKind::AclChanged),
        "PATCH" => Action::Event(EventKind::AclChanged),
        "DELETE" => Action::Event(EventKind::AclChanged)]);
    route!(
        SECRET_CONSUMERS,
        "/v1/secrets/{secret_id}/consumers",
        "secret",
        SECRET,
        []
    );
    route!(CONTAINERS, "/v1/containers", "container", None,
        ["POST" => Action::Event(EventKind::ContainerCreated)]);
    route!(CONTAINER_ONE, "/v1/containers/{container_id}", "container", CONTAINER,
        ["DELETE" => Action::Event(EventKind::ContainerDeleted)]);
    route!(
        CONTAINER_SECRETS,
        "/v1/containers/{container_id}/secrets",
        "container",
        CONTAINER,
        []
    );
    route!(
        CONTAINER_CONSUMERS,
        "/v1/containers/{container_id}/consumers",
        "container",
        CONTAINER,
        []
    );
    route!(CONTAINER_ACL, "/v1/containers/{container_id}/acl", "container", CONTAINER, [
        "PUT" => Action::Event(EventKind::AclChanged),
        "PATCH" => Action::Event(EventKind::AclChanged),
        "DELETE" => Action::Event(EventKind::AclChanged)]);
    route!(ORDERS, "/v1/orders", "order", None, []);
    route!(ORDER_ONE, "/v1/orders/{order_id}", "order", ORDER, []);
    route!(QUOTAS, "/v1/quotas", "quota", None, []);
    route!(PROJECT_QUOTAS, "/v1/project-quotas", "quota", None, []);
    route!(
        PROJECT_QUOTA,
        "/v1/project-quotas/{project_id}",
        "quota",
        Some(("project_id", IdForm::Project)),
        []
    );
    route!(STORES, "/v1/secret-stores", "secret-store", None, []);
    route!(
        STORE_GLOBAL_DEFAULT,
        "/v1/secret-stores/global-default",
        "secret-store",
        None,
        []
    );
    route!(
        STORE_PREFERRED,
        "/v1/secret-stores/preferred",
        "secret-store",
        None,
        []
    );
    route!(
        STORE_ONE,
        "/v1/secret-stores/{store_id}",
        "secret-store",
        Some(("store_id", IdForm::Uuid4)),
        []
    );
    route!(
        STORE_SET_PREFERRED,
        "/v1/secret-stores/{store_id}/preferred",
        "secret-store",
        Some(("store_id", IdForm::Uuid4)),
        []
    );
    route!(
        TRANSPORT_KEYS,
        "/v1/transport_keys",
        "transport-key",
        None,
        []
    );
    route!(
        TRANSPORT_KEY,
        "/v1/transport_keys/{key_id}",
        "transport-key",
        Some(("key_id", IdForm::Uuid4)),
        []
    );
}

/// A resource at `route.pattern` with its route data; [`finish`] adds the pipeline.
fn resource(route: &'static ApiRoute) -> actix_web::Resource {
    let path = route.pattern.strip_prefix("/v1").unwrap_or(route.pattern);
    web::resource(path).app_data(route)
}

/// Register every route: `/` on its own, everything else in the `/v1` scope. Each resource
/// runs the pipeline after routing; a `/v1` path that matches no route gets the pipeline too
/// (authentication first, then 404).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use routes::*;
    health::routes(cfg);
    macro_rules! api {
        ($r:expr) => {
            $r.wrap(from_fn(middleware::pipeline))
        };
    }
    cfg.service(api!(resource(&ROOT)
        .route(web::get().to(versions::root))
        .default_service(web::to(not_allowed("GET")))));
    cfg.service(
        web::scope("/v1")
            .service(api!(resource(&V1)
                .route(web::get().to(versions::v1))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&SECRETS)
                .route(web::get().to(secrets::list))
                .route(web::post().to(secrets::create))
                .default_service(web::to(not_allowed("GET, POST")))))
            .service(api!(resource(&SECRET_ONE)
                .route(web::get().to(secrets::get))
                .route(web::put().to(secrets::put_payload))
                .route(web::delete().to(secrets::delete))
                .default_service(web::to(not_allowed("DELETE, GET, PUT")))))
            .service(api!(resource(&SECRET_PAYLOAD)
                .route(web::get().to(secrets::payload))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&SECRET_METADATA)
                .route(web::get().to(metadata::get_all))
                .route(web::put().to(metadata::put_all))
                .route(web::post().to(metadata::post_one))
                .default_service(web::to(not_allowed("GET, POST, PUT")))))
            .service(api!(resource(&SECRET_METADATUM)
                .route(web::get().to(metadata::get_one))
                .route(web::put().to(metadata::put_one))
                .route(web::delete().to(metadata::delete_one))
                .default_service(web::to(not_allowed("DELETE, GET, PUT")))))
            .service(api!(resource(&SECRET_ACL)
                .route(web::get().to(acls::secret_get))
                .route(web::put().to(acls::secret_put))
                .route(web::patch().to(acls::secret_patch))
                .route(web::delete().to(acls::secret_delete))
                .default_service(web::to(not_allowed(
                    "DELETE, GET, PATCH, PUT"
                )))))
            .service(api!(resource(&SECRET_CONSUMERS)
                .route(web::get().to(consumers::list))
                .route(web::post().to(consumers::add))
                .route(web::delete().to(consumers::remove))
                .default_service(web::to(not_allowed("DELETE, GET, POST")))))
            .service(api!(resource(&CONTAINERS)
                .route(web::get().to(containers::list))
                .route(web::post().to(containers::create))
                .default_service(web::to(not_allowed("GET, POST")))))
            .service(api!(resource(&CONTAINER_ONE)
                .route(web::get().to(containers::get))
                .route(web::delete().to(containers::delete))
                .default_service(web::to(not_allowed("DELETE, GET")))))
            .service(api!(resource(&CONTAINER_SECRETS)
                .route(web::post().to(containers::add_secret))
                .route(web::delete().to(containers::remove_secret))
                .default_service(web::to(not_allowed("DELETE, POST")))))
            .service(api!(resource(&CONTAINER_CONSUMERS)
                .route(web::get().to(containers::list_consumers))
                .route(web::post().to(containers::add_consumer))
                .route(web::delete().to(containers::remove_consumer))
                .default_service(web::to(not_allowed("DELETE, GET, POST")))))
            .service(api!(resource(&CONTAINER_ACL)
                .route(web::get().to(acls::container_get))
                .route(web::put().to(acls::container_put))
                .route(web::patch().to(acls::container_patch))
                .route(web::delete().to(acls::container_delete))
                .default_service(web::to(not_allowed(
                    "DELETE, GET, PATCH, PUT"
                )))))
            .service(api!(resource(&ORDERS)
                .route(web::get().to(orders::list))
                .route(web::post().to(orders::create))
                .route(web::put().to(orders::update))
                .default_service(web::to(not_allowed("GET, POST, PUT")))))
            .service(api!(resource(&ORDER_ONE)
                .route(web::get().to(orders::get))
                .route(web::delete().to(orders::delete))
                .default_service(web::to(not_allowed("DELETE, GET")))))
            .service(api!(resource(&QUOTAS)
                .route(web::get().to(quotas::effective))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&PROJECT_QUOTAS)
                .route(web::get().to(quotas::list))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&PROJECT_QUOTA)
                .route(web::get().to(quotas::get))
                .route(web::put().to(quotas::put))
                .route(web::delete().to(quotas::delete))
                .default_service(web::to(not_allowed("DELETE, GET, PUT")))))
            .service(api!(resource(&STORES)
                .route(web::get().to(stores::list))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&STORE_GLOBAL_DEFAULT)
                .route(web::get().to(stores::global_default))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&STORE_PREFERRED)
                .route(web::get().to(stores::preferred))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&STORE_ONE)
                .route(web::get().to(stores::get))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&STORE_SET_PREFERRED)
                .route(web::post().to(stores::set_preferred))
                .route(web::delete().to(stores::clear_preferred))
                .default_service(web::to(not_allowed("DELETE, POST")))))
            .service(api!(resource(&TRANSPORT_KEYS)
                .route(web::get().to(stores::transport_keys))
                .default_service(web::to(not_allowed("GET")))))
            .service(api!(resource(&TRANSPORT_KEY)
                .route(web::get().to(stores::transport_key))
                .route(web::delete().to(stores::transport_key))
                .default_service(web::to(not_allowed("DELETE, GET")))))
            .default_service(web::to(not_found).wrap(from_fn(middleware::pipeline))),
    );
    cfg.default_service(web::to(not_found));
}

/// A response header value from text known to be valid; an invalid one is dropped.
pub fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
