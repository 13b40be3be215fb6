//! `/v1/secrets`: create, list, metadata, payload, two-step payload upload, delete.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use plugin_api::SecretBytes;
use serde::Serialize;
use utoipa::ToSchema;
use zeroize::Zeroize;

use super::context::{ApiVersion, Caller};
use super::paging::{self, param, query_pairs};
use super::validate::{self, lenient_base64};
use super::views::{secret_ref, SecretList, SecretRefBody, SecretView};
use super::{blocking, read_body, request_media_type, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::model::{DateOp, SecretQuery, SortKey};
use crate::service::secrets::{ops, Payload};
use crate::service::Services;
use crate::timefmt;

/// The body of `POST /v1/secrets` (unknown fields are ignored, as Barbican does).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct NewSecretDoc {
    /// At most 255 characters.
    name: Option<String>,
    /// `symmetric`, `public`, `private`, `passphrase`, `certificate` or `opaque` (default).
    secret_type: Option<String>,
    algorithm: Option<String>,
    /// 1 to 32767.
    bit_length: Option<i32>,
    mode: Option<String>,
    /// ISO-8601, in the future.
    expiration: Option<String>,
    /// The payload: text, or base64 for binary content types. Absent for a metadata-only
    /// secret (its payload then comes with `PUT /v1/secrets/{id}`).
    payload: Option<String>,
    /// `text/plain` (optionally `; charset=utf-8`), `application/octet-stream` or
    /// `application/pkcs8`; required with `payload`.
    payload_content_type: Option<String>,
    /// `base64`; required for binary content types.
    payload_content_encoding: Option<String>,
}

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
    let new = validate::new_secret(&body, state.services.limits.max_payload_bytes);
    body.zeroize();
    let new = new?;
    let services = state.services.clone();
    let row = blocking(ops::CREATE, move || services.create_secret(&caller.0, new)).await?;
    let href = secret_ref(&state.href(&req), &row.id);
    let res = json_response(
        StatusCode::CREATED,
        &SecretRefBody {
            secret_ref: href.clone(),
        },
    );
    Ok(super::created(res, &href, &row.id))
}

const SORT_KEYS: [(&str, SortKey); 9] = [
    ("algorithm", SortKey::Algorithm),
    ("bit_length", SortKey::BitLength),
    ("created", SortKey::Created),
    ("expiration", SortKey::Expiration),
    ("mode", SortKey::Mode),
    ("name", SortKey::Name),
    ("secret_type", SortKey::SecretType),
    ("status", SortKey::Status),
    ("updated", SortKey::Updated),
];

fn bad_query() -> ApiError {
    ApiError::bad_request("URI provided invalid query string parameters.")
}

/// `sort=key[:asc|desc],...`; each key once.
fn parse_sort(text: &str) -> Result<Vec<(SortKey, bool)>, ApiError> {
    let mut out: Vec<(SortKey, bool)> = Vec::new();
    for part in text.split(',') {
        let (key, dir) = match part.split_once(':') {
            Some((k, d)) if !d.contains(':') => (k, d),
            Some(_) => return Err(bad_query()),
            None => (part, "asc"),
        };
        let key = SORT_KEYS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, k)| *k)
            .ok_or_else(bad_query)?;
        let desc = match dir {
            "asc" => false,
            "desc" => true,
            _ => return Err(bad_query()),
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad_query());
        }
        out.push((key, desc));
    }
    Ok(out)
}

