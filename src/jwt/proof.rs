//! JWTs signed by the key they carry in their header (`jwk`): proofs of possession such as DPoP (RFC 9449
//! §4.2). Here, and only here, a header-supplied key is used: what the signature proves is that the sender
//! holds the private key of that public key, and the caller then compares the key's RFC 7638 thumbprint
//! with a binding it trusts (a token's `cnf`). The same stages as [`super::verify`] otherwise: size, shape,
//! strict JSON, algorithm from the one table, key bound to that algorithm, signature.

use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::keys::bind_keys;
use super::verify::{split, string_claim, verify_with, JwtLimits};
use crate::error::{shown, Rejection};

/// JWK members that belong to a private or symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a
/// proof that sends one has leaked its key, and is refused.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWT whose signature verified with the public key in its own header.
#[derive(Debug, Clone)]
pub struct SelfSignedJwt {
    pub claims: Map<String, Value>,
    pub algorithm: Algorithm,
    /// RFC 7638 SHA-256 thumbprint of the header's key, base64url: what `cnf.jkt` names.
    pub thumbprint: String,
}

/// Verifies a JWT of type `typ` signed by its header's `jwk` with one of `allowed`.
pub fn verify_self_signed(
    token: &str,
    typ: &str,
    allowed: &[Algorithm],
    limits: &JwtLimits,
) -> Result<SelfSignedJwt, Rejection> {
    let parts = split(token, limits)?;
    let header = &parts.header;
    let alg_name = string_claim(header, "alg")?
        .ok_or_else(|| Rejection::parse("the JWT header has no alg"))?;
    let algorithm = super::alg::from_header(alg_name)?;
    if !allowed.contains(&algorithm) {
        return Err(Rejection::forbidden(format!(
            "alg {} is not allowed here",
            shown(alg_name)
        )));
    }
    let found = string_claim(header, "typ")?.unwrap_or("");
    if !found.eq_ignore_ascii_case(typ) {
        return Err(Rejection::claim(format!(
            "the typ {:?} is not {typ}",
            shown(found)
        )));
    }
    for forbidden in ["jku", "x5u", "x5c", "crit", "enc", "zip", "b64"] {
        if header.contains_key(forbidden) {
            return Err(Rejection::forbidden(format!(
                "the JWT header carries {forbidden}, which is not accepted here"
            )));
        }
    }
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        Some(_) => return Err(Rejection::parse("the header's jwk is not a JSON object")),
        None => return Err(Rejection::parse("the header carries no jwk")),
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(Rejection::forbidden(format!(
            "the header's jwk carries the private or symmetric key member {member}; only a public key may travel"
        )));
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|_| Rejection::parse("the header's jwk is not a usable JSON Web Key"))?;
    let (keys, skipped) = bind_keys(
        &JwkSet {
            keys: vec![jwk.clone()],
        },
        &[algorithm],
    )
    .map_err(|why| Rejection::sig(format!("the header's jwk cannot verify {alg_name}: {why}")))?;
    let Some(key) = keys.into_iter().next() else {
        let why = skipped.into_iter().next().unwrap_or_default();
        return Err(Rejection::sig(format!(
            "the header's jwk cannot verify {alg_name}: {why}"
        )));
    };
    verify_with(&parts, &key.key, algorithm, "the key in its header")?;
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| Rejection::parse("the header's jwk has no RFC 7638 thumbprint"))?;
    Ok(SelfSignedJwt {
        claims: parts.claims,
        algorithm,
        thumbprint,
    })
}
