//! Answers for requests no route takes, in the same JSON error format as every other refusal: an unknown
//! path is 404, a known path with the wrong method 405 with `Allow` (RFC 9110 §15.5.6). The path is not
//! repeated in the answer (it is the caller's input).

use actix_web::http::header::ALLOW;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::errors::error_json;
use crate::error::ErrorClass;

pub async fn not_found() -> HttpResponse {
    error_json(
        StatusCode::NOT_FOUND,
        "not_found",
        ErrorClass::Request,
        "no such endpoint (see /token, /translate, /inspect, /inspector, /audit/insight, \
         /.well-known/jwks.json, /.well-known/oauth-authorization-server, /saml/metadata, /healthz, \
         /readyz, /metrics, and the configured [[proxy.routes]] and [ws_trust] paths)",
    )
}

fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut res = error_json(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        ErrorClass::Request,
        &format!("this endpoint takes {allow} only"),
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(ALLOW, v);
    }
    res
}

pub async fn post_only() -> HttpResponse {
    method_not_allowed("POST")
}

pub async fn get_only() -> HttpResponse {
    method_not_allowed("GET")
}
