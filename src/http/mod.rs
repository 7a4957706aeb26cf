//! The HTTP surface (actix-web). Handlers only translate between HTTP and pipeline calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread.

mod errors;
mod health;
mod inspect;
mod inspector;
mod meta;
mod metrics;
mod middleware;
pub mod security;
mod token;
mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::startup::{Gateway, LiveGateway};

pub use errors::error_response;
pub use middleware::RequestId;

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

/// The request id the middleware gave this request.
pub(crate) fn request_id_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Adds every route to an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(token::token))
        .route("/translate", web::post().to(translate::translate))
        .route("/inspect", web::post().to(inspect::inspect))
        .route("/", web::get().to(inspector::root))
        .route("/inspector", web::get().to(inspector::page))
        .route("/inspector/inspector.js", web::get().to(inspector::script))
        .route("/inspector/inspector.css", web::get().to(inspector::style))
        .route("/inspector/icon.svg", web::get().to(inspector::icon))
        .route("/inspector/meta.json", web::get().to(inspector::meta))
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
    /// A server on one gateway for its whole life (tests, benchmarks).
    pub fn build(gateway: Arc<Gateway>, listen: &str, workers: usize) -> std::io::Result<Self> {
        Self::build_live(Arc::new(LiveGateway::new(gateway)), listen, workers)
    }

    /// A server on the gateway `live` holds at each request's start (swapped by a reload).
    pub fn build_live(
        live: Arc<LiveGateway>,
        listen: &str,
        workers: usize,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let port = listener.local_addr()?.port();
        let first = live.load();
        let body_limit = first.server().body_limit;
        let blocking_threads = first.server().blocking_threads;
        drop(first);
        let mut server = HttpServer::new(move || {
            let live = live.clone();
            App::new()
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(middleware::trace_request)
                .wrap(security::headers())
                // Outermost, so every handler and the middleware inside see this request's gateway.
                .wrap_fn(move |req, srv| middleware::current_gateway(&live, req, srv))
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
