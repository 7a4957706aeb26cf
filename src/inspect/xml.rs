//! Inspecting XML: an assertion, a Response, or any document holding assertions.

use time::OffsetDateTime;

use super::{check, info, unverified, InspectOptions, Report, Status, TokenReport};
use crate::clock::rfc3339;
use crate::error::shown;
use crate::mapping::{Profile, XuaInput};
use crate::model::Direction;
use crate::ns;
use crate::pipeline::Pipeline;
use crate::saml::tree::Mode;
use crate::saml::{checks, dsig, prescan};

pub(super) fn inspect(
    p: &Pipeline,
    text: &str,
    options: &InspectOptions,
    now: OffsetDateTime,
    report: &mut Report,
) {
    let (trust, policy, limits) = (&p.saml_in.trust, &p.saml_in.policy, &p.saml_in.limits);
    let parsed = unverified::parse_tree(text.as_bytes(), Mode::Lenient);
    let (root, skipped) = match parsed {
        Ok(r) => r,
        Err(e) => {
            report.input = "XML".to_string();
            let mut t = TokenReport::new("document".to_string());
            t.checks.push(check("parse", Err(e)));
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
                "structure",
                Status::Ok,
                "a single assertion, as the gateway takes it",
            )),
            Ok(_) => {}
            Err(e) => t.checks.push(check("structure", Err(e.clone()))),
        }
        if !standalone && whole.is_ok() {
            t.checks.push(info(
                "structure",
                Status::Skipped,
                "the gateway takes one assertion at a time",
            ));
        }
        if skipped > 0 {
            t.checks.push(info(
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
        let sig = match trust.get(&issuer) {
            Some(a) => check(
                "signature",
                dsig::verify_assertion(&signed_bytes, a)
                    .map(|_| format!("verifies with the certificate configured for {issuer}")),
            ),
            None if !node.children.iter().any(|c| c.is(ns::DSIG, "Signature")) => info(
                "signature",
                Status::Fail,
                format!(
                    "the assertion is not signed (and issuer {} is not trusted either)",
                    shown(&issuer)
                ),
            ),
            None => {
                let carried = unverified::keyinfo_certificate(node);
                let msg = match carried {
                    Ok(a) => match dsig::verify_assertion(&signed_bytes, &a) {
                        Ok(_) => "valid for the certificate the assertion carries, but that certificate is not configured as trusted".to_string(),
                        Err(e) => format!("{} (checked with the certificate the assertion carries, which is not trusted)", e.message),
                    },
                    Err(e) => format!("no trusted certificate and none usable in KeyInfo: {}", e.message),
                };
                info(
                    "signature",
                    Status::Fail,
                    format!(
                        "not verifiable with the configured keys: issuer {} is not trusted; {msg}",
                        shown(&issuer)
                    ),
                )
            }
        };
        t.checks.push(sig);
        let view = match unverified::view_of(node) {
            Ok(v) => v,
            Err(e) => {
                t.checks.push(check("assertion", Err(e)));
                report.tokens.push(t);
                continue;
            }
        };
        t.checks.push(check(
            "validity",
            checks::check_validity(&view, policy, now)
                .map(|e| format!("valid until {}", rfc3339(e))),
        ));
        t.checks.push(check(
            "audience",
            checks::check_audience(&view, policy).map(|_| "addressed to this gateway".to_string()),
        ));
        t.checks.push(check(
            "conditions",
            checks::check_conditions(&view, None)
                .map(|_| "none the gateway cannot honour".to_string()),
        ));
        t.checks.push(check(
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
        t.items = items;
        match unverified::decode_xua(profile, input) {
            Ok(model) => {
                p.findings_and_preview(profile, &model, true, &mut t);
                t.model = Some(model);
            }
            Err(e) => t.checks.push(check("mapping", Err(e))),
        }
        let verdict = if standalone {
            p.dry_run(Direction::SamlToJwt, &signed_bytes, options, now, &mut t)
        } else {
            Ok(())
        };
        t.settle(verdict);
        report.tokens.push(t);
    }
}
