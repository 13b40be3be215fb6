//! `/v1/secrets/{id}/acl` and `/v1/containers/{id}/acl`: the `read` ACL, written once for both
//! kinds of entity ([`Kind`]). Request parsing is [`request`], response bodies are [`view`].

pub mod request;
pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::containers::view::container_ref;
use super::context::Caller;
use super::secrets::view::secret_ref;
use super::support::{blocking, json_body, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::model::Acl;
use crate::service::acls::{apply, AclOwner};
use crate::service::Services;
use request::acl;
use view::{AclRefBody, AclView};

/// Which kind of entity an ACL route is about.
#[derive(Clone, Copy)]
pub enum Kind {
    Secret,
    Container,
}

impl Kind {
    fn names(self) -> (&'static str, &'static str, &'static str, &'static str) {
        // (policy prefix, retrieval op, update op, deletion op)
        match self {
            Kind::Secret => (
                "secret_acls",
                "SecretACL(s) retrieval",
                "SecretACL(s) Update",
                "SecretACL(s) deletion",
            ),
            Kind::Container => (
                "container_acls",
                "ContainerACL(s) retrieval",
                "ContainerACL(s) Update",
                "ContainerACL(s) deletion",
            ),
        }
    }
}

/// Find the entity, authorize `action` (without ACL data, as Barbican does), and return its
/// current ACL.
fn load(
    services: &Services,
    kind: Kind,
    caller: &plugin_api::AuthContext,
    id: &str,
    action: &str,
    op: &'static str,
) -> Result<Option<Acl>, ApiError> {
    Ok(match kind {
        Kind::Secret => services.secrets().authorized(caller, id, action, op)?.acl(),
        Kind::Container => services
            .containers()
            .authorized(caller, id, action, op)?
            .acl(),
    })
}

fn owner(kind: Kind, id: &str) -> AclOwner<'_> {
    match kind {
        Kind::Secret => AclOwner::Secret(id),
        Kind::Container => AclOwner::Container(id),
    }
}

fn acl_ref(kind: Kind, href: &str, id: &str) -> String {
    match kind {
        Kind::Secret => format!("{}/acl", secret_ref(href, id)),
        Kind::Container => format!("{}/acl", container_ref(href, id)),
    }
}

async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    kind: Kind,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let (prefix, op, _, _) = kind.names();
    let services = state.services.clone();
    let acl = blocking(op, move || {
        load(
            &services,
            kind,
            &caller.0,
            &id,
            &format!("{prefix}:get"),
            op,
        )
    })
    .await?;
    Ok(json_response(StatusCode::OK, &AclView::new(acl.as_ref())))
}

async fn set(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Payload,
    kind: Kind,
    id: String,
    replace: bool,
) -> Result<HttpResponse, ApiError> {
    let (prefix, _, op, _) = kind.names();
    let services = state.services.clone();
    let lookup_id = id.clone();
    let current = blocking(op, move || {
        load(
            &services,
            kind,
            &caller.0,
            &lookup_id,
            &format!("{prefix}:put_patch"),
            op,
        )
    })
    .await?;
    let change = acl(&json_body(&state, &req, body).await?)?;
    let new = apply(current.as_ref(), change.as_ref(), replace);
    let services = state.services.clone();
    let store_id = id.clone();
    blocking(op, move || {
        services
            .acls()
            .store(owner(kind, &store_id), new.as_ref(), op)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &AclRefBody {
            acl_ref: acl_ref(kind, &state.href(&req), &id),
        },
    ))
}

async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    kind: Kind,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let (prefix, _, _, op) = kind.names();
    let services = state.services.clone();
    blocking(op, move || {
        load(
            &services,
            kind,
            &caller.0,
            &id,
            &format!("{prefix}:delete"),
            op,
        )?;
        services
            .acls()
            .store(owner(kind, &id), None, op)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &serde_json::Value::Null))
}

