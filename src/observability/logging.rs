//! Ordinary logs: `tracing`, one subscriber set-up, JSON or text on stderr, one span per HTTP request
//! carrying its request id. Never the access log: that is `audit/`, in its own store.

use std::future::Future;
use std::io::{self, Write};
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage};
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::redact;
use crate::config::{LogFormat, LoggingConfig};
use crate::gateway::Gateway;
use crate::http::RequestId;

/// Wraps a writer so that every formatted event passes through [`redact::scrub`] on its way out.
#[derive(Debug, Clone)]
pub struct Redacting<M>(pub M);

pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole event per call, so a number is never split across calls.
        self.0.write_all(&redact::scrub(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// Directives added after the configured level: dependencies that would print request or response bytes at
/// their most verbose levels stay at `info`, whatever `RUST_LOG` says (bodies carry tokens and identifiers).
const QUIET_DEPENDENCIES: &[&str] = &[
    "actix_http=info",
    "actix_server=info",
    "h2=info",
    "hyper=info",
];

fn filter(level: &str) -> EnvFilter {
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| level.to_string());
    let mut filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new("info"));
    for d in QUIET_DEPENDENCIES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Installs the process-wide subscriber (stderr). `RUST_LOG` overrides `[logging] level`. A second call is a
/// no-op (tests start several gateways in one process).
pub fn init(config: &LoggingConfig) {
    let ansi = io::IsTerminal::is_terminal(&io::stderr());
    init_with_writer(config, io::stderr, ansi);
}

/// As [`init`], writing to any writer (tests capture into a buffer); `ansi` colours text output.
pub fn init_with_writer<W>(config: &LoggingConfig, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&config.level))
        .with_ansi(ansi)
        .with_writer(Redacting(writer));
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Middleware (`App::wrap_fn(trace_request)`): a request id for every request (the caller's `X-Request-Id`
/// when it is short and plain), a span holding it, one "request done" event, HTTP metrics, and the id echoed
/// in the response. Only the method and path are recorded: no query string, header or body.
pub fn trace_request<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let id = crate::http::request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let metrics = req
        .app_data::<web::Data<Gateway>>()
        .map(|g| g.metrics().clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let fut = span.in_scope(|| srv.call(req));
    async move {
        let mut res = fut.await?;
        let took = started.elapsed();
        let status = res.status().as_u16();
        tracing::info!(
            status,
            micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            "request done"
        );
        if let Some(m) = metrics {
            let route = res.request().match_pattern();
            m.http_request(route.as_deref().unwrap_or("other"), status, took);
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), v);
        }
        Ok(res)
    }
    .instrument(span)
}
