//! Verifying JWTs from trusted issuers, in a fixed order: size, shape, header, key, signature, claims.
//! Nothing from the token selects a key beyond an exact `kid` match in the issuer's configured key set.

use std::collections::HashMap;

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::json::{self, JsonError};
use super::keys::KeySource;
use crate::error::{shown, Rejection};

/// Limits checked before a token is split or decoded.
#[derive(Debug, Clone, Copy)]
pub struct JwtLimits {
    pub max_bytes: usize,
}

impl Default for JwtLimits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024,
        }
    }
}

/// What an incoming JWT must satisfy.
#[derive(Debug, Clone)]
pub struct JwtPolicy {
    /// At least one must be in `aud`.
    pub audiences: Vec<String>,
    /// Accepted `typ` header values (case-insensitive, `application/` prefix ignored); empty accepts any.
    pub types: Vec<String>,
    pub skew: Duration,
    /// Longest accepted `exp - iat` (or `exp - now` when there is no `iat`).
    pub max_lifetime: Duration,
    pub limits: JwtLimits,
}

pub struct TrustedIssuer {
    pub issuer: String,
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
}

/// The issuers whose tokens the gateway accepts.
#[derive(Default)]
pub struct JwtTrust {
    issuers: HashMap<String, TrustedIssuer>,
}

impl std::fmt::Debug for JwtTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTrust")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwtTrust {
    pub fn add(&mut self, issuer: TrustedIssuer) {
        self.issuers.insert(issuer.issuer.clone(), issuer);
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }
}

/// A JWT whose signature verified with a trusted issuer's key and whose registered claims passed the
/// checks. Only [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    claims: Map<String, Value>,
    /// `header.payload`: the bytes the signature covers (what names a token without a `jti`).
    signing_input: String,
    pub issuer: String,
    pub subject: Option<String>,
    pub token_id: Option<String>,
    pub issued_at: Option<OffsetDateTime>,
    pub expires: OffsetDateTime,
    pub algorithm: Algorithm,
}

impl VerifiedJwt {
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }
}

/// Canonical base64url: no padding, no `+`/`/`, no whitespace, zero trailing bits.
fn segment(part: &str, what: &str) -> Result<Vec<u8>, Rejection> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::parse(format!("the JWT {what} is not canonical base64url")))
}

fn json_segment(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Rejection> {
    json::parse_object(bytes).map_err(|e| match e {
        JsonError::Duplicate(name) => Rejection::parse(format!(
            "the JWT {what} repeats the member {:?}",
            shown(&name)
        )),
        JsonError::TooDeep => Rejection::limit(format!("the JWT {what} nests too deep")),
        JsonError::NotAnObject => Rejection::parse(format!("the JWT {what} is not a JSON object")),
        JsonError::Invalid => Rejection::parse(format!("the JWT {what} is not valid UTF-8 JSON")),
    })
}

pub(crate) fn time_claim(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<OffsetDateTime>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n.as_i64().filter(|s| *s >= 0).ok_or_else(|| {
                Rejection::claim(format!(
                    "claim {name} must be a non-negative whole number of seconds"
                ))
            })?;
            OffsetDateTime::from_unix_timestamp(secs)
                .map(Some)
                .map_err(|_| Rejection::claim(format!("claim {name} is out of range")))
        }
        Some(_) => Err(Rejection::claim(format!("claim {name} must be a number"))),
    }
}

pub(crate) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::claim(format!("claim {name} must be a string"))),
    }
}

fn at(t: OffsetDateTime) -> String {
    crate::clock::rfc3339(t)
}

/// A compact JWT split and decoded, nothing verified yet.
#[derive(Debug, Clone)]
pub struct Parts<'t> {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    h64: &'t str,
    p64: &'t str,
    s64: &'t str,
    token: &'t str,
}

impl Parts<'_> {
    pub(crate) fn signing_input(&self) -> &str {
        self.token
            .get(..self.h64.len() + 1 + self.p64.len())
            .unwrap_or(self.token)
    }
}

/// What the header allows: the algorithm and the key id.
#[derive(Debug, Clone)]
pub struct HeaderFacts {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
}

/// The registered claims, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFacts {
    pub expires: OffsetDateTime,
    pub issued_at: Option<OffsetDateTime>,
}

