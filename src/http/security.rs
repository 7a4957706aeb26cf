//! Headers on every response of the gateway, the API's as well as the inspector page's: a strict
//! Content-Security-Policy (scripts, styles, images and requests from the gateway itself only; no inline
//! script or style; no framing), no MIME sniffing, no referrer.

use actix_web::middleware::DefaultHeaders;

pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The middleware (`App::wrap(security::headers())`).
pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}
