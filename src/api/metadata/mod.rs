//! `/v1/secrets/{id}/metadata`: secret user metadata. Request parsing is [`request`], response
//! bodies are [`view`].

pub mod request;
pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::support::{blocking, json_body, with_location, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::metadata::ops;
use request::{metadata, metadatum};
use view::{metadata_ref, MetadataBody, MetadataRefBody, MetadatumBody};

/// All of a secret's user metadata.
#[utoipa::path(get, path = "/v1/secrets/{secret_id}/metadata", tag = "secret metadata",
    operation_id = "get_secret_metadata",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    responses(
        (status = 200, description = "Every key and value", body = MetadataBody),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret metadata retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn get_all(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let entries = blocking(ops::GET_ALL, move || {
        let row = services
            .secrets()
            .authorized(&caller.0, &id, "secret_meta:get", ops::GET_ALL)?;
        services.secret_metadata().all(&row.id)
    })
    .await?;
    let metadata = entries
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    Ok(json_response(StatusCode::OK, &MetadataBody { metadata }))
}

/// Replace all of a secret's user metadata (keys are lower-cased).
#[utoipa::path(put, path = "/v1/secrets/{secret_id}/metadata", tag = "secret metadata",
    operation_id = "put_secret_metadata",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = MetadataBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Replaced", body = MetadataRefBody),
        (status = 400, description = "Invalid metadata", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Invalid Metadata. Keys and Values must be Strings."})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret metadata creation attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn put_all(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let row = blocking(ops::PUT_ALL, move || {
        services
            .secrets()
            .authorized(&caller.0, &id, "secret_meta:put", ops::PUT_ALL)
    })
    .await?;
    let entries = metadata(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let secret_id = row.id.clone();
    blocking(ops::PUT_ALL, move || {
        services.secret_metadata().replace(&secret_id, &entries)
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &MetadataRefBody {
            metadata_ref: metadata_ref(&state.href(&req), &row.id),
        },
    ))
}

/// Add one key.
#[utoipa::path(post, path = "/v1/secrets/{secret_id}/metadata", tag = "secret metadata",
    operation_id = "add_secret_metadatum",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    request_body(content = MetadatumBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = MetadatumBody,
            headers(("Location" = String, description = "The key's URL"))),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'SecretMetadatum': 'value' is a required property. Invalid property: 'value'"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
        (status = 409, description = "The key exists", body = crate::error::ErrorBody,
            example = json!({"code": 409, "title": "Conflict", "description": "Conflict. Key in request is already in the secret metadata"})),
    ))]
pub async fn post_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    let row = blocking(ops::POST, move || {
        services
            .secrets()
            .authorized(&caller.0, &id, "secret_meta:post", ops::POST)
    })
    .await?;
    let (key, value) = metadatum(&json_body(&state, &req, body).await?)?;
    let services = state.services.clone();
    let (secret_id, k, v) = (row.id.clone(), key.clone(), value.clone());
    blocking(ops::POST, move || {
        services.secret_metadata().add(&secret_id, &k, &v)
    })
    .await?;
    let location = format!("{}/{key}", metadata_ref(&state.href(&req), &row.id));
    let res = json_response(StatusCode::CREATED, &MetadatumBody { key, value });
    Ok(with_location(res, &location))
}

/// One key.
#[utoipa::path(get, path = "/v1/secrets/{secret_id}/metadata/{key}", tag = "secret metadata",
    operation_id = "get_secret_metadatum",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("key" = String, Path, description = "The metadata key (lower case)", example = "environment"),
    ),
    responses(
        (status = 200, description = "The key and its value", body = MetadatumBody),
        (status = 404, description = "Unknown secret or key", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret metadata not found."})),
    ))]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, key) = path.into_inner();
    let services = state.services.clone();
    let k = key.clone();
    let value = blocking(ops::GET, move || {
        let row = services
            .secrets()
            .authorized(&caller.0, &id, "secret_meta:get", ops::GET)?;
        services.secret_metadata().get(&row.id, &k)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &MetadatumBody { key, value }))
}

/// Change one key's value (the body's key must be the URL's).
#[utoipa::path(put, path = "/v1/secrets/{secret_id}/metadata/{key}", tag = "secret metadata",
    operation_id = "put_secret_metadatum",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("key" = String, Path, description = "The metadata key (lower case)", example = "environment"),
    ),
    request_body(content = MetadatumBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = MetadatumBody),
        (status = 404, description = "Unknown secret or key", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret metadata not found."})),
        (status = 409, description = "The body's key is not the URL's", body = crate::error::ErrorBody,
            example = json!({"code": 409, "title": "Conflict", "description": "Key in request data does not match key in the "})),
    ))]
pub async fn put_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (id, url_key) = path.into_inner();
    let services = state.services.clone();
    let k = url_key.clone();
    let (row, exists) = blocking(ops::PUT, move || {
        let row = services
            .secrets()
            .authorized(&caller.0, &id, "secret_meta:put", ops::PUT)?;
        let exists = services.secret_metadata().has(&row.id, &k)?;
        Ok::<_, ApiError>((row, exists))
    })
    .await?;
    let (key, value) = metadatum(&json_body(&state, &req, body).await?)?;
    if !exists {
        return Err(ApiError::not_found("Secret metadata not found."));
    }
    if key != url_key {
        // Barbican's message (its second sentence is lost to a Python string-concatenation slip).
        return Err(ApiError::conflict(
            "Key in request data does not match key in the ",
        ));
    }
    let services = state.services.clone();
    let (k, v) = (key.clone(), value.clone());
    blocking(ops::PUT, move || {
        services.secret_metadata().update(&row.id, &k, &v)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &MetadatumBody { key, value }))
}

/// Remove one key.
#[utoipa::path(delete, path = "/v1/secrets/{secret_id}/metadata/{key}", tag = "secret metadata",
    operation_id = "delete_secret_metadatum",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("key" = String, Path, description = "The metadata key (lower case)", example = "environment"),
    ),
    responses(
        (status = 204, description = "Removed (also when absent)"),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    ))]
pub async fn delete_one(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, key) = path.into_inner();
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row =
            services
                .secrets()
                .authorized(&caller.0, &id, "secret_meta:delete", ops::DELETE)?;
        services.secret_metadata().delete(&row.id, &key)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
