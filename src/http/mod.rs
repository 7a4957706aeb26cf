//! The HTTP surface (actix-web). Handlers only translate between HTTP and pipeline calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread.

mod caller;
mod discovery;
mod errors;
mod health;
mod inspect;
mod inspector;
mod meta;
mod metrics;
mod middleware;
pub mod security;
mod tls;
mod token;
mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::startup::Gateway;

pub use errors::error_response;
pub use middleware::RequestId;
pub use tls::ClientCertificate;

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
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(discovery::authorization_server),
        )
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
        Self::build_on(gateway, TcpListener::bind(listen)?, workers)
    }

    /// Serves on a listener already bound (tests bind first to know the port the configuration names).
    /// Refuses an address beyond loopback unless the configuration may listen there (`startup::Exposure`).
    pub fn build_on(
        gateway: Arc<Gateway>,
        listener: TcpListener,
        workers: usize,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        gateway
            .server()
            .exposure
            .check(local.ip())
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why))?;
        let port = local.port();
        let tls = gateway.server().tls.clone();
        let body_limit = gateway.server().body_limit;
        let blocking_threads = gateway.server().blocking_threads;
        let data = web::Data::from(gateway);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(middleware::trace_request)
                .wrap(security::headers())
                .configure(configure)
        })
        .on_connect(tls::capture_client_certificate)
        .shutdown_timeout(5)
        .worker_max_blocking_threads(blocking_threads);
        server = match &tls {
            Some(settings) => server.listen_openssl(listener, tls::acceptor(settings)?)?,
            None => server.listen(listener)?,
        };
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
