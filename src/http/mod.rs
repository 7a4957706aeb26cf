//! The HTTP surface (actix-web). Handlers only translate between HTTP and gateway calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread.

mod errors;
mod health;
mod inspect;
mod meta;
mod metrics;
mod token;
pub mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServiceRequest};
use actix_web::{web, App, HttpServer};

use crate::gateway::Gateway;

pub use errors::error_response;

/// A request id: the caller's `X-Request-Id` when it is short and plain, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub(crate) fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The largest request body read: a SAML document of `[limits] max_body_bytes` as base64url (4/3) plus room
/// for the form's other parameters. The pipeline's own limits then apply to the decoded token.
pub(crate) fn body_limit(gateway: &Gateway) -> usize {
    let max = gateway.config().config.limits.max_body_bytes;
    max.saturating_mul(4) / 3 + 4096
}

/// Reads the body up to `limit` bytes and stops there. A larger body is a LIMIT rejection that the handler
/// audits and answers in the RFC 6749 error format (actix's own limit would answer a bare 413, unaudited).
pub(crate) async fn read_body(
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, crate::error::Rejection> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(crate::error::Rejection::request(
            "the request body could not be read",
        )),
        Err(_) => Err(crate::error::Rejection::limit(format!(
            "the request body is larger than {limit} bytes"
        ))),
    }
}

/// Adds every route to an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(token::token))
        .route("/translate", web::post().to(translate::translate))
        .route("/inspect", web::post().to(inspect::inspect))
        .route("/.well-known/jwks.json", web::get().to(meta::jwks))
        .route("/saml/metadata", web::get().to(meta::saml_metadata))
        .route("/healthz", web::get().to(meta::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics));
}

/// The running server, for `main` and for tests (which bind port 0).
pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    pub fn build(gateway: Arc<Gateway>, listen: &str, workers: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let body_limit = body_limit(&gateway);
        let blocking_threads = gateway.config().config.server.blocking_threads;
        let data = web::Data::from(gateway);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(crate::observability::logging::trace_request)
                .configure(configure)
        })
        .listen(listener)?
        .shutdown_timeout(5)
        .worker_max_blocking_threads(blocking_threads);
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            server: server.run(),
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
