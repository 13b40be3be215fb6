//! `/metrics` (GET, no authentication): Prometheus' text exposition format. Served on
//! `server.bind`, or only on `server.metrics_bind` when that is set.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};

use super::support::AppState;

/// The current value of every metric.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let services = state.services.clone();
    match web::block(move || crate::metrics::render(&services)).await {
        Ok(Some(text)) => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ))
            .body(text),
        Ok(None) => HttpResponse::build(StatusCode::NOT_FOUND).finish(),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be rendered");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).finish()
        }
    }
}

/// Register `/metrics`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}
