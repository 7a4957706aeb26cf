//! Inspecting XML: an assertion, a Response, or any document holding assertions.

use time::OffsetDateTime;

use super::catalog::{self as rule, RuleId};
use super::supplied::{self, Supplied};
use super::{check, info, unverified, Check, InspectOptions, Report, Status, TokenReport};
use crate::clock::rfc3339;
use crate::error::shown;
use crate::mapping::{Profile, XuaInput};
use crate::model::Direction;
use crate::ns;
use crate::pipeline::Pipeline;
use crate::saml::tree::Mode;
use crate::saml::{checks, prescan, verify};

pub(super) fn inspect(
    p: &Pipeline,
    text: &str,
    options: &InspectOptions,
    key: Option<&Supplied>,
    now: OffsetDateTime,
    report: &mut Report,
) {
    let (trust, policy, limits) = (&p.saml_in.trust, &p.saml_in.policy, &p.saml_in.limits);
    // The limits first, before any tree is built: a document past them is reported as such and no more.
    if let Err(e) = prescan::check_limits(text.as_bytes(), limits) {
        report.input = "XML".to_string();
        let mut t = TokenReport::new("document".to_string());
        t.checks.push(check(rule::XML_PRESCAN, "limits", Err(e)));
        report.tokens.push(t);
        return;
    }
    let parsed = unverified::parse_tree(text.as_bytes(), Mode::Lenient);
    let (root, skipped) = match parsed {
        Ok(r) => r,
        Err(e) => {
            report.input = "XML".to_string();
            let mut t = TokenReport::new("document".to_string());
            t.checks.push(check(rule::XML_PARSE, "parse", Err(e)));
            report.tokens.push(t);
            return;
        }
    };
    let mut found = Vec::new();
    unverified::find_assertions(&root, &mut Vec::new(), &mut found);
    report.input = match (
        root.is(ns::SAML, "Assertion"),
        root.is(ns::SAMLP, "Response"),
    ) {
        (true, _) => "SAML assertion".to_string(),
        (_, true) => "SAML Response".to_string(),
        _ => format!("XML ({}) holding {} assertion(s)", root.local, found.len()),
    };
    if found.is_empty() {
        let mut t = TokenReport::new("document".to_string());
        t.checks.push(info(
            rule::SAML_STRUCTURE,
            "structure",
            Status::Fail,
            "no SAML 2.0 Assertion found",
        ));
        report.tokens.push(t);
        return;
    }
    // What the gateway itself would say about the document as a whole.
    let whole = prescan::scan(text.as_bytes(), limits);
    let standalone = whole.is_ok() && found.len() == 1;
    for (node, path, ancestors) in found {
        let mut t = TokenReport::new(format!(
            "Assertion {} at /{}",
            node.attr("ID").unwrap_or("(no ID)"),
            path.join("/")
        ));
        match &whole {
            Ok(_) if standalone => t.checks.push(info(
                rule::SAML_STRUCTURE,
                "structure",
                Status::Ok,
                "a single assertion, as the gateway takes it",
            )),
            Ok(_) => {}
            Err(e) => t
                .checks
                .push(check(rule::XML_PRESCAN, "structure", Err(e.clone()))),
        }
        if !standalone && whole.is_ok() {
            t.checks.push(info(
                rule::SAML_STRUCTURE,
                "structure",
                Status::Skipped,
                "the gateway takes one assertion at a time",
            ));
        }
        if skipped > 0 {
            t.checks.push(info(
                rule::XML_COMMENTS,
                "comments",
                Status::Warn,
                format!("{skipped} comment(s) or processing instruction(s) skipped for inspection; the gateway refuses them inside the assertion"),
            ));
        }
        // Signature first: with the configured certificate for the issuer, or, for information only, with
        // the certificate the assertion carries.
        let issuer = node
            .children
            .iter()
            .find(|c| c.is(ns::SAML, "Issuer"))
            .map(|i| i.text.trim().to_string())
            .unwrap_or_default();
        let signed_bytes = if standalone {
            text.as_bytes().to_vec()
        } else {
            unverified::extracted(text, node, &ancestors)
        };
        let trusted = !trust.anchors(&issuer).is_empty();
        let sig = match trusted {
            true => check(
                rule::SAML_SIGNATURE,
                "signature",
                verify::verify_signature_with(
                    p.saml_in.verifier,
                    &signed_bytes,
                    trust,
                    &issuer,
                    limits,
                    now,
                )
                .map(|_| format!("verifies with a certificate configured for {issuer}")),
            ),
            false if !node.children.iter().any(|c| c.is(ns::DSIG, "Signature")) => info(
                rule::SAML_SIGNATURE,
                "signature",
                Status::Fail,
                format!(
                    "the assertion is not signed (and issuer {} is not trusted either)",
                    shown(&issuer)
                ),
            ),
            false => {
                let carried = unverified::keyinfo_certificate(node);
                let msg = match carried {
                    Ok(a) => match verify::verify_with_anchor(p.saml_in.verifier, &signed_bytes, &a, limits) {
                        Ok(_) => "valid for the certificate the assertion carries, but that certificate is not configured as trusted".to_string(),
                        Err(e) => format!("{} (checked with the certificate the assertion carries, which is not trusted)", e.message),
                    },
                    Err(e) => format!("no trusted certificate and none usable in KeyInfo: {}", e.message),
                };
                info(
                    rule::SAML_SIGNATURE,
                    "signature",
                    Status::Fail,
                    format!(
                        "not verifiable with the configured keys: issuer {} is not trusted; {msg}",
                        shown(&issuer)
                    ),
                )
            }
        };
        match key {
            None => t.checks.push(sig),
            Some(key) => with_supplied_key(&mut t, key, &signed_bytes, sig),
        }
        let view = match unverified::view_of(node) {
            Ok(v) => v,
            Err(e) => {
                t.checks
                    .push(check(rule::SAML_ASSERTION, "assertion", Err(e)));
                report.tokens.push(t);
                continue;
            }
        };
        t.checks.push(check(
            rule::SAML_VALIDITY,
            "validity",
            checks::check_validity(&view, policy, now)
                .map(|e| format!("valid until {}", rfc3339(e))),
        ));
        t.checks.push(check(
            rule::SAML_AUDIENCE,
            "audience",
            checks::check_audience(&view, policy).map(|_| "addressed to this gateway".to_string()),
        ));
        t.checks.push(check(
            rule::SAML_CONDITIONS,
            "conditions",
            checks::check_conditions(&view, None)
                .map(|_| "none the gateway cannot honour".to_string()),
        ));
        t.checks.push(check(
            rule::SAML_SUBJECT,
            "subject",
            checks::check_subject(&view, policy, now)
                .map(|_| "bearer confirmation accepted".to_string()),
        ));

        let input = XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        };
        let (profile, why, items) = p.choose_profile(options.profile.as_deref(), &|p: &Profile| {
            p.explain_xua(input)
        });
        report.profile = profile.name.clone();
        report.profile_choice = why;
        t.items = items.into_iter().map(Into::into).collect();
        match unverified::decode_xua(profile, input) {
            Ok(model) => {
                p.findings_and_preview(profile, &model, true, &mut t);
                t.model = Some(model);
            }
            Err(e) => t
                .checks
                .push(check(rule::PROFILE_MAPPING, "mapping", Err(e))),
        }
        let verdict = if standalone {
            p.dry_run(Direction::SamlToJwt, &signed_bytes, options, now, &mut t)
        } else {
            Ok(())
        };
        t.settle(verdict, rule::SAML_REPLAY);
        report.tokens.push(t);
    }
}

/// The signature item checked with the participant's key, and the configured trust's own answer beside it
/// (which is what the verdict follows).
fn with_supplied_key(t: &mut TokenReport, key: &Supplied, signed: &[u8], configured: Check) {
    let result = match key {
        Ok(k) => supplied::verify_assertion(k, signed),
        Err(e) => Err(e.clone()),
    };
    t.checks.push(match result {
        Ok(message) => info(rule::SAML_SIGNATURE, "signature", Status::Ok, message),
        Err(e) => info(
            rule::SAML_SIGNATURE,
            "signature",
            Status::Fail,
            format!("{}: {} ({})", supplied::SUPPLIED, e.message, e.class),
        ),
    });
    t.checks.push(trust_check(rule::SAML_TRUST, configured));
}

/// The configured trust's answer as a check of its own, once a supplied key has the signature item.
pub(super) fn trust_check(rule: &'static RuleId, configured: Check) -> Check {
    let message = match configured.status {
        Status::Ok => format!("the configured trust agrees: {}", configured.message),
        _ => format!(
            "an exchange would be refused whatever key you supplied: {}",
            configured.message
        ),
    };
    info(rule, "trust", configured.status, message)
}
