//! The HTTP API, laid out by resource. This module is the router: every route with its route
//! data ([`ApiRoute`]), `/` on its own and everything else in the `/v1` scope. The request
//! pipeline is [`middleware`] (with [`host`], [`context`] and [`route`]); each resource's folder
//! holds its handlers, its request parsing and its response views; [`support`] is what they
//! share. Handlers parse and validate on the executor (cheap, bounded work) and run database
//! and plugin calls on the blocking pool.

pub mod acls;
pub mod consumers;
pub mod containers;
pub mod context;
pub mod health;
pub mod host;
pub mod metadata;
pub mod metrics;
mod middleware;
pub mod orders;
pub mod quotas;
pub mod route;
pub mod secrets;
pub mod stores;
pub mod support;
pub mod versions;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use plugin_api::EventKind;

use crate::error::ApiError;
use route::{Action, ApiRoute, IdForm};

pub use middleware::{request_id, RequestId};

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
                .route(web::get().to(consumers::secret_list))
                .route(web::post().to(consumers::secret_add))
                .route(web::delete().to(consumers::secret_remove))
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
                .route(web::get().to(consumers::container_list))
                .route(web::post().to(consumers::container_add))
                .route(web::delete().to(consumers::container_remove))
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
