use actix_web::{web, HttpResponse};

use crate::startup::Gateway;

/// Every signing key not retired: the current one, the next, and those retired after an instant to come.
pub async fn jwks(gateway: web::Data<Gateway>) -> HttpResponse {
    match gateway.pipeline().jwks_json() {
        Ok(jwks) => HttpResponse::Ok()
            .content_type("application/jwk-set+json")
            .insert_header(("Cache-Control", "public, max-age=300"))
            .body(jwks),
        Err(e) => super::errors::error_response(&e),
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// SAML metadata naming the gateway as an assertion issuer, with its signing certificate.
pub async fn saml_metadata(gateway: web::Data<Gateway>) -> HttpResponse {
    match gateway.saml_metadata() {
        Ok(Some(xml)) => HttpResponse::Ok()
            .content_type("application/samlmetadata+xml")
            .insert_header(("Cache-Control", "public, max-age=300"))
            .body(xml),
        Ok(None) => HttpResponse::NotFound()
            .json(serde_json::json!({"error": "not_found", "error_description": "this gateway issues no SAML assertions"})),
        Err(e) => super::errors::error_response(&e),
    }
}
