//! `/v1/secrets`: create, list, metadata, payload, two-step payload upload, delete. Request
//! parsing is [`request`], response bodies are [`view`].

pub mod request;
pub mod view;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use plugin_api::SecretBytes;
use zeroize::Zeroize;

use super::context::{ApiVersion, Caller};
use super::support::paging::{self, param, query_pairs};
use super::support::{
    accept_of, blocking, created, read_body, read_cleared, request_media_type, AppState,
    PayloadServed,
};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::consumers::SecretConsumerRow;
use crate::service::secrets::{ops, SecretRow};
use crate::service::Services;
use request::{bad_query, list_query, new_secret, put_body, NewSecretDoc};
use view::{secret_ref, SecretConsumerRef, SecretList, SecretRefBody, SecretView};

/// Create a secret, with its payload (one step) or metadata only (two step).
#[utoipa::path(
    post, path = "/v1/secrets", tag = "secrets", operation_id = "create_secret",
    request_body(content = NewSecretDoc, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = SecretRefBody,
            headers(("Location" = String, description = "The secret's ref"))),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Secret': If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret creation attempt not allowed - please review your user/project privileges"})),
        (status = 413, description = "Payload or body too large", body = crate::error::ErrorBody,
            example = json!({"code": 413, "title": "Request Entity Too Large", "description": "Provided information too large to process"})),
        (status = 415, description = "Body is not JSON", body = crate::error::ErrorBody,
            example = json!({"code": 415, "title": "Unsupported Media Type", "description": "Unexpected content type. Expected content types are: ['application/json']"})),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "secrets:post", ops::CREATE)?;
    if request_media_type(&req) != "application/json" {
        return Err(ApiError::unsupported_media_type(&["application/json"]));
    }
    let mut body = read_body(
        &state,
        body,
        &req,
        state.max_request_bytes,
        ApiError::too_large,
    )
    .await?;
    let new = new_secret(&body, state.services.limits.max_payload_bytes);
    body.zeroize();
    let new = new?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || {
        services.secrets().create(&caller.0, new)
    })
    .await?;
    let href = secret_ref(&state.href(&req), &row.id);
    let res = json_response(
        StatusCode::CREATED,
        &SecretRefBody {
            secret_ref: href.clone(),
        },
    );
    Ok(created(res, &href, &row.id))
}

