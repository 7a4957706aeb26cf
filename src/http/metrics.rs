//! `GET /metrics`: Prometheus text exposition of this gateway's registry.

use actix_web::{web, HttpResponse};

use crate::startup::Gateway;

pub async fn metrics(gateway: web::Data<Gateway>) -> HttpResponse {
    match gateway.metrics_text() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot render metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
