//! The HTTP surface (actix-web). Handlers only translate between HTTP and pipeline calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread.

mod errors;
mod fallback;
mod health;
mod inspect;
mod meta;
mod metrics;
mod middleware;
mod token;
mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::startup::Gateway;

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
    let post = |path: &str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(web::to(fallback::post_only))
    };
    let get = |path: &str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(web::to(fallback::get_only))
    };
    cfg.service(post("/token", web::post().to(token::token)))
        .service(post("/translate", web::post().to(translate::translate)))
        .service(post("/inspect", web::post().to(inspect::inspect)))
        .service(get("/.well-known/jwks.json", web::get().to(meta::jwks)))
        .service(get("/saml/metadata", web::get().to(meta::saml_metadata)))
        .service(get("/healthz", web::get().to(meta::healthz)))
        .service(get("/readyz", web::get().to(health::readyz)))
        .service(get("/metrics", web::get().to(metrics::metrics)))
        .default_service(web::to(fallback::not_found));
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
        let body_limit = gateway.server().body_limit;
        let blocking_threads = gateway.server().blocking_threads;
        let data = web::Data::from(gateway);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(middleware::trace_request)
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
