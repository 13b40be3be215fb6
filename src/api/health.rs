//! `/healthz` and `/readyz` (GET and HEAD, no authentication): for load balancers,
//! orchestrators and `coffer health`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::support::AppState;
use crate::json::json_response;

/// The process serves requests (no I/O).
pub async fn healthz() -> HttpResponse {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// Every component a request needs can work now: 200, else 503; the body names each
/// component and its state.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report = crate::health::readiness(&state.services).await;
    let status = if report.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &report)
}

/// Register `/healthz` and `/readyz`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .route(web::head().to(healthz)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .route(web::head().to(readyz)),
    );
}
