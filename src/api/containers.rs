//! `/v1/containers`: containers, their secret references and their consumers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::paging::{self, param, query_pairs};
use super::views::{
    container_ref, ConsumerList, ContainerConsumerView, ContainerList, ContainerRefBody,
    ContainerView,
};
use super::{blocking, json_body, paging_of, validate, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::consumers::ops as consumer_ops;
use crate::service::containers::ops;

/// Create a container.
#[utoipa::path(post, path = "/v1/containers", tag = "containers",
    request_body(content = ContainerView, content_type = "application/json"),
    responses((status = 201, body = ContainerRefBody), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
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
    let new = validate::new_container(
        &body,
        validate::RefPolicy {
            host_href: &href,
            max_refs: state.services.limits.max_container_refs,
        },
    )?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || {
        services.create_container(&caller.0, new)
    })
    .await?;
    let r = container_ref(&href, &row.id);
    let res = json_response(
        StatusCode::CREATED,
        &ContainerRefBody {
            container_ref: r.clone(),
        },
    );
    Ok(super::created(res, &r, &row.id))
}

/// List the project's containers (paging; `name` and `type` filters).
#[utoipa::path(get, path = "/v1/containers", tag = "containers",
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query), ("name" = Option<String>, Query), ("type" = Option<String>, Query)),
    responses((status = 200, body = ContainerList)))]
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
        services.list_containers(&project, name.as_deref(), ctype.as_deref(), offset, limit)
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
#[utoipa::path(get, path = "/v1/containers/{container_id}", tag = "containers",
    params(("container_id" = String, Path)),
    responses((status = 200, body = ContainerView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let full = blocking(ops::GET, move || {
        let row = services.authorized_container(&caller.0, &id, "container:get", ops::GET)?;
        services.container_full(row, ops::GET)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &ContainerView::new(&full, &state.href(&req)),
    ))
}

/// Delete a container (its consumers go with it).
#[utoipa::path(delete, path = "/v1/containers/{container_id}", tag = "containers",
    params(("container_id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row = services.authorized_container(&caller.0, &id, "container:delete", ops::DELETE)?;
        services.delete_container(&row.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a secret reference to a generic container.
#[utoipa::path(post, path = "/v1/containers/{container_id}/secrets", tag = "containers",
    params(("container_id" = String, Path)),
    responses((status = 201, body = ContainerRefBody), (status = 409, body = crate::error::ErrorBody)))]
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
        services.authorized_container(&c.0, &id, "container_secret:post", ops::ADD_SECRET)
    })
    .await?;
    if row.container_type != "generic" {
        return Err(ApiError::bad_request(
            "Only 'generic' containers can be modified.",
        ));
    }
    let (r, _) = validate::container_secret(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let container = row.clone();
    blocking(ops::ADD_SECRET, move || {
        services.add_container_secret(&caller.0, &container, r)
    })
    .await?;
    let cref = container_ref(&state.href(&req), &row.id);
    Ok(super::with_location(
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
    params(("container_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
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
        services.authorized_container(&c.0, &id, "container_secret:delete", ops::REMOVE_SECRET)
    })
    .await?;
    let body = super::read_body(
        &state,
        body,
        &req,
        state.max_request_bytes,
        ApiError::too_large,
    )
    .await?;
    let (r, full_ref) = validate::container_secret(&body)?;
    let services = state.services.clone();
    blocking(ops::REMOVE_SECRET, move || {
        services.remove_container_secret(&caller.0, &row, r, &full_ref)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The container's body, as consumer registration and removal return it.
async fn container_body(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    row: crate::db::containers::ContainerRow,
    op: &'static str,
) -> Result<ContainerView, ApiError> {
    let services = state.services.clone();
    let full = blocking(op, move || services.container_full(row, op)).await?;
    Ok(ContainerView::new(&full, &state.href(req)))
}

/// Register a consumer of a container (idempotent).
#[utoipa::path(post, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    params(("container_id" = String, Path)),
    request_body(content = super::views::ContainerConsumerRef, content_type = "application/json"),
    responses((status = 200, body = ContainerView)))]
pub async fn add_consumer(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let op = consumer_ops::CONTAINER_CREATE;
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(op, move || {
        services.authorized_container(&c.0, &id, "container_consumers:post", op)
    })
    .await?;
    let (name, url) = validate::container_consumer(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let container = row.clone();
    blocking(op, move || {
        services.register_container_consumer(&caller.0, &container, &name, &url)
    })
    .await?;
    let view = container_body(&state, &req, row.clone(), op).await?;
    let location = format!("{}/v1/consumers/{}/consumers", state.href(&req), row.id);
    Ok(super::with_location(
        json_response(StatusCode::OK, &view),
        &location,
    ))
}

/// A container's consumers (paging).
#[utoipa::path(get, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    params(("container_id" = String, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = ConsumerList<ContainerConsumerView>)))]
pub async fn list_consumers(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let op = consumer_ops::CONTAINER_LIST;
    let id = path.into_inner();
    let (offset, limit) = paging_of(&state, &req);
    let services = state.services.clone();
    let (cid, rows, total) = blocking(op, move || {
        let row = services.authorized_container(&caller.0, &id, "container_consumers:get", op)?;
        let (rows, total) = services.container_consumers(&row.id, offset, limit)?;
        Ok((row.id, rows, total))
    })
    .await?;
    let (previous, next) = paging::page_links(
        rows.is_empty(),
        &state.href(&req),
        &format!("containers/{cid}/consumers"),
        offset,
        limit,
        total,
        "",
    );
    Ok(json_response(
        StatusCode::OK,
        &ConsumerList {
            consumers: rows.iter().map(ContainerConsumerView::from).collect(),
            previous,
            next,
            total,
        },
    ))
}

/// Remove a consumer of a container (the consumer's or the container's project only).
#[utoipa::path(delete, path = "/v1/containers/{container_id}/consumers", tag = "consumers",
    params(("container_id" = String, Path)),
    request_body(content = super::views::ContainerConsumerRef, content_type = "application/json"),
    responses((status = 200, body = ContainerView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_consumer(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let op = consumer_ops::CONTAINER_DELETE;
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(op, move || {
        services.authorized_container(&c.0, &id, "container_consumers:delete", op)
    })
    .await?;
    let (name, url) = validate::container_consumer(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let container = row.clone();
    blocking(op, move || {
        services.remove_container_consumer(&caller.0, &container, &name, &url)
    })
    .await?;
    let view = container_body(&state, &req, row, op).await?;
    Ok(json_response(StatusCode::OK, &view))
}
