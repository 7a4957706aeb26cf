//! The one table of JWS algorithms: which the gateway accepts from issuers, how their names read, and which
//! it signs with.

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::error::{shown, Rejection};

/// Every asymmetric algorithm an issuer may be configured with. HMAC and `none` are never accepted: a MAC
/// "verified" with an issuer's public key is an attack, and `none` is no signature.
pub const ACCEPTED: [(&str, Algorithm); 9] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// An accepted algorithm by its JWS name (configuration).
pub fn accepted(name: &str) -> Option<Algorithm> {
    ACCEPTED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The algorithm a token's header names, refused with the reason a test event needs to hear.
pub fn from_header(name: &str) -> Result<Algorithm, Rejection> {
    if name.eq_ignore_ascii_case("none") {
        return Err(Rejection::forbidden("alg \"none\" is never accepted"));
    }
    if let Some(alg) = accepted(name) {
        return Ok(alg);
    }
    if matches!(name, "HS256" | "HS384" | "HS512") {
        return Err(Rejection::sig(format!(
            "alg {name} is a MAC; no issuer key is a shared secret"
        )));
    }
    Err(Rejection::forbidden(format!(
        "alg {} is not supported",
        shown(name)
    )))
}

/// The algorithms the gateway signs its own JWTs with (`[jwt] algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    ES256,
    RS256,
    PS256,
}
