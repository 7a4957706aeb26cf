//! Client assertions (RFC 7523 §2.2, §3): a JWT a client signs to authenticate itself at the token endpoint.
//! The same stages as [`super::verify`] (size, shape, header, pinned key bound to its algorithm, signature,
//! times, audience) under another policy: the issuer is the client and selects its key set, `sub` equals
//! `iss`, the audience is the token endpoint or the gateway's issuer, the lifetime is short and `jti` is
//! required (the caller keeps it in the replay store).

use time::{Duration, OffsetDateTime};

use super::verify::{
    check_audience, check_header, check_times, split, string_claim, verify_signature, JwtLimits,
    JwtPolicy, JwtTrust,
};
use crate::error::{shown, Rejection};

/// What a client assertion must satisfy.
#[derive(Debug, Clone)]
pub struct AssertionPolicy {
    /// The token endpoint URL and the gateway's issuer identifier: `aud` must name one of them.
    pub audiences: Vec<String>,
    pub skew: Duration,
    /// Longest accepted `exp - iat` (or `exp - now` without `iat`).
    pub max_lifetime: Duration,
    pub limits: JwtLimits,
}

/// A client assertion whose signature verified with a key of the client it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// `iss` = `sub`: the client id.
    pub client_id: String,
    pub token_id: String,
    pub expires: OffsetDateTime,
}

/// `typ` values a client assertion may carry: none, the generic one, or the explicit type of the
/// client-authentication profile. An access token or a DPoP proof is never taken for a client assertion.
const ASSERTION_TYPES: [&str; 2] = ["jwt", "client-authentication+jwt"];

/// The client id a client assertion claims (its `iss`), read without verifying, so that a refusal can be
/// audited with the client it claimed. Nothing else is ever read from an unverified assertion.
pub fn claimed_client(token: &str, limits: &JwtLimits) -> Option<String> {
    let parts = split(token, limits).ok()?;
    string_claim(&parts.claims, "iss").ok().flatten().map(shown)
}

/// Verifies a client assertion against the key sets of the registered clients (`clients`, keyed by client
/// id).
pub fn verify_client_assertion(
    token: &str,
    clients: &JwtTrust,
    policy: &AssertionPolicy,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion, Rejection> {
    let parts = split(token, &policy.limits)?;
    let jwt_policy = JwtPolicy {
        audiences: policy.audiences.clone(),
        types: Vec::new(),
        skew: policy.skew,
        max_lifetime: policy.max_lifetime,
        limits: policy.limits,
    };
    let header = check_header(&parts.header, &jwt_policy)?;
    if let Some(typ) = string_claim(&parts.header, "typ")? {
        let norm = typ.to_ascii_lowercase();
        let norm = norm.strip_prefix("application/").unwrap_or(&norm);
        if !ASSERTION_TYPES.contains(&norm) {
            return Err(Rejection::claim(format!(
                "the typ {} is not a client assertion's",
                shown(typ)
            )));
        }
    }
    let client_id = verify_signature(&parts, &header, clients)?;
    let times = check_times(&parts.claims, &jwt_policy, now)?;
    check_audience(&parts.claims, &jwt_policy)?;
    if string_claim(&parts.claims, "sub")? != Some(client_id.as_str()) {
        return Err(Rejection::claim(
            "sub must equal iss (the client id) in a client assertion",
        ));
    }
    let token_id = match string_claim(&parts.claims, "jti")? {
        Some(j) if !j.is_empty() && j.len() <= 256 => j.to_string(),
        Some(_) => return Err(Rejection::claim("jti must be 1 to 256 characters")),
        None => {
            return Err(Rejection::claim(
                "a client assertion needs a jti (it is accepted once)",
            ))
        }
    };
    Ok(VerifiedAssertion {
        client_id,
        token_id,
        expires: times.expires,
    })
}
