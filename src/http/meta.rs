use actix_web::{web, HttpResponse};

use crate::gateway::Gateway;

pub async fn jwks(gateway: web::Data<Gateway>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(gateway.jwt_issuer().jwks_json().to_string())
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}
