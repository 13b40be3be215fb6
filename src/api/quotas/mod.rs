//! `/v1/quotas` and `/v1/project-quotas`. Request parsing is [`request`], response bodies are
//! [`view`].

pub mod request;
pub mod view;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::context::Caller;
use super::support::paging;
use super::support::{blocking, json_body, paging_of, AppState};
use crate::error::ApiError;
use crate::json::json_response;
use crate::service::quotas::ops;
use request::project_quotas;
use view::{ProjectQuotasItem, ProjectQuotasList, ProjectQuotasView, QuotaBody, QuotasView};

/// The caller's project's effective quotas (-1: unlimited).
#[utoipa::path(get, path = "/v1/quotas", tag = "quotas", operation_id = "get_quotas",
    responses(
        (status = 200, description = "The caller's project's effective quotas", body = QuotasView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Quotas attempt not allowed - please review your user/project privileges"})),
    ))]
pub async fn effective(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let services = state.services.clone();
    let q = blocking(ops::QUOTAS, move || services.quotas().effective(&caller.0)).await?;
    Ok(json_response(
        StatusCode::OK,
        &QuotasView {
            quotas: QuotaBody {
                secrets: Some(q.secrets),
                orders: Some(q.orders),
                containers: Some(q.containers),
                consumers: Some(q.consumers),
                cas: Some(q.cas),
            },
        },
    ))
}

/// Every project's quota overrides (service admins).
#[utoipa::path(get, path = "/v1/project-quotas", tag = "quotas", operation_id = "list_project_quotas",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 10, at most 100)"),
        ("offset" = Option<i64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of the projects with quota overrides", body = ProjectQuotasList),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Project Quotas attempt not allowed - please review your user/project privileges"})),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (offset, limit) = paging_of(&state, &req);
    let services = state.services.clone();
    let (items, total) = blocking(ops::PROJECT_QUOTAS, move || {
        services.quotas().list_projects(&caller.0, offset, limit)
    })
    .await?;
    // Barbican's paging links name the collection `project_quotas`.
    let (previous, next) = paging::nav_links(
        &state.href(&req),
        "project_quotas",
        offset,
        limit,
        total,
        "",
    );
    Ok(json_response(
        StatusCode::OK,
        &ProjectQuotasList {
            project_quotas: items
                .into_iter()
                .map(|(project_id, q)| ProjectQuotasItem {
                    project_id,
                    project_quotas: q.into(),
                })
                .collect(),
            previous,
            next,
            total,
        },
    ))
}

/// One project's quota overrides (service admins).
#[utoipa::path(get, path = "/v1/project-quotas/{project_id}", tag = "quotas", operation_id = "get_project_quotas",
    params(
        ("project_id" = String, Path, description = "The project's id", example = "7a1c2f9e0b4d4c3e8f5a6b7c8d9e0f1a"),
    ),
    responses(
        (status = 200, description = "The project's quota overrides", body = ProjectQuotasView),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Project Quotas attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "The project has no quota overrides", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Project quotas not found."})),
    ))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = path.into_inner();
    let services = state.services.clone();
    let q = blocking(ops::PROJECT_QUOTAS, move || {
        services.quotas().of_project(&caller.0, &project)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &ProjectQuotasView {
            project_quotas: q.into(),
        },
    ))
}

/// Set a project's quota overrides (service admins).
#[utoipa::path(put, path = "/v1/project-quotas/{project_id}", tag = "quotas", operation_id = "put_project_quotas",
    params(
        ("project_id" = String, Path, description = "The project's id", example = "7a1c2f9e0b4d4c3e8f5a6b7c8d9e0f1a"),
    ),
    request_body(content = ProjectQuotasView, content_type = "application/json",
        example = json!({"project_quotas": {"secrets": 500, "orders": 100, "containers": 100, "consumers": -1, "cas": 0}})),
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "Invalid body", body = crate::error::ErrorBody,
            example = json!({"code": 400, "title": "Bad Request", "description": "Provided object does not match schema 'Project Quota': 'x' is not of type 'integer'. Invalid property: 'project_quotas'"})),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Project Quotas attempt not allowed - please review your user/project privileges"})),
    ))]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = path.into_inner();
    state.services.quotas().authorize_change(&caller.0, false)?;
    let body = json_body(&state, &req, body).await?;
    if body.is_empty() {
        return Err(ApiError::issue(
            StatusCode::BAD_REQUEST,
            ops::PROJECT_QUOTAS,
            "No data supplied to process.",
        ));
    }
    let values = project_quotas(&body)?;
    let services = state.services.clone();
    blocking(ops::PROJECT_QUOTAS, move || {
        services.quotas().set_project(&project, values)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a project's quota overrides (service admins).
#[utoipa::path(delete, path = "/v1/project-quotas/{project_id}", tag = "quotas", operation_id = "delete_project_quotas",
    params(
        ("project_id" = String, Path, description = "The project's id", example = "7a1c2f9e0b4d4c3e8f5a6b7c8d9e0f1a"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not allowed", body = crate::error::ErrorBody,
            example = json!({"code": 403, "title": "Forbidden", "description": "Project Quotas attempt not allowed - please review your user/project privileges"})),
        (status = 404, description = "The project has no quota overrides", body = crate::error::ErrorBody,
            example = json!({"code": 404, "title": "Not Found", "description": "Project quotas not found."})),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = path.into_inner();
    state.services.quotas().authorize_change(&caller.0, true)?;
    let services = state.services.clone();
    blocking(ops::PROJECT_QUOTAS, move || {
        services.quotas().delete_project(&project)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
