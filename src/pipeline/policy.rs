//! The policy and proof-of-possession stages both directions run, around verification:
//!
//! - before verifying: what the client asks for (direction, profile, audience, scopes, DPoP, delegation);
//! - right after verifying: whose tokens it presents, and whether the subject token's confirmation (`cnf`)
//!   is satisfied by the request's DPoP proof or TLS client certificate;
//! - after decoding: what the token says about the session (security level, scopes).
//!
//! With no client (no `[[clients]]`, the offline CLI, the inspector) only the proof of possession applies:
//! a sender-constrained token is never exchanged without its proof, whoever asks.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Exchange;
use crate::clients::ExchangePolicy;
use crate::error::{shown, Rejection};
use crate::model::{AccessContext, Direction};

/// How the subject token was bound to its holder, as the request proved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A bearer token.
    None,
    /// `cnf.jkt` and/or `cnf["x5t#S256"]`, each proven.
    Proven,
}

fn policy<'r>(x: &Exchange<'r>) -> Option<&'r ExchangePolicy> {
    x.request.client.as_ref().map(|c| c.policy())
}

/// Before verification: what the request asks for.
pub(super) fn before_verify(x: &Exchange<'_>, direction: Direction) -> Result<(), Rejection> {
    let Some(p) = policy(x) else {
        if x.request.actor.is_some() {
            return Err(Rejection::policy(
                "an actor token needs a registered client whose policy allows delegation (rule actor_for_issuers)",
            ));
        }
        return Ok(());
    };
    p.check_direction(direction)?;
    if let Some(profile) = &x.request.profile {
        p.check_profile(profile)?;
    }
    p.check_requested_scopes(x.request.scope.as_deref())?;
    if p.require_dpop && x.request.proof.is_none() {
        return Err(Rejection::proof(
            "the client's policy requires a DPoP proof (rule require_dpop), and the request has none",
        ));
    }
    if x.request.actor.is_some() && p.actor_for_issuers.is_nothing() {
        return Err(Rejection::policy(
            "the client's policy does not allow delegation (rule actor_for_issuers)",
        ));
    }
    Ok(())
}

/// The audience the gateway chose, narrowed by the client's policy.
pub(super) fn audience(
    x: &Exchange<'_>,
    chosen: String,
    gateway: &[String],
) -> Result<String, Rejection> {
    match policy(x) {
        Some(p) => {
            let named = x.request.audience.is_some() || x.request.resource.is_some();
            p.narrow_audience(chosen, named, gateway)
        }
        None => Ok(chosen),
    }
}

/// Right after verification: the issuer the client presents tokens from.
pub(super) fn subject_issuer(x: &Exchange<'_>, issuer: &str) -> Result<(), Rejection> {
    match policy(x) {
        Some(p) => p.check_subject_issuer(issuer),
        None => Ok(()),
    }
}

/// The subject token's confirmation (RFC 7800 `cnf`): `jkt` needs a DPoP proof by that key (RFC 9449
/// §6.1), `x5t#S256` a TLS client certificate with that thumbprint (RFC 8705 §3.1). Any other confirmation
/// method cannot be checked, so the token is refused.
pub(super) fn binding(x: &Exchange<'_>, claims: &Map<String, Value>) -> Result<Binding, Rejection> {
    let presented_as_dpop = x.request.soap.as_ref().is_some_and(|s| s.presented_as_dpop);
    let cnf = match claims.get("cnf") {
        // RFC 9449 §7.1: the DPoP scheme names a DPoP-bound token; a bearer token sent so is a mistake.
        None if presented_as_dpop => {
            return Err(Rejection::binding(
                "the token is presented with Authorization: DPoP but is not bound to a DPoP key (cnf.jkt)",
            ))
        }
        None => return Ok(Binding::None),
        Some(Value::Object(cnf)) if !cnf.is_empty() => cnf,
        Some(_) => {
            return Err(Rejection::binding(
                "the subject token's cnf must be an object naming a confirmation key",
            ))
        }
    };
    for (method, value) in cnf {
        let Value::String(expected) = value else {
            return Err(Rejection::binding(format!(
                "the subject token's cnf member {} must be a string",
                shown(method)
            )));
        };
        match method.as_str() {
            "jkt" => match &x.request.proof {
                Some(p) if p.thumbprint == *expected => {}
                Some(_) => {
                    return Err(Rejection::binding(
                        "the DPoP proof is signed by another key than the one the subject token is bound to (cnf.jkt)",
                    ))
                }
                None => {
                    return Err(Rejection::binding(
                        "the subject token is bound to a DPoP key (cnf.jkt); the exchange needs a DPoP proof made with that key",
                    ))
                }
            },
            "x5t#S256" => match &x.request.client_certificate {
                Some(t) if t == expected => {}
                Some(_) => {
                    return Err(Rejection::binding(
                        "the TLS client certificate is not the one the subject token is bound to (cnf x5t#S256)",
                    ))
                }
                None => {
                    return Err(Rejection::binding(
                        "the subject token is bound to a TLS client certificate (cnf x5t#S256); the exchange needs a connection with that certificate",
                    ))
                }
            },
            other => {
                return Err(Rejection::binding(format!(
                    "the subject token's confirmation method {} cannot be checked here",
                    shown(other)
                )))
            }
        }
    }
    Ok(Binding::Proven)
}

/// After decoding: the profile actually used, and what the token says about the session.
pub(super) fn after_decode(
    x: &Exchange<'_>,
    profile: &str,
    context: &AccessContext,
) -> Result<(), Rejection> {
    let Some(p) = policy(x) else {
        return Ok(());
    };
    p.check_profile(profile)?;
    p.check_security_level(context.session.security_level.as_deref())?;
    p.check_required_scopes(&context.session.scope)
}

/// The client's lifetime cap on what it is issued.
pub(super) fn cap(x: &Exchange<'_>, expires: OffsetDateTime) -> OffsetDateTime {
    match policy(x) {
        Some(p) => p.cap(expires, x.now),
        None => expires,
    }
}

/// The confirmation an issued JWT carries (SAML → JWT): the DPoP key when the request proved one, else the
/// client certificate of a client that authenticated with it.
pub(super) fn issued_cnf(x: &Exchange<'_>) -> Option<Value> {
    if let Some(proof) = &x.request.proof {
        return Some(serde_json::json!({ "jkt": proof.thumbprint }));
    }
    let mtls = x
        .request
        .client
        .as_ref()
        .is_some_and(|c| c.method().is_mutual_tls());
    match (&x.request.client_certificate, mtls) {
        (Some(t), true) => Some(serde_json::json!({ "x5t#S256": t })),
        _ => None,
    }
}
