//! `/v1/secrets/{id}/consumers` (microversion 1.1) and `/v1/containers/{id}/consumers`: the
//! services using a secret or a container. Registering, listing and removing are written once,
//! generic over the kind of owner ([`Owner`], in [`owner`]: [`OfSecret`], [`OfContainer`]); the
//! annotated route handlers are one line each. Request parsing is [`request`], response bodies
//! are [`view`].

mod owner;
pub mod request;
pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::containers::view::{ContainerConsumerRef, ContainerView};
use super::context::Caller;
use super::secrets::view::{SecretConsumerRef, SecretView};
use super::support::paging;
use super::support::{blocking, json_body, paging_of, with_location, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use owner::{OfContainer, OfSecret, Owner};
use view::{ConsumerList, ContainerConsumerView, SecretConsumerView};

/// Register a consumer of the owner `id` (idempotent): 200 with the owner's body, and a
/// `Location` in Barbican's form (`/v1/consumers/{owner id}/consumers`).
async fn add<O: Owner>(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: String,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (owner_id, view) = change::<O>(&state, caller, &req, id, body, Change::Register).await?;
    let location = format!("{}/v1/consumers/{owner_id}/consumers", state.href(&req));
    Ok(with_location(
        json_response(StatusCode::OK, &view),
        &location,
    ))
}

/// Remove a consumer of the owner `id`: 200 with the owner's body.
async fn remove<O: Owner>(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: String,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (_, view) = change::<O>(&state, caller, &req, id, body, Change::Remove).await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// What a request does to a consumer.
#[derive(Clone, Copy)]
enum Change {
    Register,
    Remove,
}

/// What registering and removing share: find the owner and authorize the change (404 before
/// 403), read the body (415, 413, 400), make the change and read the owner's body as it is
/// now; the owner's id and that body.
async fn change<O: Owner>(
    state: &web::Data<AppState>,
    caller: Caller,
    req: &HttpRequest,
    id: String,
    body: web::Payload,
    what: Change,
) -> Result<(String, O::View), ApiError> {
    let access = match what {
        Change::Register => O::CREATE,
        Change::Remove => O::DELETE,
    };
    let operation = access.operation;
    let services = state.services.clone();
    let c = caller.clone();
    let owner = blocking(operation, move || {
        O::authorized(&services, &c.0, &id, access)
    })
    .await?;
    let consumer = O::consumer(&json_body(state, req, body).await?)?;
    let services = state.services.clone();
    let href = state.href(req);
    let owner_id = O::id(&owner).to_owned();
    let view = blocking(operation, move || {
        match what {
            Change::Register => O::register(&services, &caller.0, &owner, &consumer)?,
            Change::Remove => O::remove(&services, &caller.0, &owner, &consumer)?,
        }
        O::view(&services, owner, &href, operation)
    })
    .await?;
    Ok((owner_id, view))
}

/// A page of the owner's consumers.
async fn list<O: Owner>(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = paging_of(&state, &req);
    let services = state.services.clone();
    let (owner_id, consumers, total) = blocking(O::LIST.operation, move || {
        let owner = O::authorized(&services, &caller.0, &id, O::LIST)?;
        let (consumers, total) = O::page(&services, O::id(&owner), offset, limit)?;
        Ok::<_, ApiError>((O::id(&owner).to_owned(), consumers, total))
    })
    .await?;
    let (previous, next) = paging::page_links(
        consumers.is_empty(),
        &state.href(&req),
        &format!("{}/{owner_id}/consumers", O::COLLECTION),
        offset,
        limit,
        total,
        "",
    );
    Ok(json_response(
        StatusCode::OK,
        &ConsumerList {
            consumers,
            previous,
            next,
            total,
        },
    ))
}

/// Register a consumer of a secret (idempotent); returns the secret's metadata.
#[utoipa::path(post, path = "/v1/secrets/{secret_id}/consumers", tag = "consumers",
    operation_id = "add_secret_consumer",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = SecretConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Registered (also when it already was): the secret's metadata with its consumers", body = SecretView),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Secret Consumer': 'resource_id' is a required property. Invalid property: 'None'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretConsumer creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_add(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    add::<OfSecret>(state, caller, req, path.into_inner(), body).await
}

/// A secret's consumers (paging).
#[utoipa::path(get, path = "/v1/secrets/{secret_id}/consumers", tag = "consumers",
    operation_id = "list_secret_consumers",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of the secret's consumers", body = ConsumerList<SecretConsumerView>),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretConsumers(s) retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn secret_list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    list::<OfSecret>(state, caller, req, path.into_inner()).await
}

/// Remove a consumer of a secret; returns the secret's metadata.
#[utoipa::path(delete, path = "/v1/secrets/{secret_id}/consumers", tag = "consumers",
    operation_id = "remove_secret_consumer",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = SecretConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Removed: the secret's metadata with its remaining consumers", body = SecretView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretConsumer deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret or consumer", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Consumer not found."})),
    ))]
pub async fn secret_remove(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    remove::<OfSecret>(state, caller, req, path.into_inner(), body).await
}

/// Register a consumer of a container (idempotent).
#[utoipa::path(post, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    operation_id = "add_container_consumer",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = ContainerConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Registered (also when it already was): the container with its consumers", body = ContainerView),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Consumer': 'URL' is a required property. Invalid property: 'None'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerConsumer creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_add(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    add::<OfContainer>(state, caller, req, path.into_inner(), body).await
}

/// A container's consumers (paging).
#[utoipa::path(get, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    operation_id = "list_container_consumers",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of the container's consumers", body = ConsumerList<ContainerConsumerView>),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerConsumers(s) retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn container_list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    list::<OfContainer>(state, caller, req, path.into_inner()).await
}

/// Remove a consumer of a container (the consumer's or the container's project only).
#[utoipa::path(delete, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    operation_id = "remove_container_consumer",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = ContainerConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Removed: the container with its remaining consumers", body = ContainerView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "ContainerConsumer deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container or consumer", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Consumer not found."})),
    ))]
pub async fn container_remove(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    remove::<OfContainer>(state, caller, req, path.into_inner(), body).await
}
