//! One place that turns a rejection into an HTTP response: RFC 6749 §5.2 / RFC 8693 §2.2.2 error JSON,
//! with the gateway's error class as an extension member. The message never contains the token.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

use crate::error::{ErrorClass, Rejection};

pub fn error_response(rejection: &Rejection) -> HttpResponse {
    let (status, error) = match rejection.class {
        ErrorClass::Target => (StatusCode::BAD_REQUEST, "invalid_target"),
        ErrorClass::Scope => (StatusCode::BAD_REQUEST, "invalid_scope"),
        ErrorClass::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        ErrorClass::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        // RFC 6749 §5.2: a failed client authentication may be answered 401 (the token endpoint adds
        // WWW-Authenticate where the client used the Authorization header).
        ErrorClass::Client => (StatusCode::UNAUTHORIZED, "invalid_client"),
        ErrorClass::Policy => (StatusCode::BAD_REQUEST, "unauthorized_client"),
        // RFC 9449 §5 and §8.
        ErrorClass::Proof => (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
        ErrorClass::Nonce => (StatusCode::BAD_REQUEST, "use_dpop_nonce"),
        ErrorClass::Binding => (StatusCode::BAD_REQUEST, "invalid_grant"),
        // A block is the policy refusing a valid subject token: RFC 8693 §2.2.2 asks for invalid_request
        // then, like every other refusal here (a 403 would be a second convention beside `error_class`).
        ErrorClass::Blocked => (StatusCode::BAD_REQUEST, "invalid_request"),
        _ => (StatusCode::BAD_REQUEST, "invalid_request"),
    };
    error_json(status, error, rejection.class, &rejection.message)
}

pub fn error_json(
    status: StatusCode,
    error: &str,
    class: ErrorClass,
    description: &str,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(json!({
            "error": error,
            "error_description": description,
            "error_class": class,
        }))
}
