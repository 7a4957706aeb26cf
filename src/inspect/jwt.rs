//! Inspecting a compact JWT or a bare JWT payload.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::catalog as rule;
use super::supplied::{self, Supplied};
use super::xml::trust_check;
use super::{check, info, unverified, InspectOptions, Report, Status, TokenReport};
use crate::clock::rfc3339;
use crate::jwt::{self, JwtTrust};
use crate::mapping::Profile;
use crate::model::Direction;
use crate::pipeline::Pipeline;

pub(super) fn inspect(
    p: &Pipeline,
    token: &str,
    payload: Option<Map<String, Value>>,
    options: &InspectOptions,
    key: Option<&Supplied>,
    now: OffsetDateTime,
    report: &mut Report,
) {
    let empty = JwtTrust::default();
    let (trust, policy) = match &p.jwt_in {
        Some(i) => (&i.trust, &i.policy),
        None => (&empty, &p.inspect_jwt_policy),
    };
    let mut t = TokenReport::new("JWT".to_string());
    let payload_only = payload.is_some();
    let claims = match payload {
        Some(claims) => {
            report.input = "JWT payload (JSON, no signature)".to_string();
            t.checks.push(info(
                rule::JWT_SIGNATURE,
                "signature",
                Status::Fail,
                "none: this is a payload without its JWS; nothing can be verified",
            ));
            claims
        }
        None => {
            report.input = "JWT".to_string();
            let parts = match unverified::jwt_parts(token, &policy.limits) {
                Ok(p) => p,
                Err(e) => {
                    t.checks.push(check(rule::JWT_FORMAT, "format", Err(e)));
                    t.settle(Ok(()), rule::JWT_REPLAY);
                    report.tokens.push(t);
                    return;
                }
            };
            t.checks.push(info(
                rule::JWT_FORMAT,
                "format",
                Status::Ok,
                "compact JWS, canonical base64url, strict JSON",
            ));
            // The header without its type, then the type on its own (RFC 9068 §2.1), so a test event learns
            // both; the signature is checked even when only the type is wrong.
            let untyped = jwt::JwtPolicy {
                types: Vec::new(),
                ..policy.clone()
            };
            let header = jwt::check_header(&parts.header, &untyped);
            t.checks.push(check(
                rule::JWT_HEADER,
                "header",
                header.clone().map(|h| format!("alg {:?}", h.algorithm)),
            ));
            if header.is_ok() {
                t.checks.push(match policy.types.is_empty() {
                    true => info(
                        rule::JWT_TYP,
                        "typ",
                        Status::Info,
                        "any typ is accepted: no JWT input is configured",
                    ),
                    false => check(
                        rule::JWT_TYP,
                        "typ",
                        jwt::check_header(&parts.header, policy).map(|_| {
                            format!("an accepted token type ({})", policy.types.join(", "))
                        }),
                    ),
                });
            }
            match header {
                Ok(h) => {
                    let configured = check(
                        rule::JWT_SIGNATURE,
                        "signature",
                        jwt::verify_signature(&parts, &h, trust)
                            .map(|iss| format!("verifies with the key configured for {iss}")),
                    );
                    match key {
                        None => t.checks.push(configured),
                        Some(key) => {
                            let result = match key {
                                Ok(k) => supplied::verify_jwt(k, &parts, &h),
                                Err(e) => Err(e.clone()),
                            };
                            t.checks.push(match result {
                                Ok(m) => info(rule::JWT_SIGNATURE, "signature", Status::Ok, m),
                                Err(e) => info(
                                    rule::JWT_SIGNATURE,
                                    "signature",
                                    Status::Fail,
                                    format!("{}: {} ({})", supplied::SUPPLIED, e.message, e.class),
                                ),
                            });
                            t.checks.push(trust_check(rule::JWT_TRUST, configured));
                        }
                    }
                }
                Err(_) => t.checks.push(info(
                    rule::JWT_SIGNATURE,
                    "signature",
                    Status::Skipped,
                    "not checked: the header is refused",
                )),
            }
            parts.claims
        }
    };
    t.checks.push(check(
        rule::JWT_VALIDITY,
        "validity",
        jwt::check_times(&claims, policy, now)
            .map(|c| format!("valid until {}", rfc3339(c.expires))),
    ));
    t.checks.push(check(
        rule::JWT_AUDIENCE,
        "audience",
        jwt::check_audience(&claims, policy).map(|_| "addressed to this gateway".to_string()),
    ));
    if let Some(c) = proof(&claims) {
        t.checks.push(c);
    }
    let (profile, why, items) = p.choose_profile(options.profile.as_deref(), &|prof: &Profile| {
        prof.explain_claims(&claims)
    });
    report.profile = profile.name.clone();
    report.profile_choice = why;
    t.items = items.into_iter().map(Into::into).collect();
    match unverified::decode_claims(profile, &claims) {
        Ok(model) => {
            if model.patients.is_empty() {
                t.checks.push(info(
                    rule::XUA_RESOURCE_ID,
                    "patient",
                    Status::Warn,
                    "the token names no patient; a SAML exchange needs the `patient` request parameter",
                ));
            }
            p.findings_and_preview(profile, &model, false, &mut t);
            t.model = Some(model);
        }
        Err(e) => t
            .checks
            .push(check(rule::PROFILE_MAPPING, "mapping", Err(e))),
    }
    let verdict = match payload_only {
        true => Ok(()),
        false => p.dry_run(Direction::JwtToSaml, token.as_bytes(), options, now, &mut t),
    };
    t.settle(verdict, rule::JWT_REPLAY);
    report.tokens.push(t);
}

/// A sender-constrained token (RFC 7800 `cnf`) is exchanged only with its proof, which an inspection does
/// not carry: say what the exchange will need.
fn proof(claims: &Map<String, Value>) -> Option<super::Check> {
    let cnf = claims.get("cnf")?;
    let Some(cnf) = cnf.as_object() else {
        return Some(info(
            rule::DPOP_PROOF,
            "proof",
            Status::Fail,
            "cnf is not an object",
        ));
    };
    let mut needs = Vec::new();
    if cnf.contains_key("jkt") {
        needs.push("a DPoP proof made with the key the token is bound to (cnf.jkt)");
    }
    if cnf.contains_key("x5t#S256") {
        needs.push("a TLS connection presenting the client certificate the token is bound to (cnf x5t#S256)");
    }
    if cnf.keys().any(|k| k != "jkt" && k != "x5t#S256") {
        needs.push("a confirmation method the gateway cannot check (refused)");
    }
    Some(info(
        rule::DPOP_PROOF,
        "proof",
        Status::Fail,
        format!(
            "sender-constrained: an exchange needs {}; an inspection carries no proof",
            needs.join(" and ")
        ),
    ))
}
