//! Issuing JWTs with the gateway's key, and publishing that key as a JWKS.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use jsonwebtoken::crypto::{aws_lc, JwtSigner};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::alg::JwtAlgorithm;
use crate::error::Rejection;

/// Signers one thread keeps; far more than the keys of one configuration.
const SIGNER_CACHE_CAPACITY: usize = 16;

/// Each issuer's id in the per-thread signer cache.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Signers prepared from the key once per thread. `jsonwebtoken::encode` would parse the key for every
    /// token (an RSA private key's parse and checks cost more than the signature); the backend's signer
    /// objects are not `Sync`, so each thread keeps its own.
    static SIGNERS: RefCell<HashMap<u64, Box<dyn JwtSigner>>> = RefCell::new(HashMap::new());
}

/// The gateway's JWT signing identity, prepared once at start-up.
pub struct JwtIssuer {
    id: u64,
    /// The encoded header, the same for every token.
    header_b64: String,
    algorithm: Algorithm,
    key: EncodingKey,
    /// RSA signatures go through OpenSSL: measured here, its RSA-2048 signature takes about 300 µs where
    /// aws-lc (jsonwebtoken's backend) takes about 750 µs, and the RSA signature is most of an RS256 exchange.
    rsa: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    kid: String,
    /// The public key as published (`kid`, `use`, `alg`).
    jwk: Jwk,
    jwks: String,
    issuer: String,
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
        let mut rsa = None;
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
                let pkey = openssl::pkey::PKey::private_key_from_pem(key_pem)
                    .map_err(|_| "the RSA signing key cannot be read".to_string())?;
                let bits = pkey.bits();
                rsa = Some(pkey);
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
        let jwks = jwks_of([&jwk])?;
        // Fail at start-up, not on the first request, if the key cannot sign.
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.clone());
        header.typ = Some(typ.to_string());
        let header_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&header).map_err(|e| e.to_string())?);
        let probe = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            header_b64,
            algorithm,
            key,
            rsa,
            kid,
            jwk,
            jwks,
            issuer: issuer.to_string(),
        };
        probe
            .sign(b"probe")
            .map_err(|e| format!("the signing key cannot sign {algorithm:?}: {e}"))?;
        Ok(probe)
    }

    /// The JWS signature over `message`: RSA with OpenSSL, ES256 with this thread's prepared aws-lc signer.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(pkey) = &self.rsa {
            use openssl::hash::MessageDigest;
            use openssl::rsa::Padding;
            use openssl::sign::{RsaPssSaltlen, Signer};
            let ssl = |e: openssl::error::ErrorStack| e.to_string();
            let mut signer = Signer::new(MessageDigest::sha256(), pkey).map_err(ssl)?;
            if self.algorithm == Algorithm::PS256 {
                // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
                signer.set_rsa_padding(Padding::PKCS1_PSS).map_err(ssl)?;
                signer
                    .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .map_err(ssl)?;
                signer
                    .set_rsa_mgf1_md(MessageDigest::sha256())
                    .map_err(ssl)?;
            }
            return signer.sign_oneshot_to_vec(message).map_err(ssl);
        }
        let sign = |signers: &mut HashMap<u64, Box<dyn JwtSigner>>| -> Result<Vec<u8>, String> {
            // Each reload brings keys with new ids: the signers of keys no longer used go with the next clear.
            if signers.len() >= SIGNER_CACHE_CAPACITY && !signers.contains_key(&self.id) {
                signers.clear();
            }
            let signer = match signers.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    (aws_lc::DEFAULT_PROVIDER.signer_factory)(&self.algorithm, &self.key)
                        .map_err(|e| e.to_string())?,
                ),
            };
            signer.try_sign(message).map_err(|e| e.to_string())
        };
        SIGNERS
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut signers) => sign(&mut signers),
                Err(_) => sign(&mut HashMap::new()),
            })
            // Thread-local storage already torn down (thread exit): sign without caching.
            .unwrap_or_else(|_| sign(&mut HashMap::new()))
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

    /// The JOSE header every issued token carries (for the inspector's unsigned preview).
    pub fn header_json(&self) -> Option<serde_json::Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.header_b64)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The public key set of this key alone, serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// The public key as published in a JWKS.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
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
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| Rejection::internal(format!("cannot serialise the JWT claims: {e}")))?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        b64.encode_string(&payload, &mut token);
        let signature = self
            .sign(token.as_bytes())
            .map_err(|e| Rejection::internal(format!("signing the JWT failed: {e}")))?;
        token.push('.');
        b64.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// The JWK set of the given public keys, serialised.
pub fn jwks_of<'a>(keys: impl IntoIterator<Item = &'a Jwk>) -> Result<String, String> {
    let set = JwkSet {
        keys: keys.into_iter().cloned().collect(),
    };
    serde_json::to_string(&set).map_err(|e| e.to_string())
}
