//! The HTTP surface (actix-web). Handlers only translate between HTTP and gateway calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread.

mod errors;
mod inspect;
mod meta;
mod token;
pub mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServiceRequest};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpMessage, HttpServer};
use tracing::Instrument;

use crate::gateway::Gateway;

pub use errors::error_response;

/// A request id: the caller's `X-Request-Id` when it is short and plain, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_id(req: &ServiceRequest) -> String {
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

/// Adds every route to an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/token", web::post().to(token::token))
        .route("/translate", web::post().to(translate::translate))
        .route("/inspect", web::post().to(inspect::inspect))
        .route("/.well-known/jwks.json", web::get().to(meta::jwks))
        .route("/saml/metadata", web::get().to(meta::saml_metadata))
        .route("/healthz", web::get().to(meta::healthz));
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
        let body_limit = gateway.config().config.limits.max_body_bytes;
        let data = web::Data::from(gateway);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(body_limit * 4 / 3 + 4096))
                .wrap_fn(|req, srv| {
                    use actix_web::dev::Service;
                    let id = request_id(&req);
                    req.extensions_mut().insert(RequestId(id.clone()));
                    let span = tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.path(),
                    );
                    let started = std::time::Instant::now();
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        tracing::info!(
                            status = res.status().as_u16(),
                            micros =
                                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                            "request done"
                        );
                        if let Ok(v) = HeaderValue::from_str(&id) {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), v);
                        }
                        Ok(res)
                    }
                    .instrument(span)
                })
                .configure(configure)
        })
        .listen(listener)?
        .shutdown_timeout(5);
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
