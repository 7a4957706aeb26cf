//! The HTTP surface (actix-web). Handlers only translate between HTTP and pipeline calls; the pipeline runs on
//! the blocking pool because XML signature work is CPU-bound and libxml2 objects must stay on one thread; the
//! thread goes back to its pool before the access-log commit, which the handler awaits (`audit::ack`).

mod caller;
mod discovery;
mod errors;
mod fallback;
mod form;
mod health;
mod insight;
mod inspect;
mod inspector;
mod meta;
mod metrics;
mod middleware;
pub mod security;
pub mod shed;
mod soap;
mod tls;
mod token;
mod translate;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::startup::{Gateway, LiveGateway};

pub use errors::error_response;
pub use middleware::RequestId;
pub use tls::ClientCertificate;

/// Reads the body up to `[limits]`' size and within `[server] body_timeout_ms` in total, and stops there. A
/// larger body is a LIMIT rejection, a body that trickles in or never comes a REQUEST rejection; the handler
/// audits and answers either in the RFC 6749 error format (actix's own limit would answer a bare 413,
/// unaudited, and it has no total time for a body at all).
pub(crate) async fn read_body(
    payload: web::Payload,
    settings: &crate::startup::ServerSettings,
) -> Result<web::Bytes, crate::error::Rejection> {
    let limit = settings.body_limit;
    let read = actix_web::rt::time::timeout(settings.body_timeout, payload.to_bytes_limited(limit));
    match read.await {
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(_))) => Err(crate::error::Rejection::request(
            "the request body could not be read",
        )),
        Ok(Err(_)) => Err(crate::error::Rejection::limit(format!(
            "the request body is larger than {limit} bytes"
        ))),
        Err(_) => Err(crate::error::Rejection::request(format!(
            "the request body did not arrive within {} ms",
            settings.body_timeout.as_millis()
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
        .service(get("/", web::get().to(inspector::root)))
        .service(get("/inspector", web::get().to(inspector::page)))
        .service(get(
            "/inspector/inspector.js",
            web::get().to(inspector::script),
        ))
        .service(get(
            "/inspector/inspector.css",
            web::get().to(inspector::style),
        ))
        .service(get("/inspector/icon.svg", web::get().to(inspector::icon)))
        .service(get("/inspector/meta.json", web::get().to(inspector::meta)))
        .service(get("/.well-known/jwks.json", web::get().to(meta::jwks)))
        .service(get(
            "/.well-known/oauth-authorization-server",
            web::get().to(discovery::authorization_server),
        ))
        .service(get("/saml/metadata", web::get().to(meta::saml_metadata)))
        .service(get("/healthz", web::get().to(meta::healthz)))
        .service(get("/readyz", web::get().to(health::readyz)))
        .service(get("/metrics", web::get().to(metrics::metrics)))
        .service(post("/audit/insight", web::post().to(insight::insight)))
        .default_service(web::to(fallback::not_found));
}

/// The running server, for `main` and for tests (which bind port 0).
pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// A server on one gateway for its whole life (tests, benchmarks).
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
        Self::build_live_on(Arc::new(LiveGateway::new(gateway)), listener, workers)
    }

    /// A server on the gateway `live` holds at each request's start (swapped by a reload).
    pub fn build_live(
        live: Arc<LiveGateway>,
        listen: &str,
        workers: usize,
    ) -> std::io::Result<Self> {
        Self::build_live_on(live, TcpListener::bind(listen)?, workers)
    }

    /// The listener, the TLS settings, the connection bounds and the gates come from the first gateway and
    /// stay for the server's life; a reload swaps everything else.
    fn build_live_on(
        live: Arc<LiveGateway>,
        listener: TcpListener,
        workers: usize,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let first = live.load();
        first
            .server()
            .exposure
            .check(local.ip())
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why))?;
        let port = local.port();
        let settings = first.server().clone();
        // The SOAP paths are mounted once; a reload changes what each route does, not where it is.
        let soap_paths = soap::SoapPaths::of(first.soap());
        drop(first);
        let workers = if workers > 0 {
            workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        // What may hold a place in the blocking pools: every thread of every worker, and the line beyond.
        let gates = web::Data::new(shed::Gates {
            exchanges: shed::Gate::new(
                workers
                    .saturating_mul(settings.blocking_threads)
                    .saturating_add(settings.max_queued),
            ),
            inspections: shed::Gate::new(settings.max_inspections),
            retry_after_secs: settings.retry_after_secs,
        });
        let body_limit = settings.body_limit;
        let server = HttpServer::new(move || {
            let live = live.clone();
            App::new()
                .app_data(gates.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap_fn(middleware::trace_request)
                .wrap(security::headers())
                // Outermost, so every handler and the middleware inside see this request's gateway.
                .wrap_fn(move |req, srv| middleware::current_gateway(&live, req, srv))
                .configure(configure)
                .configure(|cfg| soap_paths.configure(cfg))
        })
        .on_connect(tls::capture_client_certificate)
        .shutdown_timeout(5)
        .workers(workers)
        .worker_max_blocking_threads(settings.blocking_threads)
        .max_connections(settings.max_connections)
        .client_request_timeout(settings.header_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1));
        let server = match &settings.tls {
            Some(tls_settings) => server.listen_openssl(listener, tls::acceptor(tls_settings)?)?,
            None => server.listen(listener)?,
        };
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
