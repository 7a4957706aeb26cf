//! Who is asking, as an HTTP request says it: the client's credentials (form parameters, an
//! `Authorization` header, the connection's TLS client certificate) and the `DPoP` header. Collected on
//! the request's thread; checked on the blocking pool (`identify`), where signature work and JWKS fetches
//! belong; the answer goes into the exchange request for the pipeline's policy stages.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse};

use crate::clients::Credentials;
use crate::error::{ErrorClass, Rejection};
use crate::pipeline::ExchangeRequest;
use crate::startup::Gateway;

/// What a request offers about its sender.
#[derive(Debug, Clone, Default)]
pub struct Asking {
    pub credentials: Credentials,
    /// The `DPoP` header: absent, one proof, or a refusal (more than one header, not text).
    pub proof: Option<Result<String, Rejection>>,
    /// The method the proof must name (`htm`).
    pub method: String,
}

impl Asking {
    /// Reads the headers and the connection; the form's parameters are added by the caller.
    pub fn of(req: &HttpRequest) -> Self {
        let authorization_scheme = req.headers().get("authorization").map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("unreadable")
                .to_string()
        });
        let mut proofs = req.headers().get_all("dpop");
        let proof = match (proofs.next(), proofs.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => Some(Err(Rejection::proof(
                "the request carries more than one DPoP header",
            ))),
            (Some(v), None) => Some(
                v.to_str()
                    .map(|s| s.trim().to_string())
                    .map_err(|_| Rejection::proof("the DPoP header is not text")),
            ),
        };
        Self {
            credentials: Credentials {
                authorization_scheme,
                certificate: super::tls::client_certificate(req),
                ..Credentials::default()
            },
            proof,
            method: req.method().as_str().to_string(),
        }
    }
}

/// Authenticates the client and verifies the DPoP proof, filling the exchange request. Runs on the
/// blocking pool. A refusal is returned for the caller to audit (the request then names the client it
/// claimed).
pub fn identify(
    gateway: &Gateway,
    asking: &Asking,
    request: &mut ExchangeRequest,
) -> Result<(), Rejection> {
    let callers = gateway.callers();
    let pipeline = gateway.pipeline();
    let cache = pipeline.replay_cache().as_ref();
    let now = pipeline.now();
    request.claimed_client = callers.registry.claimed(&asking.credentials);
    request.client_certificate = asking
        .credentials
        .certificate
        .as_ref()
        .map(|c| c.thumbprint.clone());
    request.client = callers
        .registry
        .authenticate(&asking.credentials, cache, now)?;
    request.proof = match &asking.proof {
        None => None,
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(proof)) => {
            Some(
                callers
                    .dpop
                    .verify(proof, &asking.method, &callers.htu, cache, now)?,
            )
        }
    };
    Ok(())
}

/// The headers a token-endpoint answer gets beside its body: `WWW-Authenticate` on a failed client
/// authentication that used the `Authorization` header (RFC 6749 §5.2), and a fresh `DPoP-Nonce` whenever
/// nonces are configured (RFC 9449 §8; always with `use_dpop_nonce`).
pub fn decorate(
    mut response: HttpResponse,
    gateway: &Gateway,
    authorization_scheme: Option<&str>,
    class: Option<ErrorClass>,
) -> HttpResponse {
    if class == Some(ErrorClass::Client) {
        if let Some(scheme) = authorization_scheme {
            let realm = gateway.metadata().entity_id.replace(['"', '\\'], "");
            let scheme: String = scheme
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(32)
                .collect();
            if let Ok(v) = HeaderValue::from_str(&format!("{scheme} realm=\"{realm}\"")) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
            }
        }
    }
    if let Some(nonce) = gateway.callers().dpop.fresh_nonce(gateway.pipeline().now()) {
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("dpop-nonce"),
                v,
            );
        }
    }
    response
}
