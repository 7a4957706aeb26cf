//! The middleware every request passes: its request id, its span, one "request done" event, and the HTTP
//! metrics.

use std::future::Future;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::startup::{Gateway, LiveGateway};

/// The swap point of a reload: the gateway running when the request starts becomes its `web::Data<Gateway>`
/// for its whole life (held by the request, so it finishes there even if a reload swaps in another).
pub fn current_gateway<S, B>(live: &LiveGateway, mut req: ServiceRequest, srv: &S) -> S::Future
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let mut data = actix_web::dev::Extensions::new();
    data.insert(web::Data::from(live.load()));
    req.add_data_container(std::rc::Rc::new(data));
    srv.call(req)
}

/// A request id: the caller's `X-Request-Id` when it is short and plain, otherwise a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_id(req: &ServiceRequest) -> String {
    crate::observability::request_id::from_caller(
        req.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    )
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
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let metrics = req
        .app_data::<web::Data<Gateway>>()
        .map(|g| g.pipeline().metrics().clone());
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