/// Stage 1: size and shape, before anything is split or decoded; then canonical base64url and strict JSON.
pub(crate) fn split<'t>(token: &'t str, limits: &JwtLimits) -> Result<Parts<'t>, Rejection> {
    if token.len() > limits.max_bytes {
        return Err(Rejection::limit(format!(
            "the JWT is longer than {} bytes",
            limits.max_bytes
        )));
    }
    let token = token.trim();
    let dots = token.bytes().filter(|b| *b == b'.').count();
    if dots != 2 {
        return Err(Rejection::parse(if dots == 4 {
            "the token is a JWE (five parts); a signed JWT (three parts) is expected".to_string()
        } else {
            "the JWT must have exactly three parts (compact JWS)".to_string()
        }));
    }
    if token.starts_with('{') {
        return Err(Rejection::parse(
            "JSON-serialised JWS is not accepted; send the compact form",
        ));
    }
    let mut parts = token.splitn(3, '.');
    let (Some(h64), Some(p64), Some(s64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Rejection::parse("the JWT must have exactly three parts"));
    };
    let header = json_segment(&segment(h64, "header")?, "header")?;
    let claims = json_segment(&segment(p64, "payload")?, "payload")?;
    Ok(Parts {
        header,
        claims,
        h64,
        p64,
        s64,
        token,
    })
}

/// Stage 2: the header: algorithm, no header-supplied keys, no critical extensions, no JWE, the type.
pub(crate) fn check_header(
    header: &Map<String, Value>,
    policy: &JwtPolicy,
) -> Result<HeaderFacts, Rejection> {
    let alg_name = string_claim(header, "alg")?
        .ok_or_else(|| Rejection::parse("the JWT header has no alg"))?;
    let algorithm = super::alg::from_header(alg_name)?;
    for forbidden in ["jwk", "jku", "x5u", "x5c"] {
        if header.contains_key(forbidden) {
            return Err(Rejection::forbidden(format!(
                "the JWT header carries {forbidden}: keys are taken from configuration only"
            )));
        }
    }
    // This gateway understands no header extension, so any critical one must be refused (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(Rejection::forbidden(
            "the JWT header marks extensions critical (crit) that the gateway does not understand",
        ));
    }
    if header.contains_key("enc") || header.contains_key("zip") {
        return Err(Rejection::forbidden(
            "encrypted or compressed JWTs are not accepted",
        ));
    }
    if header.get("b64").is_some() {
        return Err(Rejection::forbidden(
            "unencoded JWS payloads (b64) are not accepted",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
        Some(_) => {
            return Err(Rejection::sig(
                "the JWT kid must be a string of at most 256 characters",
            ))
        }
    };
    if !policy.types.is_empty() {
        let typ = string_claim(header, "typ")?.unwrap_or("");
        let norm = typ.to_ascii_lowercase();
        let norm = norm.strip_prefix("application/").unwrap_or(&norm);
        if !policy.types.iter().any(|t| t.eq_ignore_ascii_case(norm)) {
            return Err(Rejection::claim(format!(
                "the JWT typ {:?} is not an accepted token type ({})",
                shown(typ),
                policy.types.join(", ")
            )));
        }
    }
    Ok(HeaderFacts { algorithm, kid })
}

/// Stage 3: the issuer's pinned key for this algorithm and `kid`, and the signature. Nothing in the payload
/// is trusted before this succeeds; the issuer named in it only selects the key set.
pub(crate) fn verify_signature(
    parts: &Parts<'_>,
    header: &HeaderFacts,
    trust: &JwtTrust,
) -> Result<String, Rejection> {
    let issuer =
        string_claim(&parts.claims, "iss")?.ok_or_else(|| Rejection::iss("the JWT has no iss"))?;
    let trusted = trust
        .issuers
        .get(issuer)
        .ok_or_else(|| Rejection::iss(format!("issuer {} is not trusted", shown(issuer))))?;
    let alg = header.algorithm;
    if !trusted.algorithms.contains(&alg) {
        return Err(Rejection::sig(format!(
            "alg {alg:?} is not allowed for this issuer"
        )));
    }
    let key = trusted
        .keys
        .find(header.kid.as_deref(), alg)
        .map_err(Rejection::sig)?;
    verify_with(parts, &key.key, alg, "its issuer's key")?;
    Ok(issuer.to_string())
}

/// The signature over `header.payload` with one key and algorithm, chosen by the caller: an issuer's pinned
/// key ([`verify_signature`]) or, for proofs of possession, the key the proof itself names
/// (`jwt::proof`). `whose` names the key in the refusal.
pub(crate) fn verify_with(
    parts: &Parts<'_>,
    key: &jsonwebtoken::DecodingKey,
    alg: Algorithm,
    whose: &str,
) -> Result<(), Rejection> {
    if segment(parts.s64, "signature")?.is_empty() {
        return Err(Rejection::sig("the JWT has no signature"));
    }
    let message = parts.signing_input().as_bytes();
    let ok = jsonwebtoken::crypto::verify(parts.s64, message, key, alg)
        .map_err(|_| Rejection::sig(format!("the JWT signature cannot be checked with {whose}")))?;
    if !ok {
        return Err(Rejection::sig(format!(
            "the JWT signature does not verify with {whose}"
        )));
    }
    Ok(())
}

/// Stage 4a: exp, nbf, iat and the lifetime.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
    now: OffsetDateTime,
) -> Result<ClaimFacts, Rejection> {
    let expires =
        time_claim(claims, "exp")?.ok_or_else(|| Rejection::claim("the JWT has no exp"))?;
    let not_before = time_claim(claims, "nbf")?;
    let issued_at = time_claim(claims, "iat")?;
    if now.saturating_sub(policy.skew) >= expires {
        return Err(Rejection::time(format!(
            "the JWT expired at {}",
            at(expires)
        )));
    }
    if let Some(nbf) = not_before {
        if now.saturating_add(policy.skew) < nbf {
            return Err(Rejection::time(format!(
                "the JWT is not valid before {}",
                at(nbf)
            )));
        }
    }
    if let Some(iat) = issued_at {
        if iat > now.saturating_add(policy.skew) {
            return Err(Rejection::time(format!(
                "the JWT was issued in the future ({})",
                at(iat)
            )));
        }
    }
    let lifetime = expires - issued_at.unwrap_or(now);
    if lifetime > policy.max_lifetime {
        return Err(Rejection::claim(format!(
            "the JWT lives {} s, longer than the accepted {} s",
            lifetime.whole_seconds(),
            policy.max_lifetime.whole_seconds()
        )));
    }
    Ok(ClaimFacts { expires, issued_at })
}

