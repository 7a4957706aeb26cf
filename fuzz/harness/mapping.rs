//! The mapping decoders on their own: escaped HL7 fragments, CE/II/CX/decision-ref, and the profiles'
//! `decode_xua` / `decode_claims` on arbitrary attribute lists and JSON.
//!
//! Besides "no panic", each decoder that accepts must be stable under its own encoder: what the gateway
//! writes from a decoded value must decode to the same value (a translation neither loses nor invents
//! anything on the second pass).
//!
//! The first input byte picks the decoder.

use std::sync::OnceLock;

use time::{Duration, OffsetDateTime};
use xua_gateway::inspect::unverified;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::hl7;
use xua_gateway::mapping::{OidForm, Profile, ProfileSet, XuaInput};
use xua_gateway::model::AccessContext;
use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};
use xua_gateway::saml::fragment::{parse_escaped, XmlFragment};
use xua_gateway::saml::view::{SamlAttribute, SamlValue};

use crate::input::Cursor;

fn profiles() -> &'static ProfileSet {
    static PROFILES: OnceLock<ProfileSet> = OnceLock::new();
    PROFILES.get_or_init(|| ProfileSet::embedded("no-pjd").expect("embedded profiles"))
}

/// The model written as XUA attributes in an assertion and read back, as the gateway's two halves do.
fn through_xua(profile: &Profile, model: &AccessContext) -> Option<AccessContext> {
    let out = profile.encode_xua(model).ok()?;
    let now = OffsetDateTime::from_unix_timestamp(1_795_478_400).ok()?;
    let xml = build::assertion(
        &AssertionSpec {
            id: "_m",
            issuer: "https://issuer.example",
            issue_instant: now,
            not_on_or_after: now + Duration::minutes(5),
            audience: "urn:a",
            name_id: out.name_id.as_deref()?,
            name_qualifier: out.name_qualifier.as_deref(),
            authn_instant: now,
            authn_context_class: AC_X509,
        },
        &out.attributes,
    )
    .expect("the encoder's output builds");
    let view = unverified::assertion_view(&xml).expect("the built assertion parses");
    Some(
        profile
            .decode_xua_unverified(XuaInput {
                name_id: view.name_id.as_deref(),
                name_qualifier: view.name_id_qualifier.as_deref(),
                attributes: &view.attributes,
            })
            .expect("the encoder's output decodes"),
    )
}

fn through_claims(profile: &Profile, model: &AccessContext) -> Option<AccessContext> {
    let mut claims = profile.encode_claims(model).ok()?;
    // The registered claims are the issuer's alone (it refuses a profile that writes one)...
    for name in ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"] {
        assert!(
            !claims.contains_key(name),
            "the profile wrote the registered claim {name}"
        );
    }
    // ...and it writes `sub` from the assertion's NameID, which is the practitioner's identifier.
    if let Some(id) = model.practitioner.identifier.as_ref() {
        claims.insert("sub".into(), serde_json::Value::String(id.id.clone()));
    }
    let wire = serde_json::to_vec(&claims).expect("serialises");
    let back = xua_gateway::jwt::json::parse_object(&wire).expect("our JSON parses");
    Some(
        profile
            .decode_claims_unverified(&back)
            .expect("the encoder's claims decode"),
    )
}

fn fragment(text: &str) {
    let Ok(f) = parse_escaped(text) else { return };
    // The escaped form we write reads back as the same tree.
    let written = f.to_xml();
    let back = parse_escaped(&written).expect("our own escaped XML parses");
    assert_eq!(
        strip_prefixes(&back),
        strip_prefixes(&f),
        "fragment changed: {written}"
    );
    if let Ok(c) = hl7::ce_from_fragment(&f) {
        for form in [OidForm::Urn, OidForm::Bare] {
            let again = hl7::ce_from_fragment(&hl7::ce_to_fragment(&c, "Role", None, form));
            assert_eq!(again, Ok(c.clone()), "CE changed");
        }
    }
    if let Ok(i) = hl7::ii_from_fragment(&f) {
        let again = hl7::ii_from_fragment(&hl7::ii_to_fragment(&i, "id", OidForm::Urn));
        assert_eq!(again, Ok(i), "II changed");
    }
    if let Ok(d) = hl7::decision_ref_from_fragment(&f) {
        let again = hl7::decision_ref_from_fragment(&hl7::decision_ref_to_fragment(&d));
        assert_eq!(again, Ok(d), "decision-ref changed");
    }
}

/// Fragments compare by local names: prefixes are not part of what a decoder reads.
fn strip_prefixes(f: &XmlFragment) -> XmlFragment {
    XmlFragment {
        name: f.name.clone(),
        namespace: f.namespace.clone(),
        attributes: f
            .attributes
            .iter()
            .map(|(k, v)| (k.rsplit(':').next().unwrap_or(k).to_string(), v.clone()))
            .collect(),
        children: f.children.iter().map(strip_prefixes).collect(),
        text: f.text.clone(),
    }
}

