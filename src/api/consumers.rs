//! `/v1/secrets/{id}/consumers`: secret consumers (microversion 1.1).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::paging;
use super::views::{ConsumerList, SecretConsumerView, SecretView};
use super::{blocking, json_body, paging_of, validate, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::consumers::ops;

/// Register a consumer of a secret (idempotent); returns the secret's metadata.
#[utoipa::path(post, path = "/v1/secrets/{secret_id}/consumers", tag = "consumers",
    operation_id = "add_secret_consumer",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = super::views::SecretConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Registered (also when it already was): the secret's metadata with its consumers", body = SecretView),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Secret Consumer': 'resource_id' is a required property. Invalid property: 'None'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretConsumer creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn add(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(ops::SECRET_CREATE, move || {
        services.authorized_secret(&c.0, &id, "secret_consumers:post", ops::SECRET_CREATE)
    })
    .await?;
    let (service, rtype, rid) = validate::secret_consumer(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let href = state.href(&req);
    let h = href.clone();
    let view = blocking(ops::SECRET_CREATE, move || {
        services.register_secret_consumer(&caller.0, &row, &service, &rtype, &rid)?;
        let fresh = services.find_secret(&row.id, ops::SECRET_CREATE)?;
        super::secrets::secret_view(&services, &fresh, &h, true, ops::SECRET_CREATE)
    })
    .await?;
    let res = json_response(StatusCode::OK, &view);
    let id = crate::service::id_from_ref(&view.secret_ref).to_owned();
    Ok(super::with_location(
        res,
        &format!("{href}/v1/consumers/{id}/consumers"),
    ))
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
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (offset, limit) = paging_of(&state, &req);
    let services = state.services.clone();
    let (sid, rows, total) = blocking(ops::SECRET_LIST, move || {
        let row =
            services.authorized_secret(&caller.0, &id, "secret_consumers:get", ops::SECRET_LIST)?;
        let (rows, total) = services.secret_consumers(&row.id, offset, limit)?;
        Ok::<_, ApiError>((row.id, rows, total))
    })
    .await?;
    let (previous, next) = paging::page_links(
        rows.is_empty(),
        &state.href(&req),
        &format!("secrets/{sid}/consumers"),
        offset,
        limit,
        total,
        "",
    );
    Ok(json_response(
        StatusCode::OK,
        &ConsumerList {
            consumers: rows.iter().map(SecretConsumerView::from).collect(),
            previous,
            next,
            total,
        },
    ))
}

/// Remove a consumer of a secret; returns the secret's metadata.
#[utoipa::path(delete, path = "/v1/secrets/{secret_id}/consumers", tag = "consumers",
    operation_id = "remove_secret_consumer",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = super::views::SecretConsumerRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Removed: the secret's metadata with its remaining consumers", body = SecretView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "SecretConsumer deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret or consumer", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Consumer not found."})),
    ))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let c = caller.clone();
    let row = blocking(ops::SECRET_DELETE, move || {
        services.authorized_secret(&c.0, &id, "secret_consumers:delete", ops::SECRET_DELETE)
    })
    .await?;
    let (service, rtype, rid) = validate::secret_consumer(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let href = state.href(&req);
    let view = blocking(ops::SECRET_DELETE, move || {
        services.remove_secret_consumer(&caller.0, &row, &service, &rtype, &rid)?;
        let fresh = services.find_secret(&row.id, ops::SECRET_DELETE)?;
        super::secrets::secret_view(&services, &fresh, &href, true, ops::SECRET_DELETE)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}