/// A secret's ACL (`{"read": {"project-access": true}}` when it has none).
#[utoipa::path(get, path = "/v1/secrets/{secret_id}/acl", tag = "acls", operation_id = "get_secret_acl",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    responses(
        (status = 200, description = "The ACL (`project-access` true and no users when none is set)", body = AclView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretACL(s) retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    get(state, caller, Kind::Secret, path.into_inner()).await
}

/// Replace a secret's ACL (`project-access` defaults to true, `users` to none).
#[utoipa::path(put, path = "/v1/secrets/{secret_id}/acl", tag = "acls", operation_id = "put_secret_acl",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = AclView, content_type = "application/json", example = json!({"read": {"users": ["c4f2a1b3d5e64789a0b1c2d3e4f5a6b7"], "project-access": false}})),
    responses(
        (status = 200, description = "Replaced", body = AclRefBody),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'ACL': 'x' is not of type 'array'. Invalid property: 'read'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretACL(s) Update attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_put(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        req,
        body,
        Kind::Secret,
        path.into_inner(),
        true,
    )
    .await
}

/// Change a secret's ACL (what the body does not name stays).
#[utoipa::path(patch, path = "/v1/secrets/{secret_id}/acl", tag = "acls", operation_id = "patch_secret_acl",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = AclView, content_type = "application/json", example = json!({"read": {"users": ["c4f2a1b3d5e64789a0b1c2d3e4f5a6b7"], "project-access": false}})),
    responses(
        (status = 200, description = "Changed", body = AclRefBody),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'ACL': 'x' is not of type 'array'. Invalid property: 'read'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretACL(s) Update attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_patch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        req,
        body,
        Kind::Secret,
        path.into_inner(),
        false,
    )
    .await
}

/// Remove a secret's ACL (200 with body `null`, as Barbican answers).
#[utoipa::path(delete, path = "/v1/secrets/{secret_id}/acl", tag = "acls", operation_id = "delete_secret_acl",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    responses(
        (status = 200, description = "Removed: the body is `null`, as Barbican answers", body = serde_json::Value, example = json!(null)),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretACL(s) deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, caller, Kind::Secret, path.into_inner()).await
}

/// A container's ACL.
#[utoipa::path(get, path = "/v1/containers/{container_id}/acl", tag = "acls", operation_id = "get_container_acl",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    responses(
        (status = 200, description = "The ACL (`project-access` true and no users when none is set)", body = AclView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerACL(s) retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    get(state, caller, Kind::Container, path.into_inner()).await
}

/// Replace a container's ACL.
#[utoipa::path(put, path = "/v1/containers/{container_id}/acl", tag = "acls", operation_id = "put_container_acl",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = AclView, content_type = "application/json", example = json!({"read": {"users": ["c4f2a1b3d5e64789a0b1c2d3e4f5a6b7"], "project-access": false}})),
    responses(
        (status = 200, description = "Replaced", body = AclRefBody),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'ACL': 'x' is not of type 'array'. Invalid property: 'read'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerACL(s) Update attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_put(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        req,
        body,
        Kind::Container,
        path.into_inner(),
        true,
    )
    .await
}

/// Change a container's ACL.
#[utoipa::path(patch, path = "/v1/containers/{container_id}/acl", tag = "acls", operation_id = "patch_container_acl",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = AclView, content_type = "application/json", example = json!({"read": {"users": ["c4f2a1b3d5e64789a0b1c2d3e4f5a6b7"], "project-access": false}})),
    responses(
        (status = 200, description = "Changed", body = AclRefBody),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'ACL': 'x' is not of type 'array'. Invalid property: 'read'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerACL(s) Update attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_patch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        req,
        body,
        Kind::Container,
        path.into_inner(),
        false,
    )
    .await
}

/// Remove a container's ACL.
#[utoipa::path(delete, path = "/v1/containers/{container_id}/acl", tag = "acls", operation_id = "delete_container_acl",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    responses(
        (status = 200, description = "Removed: the body is `null`, as Barbican answers", body = serde_json::Value, example = json!(null)),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerACL(s) deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, caller, Kind::Container, path.into_inner()).await
}
