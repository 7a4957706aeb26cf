//! The SOAP endpoints: the XCA proxy routes (`proxy.rs`, forwarding through `upstream.rs`) and the WS-Trust
//! 1.3 Issue endpoint (`wstrust.rs`). What they share lives here: where they are mounted, how a request's
//! content type, token and DPoP proof are read, and how a refusal becomes a SOAP 1.2 Fault.

mod proxy;
mod upstream;
mod wstrust;

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};

use super::caller::Asking;
use crate::error::Rejection;
use crate::pipeline::ExchangeRequest;
use crate::soap::fault::Fault;
use crate::startup::{Gateway, SoapEdge};

/// The paths the SOAP edge takes, read once when the server starts.
#[derive(Debug, Clone, Default)]
pub struct SoapPaths {
    proxy: Vec<String>,
    ws_trust: Option<String>,
}

impl SoapPaths {
    pub fn of(edge: &SoapEdge) -> Self {
        Self {
            proxy: edge.routes.iter().map(|r| r.path.clone()).collect(),
            ws_trust: edge.ws_trust.as_ref().map(|w| w.path.clone()),
        }
    }

    /// Mounts each endpoint at its path (POST only; start-up made sure no path is taken twice).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let post = |path: &str, route: actix_web::Route| {
            web::resource(path)
                .route(route)
                .default_service(web::to(super::fallback::post_only))
        };
        for path in &self.proxy {
            cfg.service(post(path, web::post().to(proxy::forward)));
        }
        if let Some(path) = &self.ws_trust {
            cfg.service(post(path, web::post().to(wstrust::issue)));
        }
    }
}

/// How the SOAP message arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Packaging {
    /// `application/soap+xml`: the envelope is the body.
    Plain,
    /// `multipart/related` (MTOM/XOP): the envelope is the root part.
    Mtom,
}

/// The request's Content-Type, which must be SOAP 1.2's (or, where `mtom` is allowed, an MTOM package).
fn packaging(content_type: Option<&str>, mtom: bool) -> Result<Packaging, Rejection> {
    let Some(ct) = content_type else {
        return Err(Rejection::request(
            "the request has no Content-Type; SOAP 1.2 is application/soap+xml",
        ));
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/soap+xml" => Ok(Packaging::Plain),
        "multipart/related" if mtom && crate::soap::mtom::is_mtom(ct) => Ok(Packaging::Mtom),
        "multipart/related" if mtom => Err(Rejection::request(
            "a multipart/related request must be an MTOM package (type=\"application/xop+xml\")",
        )),
        "text/xml" => Err(Rejection::request(
            "text/xml is SOAP 1.1; only SOAP 1.2 (application/soap+xml) is supported",
        )),
        _ => Err(Rejection::request(
            "the request's Content-Type is not application/soap+xml",
        )),
    }
}

/// How the caller presented its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The `Authorization` header: `Bearer <JWT>` or `DPoP <JWT>` (the scheme is case-insensitive, RFC 9110
/// §11.1), exactly once.
fn presented(req: &HttpRequest) -> Result<(Scheme, String), Rejection> {
    let mut values = req.headers().get_all(AUTHORIZATION);
    let value = match (values.next(), values.next()) {
        (None, _) => {
            return Err(Rejection::request(
                "the request carries no token: send Authorization: Bearer <JWT>, or DPoP <JWT> with a DPoP proof",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Rejection::request(
                "the request carries more than one Authorization header",
            ))
        }
        (Some(v), None) => v
            .to_str()
            .map_err(|_| Rejection::request("the Authorization header is not text"))?,
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(Rejection::request(
            "the Authorization header must use the Bearer or the DPoP scheme",
        ));
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection::request(
            "the Authorization header names no token",
        ));
    }
    Ok((scheme, token.to_string()))
}

/// Who sends a SOAP request: the endpoint's client (by the connection's certificate where it is a
/// mutual-TLS client; the anonymous client when it names none) and the DPoP proof. A proof presented with
/// a token (`Authorization: DPoP`) must carry the token's hash (`ath`); a Bearer token takes no proof.
fn identify(
    gateway: &Gateway,
    asking: &Asking,
    client: Option<&str>,
    htu: &str,
    presented: Option<(Scheme, &str)>,
    request: &mut ExchangeRequest,
) -> Result<(), Rejection> {
    let callers = gateway.callers();
    let cache = gateway.pipeline().replay_cache().as_ref();
    let now = gateway.pipeline().now();
    let mut credentials = asking.credentials.clone();
    // The Authorization header carries the subject token here, not client credentials.
    credentials.authorization_scheme = None;
    credentials.client_id = client.map(str::to_string);
    request.claimed_client = callers.registry.claimed(&credentials);
    request.client_certificate = credentials
        .certificate
        .as_ref()
        .map(|c| c.thumbprint.clone());
    request.client = callers.registry.authenticate(&credentials, cache, now)?;
    let method = asking.method.as_str();
    request.proof = match (&asking.proof, presented) {
        (None, Some((Scheme::Dpop, _))) => {
            return Err(Rejection::proof(
                "Authorization: DPoP needs a DPoP header with a proof of the token's key",
            ))
        }
        (Some(_), Some((Scheme::Bearer, _))) => {
            return Err(Rejection::proof(
                "a DPoP proof goes with Authorization: DPoP, not Bearer",
            ))
        }
        (None, _) => None,
        (Some(Err(e)), _) => return Err(e.clone()),
        (Some(Ok(proof)), Some((Scheme::Dpop, token))) => Some(
            callers
                .dpop
                .verify_presented(proof, method, htu, token, cache, now)?,
        ),
        (Some(Ok(proof)), None) => Some(callers.dpop.verify(proof, method, htu, cache, now)?),
    };
    Ok(())
}

/// The request's Content-Type header as text.
fn content_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A SOAP 1.2 Fault answer; `relates_to` is the request's MessageID.
fn fault_response(gateway: &Gateway, fault: &Fault, relates_to: Option<&str>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(fault.http_status())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let response = HttpResponse::build(status)
        .content_type("application/soap+xml; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(fault.to_envelope(relates_to));
    super::caller::decorate(response, gateway, None, None)
}

/// The server's body settings with the SOAP edge's own size limit (`[proxy] max_request_bytes`).
fn body_settings(gateway: &Gateway) -> crate::startup::ServerSettings {
    let mut settings = gateway.server().clone();
    settings.body_limit = gateway.soap().limits.max_bytes;
    settings
}