/// Stage 4b: the audience, and that this is an access token rather than an ID token.
pub(crate) fn check_audience(
    claims: &Map<String, Value>,
    policy: &JwtPolicy,
) -> Result<(), Rejection> {
    let audiences: Vec<&str> = match claims.get("aud") {
        None => return Err(Rejection::aud("the JWT has no aud")),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    Rejection::claim("claim aud must be a string or an array of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Rejection::claim(
                "claim aud must be a string or an array of strings",
            ))
        }
    };
    if !audiences
        .iter()
        .any(|a| policy.audiences.iter().any(|p| p == a))
    {
        return Err(Rejection::aud(
            "the JWT is addressed to another audience than this gateway",
        ));
    }
    // An ID token proves a login to a client; it is not a grant to call an API on the user's behalf.
    if claims.contains_key("nonce") || claims.contains_key("at_hash") {
        return Err(Rejection::claim(
            "the JWT is an ID token (nonce/at_hash); an access token is expected",
        ));
    }
    Ok(())
}

/// All stages in order, stopping at the first failure.
pub fn verify(
    token: &str,
    trust: &JwtTrust,
    policy: &JwtPolicy,
    now: OffsetDateTime,
) -> Result<VerifiedJwt, Rejection> {
    let parts = split(token, &policy.limits)?;
    let header = check_header(&parts.header, policy)?;
    let issuer = verify_signature(&parts, &header, trust)?;
    let times = check_times(&parts.claims, policy, now)?;
    check_audience(&parts.claims, policy)?;
    let subject = string_claim(&parts.claims, "sub")?.map(str::to_string);
    let token_id = string_claim(&parts.claims, "jti")?.map(str::to_string);
    Ok(VerifiedJwt {
        issuer,
        subject,
        token_id,
        issued_at: times.issued_at,
        expires: times.expires,
        algorithm: header.algorithm,
        signing_input: parts.signing_input().to_string(),
        claims: parts.claims,
    })
}
