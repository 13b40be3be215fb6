//! `/v1/orders`: key and key-pair generation.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::context::Caller;
use super::paging;
use super::views::{order_ref, order_view, OrderRefBody};
use super::{blocking, json_body, paging_of, validate, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::orders::ops;

/// Submit an order. It is durable once the 202 is sent; most orders are already ACTIVE by then.
#[utoipa::path(post, path = "/v1/orders", tag = "orders",
    request_body(content = super::views::OrderDoc, content_type = "application/json"),
    responses((status = 202, body = OrderRefBody), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "orders:post", ops::CREATE)?;
    let mut body = json_body(&state, &req, body).await?;
    let new = validate::new_order(&body, state.services.limits.max_payload_bytes);
    zeroize::Zeroize::zeroize(&mut body[..]);
    let new = new?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || services.submit_order(&caller.0, new)).await?;
    let done = state.services.orders.watch(&row.id);
    state.services.enqueue_order(&row.id);
    let wait = Duration::from_millis(state.services.orders.settings().inline_wait_ms);
    if tokio::time::timeout(wait, done).await.is_err() {
        state.services.orders.unwatch(&row.id);
    }
    let r = order_ref(&state.href(&req), &row.id);
    let res = json_response(
        StatusCode::ACCEPTED,
        &OrderRefBody {
            order_ref: r.clone(),
        },
    );
    Ok(super::created(res, &r, &row.id))
}

#[derive(Serialize)]
struct OrderList {
    orders: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    total: i64,
}

/// The project's orders (paging).
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "`{\"orders\": [...], \"total\": N}` with paging links")))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "orders:get", ops::LIST)?;
    let (offset, limit) = paging_of(&state, &req);
    let services = state.services.clone();
    let project = caller.0.project_id.clone();
    let (rows, total) = blocking(ops::LIST, move || {
        services.list_orders(&project, offset, limit)
    })
    .await?;
    let href = state.href(&req);
    let (previous, next) =
        paging::page_links(rows.is_empty(), &href, "orders", offset, limit, total, "");
    Ok(json_response(
        StatusCode::OK,
        &OrderList {
            orders: rows.iter().map(|o| order_view(o, &href)).collect(),
            previous,
            next,
            total,
        },
    ))
}

/// Orders cannot be updated.
#[utoipa::path(put, path = "/v1/orders", tag = "orders", responses((status = 405, body = crate::error::ErrorBody)))]
pub async fn update(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "orders:put", ops::UPDATE)?;
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Order update is not supported.",
    ))
}

/// An order.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path)),
    responses((status = 200, body = super::views::OrderDoc), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let row = blocking(ops::GET, move || {
        services.authorized_order(&caller.0, &id, "order:get", ops::GET)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &order_view(&row, &state.href(&req)),
    ))
}

/// Delete an order (what it generated stays).
#[utoipa::path(delete, path = "/v1/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row = services.authorized_order(&caller.0, &id, "order:delete", ops::DELETE)?;
        services.delete_order(&row.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
