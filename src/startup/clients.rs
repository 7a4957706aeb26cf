//! `[[clients]]` and `[dpop]` → the client registry (keys, certificates, policies) and the DPoP verifier.

use super::trust::{key_source, secs, JwksSource};
use super::StartupError;
use crate::clients::{
    normalise_htu, thumbprint_der, Allowed, AuthMethod, Callers, CertificateMatch, Client,
    ClientRegistry, DpopVerifier, ExchangePolicy, NonceSource,
};
use crate::config::{ClientConfig, LoadedConfig};
use crate::jwt::assertion::AssertionPolicy;
use crate::jwt::{self, JwtLimits, JwtTrust, TrustedIssuer};
use crate::mapping::ProfileSet;

pub(super) fn callers(
    loaded: &LoadedConfig,
    profiles: &ProfileSet,
) -> Result<Callers, StartupError> {
    let c = &loaded.config;
    let token_endpoint = format!("{}/token", c.gateway.public_url.trim_end_matches('/'));
    let htu = normalise_htu(&token_endpoint).ok_or_else(|| {
        StartupError::Key(format!(
            "gateway.public_url {:?} is not an http or https URL",
            c.gateway.public_url
        ))
    })?;
    let limits = JwtLimits {
        max_bytes: c.limits.max_jwt_bytes,
    };
    let skew = secs(c.gateway.clock_skew_secs);
    let mut keys = JwtTrust::default();
    let mut clients = Vec::new();
    for client in &c.clients {
        let label = format!("clients {:?}", client.id);
        let algorithms: Vec<jsonwebtoken::Algorithm> = client
            .algorithms
            .iter()
            .filter_map(|a| jwt::alg::accepted(a))
            .collect();
        if client.auth == AuthMethod::PrivateKeyJwt {
            let source = JwksSource {
                file: client.jwks_file.as_ref(),
                url: client.jwks_url.as_ref(),
                timeout_ms: client.timeout_ms,
                refresh_secs: client.refresh_secs,
            };
            if let Some(source) =
                key_source(loaded, &label, &source, &algorithms, &client.algorithms)?
            {
                keys.add(TrustedIssuer {
                    issuer: client.id.clone(),
                    algorithms: algorithms.clone(),
                    keys: source,
                });
            }
        }
        for p in &client.profiles {
            if p != "*" && profiles.get(p).is_none() {
                return Err(StartupError::Key(format!(
                    "{label}: profiles names {p:?}, which is not among the loaded tables"
                )));
            }
        }
        clients.push((
            Client {
                id: client.id.clone(),
                method: client.auth,
                certificate: certificate(loaded, &label, client)?,
                assertion_algorithms: algorithms,
                policy: policy(client),
            },
            client.anonymous,
        ));
    }
    let mut registry = ClientRegistry::new(
        keys,
        AssertionPolicy {
            audiences: vec![token_endpoint.clone(), c.gateway.entity_id.clone()],
            skew,
            max_lifetime: Callers::MAX_ASSERTION_LIFETIME,
            limits,
        },
    );
    for (client, anonymous) in clients {
        registry.add(client, anonymous);
    }
    let d = &c.dpop;
    let nonce = if d.nonce {
        Some(
            NonceSource::new(d.nonce_lifetime_secs)
                .map_err(|e| StartupError::Key(format!("cannot make the DPoP nonce key: {e}")))?,
        )
    } else {
        None
    };
    let dpop = DpopVerifier {
        algorithms: d
            .algorithms
            .iter()
            .filter_map(|a| jwt::alg::accepted(a))
            .collect(),
        max_age: secs(d.max_age_secs),
        skew,
        nonce,
        limits,
    };
    Ok(Callers {
        registry,
        dpop,
        token_endpoint,
        htu,
    })
}

fn policy(c: &ClientConfig) -> ExchangePolicy {
    ExchangePolicy {
        subject_issuers: Allowed::new(&c.subject_issuers),
        directions: c.directions.clone(),
        profiles: Allowed::new(&c.profiles),
        audiences: Allowed::new(&c.audiences),
        scopes: Allowed::new(&c.scopes),
        required_scopes: c.required_scopes.clone(),
        min_security_level: c.min_security_level,
        max_lifetime: c.max_lifetime_secs.map(secs),
        require_dpop: c.require_dpop,
        actor_for_issuers: Allowed::new(&c.actor_for_issuers),
    }
}

/// How a mutual-TLS client's certificate is recognised.
fn certificate(
    loaded: &LoadedConfig,
    label: &str,
    c: &ClientConfig,
) -> Result<Option<CertificateMatch>, StartupError> {
    let bad = |what: String| StartupError::Key(format!("{label}: {what}"));
    match c.auth {
        AuthMethod::TlsClientAuth => {
            let Some((name, value)) = c.tls_matchers().into_iter().next() else {
                return Ok(None);
            };
            let m = match name {
                "tls_client_auth_subject_dn" => CertificateMatch::subject_dn(value)
                    .map_err(|e| bad(format!("tls_client_auth_subject_dn: {e}")))?,
                "tls_client_auth_san_dns" => CertificateMatch::SanDns(value.to_string()),
                "tls_client_auth_san_uri" => CertificateMatch::SanUri(value.to_string()),
                "tls_client_auth_san_email" => CertificateMatch::SanEmail(value.to_string()),
                _ => CertificateMatch::SanIp(
                    value
                        .parse()
                        .map_err(|_| bad("tls_client_auth_san_ip is not an IP address".into()))?,
                ),
            };
            Ok(Some(m))
        }
        AuthMethod::SelfSignedTlsClientAuth => {
            let mut thumbprints = Vec::new();
            for file in &c.certificates {
                let pem = loaded.read_file(file)?;
                let certs = openssl::x509::X509::stack_from_pem(&pem)
                    .map_err(|_| bad(format!("{file} holds no PEM certificate")))?;
                if certs.is_empty() {
                    return Err(bad(format!("{file} holds no PEM certificate")));
                }
                for cert in certs {
                    let der = cert
                        .to_der()
                        .map_err(|_| bad(format!("{file}: a certificate cannot be encoded")))?;
                    thumbprints.push(thumbprint_der(&der));
                }
            }
            Ok(Some(CertificateMatch::Thumbprints(thumbprints)))
        }
        AuthMethod::PrivateKeyJwt | AuthMethod::None => Ok(None),
    }
}
