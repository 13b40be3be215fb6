//! `/v1/containers`: containers and their secret references (their consumers are
//! [`crate::api::consumers`]). Request parsing is [`request`], response bodies are [`view`].

pub mod request;
pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::support::paging::{self, param, query_pairs};
use super::support::{blocking, created, json_body, paging_of, read_body, with_location, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::containers::ops;
use request::{container_secret, new_container, NewContainerDoc, RefPolicy};
use view::{container_ref, ContainerList, ContainerRefBody, ContainerSecretRef, ContainerView};

/// Create a container.
#[utoipa::path(post, path = "/v1/containers", tag = "containers", operation_id = "create_container",
    request_body(content = NewContainerDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ContainerRefBody,
            headers(("Location" = String, description = "The container's ref"))),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Container': 'nope' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Container creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "A referenced secret does not exist", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret provided for 'password' doesn't exist."})),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "containers:post", ops::CREATE)?;
    let body = json_body(&state, &req, body).await?;
    let href = state.href(&req);
    let new = new_container(
        &body,
        RefPolicy {
            host_href: &href,
            max_refs: state.services.limits.max_container_refs,
        },
    )?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || {
        services.containers().create(&caller.0, new)
    })
    .await?;
    let r = container_ref(&href, &row.id);
    let res = json_response(
        StatusCode::CREATED,
        &ContainerRefBody {
            container_ref: r.clone(),
        },
    );
    Ok(created(res, &r, &row.id))
}

/// List the project's containers (paging; `name` and `type` filters).
#[utoipa::path(get, path = "/v1/containers", tag = "containers", operation_id = "list_containers",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
        ("name" = Option<String>, Query, description = "Exact name"),
        ("type" = Option<String>, Query, description = "`generic`, `rsa` or `certificate`"),
    ),
    responses(
        (status = 200, description = "A page of containers", body = ContainerList),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Containers(s) retrieval attempt not allowed - please review your user/project privileges"})),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "containers:get", ops::LIST)?;
    let (offset, limit) = paging_of(&state, &req);
    let pairs = query_pairs(req.query_string());
    let name = param(&pairs, "name")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let ctype = param(&pairs, "type")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let services = state.services.clone();
    let project = caller.0.project_id.clone();
    let (items, total) = blocking(ops::LIST, move || {
        services
            .containers()
            .list(&project, name.as_deref(), ctype.as_deref(), offset, limit)
    })
    .await?;
    let href = state.href(&req);
    let (previous, next) = paging::page_links(
        items.is_empty(),
        &href,
        "containers",
        offset,
        limit,
        total,
        "",
    );
    Ok(json_response(
        StatusCode::OK,
        &ContainerList {
            containers: items.iter().map(|c| ContainerView::new(c, &href)).collect(),
            previous,
            next,
            total,
        },
    ))
}

/// A container.
#[utoipa::path(get, path = "/v1/containers/{container_id}", tag = "containers", operation_id = "get_container",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    responses(
        (status = 200, description = "The container", body = ContainerView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Container retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let full = blocking(ops::GET, move || {
        let row = services
            .containers()
            .authorized(&caller.0, &id, "container:get", ops::GET)?;
        services.containers().full(row, ops::GET)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &ContainerView::new(&full, &state.href(&req)),
    ))
}

/// Delete a container (its consumers go with it).
#[utoipa::path(delete, path = "/v1/containers/{container_id}", tag = "containers", operation_id = "delete_container",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    responses(
        (status = 204, description = "Deleted (its secrets stay)"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Container deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row =
            services
                .containers()
                .authorized(&caller.0, &id, "container:delete", ops::DELETE)?;
        services.containers().delete(&row.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a secret reference to a generic container.
#[utoipa::path(post, path = "/v1/containers/{container_id}/secrets", tag = "containers",
    operation_id = "add_container_secret",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = ContainerSecretRef, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = ContainerRefBody,
            headers(("Location" = String, description = "The container's ref"))),
        (status = 400, description = "Not a generic container, or an invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Only 'generic' containers can be modified."})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Container Secret creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secrets container not found."})),
        (status = 409, description = "Already in the container under that name", body = crate::error::ErrorBody,
            example = json!({"code": 409, "title": "Conflict", "description": "Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique."})),
    ))]
pub async fn add_secret(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(ops::ADD_SECRET, move || {
        services
            .containers()
            .authorized(&c.0, &id, "container_secret:post", ops::ADD_SECRET)
    })
    .await?;
    if row.container_type != "generic" {
        return Err(ApiError::bad_request(
            "Only 'generic' containers can be modified.",
        ));
    }
    let (r, _) = container_secret(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let container = row.clone();
    blocking(ops::ADD_SECRET, move || {
        services.containers().add_secret(&caller.0, &container, r)
    })
    .await?;
    let cref = container_ref(&state.href(&req), &row.id);
    Ok(with_location(
        json_response(
            StatusCode::CREATED,
            &ContainerRefBody {
                container_ref: cref.clone(),
            },
        ),
        &cref,
    ))
}

/// Remove a secret reference from a container.
#[utoipa::path(delete, path = "/v1/containers/{container_id}/secrets", tag = "containers",
    operation_id = "remove_container_secret",
    params(
        ("container_id" = String, Path, description = "The container's UUID", example = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3"),
    ),
    request_body(content = ContainerSecretRef, content_type = "application/json"),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Container Secret deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown container, or the secret is not in it", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret provided is not in the container"})),
    ))]
pub async fn remove_secret(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(ops::REMOVE_SECRET, move || {
        services
            .containers()
            .authorized(&c.0, &id, "container_secret:delete", ops::REMOVE_SECRET)
    })
    .await?;
    let body = read_body(
        &state,
        body,
        &req,
        state.max_request_bytes,
        ApiError::too_large,
    )
    .await?;
    let (r, full_ref) = container_secret(&body)?;
    let services = state.services.clone();
    blocking(ops::REMOVE_SECRET, move || {
        services
            .containers()
            .remove_secret(&caller.0, &row, r, &full_ref)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
