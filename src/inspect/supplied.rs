//! A key the participant supplies for one inspection: a certificate (PEM) for an assertion, or a JWKS, a
//! certificate or a public key (PEM) for a JWT. At a test event the participant's own IdP is not configured,
//! so the report can still say whether its signature is sound. The key is checked through the same
//! verification functions the pipeline uses; it never enters the trust store, is never used to issue
//! anything, and does not decide the verdict: the dry run with the configured trust does.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::Rejection;
use crate::jwt::keys::{bind_keys, BoundKey, KeySource};
use crate::jwt::{self, HeaderFacts, JwtTrust, Parts, TrustedIssuer};
use crate::saml::dsig::{self, TrustAnchor};

/// What every signature item checked with a supplied key says first.
pub const SUPPLIED: &str = "checked with the key you supplied";

/// The largest key text read (a JWKS of a few RSA keys is a few kilobytes).
const MAX_KEY_BYTES: usize = 64 * 1024;

/// A supplied key as read: the key, or why it cannot be used.
pub type Supplied = Result<SuppliedKey, Rejection>;

/// A key as the participant pasted it.
pub enum SuppliedKey {
    /// An X.509 certificate: verifies an assertion, or (by its public key) a JWT.
    Certificate {
        anchor: TrustAnchor,
        pem: Vec<u8>,
    },
    /// A bare public key (PEM): verifies a JWT only.
    PublicKey(Vec<u8>),
    Jwks(JwkSet),
}

/// Reads a certificate, a public key or a JWKS (or a single JWK).
pub fn parse(text: &str) -> Result<SuppliedKey, Rejection> {
    if text.len() > MAX_KEY_BYTES {
        return Err(Rejection::limit(format!(
            "the key you supplied is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        if let Ok(set) = serde_json::from_str::<JwkSet>(trimmed) {
            return Ok(SuppliedKey::Jwks(set));
        }
        return serde_json::from_str::<Jwk>(trimmed)
            .map(|k| SuppliedKey::Jwks(JwkSet { keys: vec![k] }))
            .map_err(|_| Rejection::parse("the key you supplied is JSON but not a JWKS or a JWK"));
    }
    if trimmed.contains("-----BEGIN CERTIFICATE-----") {
        let pem = trimmed.as_bytes().to_vec();
        let anchor = TrustAnchor::from_cert_pem(&pem)?;
        return Ok(SuppliedKey::Certificate { anchor, pem });
    }
    if trimmed.contains("-----BEGIN PUBLIC KEY-----")
        || trimmed.contains("-----BEGIN RSA PUBLIC KEY-----")
    {
        return Ok(SuppliedKey::PublicKey(trimmed.as_bytes().to_vec()));
    }
    Err(Rejection::parse(
        "the key you supplied is neither a PEM certificate, a PEM public key nor a JWKS",
    ))
}

/// The assertion's signature checked with the supplied certificate.
pub fn verify_assertion(key: &SuppliedKey, signed: &[u8]) -> Result<String, Rejection> {
    match key {
        SuppliedKey::Certificate { anchor, .. } => dsig::verify_assertion(signed, anchor)
            .map(|_| format!("{SUPPLIED}: the signature verifies")),
        SuppliedKey::PublicKey(_) | SuppliedKey::Jwks(_) => Err(Rejection::sig(
            "an assertion's signature is checked with the issuer's certificate (PEM); supply that",
        )),
    }
}

/// The JWT's signature checked with the supplied key, bound to the one algorithm the header names.
pub fn verify_jwt(
    key: &SuppliedKey,
    parts: &Parts<'_>,
    header: &HeaderFacts,
) -> Result<String, Rejection> {
    let alg = header.algorithm;
    let keys = match key {
        SuppliedKey::Jwks(set) => {
            let (keys, skipped) = bind_keys(set, &[alg]).map_err(|why| {
                Rejection::sig(format!("the key set you supplied is refused: {why}"))
            })?;
            if keys.is_empty() {
                return Err(Rejection::sig(format!(
                    "no key of the set you supplied can verify alg {alg:?}{}",
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", skipped.join("; "))
                    }
                )));
            }
            keys
        }
        SuppliedKey::Certificate { pem, .. } => vec![pem_key(&public_key_pem(pem)?, header)?],
        SuppliedKey::PublicKey(pem) => vec![pem_key(pem, header)?],
    };
    let issuer = parts
        .claims
        .get("iss")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Rejection::iss("the JWT has no iss"))?;
    let mut trust = JwtTrust::default();
    trust.add(TrustedIssuer {
        issuer: issuer.to_string(),
        algorithms: vec![alg],
        keys: KeySource::Static(keys),
    });
    jwt::verify_signature(parts, header, &trust)
        .map(|_| format!("{SUPPLIED}: the signature verifies"))
}

fn public_key_pem(cert_pem: &[u8]) -> Result<Vec<u8>, Rejection> {
    openssl::x509::X509::from_pem(cert_pem)
        .and_then(|c| c.public_key())
        .and_then(|k| k.public_key_to_pem())
        .map_err(|_| Rejection::sig("the certificate you supplied cannot be read"))
}

/// A PEM public key as the one key for the header's algorithm (and its `kid`, so the pipeline's key lookup
/// finds it).
fn pem_key(pem: &[u8], header: &HeaderFacts) -> Result<BoundKey, Rejection> {
    let key = match header.algorithm {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => return Err(Rejection::sig("the header's algorithm takes no public key")),
    }
    .map_err(|_| {
        Rejection::sig(format!(
            "the key you supplied is not a {:?} public key",
            header.algorithm
        ))
    })?;
    Ok(BoundKey {
        kid: header.kid.clone(),
        algorithm: header.algorithm,
        key,
    })
}
