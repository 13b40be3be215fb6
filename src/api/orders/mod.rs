//! `/v1/orders`: key and key-pair generation. Request parsing is [`request`], response bodies
//! are [`view`].

pub mod request;
pub mod view;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::support::paging;
use super::support::{blocking, created, json_body, paging_of, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::orders::ops;
use request::{new_order, NewOrderDoc};
use view::{order_ref, order_view, OrderDoc, OrderList, OrderRefBody};

/// Submit an order. It is durable once the 202 is sent; most orders are already ACTIVE by then.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", operation_id = "create_order",
    request_body(content = NewOrderDoc, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (usually already ACTIVE); poll the order", body = OrderRefBody,
            headers(("Location" = String, description = "The order's ref"))),
        (status = 400, description = "Invalid order", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Order': 'algorithm' is required field for key type order. Invalid property: 'meta'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Order creation attempt not allowed - please review your user/project privileges"})),
    ))]
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
    let new = new_order(&body, state.services.limits.max_payload_bytes);
    zeroize::Zeroize::zeroize(&mut body[..]);
    let new = new?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || {
        services.orders().submit(&caller.0, new)
    })
    .await?;
    let done = state.services.order_queue.watch(&row.id);
    state.services.orders().enqueue(&row.id);
    let wait = Duration::from_millis(state.services.order_queue.settings().inline_wait_ms);
    if tokio::time::timeout(wait, done).await.is_err() {
        state.services.order_queue.unwatch(&row.id);
    }
    let r = order_ref(&state.href(&req), &row.id);
    let res = json_response(
        StatusCode::ACCEPTED,
        &OrderRefBody {
            order_ref: r.clone(),
        },
    );
    Ok(created(res, &r, &row.id))
}

/// The project's orders (paging).
#[utoipa::path(get, path = "/v1/orders", tag = "orders", operation_id = "list_orders",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of orders (`orders`, `total`, and `previous`/`next` links)",
            body = serde_json::Value, example = json!({"orders": [{"created": "2026-03-02T09:41:07.512394", "updated": "2026-03-02T09:41:07.514922", "status": "ACTIVE", "type": "key", "meta": {"name": "backup-key", "algorithm": "aes", "bit_length": 256, "mode": "cbc", "payload_content_type": "application/octet-stream", "expiration": null}, "sub_status": "Unknown", "sub_status_message": "Unknown", "creator_id": "3a5e6b2f0c9d4e1f8a7b6c5d4e3f2a1b", "secret_ref": "http://127.0.0.1:9311/v1/secrets/0c6f071c-85b1-4e93-b465-91105453145c", "order_ref": "http://127.0.0.1:9311/v1/orders/f0daa1b4-6fca-458c-a32d-9a9dec104208"}], "total": 1})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Order(s) retrieval attempt not allowed - please review your user/project privileges"})),
    ))]
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
        services.orders().list(&project, offset, limit)
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
#[utoipa::path(put, path = "/v1/orders", tag = "orders", operation_id = "update_orders",
    responses(
        (status = 405, description = "Orders cannot be updated", body = crate::error::ErrorBody,
            example = json!({"code": 405, "title": "Method Not Allowed", "description": "Order update is not supported."})),
    ))]
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
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders", operation_id = "get_order",
    params(
        ("order_id" = String, Path, description = "The order's UUID", example = "f0daa1b4-6fca-458c-a32d-9a9dec104208"),
    ),
    responses(
        (status = 200, description = "The order", body = OrderDoc),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Order retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown order", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Order not found."})),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let row = blocking(ops::GET, move || {
        services
            .orders()
            .authorized(&caller.0, &id, "order:get", ops::GET)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &order_view(&row, &state.href(&req)),
    ))
}

/// Delete an order (what it generated stays).
#[utoipa::path(delete, path = "/v1/orders/{order_id}", tag = "orders", operation_id = "delete_order",
    params(
        ("order_id" = String, Path, description = "The order's UUID", example = "f0daa1b4-6fca-458c-a32d-9a9dec104208"),
    ),
    responses(
        (status = 204, description = "Deleted (what it generated stays)"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Order deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown order", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Order not found."})),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row = services
            .orders()
            .authorized(&caller.0, &id, "order:delete", ops::DELETE)?;
        services.orders().delete(&row.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
