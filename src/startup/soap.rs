//! `[proxy]` and `[ws_trust]` → the SOAP edge, ready to serve: each proxy route with its upstream URL, the
//! DPoP `htu` its requests are proven for, what it issues for, and the TLS connector (the route's CA or the
//! system's roots, its client certificate) built and checked here, so that a wrong file stops start-up
//! instead of failing requests.

use std::sync::Arc;
use std::time::Duration;

use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

use super::StartupError;
use crate::clients::{normalise_htu, AuthMethod, Callers};
use crate::config::{LoadedConfig, ProxyRouteConfig};
use crate::mapping::ProfileSet;
use crate::soap::SoapLimits;

/// The SOAP endpoints the gateway serves.
#[derive(Debug, Default)]
pub struct SoapEdge {
    pub routes: Vec<Arc<ProxyRoute>>,
    pub ws_trust: Option<WsTrustEndpoint>,
    /// Limits on every SOAP request (the root part of an MTOM package is scanned within them too).
    pub limits: SoapLimits,
}

impl SoapEdge {
    /// Where the endpoints are mounted: fixed for the server's life (a reload cannot move them).
    pub fn paths(&self) -> (Vec<&str>, Option<&str>) {
        (
            self.routes.iter().map(|r| r.path.as_str()).collect(),
            self.ws_trust.as_ref().map(|w| w.path.as_str()),
        )
    }
}

impl SoapEdge {
    pub fn route(&self, path: &str) -> Option<&Arc<ProxyRoute>> {
        self.routes.iter().find(|r| r.path == path)
    }
}

