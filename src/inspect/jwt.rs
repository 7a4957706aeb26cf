//! Inspecting a compact JWT or a bare JWT payload.

use serde_json::{Map, Value};
use time::OffsetDateTime;

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
                    t.checks.push(check("format", Err(e)));
                    t.settle(Ok(()));
                    report.tokens.push(t);
                    return;
                }
            };
            t.checks.push(info(
                "format",
                Status::Ok,
                "compact JWS, canonical base64url, strict JSON",
            ));
            t.checks.push(check(
                "header",
                jwt::check_header(&parts.header, policy).map(|h| format!("alg {:?}", h.algorithm)),
            ));
            // The signature is checked even when only the token type is wrong, so a test event learns both.
            let untyped = jwt::JwtPolicy {
                types: Vec::new(),
                ..policy.clone()
            };
            match jwt::check_header(&parts.header, &untyped) {
                Ok(h) => t.checks.push(check(
                    "signature",
                    jwt::verify_signature(&parts, &h, trust)
                        .map(|iss| format!("verifies with the key configured for {iss}")),
                )),
                Err(_) => t.checks.push(info(
                    "signature",
                    Status::Skipped,
                    "not checked: the header is refused",
                )),
            }
            parts.claims
        }
    };
    t.checks.push(check(
        "validity",
        jwt::check_times(&claims, policy, now)
            .map(|c| format!("valid until {}", rfc3339(c.expires))),
    ));
    t.checks.push(check(
        "audience",
        jwt::check_audience(&claims, policy).map(|_| "addressed to this gateway".to_string()),
    ));
    let (profile, why, items) = p.choose_profile(options.profile.as_deref(), &|prof: &Profile| {
        prof.explain_claims(&claims)
    });
    report.profile = profile.name.clone();
    report.profile_choice = why;
    t.items = items;
    match unverified::decode_claims(profile, &claims) {
        Ok(model) => {
            if model.patients.is_empty() {
                t.checks.push(info(
                    "patient",
                    Status::Warn,
                    "the token names no patient; a SAML exchange needs the `patient` request parameter",
                ));
            }
            p.findings_and_preview(profile, &model, false, &mut t);
            t.model = Some(model);
        }
        Err(e) => t.checks.push(check("mapping", Err(e))),
    }
    let verdict = match payload_only {
        true => Ok(()),
        false => p.dry_run(Direction::JwtToSaml, token.as_bytes(), options, now, &mut t),
    };
    t.settle(verdict);
    report.tokens.push(t);
}
