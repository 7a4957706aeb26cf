//! The SAML decode path: prescan → signature → extract (from the signed bytes) → checks → profile decode,
//! with the sample IdP as the one trust anchor and a fixed clock.
//!
//! Invariants checked on every input the pipeline accepts:
//! 1. The view the pipeline produced equals `extract::assertion_view` of the exact bytes the signature
//!    covered (as returned by the signature module), and so do the models decoded from them.
//! 2. A reader that parses the submitted document as it stands (no signature module, the inspector's
//!    lenient tree) sees the same model: what was accepted is what the document says.
//! 3. In the structured mode: what was built and signed is what comes back (names, values, NameID).
//!
//! The first input byte picks a mode, so that acceptance is reachable:
//! * 0 — the rest is the document, as sent;
//! * 1 — the rest is an unsigned assertion, signed with the sample IdP key before it is verified;
//! * 2 — the rest is read as a structure (`input::Cursor`): an assertion is built from those attributes,
//!   signed with the sample IdP key, verified, and compared with what was built.

use std::sync::OnceLock;

use time::{Duration, OffsetDateTime};
use xua_gateway::inspect::unverified;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::{ProfileSet, XuaInput};
use xua_gateway::ns;
use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};
use xua_gateway::saml::build::{XuaAttributeOut, XuaValueOut};
use xua_gateway::saml::checks::SamlPolicy;
use xua_gateway::saml::dsig::{self, SigningIdentity, TrustAnchor};
use xua_gateway::saml::prescan::XmlLimits;
use xua_gateway::saml::tree::{Mode, Node};
use xua_gateway::saml::uri;
use xua_gateway::saml::verify::{self, TrustStore};
use xua_gateway::saml::view::AssertionView;
use xua_gateway::samples;

use crate::input::Cursor;

/// 2026-11-24T00:00:00Z: the seeds are minted before it with a long lifetime.
const NOW: i64 = 1_795_478_400;

struct Fixture {
    trust: TrustStore,
    anchor: TrustAnchor,
    policy: SamlPolicy,
    limits: XmlLimits,
    profiles: ProfileSet,
    idp: SigningIdentity,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        dsig::init().expect("xmlsec initialises");
        let anchor = TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("sample cert");
        let mut trust = TrustStore::new();
        trust.add(
            samples::SAMPLE_IDP,
            TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("sample cert"),
        );
        Fixture {
            trust,
            anchor,
            policy: SamlPolicy {
                audiences: vec![samples::SAMPLE_AUDIENCE.to_string()],
                recipients: Vec::new(),
                confirmation_methods: vec![uri::CM_BEARER.to_string()],
                skew: Duration::seconds(60),
                max_lifetime: Duration::hours(8),
            },
            limits: XmlLimits::default(),
            profiles: ProfileSet::embedded("no-pjd").expect("embedded profiles"),
            idp: samples::sample_idp().expect("sample IdP key"),
            now: OffsetDateTime::from_unix_timestamp(NOW).expect("a time"),
        }
    })
}

fn input_of(view: &AssertionView) -> XuaInput<'_> {
    XuaInput {
        name_id: view.name_id.as_deref(),
        name_qualifier: view.name_id_qualifier.as_deref(),
        attributes: &view.attributes,
    }
}

fn first_assertion(node: &Node) -> Option<&Node> {
    if node.is(ns::SAML, "Assertion") {
        return Some(node);
    }
    node.children.iter().find_map(first_assertion)
}

/// Runs the pipeline on `doc`; when it accepts, checks invariants 1 and 2 and returns the view.
fn pipeline(doc: &[u8]) -> Option<AssertionView> {
    let f = fixture();
    let verified = verify::verify(
        doc,
        &f.trust,
        &f.policy,
        &f.limits,
        Some(samples::SAMPLE_AUDIENCE),
        f.now,
    )
    .ok()?;
    let view = verified.view().clone();

    // 1. The pipeline's view is the view of the signed bytes.
    let signed = dsig::verify_assertion(doc, &f.anchor)
        .expect("the signature module refuses what the pipeline accepted");
    let from_signed =
        unverified::assertion_view(&signed.signed_bytes).expect("the signed bytes do not parse");
    assert_eq!(
        view, from_signed,
        "pipeline view differs from the signed bytes' view"
    );

    for name in ["no-pjd", "ihe-iua"] {
        let profile = f.profiles.get(name).expect("profile");
        let model = profile.decode_xua_unverified(input_of(&view));
        assert_eq!(
            model,
            profile.decode_xua_unverified(input_of(&from_signed)),
            "{name}: models differ"
        );
        // 2. The document as it stands says the same thing.
        let Ok(model) = model else { continue };
        if let Ok((root, _)) = unverified::parse_tree(doc, Mode::Lenient) {
            if let Some(node) = first_assertion(&root) {
                if let Ok(naive) = unverified::view_of(node) {
                    if let Ok(naive_model) = profile.decode_xua_unverified(input_of(&naive)) {
                        assert_eq!(
                            model, naive_model,
                            "{name}: the document says something else than what was signed"
                        );
                    }
                }
            }
        }
    }
    Some(view)
}