/// One `[[proxy.routes]]` entry, resolved.
pub struct ProxyRoute {
    pub path: String,
    pub upstream: String,
    /// `[gateway] public_url` + the path, normalised: what a DPoP proof's `htu` must name.
    pub htu: String,
    pub profile: Option<String>,
    pub audience: Option<String>,
    pub client: Option<String>,
    /// For an https upstream.
    pub tls: Option<SslConnector>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub max_response_bytes: u64,
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("path", &self.path)
            .field("upstream", &self.upstream)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// `[ws_trust]`, when enabled.
#[derive(Debug, Clone)]
pub struct WsTrustEndpoint {
    pub path: String,
    /// `[gateway] public_url` + the path, normalised: what a DPoP proof's `htu` must name.
    pub htu: String,
    pub client: Option<String>,
}

pub(super) fn soap_edge(
    loaded: &LoadedConfig,
    profiles: &ProfileSet,
    callers: &Callers,
) -> Result<SoapEdge, StartupError> {
    let c = &loaded.config;
    let limits = SoapLimits {
        max_bytes: c.proxy.max_request_bytes,
        max_depth: c.limits.max_xml_depth,
        max_value_chars: SoapLimits::default()
            .max_value_chars
            .max(c.limits.max_jwt_bytes),
        ..SoapLimits::default()
    };
    let public = c.gateway.public_url.trim_end_matches('/');
    let mut routes = Vec::new();
    for r in &c.proxy.routes {
        let label = format!("proxy.routes {:?}", r.path);
        let bad = |what: String| StartupError::Key(format!("{label}: {what}"));
        if c.saml.signing.is_none() || c.jwt.trust.is_none() {
            return Err(bad(
                "a proxy route issues XUA assertions from JWTs: it needs [saml.signing] and [jwt.trust]"
                    .into(),
            ));
        }
        if let Some(p) = &r.profile {
            if profiles.get(p).is_none() {
                return Err(bad(format!("profile {p:?} is not among the loaded tables")));
            }
        }
        if let (Some(a), Some(s)) = (&r.audience, &c.saml.signing) {
            if !s.audiences.contains(a) {
                return Err(bad(format!(
                    "audience {a:?} is not one of [saml.signing] audiences"
                )));
            }
        }
        check_client(callers, r.client.as_deref()).map_err(bad)?;
        let htu = normalise_htu(&format!("{public}{}", r.path))
            .ok_or_else(|| bad("gateway.public_url is not an http or https URL".into()))?;
        let tls = if r.upstream.starts_with("https:") {
            Some(connector(loaded, r).map_err(bad)?)
        } else {
            None
        };
        routes.push(Arc::new(ProxyRoute {
            path: r.path.clone(),
            upstream: r.upstream.clone(),
            htu,
            profile: r.profile.clone(),
            audience: r.audience.clone(),
            client: r.client.clone(),
            tls,
            connect_timeout: Duration::from_millis(r.connect_timeout_ms),
            timeout: Duration::from_millis(r.timeout_ms),
            idle_timeout: Duration::from_millis(r.idle_timeout_ms),
            max_response_bytes: r.max_response_bytes,
        }));
    }
    let w = &c.ws_trust;
    let ws_trust = if w.enabled {
        check_client(callers, w.client.as_deref())
            .map_err(|why| StartupError::Key(format!("ws_trust: {why}")))?;
        let htu = normalise_htu(&format!("{public}{}", w.path)).ok_or_else(|| {
            StartupError::Key("ws_trust: gateway.public_url is not an http or https URL".into())
        })?;
        Some(WsTrustEndpoint {
            path: w.path.clone(),
            htu,
            client: w.client.clone(),
        })
    } else {
        None
    };
    Ok(SoapEdge {
        routes,
        ws_trust,
        limits,
    })
}

/// A SOAP endpoint's client must be registered and able to authenticate without a form: by the
/// connection's certificate, or not at all.
fn check_client(callers: &Callers, client: Option<&str>) -> Result<(), String> {
    let Some(id) = client else {
        return Ok(());
    };
    match callers.registry.get(id) {
        None => Err(format!("client {id:?} is not among [[clients]]")),
        Some(c) if c.method == AuthMethod::PrivateKeyJwt => Err(format!(
            "client {id:?} authenticates with private_key_jwt, which a SOAP request cannot carry; use a mutual-TLS or a none client"
        )),
        Some(_) => Ok(()),
    }
}

/// The TLS connector of an https route: TLS 1.2 or newer, HTTP/1.1 by ALPN, the peer's certificate checked
/// against the route's CAs (else the system's roots) and its name against the URL's host.
fn connector(loaded: &LoadedConfig, r: &ProxyRouteConfig) -> Result<SslConnector, String> {
    let ssl = |e: openssl::error::ErrorStack| format!("TLS setup: {e}");
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(ssl)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(ssl)?;
    b.set_alpn_protos(b"\x08http/1.1").map_err(ssl)?;
    if let Some(file) = &r.ca_file {
        let pem = loaded.read_file(file).map_err(|e| e.to_string())?;
        let certs =
            X509::stack_from_pem(&pem).map_err(|_| format!("{file} holds no PEM certificate"))?;
        if certs.is_empty() {
            return Err(format!("{file} holds no PEM certificate"));
        }
        let mut store = X509StoreBuilder::new().map_err(ssl)?;
        for cert in certs {
            store.add_cert(cert).map_err(ssl)?;
        }
        // Replaces the system's roots: only the route's CAs are trusted for this upstream.
        b.set_cert_store(store.build());
    }
    if let (Some(cert), Some(key)) = (&r.client_certificate, &r.client_key) {
        let pem = loaded.read_file(cert).map_err(|e| e.to_string())?;
        let mut chain = X509::stack_from_pem(&pem)
            .map_err(|_| format!("{cert} holds no PEM certificate"))?
            .into_iter();
        let leaf = chain
            .next()
            .ok_or_else(|| format!("{cert} holds no PEM certificate"))?;
        b.set_certificate(&leaf).map_err(ssl)?;
        for extra in chain {
            b.add_extra_chain_cert(extra).map_err(ssl)?;
        }
        let key_pem = loaded.read_file(key).map_err(|e| e.to_string())?;
        let pkey = PKey::private_key_from_pem(&key_pem)
            .map_err(|_| format!("{key} holds no PEM private key"))?;
        b.set_private_key(&pkey).map_err(ssl)?;
        b.check_private_key()
            .map_err(|_| format!("{key} is not the key of {cert}"))?;
    }
    Ok(b.build())
}
