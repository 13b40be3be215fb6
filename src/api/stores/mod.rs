//! `/v1/secret-stores`: the configured stores and each project's preferred store. Enabled when
//! stores are configured explicitly (`[stores.NAME]`), like Barbican's multiple backends. Also
//! `/v1/transport_keys` (none: no store offers them). Response bodies are [`view`].

pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::support::{blocking, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::stores::ops;
use view::{StoreList, StoreView, TransportKeyList};

/// Every configured store (with Coffer's extra plugin-status fields).
#[utoipa::path(get, path = "/v1/secret-stores", tag = "secret stores", operation_id = "list_secret_stores",
    responses(
        (status = 200, description = "The configured stores", body = StoreList),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "List available secret stores attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "No stores are configured explicitly (`[stores.NAME]`)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Multiple backends support is not enabled in service configuration."})),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let href = state.href(&req);
    let services = state.services.clone();
    let body = blocking(ops::LIST, move || {
        let stores = services.secret_stores().list(&caller.0)?;
        Ok::<_, ApiError>(StoreList {
            secret_stores: stores.iter().map(|s| StoreView::new(s, &href)).collect(),
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &body))
}

/// The global default store.
#[utoipa::path(get, path = "/v1/secret-stores/global-default", tag = "secret stores",
    operation_id = "get_global_default_secret_store",
    responses(
        (status = 200, description = "The global default store", body = StoreView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Retrieve global default secret store attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "No stores are configured explicitly (`[stores.NAME]`)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Multiple backends support is not enabled in service configuration."})),
    ))]
pub async fn global_default(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let href = state.href(&req);
    let services = state.services.clone();
    let view = blocking(ops::GLOBAL_DEFAULT, move || {
        Ok::<_, ApiError>(StoreView::new(
            &services.secret_stores().global_default(&caller.0)?,
            &href,
        ))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// The caller's project's preferred store.
#[utoipa::path(get, path = "/v1/secret-stores/preferred", tag = "secret stores",
    operation_id = "get_preferred_secret_store",
    responses(
        (status = 200, description = "The project's preferred store", body = StoreView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Retrieve project preferred store attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "No preferred store (or no stores configured explicitly)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. No preferred secret store defined for this project."})),
    ))]
pub async fn preferred(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let href = state.href(&req);
    let services = state.services.clone();
    let view = blocking(ops::PREFERRED, move || {
        Ok::<_, ApiError>(StoreView::new(
            &services.secret_stores().preferred(&caller.0)?,
            &href,
        ))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// A store.
#[utoipa::path(get, path = "/v1/secret-stores/{store_id}", tag = "secret stores", operation_id = "get_secret_store",
    params(
        ("store_id" = String, Path, description = "The store's UUID", example = "9c2b5e8a-4d1f-4b7e-a3c6-2f8d0e1b7a54"),
    ),
    responses(
        (status = 200, description = "The store", body = StoreView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Secret store retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown store (or no stores configured explicitly)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Secret store not found."})),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let href = state.href(&req);
    let services = state.services.clone();
    let view = blocking(ops::GET, move || {
        Ok::<_, ApiError>(StoreView::new(
            &services.secret_stores().get(&caller.0, &id)?,
            &href,
        ))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// Make a store the caller's project's preferred store (project admins).
#[utoipa::path(post, path = "/v1/secret-stores/{store_id}/preferred", tag = "secret stores",
    operation_id = "set_preferred_secret_store",
    params(
        ("store_id" = String, Path, description = "The store's UUID", example = "9c2b5e8a-4d1f-4b7e-a3c6-2f8d0e1b7a54"),
    ),
    responses(
        (status = 204, description = "Set"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Setting preferred secret store attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown store (or no stores configured explicitly)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Secret store not found."})),
    ))]
pub async fn set_preferred(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::SET_PREFERRED, move || {
        services.secret_stores().set_preferred(&caller.0, &id, true)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Clear the caller's project's preferred store (project admins).
#[utoipa::path(delete, path = "/v1/secret-stores/{store_id}/preferred", tag = "secret stores",
    operation_id = "clear_preferred_secret_store",
    params(
        ("store_id" = String, Path, description = "The store's UUID", example = "9c2b5e8a-4d1f-4b7e-a3c6-2f8d0e1b7a54"),
    ),
    responses(
        (status = 204, description = "Cleared"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Removing preferred secret store attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Unknown store (or no stores configured explicitly)", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Secret store not found."})),
    ))]
pub async fn clear_preferred(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let services = state.services.clone();
    blocking(ops::CLEAR_PREFERRED, move || {
        services
            .secret_stores()
            .set_preferred(&caller.0, &id, false)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Transport keys (none: no configured store offers them).
#[utoipa::path(get, path = "/v1/transport_keys", tag = "secret stores", operation_id = "list_transport_keys",
    responses(
        (status = 200, description = "None: no store offers transport keys", body = TransportKeyList),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Transport Key(s) retrieval attempt not allowed - please review your user/project privileges"})),
    ))]
pub async fn transport_keys(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    state.services.authorize_collection(
        &caller.0,
        "transport_keys:get",
        "Transport Key(s) retrieval",
    )?;
    Ok(json_response(
        StatusCode::OK,
        &TransportKeyList {
            transport_keys: Vec::new(),
            total: 0,
        },
    ))
}

/// A transport key by id: Coffer's stores offer none, so a valid id is never found.
#[utoipa::path(get, path = "/v1/transport_keys/{key_id}", tag = "secret stores", operation_id = "get_transport_key",
    params(
        ("key_id" = String, Path, description = "The transport key's UUID", example = "5b0e6c1d-7f2a-4e3b-9c8d-1a2b3c4d5e6f"),
    ),
    responses(
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Transport Key retrieval attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "Never found: no store offers transport keys", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Not Found. Transport Key not found."})),
    ))]
pub async fn transport_key(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if !crate::service::is_uuid4(&id) {
        return Err(ApiError::not_found(
            "Not Found. Provided transport key id is invalid.",
        ));
    }
    let (action, op) = if req.method() == actix_web::http::Method::DELETE {
        ("transport_key:delete", "Transport Key deletion")
    } else {
        ("transport_key:get", "Transport Key retrieval")
    };
    state.services.authorize_collection(&caller.0, action, op)?;
    Err(ApiError::not_found("Not Found. Transport Key not found."))
}