/// Text an issuer could put in a value: what the mapping engine lets through (no control characters, no
/// noncharacters), so that the round trip is about XML, not about values the gateway refuses anyway.
fn clean(s: String) -> Option<String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() && c != '\u{FFFE}' && c != '\u{FFFF}');
    ok.then_some(s)
}

const NAMES: &[&str] = &[
    "urn:oasis:names:tc:xacml:1.0:subject:subject-id",
    "urn:oasis:names:tc:xspa:1.0:subject:npi",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xacml:2.0:action:purpose",
    "urn:oasis:names:tc:xacml:1.0:resource:resource-id",
    "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
    "urn:nhn:trust-framework:1.0:ext:care-relationship:decision-ref",
    "urn:ihe:iti:xca:2010:homeCommunityId",
];
const TYPES: &[&str] = &["xs:string", "xs:anyURI", "xs:token"];

fn structured(data: &[u8]) {
    let f = fixture();
    let mut input = Cursor::new(data);
    let Some(name_id) = clean(input.text(64).trim().to_string()) else {
        return;
    };
    let name_qualifier = match input.byte() % 2 {
        0 => None,
        _ => clean(input.text(64)),
    };
    let mut attributes = Vec::new();
    while !input.is_empty() && attributes.len() < 16 {
        let name = match input.pick(NAMES.len()) {
            Some(known) => NAMES[known].to_string(),
            None => match clean(input.text(80)) {
                Some(n) => n,
                None => continue,
            },
        };
        let count = input.byte() % 4;
        let values: Vec<XuaValueOut> = (0..count)
            .filter_map(|_| {
                let ty = input.byte();
                let text = clean(input.text(200))?;
                Some(XuaValueOut::Text {
                    text,
                    xsi_type: TYPES.get(usize::from(ty)).map(|t| t.to_string()),
                })
            })
            .collect();
        attributes.push(XuaAttributeOut {
            name,
            name_format: None,
            values,
        });
    }
    let Ok(unsigned) = build::assertion(
        &AssertionSpec {
            id: "_fuzz",
            issuer: samples::SAMPLE_IDP,
            issue_instant: f.now - Duration::minutes(1),
            not_on_or_after: f.now + Duration::minutes(10),
            audience: samples::SAMPLE_AUDIENCE,
            name_id: &name_id,
            name_qualifier: name_qualifier.as_deref(),
            authn_instant: f.now - Duration::minutes(2),
            authn_context_class: AC_X509,
        },
        &attributes,
    ) else {
        return;
    };
    let signed = dsig::sign_assertion(&unsigned, &f.idp).expect("our own assertion signs");
    // What the prescan limits refuse is not a round-trip failure.
    let view = match pipeline(&signed) {
        Some(view) => view,
        None => {
            let refused = verify::verify(
                &signed,
                &f.trust,
                &f.policy,
                &f.limits,
                Some(samples::SAMPLE_AUDIENCE),
                f.now,
            )
            .expect_err("pipeline() returned None");
            assert_eq!(
                refused.class,
                xua_gateway::error::ErrorClass::Limit,
                "a signed assertion we built was refused: {refused}"
            );
            return;
        }
    };
    // 3. The issuing side: every built value comes back exactly, and nothing else does.
    assert_eq!(view.name_id.as_deref(), Some(name_id.as_str()));
    assert_eq!(view.name_id_qualifier, name_qualifier);
    assert_eq!(
        view.attributes.len(),
        attributes.len(),
        "attribute count changed"
    );
    for (got, want) in view.attributes.iter().zip(&attributes) {
        assert_eq!(got.name, want.name);
        let want_values: Vec<&str> = want
            .values
            .iter()
            .map(|v| match v {
                XuaValueOut::Text { text, .. } => text.as_str(),
                XuaValueOut::Element(_) => "",
            })
            .collect();
        let got_values: Vec<&str> = got.values.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(got_values, want_values, "values changed");
        assert!(
            got.values.iter().all(|v| v.elements.is_empty()),
            "text became markup"
        );
    }
}

/// One fuzz input: the first byte picks the mode (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            pipeline(rest);
        }
        1 => {
            if let Ok(signed) = dsig::sign_assertion(rest, &fixture().idp) {
                pipeline(&signed);
            }
        }
        _ => structured(rest),
    }
}
