//! The proxy's client to its upstreams (awc, on the worker's own runtime): one client per route and worker
//! thread, so connections are reused; no redirects followed; the route's TLS connector (its CAs or the
//! system's roots, the host name checked, its client certificate); a deadline to connect, one to the
//! answer's head, one between two pieces of the answer's body, and a cap on its size.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::rt::time::{sleep, Instant, Sleep};
use actix_web::web::Bytes;
use awc::error::{ConnectError, PayloadError, SendRequestError};
use futures_core::Stream;

use crate::error::Rejection;
use crate::startup::ProxyRoute;

thread_local! {
    /// awc clients are per thread (they hold the worker's connection pool); one per route path.
    static CLIENTS: RefCell<HashMap<String, awc::Client>> = RefCell::new(HashMap::new());
}

fn client_for(route: &ProxyRoute) -> awc::Client {
    CLIENTS.with(|clients| {
        clients
            .borrow_mut()
            .entry(route.path.clone())
            .or_insert_with(|| build(route))
            .clone()
    })
}

fn build(route: &ProxyRoute) -> awc::Client {
    let mut connector = awc::Connector::new()
        .timeout(route.connect_timeout)
        .handshake_timeout(route.connect_timeout);
    if let Some(tls) = &route.tls {
        connector = connector.openssl(tls.clone());
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(route.timeout)
        .disable_redirects()
        .max_http_version(awc::http::Version::HTTP_11)
        .no_default_headers()
        .finish()
}

fn tls_failed() -> String {
    "the TLS handshake with the upstream failed: its certificate is not trusted for this route, or it refused the gateway's".to_string()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Sends the message and waits for the answer's head.
pub(super) async fn send(
    route: &ProxyRoute,
    content_type: &str,
    body: Vec<u8>,
) -> Result<awc::ClientResponse, Rejection> {
    client_for(route)
        .post(&route.upstream)
        .insert_header(("Content-Type", content_type))
        .insert_header(("User-Agent", "xua-gateway"))
        .send_body(body)
        .await
        .map_err(|e| {
            let why = match &e {
                SendRequestError::Timeout => format!(
                    "the upstream did not answer within {} ms",
                    ms(route.timeout)
                ),
                SendRequestError::Connect(ConnectError::Timeout) => format!(
                    "the upstream could not be reached within {} ms",
                    ms(route.connect_timeout)
                ),
                // actix-tls reports a failed handshake as an `Other` I/O error with openssl's text.
                SendRequestError::Connect(ConnectError::SslError(_)) => tls_failed(),
                SendRequestError::Connect(ConnectError::Io(io))
                    if route.tls.is_some() && io.kind() == std::io::ErrorKind::Other =>
                {
                    tls_failed()
                }
                SendRequestError::Connect(_) => "the upstream could not be reached".to_string(),
                _ => "the upstream's answer could not be read".to_string(),
            };
            tracing::warn!(error = %e, "upstream request failed");
            Rejection::unavailable(why)
        })
}

/// The upstream's answer body, passed on piece by piece as it arrives: cut when a piece takes longer
/// than the route's idle timeout or the total passes its cap. Nothing is buffered beyond the piece in
/// hand.
pub(super) struct Relay<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    left: u64,
    done: bool,
}

impl<S> Relay<S> {
    pub fn new(inner: S, route: &ProxyRoute) -> Self {
        Self {
            inner,
            idle: route.idle_timeout,
            deadline: Box::pin(sleep(route.idle_timeout)),
            left: route.max_response_bytes,
            done: false,
        }
    }

    fn cut(&mut self, why: &'static str) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.done = true;
        tracing::warn!(reason = why, "the upstream's answer was cut");
        Poll::Ready(Some(Err(std::io::Error::other(why))))
    }
}

impl<S> Stream for Relay<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                let n = piece.len() as u64;
                if n > self.left {
                    return self.cut("the upstream's answer is larger than the route allows");
                }
                self.left -= n;
                let next = Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(_))) => self.cut("the upstream's answer broke off"),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.cut("the upstream paused longer than the route's idle timeout")
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
