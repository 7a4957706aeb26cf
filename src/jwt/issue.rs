//! Issuing JWTs with the gateway's key, and publishing that key as a JWKS.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::JwtAlgorithm;
use crate::error::Rejection;

/// The gateway's JWT signing identity, prepared once at start-up.
pub struct JwtIssuer {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
    jwks: String,
    issuer: String,
    typ: String,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The claims the gateway itself sets; a profile can never produce these names.
#[derive(Debug, Clone)]
pub struct RegisteredClaims {
    pub subject: String,
    pub audience: String,
    pub issued_at: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub token_id: String,
}

impl JwtIssuer {
    pub fn new(
        algorithm: JwtAlgorithm,
        key_pem: &[u8],
        issuer: &str,
        typ: &str,
    ) -> Result<Self, String> {
        let (algorithm, key) = match algorithm {
            JwtAlgorithm::ES256 => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(key_pem).map_err(|e| {
                    format!("the ES256 signing key is not a P-256 private key in PEM: {e}")
                })?,
            ),
            JwtAlgorithm::RS256 | JwtAlgorithm::PS256 => {
                let key = EncodingKey::from_rsa_pem(key_pem).map_err(|e| {
                    format!("the RSA signing key is not an RSA private key in PEM: {e}")
                })?;
                let bits = openssl::pkey::PKey::private_key_from_pem(key_pem)
                    .map_err(|_| "the RSA signing key cannot be read".to_string())?
                    .bits();
                if bits < 2048 {
                    return Err(format!(
                        "the RSA signing key has {bits} bits; at least 2048 are required"
                    ));
                }
                let alg = if algorithm == JwtAlgorithm::RS256 {
                    Algorithm::RS256
                } else {
                    Algorithm::PS256
                };
                (alg, key)
            }
        };
        let mut jwk = Jwk::from_encoding_key(&key, algorithm)
            .map_err(|e| format!("cannot derive the public JWK: {e}"))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("cannot compute the key thumbprint: {e}"))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).map_err(|e| e.to_string())?;
        // Fail at start-up, not on the first request, if the key cannot sign.
        let probe = Self {
            algorithm,
            key,
            kid,
            jwks,
            issuer: issuer.to_string(),
            typ: typ.to_string(),
        };
        jsonwebtoken::encode(&probe.header(), &Map::new(), &probe.key)
            .map_err(|e| format!("the signing key cannot sign {algorithm:?}: {e}"))?;
        Ok(probe)
    }

    fn header(&self) -> Header {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some(self.typ.clone());
        header
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key set, serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// Signs `claims` (from a profile) plus the registered claims.
    pub fn issue(
        &self,
        mut claims: Map<String, Value>,
        registered: &RegisteredClaims,
    ) -> Result<String, Rejection> {
        for name in ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"] {
            if claims.contains_key(name) {
                return Err(Rejection::internal(format!(
                    "the profile produced the registered claim {name}"
                )));
            }
        }
        claims.insert("iss".into(), Value::String(self.issuer.clone()));
        claims.insert("sub".into(), Value::String(registered.subject.clone()));
        claims.insert("aud".into(), Value::String(registered.audience.clone()));
        let iat = registered.issued_at.unix_timestamp();
        claims.insert("iat".into(), Value::from(iat));
        claims.insert("nbf".into(), Value::from(iat));
        claims.insert(
            "exp".into(),
            Value::from(registered.expires.unix_timestamp()),
        );
        claims.insert("jti".into(), Value::String(registered.token_id.clone()));
        jsonwebtoken::encode(&self.header(), &claims, &self.key)
            .map_err(|e| Rejection::internal(format!("signing the JWT failed: {e}")))
    }
}