/// `created=gt:T,lt:T` and friends, with Barbican's rules on combining them.
fn parse_date_filter(text: &str) -> Result<Vec<(DateOp, chrono::NaiveDateTime)>, ApiError> {
    let mut out: Vec<(DateOp, chrono::NaiveDateTime)> = Vec::new();
    let has = |out: &[(DateOp, _)], ops: &[DateOp]| out.iter().any(|(o, _)| ops.contains(o));
    for part in text.split(',') {
        let (op, rest, conflicts): (DateOp, &str, &[DateOp]) =
            if let Some(r) = part.strip_prefix("gt:") {
                (DateOp::Gt, r, &[DateOp::Gt, DateOp::Gte])
            } else if let Some(r) = part.strip_prefix("gte:") {
                (DateOp::Gte, r, &[DateOp::Gt, DateOp::Gte, DateOp::Eq])
            } else if let Some(r) = part.strip_prefix("lt:") {
                (DateOp::Lt, r, &[DateOp::Lt, DateOp::Lte])
            } else if let Some(r) = part.strip_prefix("lte:") {
                (DateOp::Lte, r, &[DateOp::Lt, DateOp::Lte, DateOp::Eq])
            } else {
                (DateOp::Eq, part, &[DateOp::Eq, DateOp::Gte, DateOp::Lte])
            };
        if has(&out, conflicts) {
            return Err(bad_query());
        }
        let t = timefmt::parse_isotime(rest).ok_or_else(bad_query)?;
        out.push((op, t));
    }
    Ok(out)
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_owned)
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
    let mut query =
        SecretQuery {
            project_id: caller.0.project_id.clone(),
            // Barbican unquotes the (already decoded) name once more.
            name: non_empty(param(&pairs, "name")).map(|n| paging::unquote_plus(&n)),
            algorithm: non_empty(param(&pairs, "alg")),
            mode: non_empty(param(&pairs, "mode")),
            bit_length: param(&pairs, "bits")
                .and_then(paging::py_int)
                .filter(|b| *b > 0)
                .and_then(|b| i32::try_from(b).ok()),
            secret_type: non_empty(param(&pairs, "secret_type")),
            acl_user: caller.0.user_id.clone().filter(|_| {
                param(&pairs, "acl_only").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            }),
            offset,
            limit,
            ..SecretQuery::default()
        };
    for (name, slot) in [
        ("created", &mut query.created),
        ("updated", &mut query.updated),
        ("expiration", &mut query.expiration),
    ] {
        if let Some(f) = param(&pairs, name).filter(|s| !s.is_empty()) {
            *slot = parse_date_filter(f)?;
        }
    }
    if let Some(sort) = param(&pairs, "sort").filter(|s| !s.is_empty()) {
        query.sort = parse_sort(sort)?;
    }
    let services = state.services.clone();
    let with_consumers = version.0.has_consumers();
    let (rows, total, consumers) = blocking(ops::LIST, move || {
        let (rows, total) = services.list_secrets(&query)?;
        let consumers = if with_consumers && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            services.consumers_of_secrets(&ids, ops::LIST)?
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
    all: &[crate::service::consumers::SecretConsumerRow],
    secret_id: &str,
) -> Option<Vec<super::views::SecretConsumerRef>> {
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
    row: &crate::service::secrets::SecretRow,
    href: &str,
    with_consumers: bool,
    operation: &'static str,
) -> Result<SecretView, ApiError> {
    let consumers = if with_consumers {
        services.consumers_of_secrets(std::slice::from_ref(&row.id), operation)?
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
    let accept = super::accept_of(req);
    let cleared = super::read_cleared(req, &secret_id);
    let services = state.services.clone();
    let (content_type, is_text, bytes): (&'static str, bool, SecretBytes) =
        blocking(operation, move || {
            let row =
                services.authorized_secret(&caller.0, &secret_id, "secret:decrypt", operation)?;
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
            let bytes = services.payload(&row, operation)?;
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
    res.extensions_mut().insert(super::PayloadServed);
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
    if !super::accept_of(&req).wants_metadata() {
        return payload_response(&state, caller, &req, secret_id, ops::GET).await;
    }
    let href = state.href(&req);
    let services = state.services.clone();
    let with_consumers = version.0.has_consumers();
    let view = blocking(ops::GET, move || {
        let row = services.authorized_secret(&caller.0, &secret_id, "secret:get", ops::GET)?;
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

/// Turn a PUT body into a payload by its content type and encoding.
fn put_body(req: &HttpRequest, media_type: &str, body: &[u8]) -> Result<Payload, ApiError> {
    let bad = |reason: &str| ApiError::issue(StatusCode::BAD_REQUEST, ops::UPDATE, reason);
    if media_type == "text/plain" {
        return Ok(Payload {
            bytes: zeroize::Zeroizing::new(body.to_vec()),
            content_type: "text/plain".to_owned(),
        });
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase());
    let bytes = match encoding.as_deref() {
        None | Some("") => zeroize::Zeroizing::new(body.to_vec()),
        Some("base64") => std::str::from_utf8(body)
            .ok()
            .and_then(lenient_base64)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("Problem decoding payload"))?,
        Some(_) => {
            return Err(bad(
                "Text-based binary secret payloads must specify a content-encoding of 'base64'",
            ))
        }
    };
    Ok(Payload {
        bytes,
        content_type: media_type.to_owned(),
    })
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
        services.authorized_secret(&caller.0, &secret_id, "secret:put", ops::UPDATE)
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
    blocking(ops::UPDATE, move || services.put_payload(&row, payload)).await?;
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
            services.authorized_secret(&caller.0, &secret_id, "secret:delete", ops::DELETE)?;
        services.delete_secret(&row, guard, force)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_validation() {
        assert_eq!(
            parse_sort("name:desc,created").unwrap(),
            vec![(SortKey::Name, true), (SortKey::Created, false)]
        );
        for bad in ["bogus", "name:up", "name:desc:x", "name,name:desc", ""] {
            assert!(parse_sort(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_filter_validation() {
        assert_eq!(
            parse_date_filter("gt:2026-01-01T00:00:00,lt:2026-02-01")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(parse_date_filter("2026-01-01").unwrap()[0].0, DateOp::Eq);
        for bad in [
            "gt:2026-01-01,gte:2026-01-02",
            "lte:2026-01-01,2026-01-01",
            "2026-01-01,gte:2026-01-01",
            "gt:x",
            "lt:2026-01-01,lt:2026-01-02",
        ] {
            assert!(parse_date_filter(bad).is_err(), "{bad}");
        }
    }
}