/// List the project's secrets, with paging, filters and sorting.
#[utoipa::path(
    get, path = "/v1/secrets", tag = "secrets", operation_id = "list_secrets",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
        ("name" = Option<String>, Query, description = "Exact name (case-insensitive)"),
        ("alg" = Option<String>, Query, description = "Algorithm"),
        ("mode" = Option<String>, Query, description = "Mode"),
        ("bits" = Option<i64>, Query, description = "Bit length"),
        ("secret_type" = Option<String>, Query, description = "Secret type"),
        ("created" = Option<String>, Query, description = "Date filter, e.g. `gt:2026-01-01T00:00:00,lte:2026-02-01`"),
        ("updated" = Option<String>, Query, description = "Date filter"),
        ("expiration" = Option<String>, Query, description = "Date filter"),
        ("sort" = Option<String>, Query, description = "e.g. `name:desc,created`"),
        ("OpenStack-API-Version" = Option<String>, Header, description = "The microversion: `key-manager 1.0` (the default), `key-manager 1.1`, `key-manager 1.2` or `key-manager latest`; from 1.1 each secret lists its `consumers`"),
    ),
    responses(
        (status = 200, description = "A page of secrets", body = SecretList),
        (status = 400, description = "Invalid query", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "URI provided invalid query string parameters."})),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    version: ApiVersion,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .authorize_collection(&caller.0, "secrets:get", ops::LIST)?;
    let pairs = query_pairs(req.query_string());
    let limits = &state.services.limits;
    let (offset, limit) = paging::clean_paging(
        param(&pairs, "offset"),
        param(&pairs, "limit"),
        limits.default_limit_paging,
        limits.max_limit_paging,
    );
    let query = list_query(&pairs, &caller.0, offset, limit)?;
    let services = state.services.clone();
    let with_consumers = version.0.has_consumers();
    let (rows, total, consumers) = blocking(ops::LIST, move || {
        let (rows, total) = services.secrets().list(&query)?;
        let consumers = if with_consumers && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            services.consumers().of_secrets(&ids, ops::LIST)?
        } else {
            Vec::new()
        };
        Ok::<_, ApiError>((rows, total, consumers))
    })
    .await?;
    let href = state.href(&req);
    let (previous, next) = paging::page_links(
        rows.is_empty(),
        &href,
        "secrets",
        offset,
        limit,
        total,
        &paging::carried_query(&pairs),
    );
    let body = SecretList {
        secrets: rows
            .iter()
            .map(|r| SecretView::new(r, &href, consumer_refs(with_consumers, &consumers, &r.id)))
            .collect(),
        previous,
        next,
        total,
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The `consumers` of one secret among `all`, when the microversion shows them.
fn consumer_refs(
    show: bool,
    all: &[SecretConsumerRow],
    secret_id: &str,
) -> Option<Vec<SecretConsumerRef>> {
    show.then(|| {
        all.iter()
            .filter(|c| c.secret_id == secret_id)
            .map(Into::into)
            .collect()
    })
}

/// A secret's metadata view, with its consumers when `with_consumers` (blocking).
pub fn secret_view(
    services: &Services,
    row: &SecretRow,
    href: &str,
    with_consumers: bool,
    operation: &'static str,
) -> Result<SecretView, ApiError> {
    let consumers = if with_consumers {
        services
            .consumers()
            .of_secrets(std::slice::from_ref(&row.id), operation)?
    } else {
        Vec::new()
    };
    Ok(SecretView::new(
        row,
        href,
        consumer_refs(with_consumers, &consumers, &row.id),
    ))
}

fn wrong_accept(operation: &str) -> ApiError {
    ApiError::issue(
        StatusCode::NOT_ACCEPTABLE,
        operation,
        "Wrong payload content-type",
    )
}

/// Fetch, authorize and decrypt a payload, then render it for the `Accept` header. Served
/// only under the pipeline's read clearance (its `secret.read` passed `before`); the response
/// reports the payload it carries.
async fn payload_response(
    state: &web::Data<AppState>,
    caller: Caller,
    req: &HttpRequest,
    secret_id: String,
    operation: &'static str,
) -> Result<HttpResponse, ApiError> {
    let accept = accept_of(req);
    let cleared = read_cleared(req, &secret_id);
    let services = state.services.clone();
    let (content_type, is_text, bytes): (&'static str, bool, SecretBytes) =
        blocking(operation, move || {
            let row = services.secrets().authorized(
                &caller.0,
                &secret_id,
                "secret:decrypt",
                operation,
            )?;
            if !row.has_payload() {
                return Err(ApiError::not_found(
                    "Not Found. Sorry but your secret has no payload.",
                ));
            }
            let ct = accept
                .payload_type(row.content_type.as_deref())
                .ok_or_else(|| wrong_accept(operation))?;
            if !cleared {
                return Err(ApiError::failure(
                    operation,
                    &"a payload read reached its handler without the pipeline's read clearance",
                ));
            }
            let bytes = services.secrets().payload(&row, operation)?;
            Ok((ct, ct == "text/plain", bytes))
        })
        .await?;
    if is_text && std::str::from_utf8(&bytes).is_err() {
        return Err(wrong_accept(operation));
    }
    // The response body owns the plaintext and zeroizes it once sent.
    let mut res = HttpResponse::Ok().body(bytes::Bytes::from_owner(bytes));
    let content_type = if is_text {
        HeaderValue::from_static("text/plain; charset=UTF-8")
    } else {
        HeaderValue::from_static(content_type)
    };
    res.headers_mut().insert(header::CONTENT_TYPE, content_type);
    res.extensions_mut().insert(PayloadServed);
    Ok(res)
}

/// A secret's metadata; with an `Accept` other than JSON, its payload (legacy form).
#[utoipa::path(
    get, path = "/v1/secrets/{secret_id}", tag = "secrets", operation_id = "get_secret",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("OpenStack-API-Version" = Option<String>, Header, description = "The microversion: `key-manager 1.0` (the default), `key-manager 1.1`, `key-manager 1.2` or `key-manager latest`; from 1.1 the metadata lists the secret's `consumers`"),
    ),
    responses(
        (status = 200, description = "The secret's metadata (`Accept: application/json`); with \
            `Accept: text/plain` or `application/octet-stream`, its payload, as Barbican's legacy \
            read", content(
            (SecretView = "application/json"),
            (String = "text/plain", example = json!("correct horse battery staple")),
            ("application/octet-stream"),
        )),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown, deleted or expired secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
        (status = 406, description = "The payload cannot be given as `Accept` asks", body = crate::error::ErrorBody,
            example = json!({"code": 406, "title": "Not Acceptable", "description": "Secret payload retrieval issue seen - Wrong payload content-type."})),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    version: ApiVersion,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let secret_id = path.into_inner();
    if !accept_of(&req).wants_metadata() {
        return payload_response(&state, caller, &req, secret_id, ops::GET).await;
    }
    let href = state.href(&req);
    let services = state.services.clone();
    let with_consumers = version.0.has_consumers();
    let view = blocking(ops::GET, move || {
        let row = services
            .secrets()
            .authorized(&caller.0, &secret_id, "secret:get", ops::GET)?;
        secret_view(&services, &row, &href, with_consumers, ops::GET)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// A secret's payload, as the `Accept` header asks (`text/plain` or
/// `application/octet-stream`; octet-stream without `Accept`).
#[utoipa::path(
    get, path = "/v1/secrets/{secret_id}/payload", tag = "secrets", operation_id = "get_secret_payload",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
    ),
    responses(
        (status = 200, description = "The payload, as `Accept` asks (the response media type)", content(
            (String = "text/plain", example = json!("correct horse battery staple")),
            ("application/octet-stream"),
        )),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret payload retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret, or a secret without payload", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
        (status = 406, description = "The payload cannot be given as `Accept` asks", body = crate::error::ErrorBody,
            example = json!({"code": 406, "title": "Not Acceptable", "description": "Secret payload retrieval issue seen - Wrong payload content-type."})),
    )
)]
pub async fn payload(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    payload_response(&state, caller, &req, path.into_inner(), ops::PAYLOAD).await
}

/// Add the payload of a metadata-only secret (second step of a two-step creation). The body
/// is the raw payload; `Content-Type` is `text/plain` or `application/octet-stream` (with
/// `Content-Encoding: base64` for base64 text).
#[utoipa::path(
    put, path = "/v1/secrets/{secret_id}", tag = "secrets", operation_id = "put_secret_payload",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("Content-Encoding" = Option<String>, Header, description = "`base64` when an `application/octet-stream` body is base64 text"),
    ),
    request_body(description = "The raw payload", content(
        (String = "text/plain", example = json!("correct horse battery staple")),
        ("application/octet-stream"),
    )),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "A payload that does not decode", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Secret update issue seen - Problem decoding payload."})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
        (status = 409, description = "The secret already has a payload", body = crate::error::ErrorBody,
            example = json!({"code": 409, "title": "Conflict", "description": "Secret already has data, cannot modify it."})),
        (status = 413, description = "Payload too large", body = crate::error::ErrorBody,
            example = json!({"code": 413, "title": "Request Entity Too Large", "description": "Provided information too large to process"})),
        (status = 415, description = "Unsupported content type", body = crate::error::ErrorBody,
            example = json!({"code": 415, "title": "Unsupported Media Type", "description": "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']"})),
    )
)]
pub async fn put_payload(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let secret_id = path.into_inner();
    let services = state.services.clone();
    let row = blocking(ops::UPDATE, move || {
        services
            .secrets()
            .authorized(&caller.0, &secret_id, "secret:put", ops::UPDATE)
    })
    .await?;
    let media_type = request_media_type(&req);
    if !matches!(
        media_type.as_str(),
        "application/octet-stream" | "text/plain"
    ) {
        return Err(ApiError::unsupported_media_type(&[
            "application/octet-stream",
            "text/plain",
        ]));
    }
    let max = state.services.limits.max_payload_bytes;
    let too_large: fn() -> ApiError = || {
        ApiError::issue(
            StatusCode::PAYLOAD_TOO_LARGE,
            ops::UPDATE,
            "Provided information too large to process",
        )
    };
    let mut body = read_body(&state, body, &req, max, too_large).await?;
    if body.is_empty() {
        return Err(ApiError::issue(
            StatusCode::BAD_REQUEST,
            ops::UPDATE,
            "No data supplied to process.",
        ));
    }
    if row.has_payload() {
        return Err(ApiError::conflict(
            "Secret already has data, cannot modify it.",
        ));
    }
    let payload = put_body(&req, &media_type, &body);
    body.zeroize();
    let payload = payload?;
    let services = state.services.clone();
    blocking(ops::UPDATE, move || {
        services.secrets().put_payload(&row, payload)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete a secret and its payload.
#[utoipa::path(
    delete, path = "/v1/secrets/{secret_id}", tag = "secrets", operation_id = "delete_secret",
    params(
        ("secret_id" = String, Path, description = "The secret's UUID", example = "f543e732-336f-4a85-8258-61feed491453"),
        ("force" = Option<bool>, Query, description = "From microversion 1.2: delete even when consumed"),
        ("OpenStack-API-Version" = Option<String>, Header, description = "The microversion: `key-manager 1.0` (the default), `key-manager 1.1`, `key-manager 1.2` or `key-manager latest`; from 1.2 a secret with consumers is deleted only with `force=true`"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Consumed secret without `force` (1.2), or an invalid `force`", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Secret deletion issue seen - Secret cannot be deleted as it has consumers.."})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret deletion attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown secret", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Secret not found."})),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    version: ApiVersion,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let secret_id = path.into_inner();
    // From 1.2 a consumed secret is only deleted with `force` (a strict boolean).
    let guard = version.0.guards_consumed_deletes();
    let mut force = false;
    if guard {
        let pairs = query_pairs(req.query_string());
        if let Some(f) = param(&pairs, "force") {
            force = paging::strict_bool(f).ok_or_else(bad_query)?;
        }
    }
    let services = state.services.clone();
    blocking(ops::DELETE, move || {
        let row =
            services
                .secrets()
                .authorized(&caller.0, &secret_id, "secret:delete", ops::DELETE)?;
        services.secrets().delete(&row, guard, force)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