fn cx(text: &str) {
    let Ok(i) = hl7::cx_parse(text) else { return };
    if let Ok(written) = hl7::cx_format(&i) {
        assert_eq!(hl7::cx_parse(&written), Ok(i), "CX changed: {written}");
    }
}

const NAMES: &[&str] = &[
    "urn:oasis:names:tc:xacml:1.0:subject:subject-id",
    "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
    "urn:oasis:names:tc:xspa:1.0:subject:npi",
    "urn:ihe:iti:xua:2017:subject:provider-identifier",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
    "urn:oasis:names:tc:xspa:1.0:subject:organization",
    "urn:oasis:names:tc:xspa:1.0:subject:child-organization",
    "urn:nhn:trust-framework:1.0:ext:subject:child-organization-name",
    "urn:oasis:names:tc:xspa:1.0:subject:facility",
    "urn:oasis:names:tc:xacml:2.0:action:purpose",
    "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
    "urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service",
    "urn:nhn:trust-framework:1.0:ext:care-relationship:purpose-of-use-details",
    "urn:nhn:trust-framework:1.0:ext:care-relationship:decision-ref",
    "urn:oasis:names:tc:xacml:1.0:resource:resource-id",
    "urn:nhn:trust-framework:1.0:ext:resource:child-organization",
    "urn:ihe:iti:xca:2010:homeCommunityId",
    "urn:no:ehelse:saml:1.0:subject:SecurityLevel",
    "urn:no:ehelse:saml:1.0:subject:Scope",
    "urn:no:ehelse:saml:1.0:subject:client_id",
];

/// Values that look like what issuers send, so decoders get past their first check.
const TEMPLATES: &[&str] = &[
    r#"<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="{}" codeSystem="2.16.578.1.12.4.1.1.9060" displayName="Lege"/>"#,
    r#"<id xmlns="urn:hl7-org:v3" xsi:type="II" root="2.16.578.1.12.4.1.4.4" extension="{}"/>"#,
    "{}^^^&2.16.578.1.12.4.1.4.1&ISO",
    r#"<decision-ref><id value="{}"/><user-selected value="true"/></decision-ref>"#,
    r#"<PurposeOfUse xmlns="urn:hl7-org:v3" code="{}" codeSystem="urn:oid:2.16.840.1.113883.1.11.20448"/>"#,
];

fn decode_xua(data: &[u8]) {
    let mut input = Cursor::new(data);
    let name_id = match input.byte() % 4 {
        0 => None,
        _ => Some(input.text(40)),
    };
    let mut attributes = Vec::new();
    while !input.is_empty() && attributes.len() < 24 {
        let name = match input.pick(NAMES.len()) {
            Some(known) => NAMES[known].to_string(),
            None => input.text(80),
        };
        let count = input.byte() % 4;
        let values = (0..count)
            .map(|_| {
                let template = input.pick(TEMPLATES.len());
                let nil = input.byte() == 0xff;
                let text = input.text(120);
                SamlValue {
                    text: match template {
                        Some(t) => TEMPLATES[t].replace("{}", &text),
                        None => text,
                    },
                    nil,
                    ..SamlValue::default()
                }
            })
            .collect();
        attributes.push(SamlAttribute {
            name,
            name_format: None,
            friendly_name: None,
            values,
        });
    }
    for name in ["no-pjd", "ihe-iua"] {
        let profile = profiles().get(name).expect("profile");
        let Ok(model) = profile.decode_xua_unverified(XuaInput {
            name_id: name_id.as_deref(),
            name_qualifier: None,
            attributes: &attributes,
        }) else {
            continue;
        };
        if let Some(again) = through_xua(profile, &model) {
            let mut expected = model.clone();
            // XUA always carries a home community: the table's default when the model has none.
            if expected.session.home_community_id.is_none() {
                expected.session.home_community_id = again.session.home_community_id.clone();
            }
            assert_eq!(
                again, expected,
                "{name}: XUA → model → XUA → model changed the model"
            );
        }
        let _ = through_claims(profile, &model);
    }
}

fn decode_claims(data: &[u8]) {
    let Ok(claims) = xua_gateway::jwt::json::parse_object(data) else {
        return;
    };
    for name in ["no-pjd", "ihe-iua"] {
        let profile = profiles().get(name).expect("profile");
        let Ok(model) = profile.decode_claims_unverified(&claims) else {
            continue;
        };
        if let Some(again) = through_claims(profile, &model) {
            assert_eq!(
                again, model,
                "{name}: claims → model → claims → model changed the model"
            );
        }
        let _ = through_xua(profile, &model);
    }
}

/// One fuzz input: the first byte picks the decoder.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                fragment(text);
                cx(text);
            }
        }
        1 => decode_xua(rest),
        2 => decode_claims(rest),
        _ => {
            // Escaped fragments as NHN sends them, the text inside the AttributeValue.
            if let Ok(text) = std::str::from_utf8(rest) {
                let unescaped = text.replace("&lt;", "<").replace("&gt;", ">");
                fragment(&unescaped);
            }
        }
    }
}
