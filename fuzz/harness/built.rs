//! Mode 4 of the differential harness: assertions the gateway builds itself, signed by the direct signer
//! (`build::signed_assertion`) and by libxmlsec1 (`dsig::sign_assertion` over the same bytes). Both must
//! verify with both verifiers, to the same claims, and say exactly what was built.

use std::sync::OnceLock;

use time::{Duration, OffsetDateTime};
use xua_gateway::saml::build::{self, AssertionSpec, XuaAttributeOut, XuaValueOut, AC_X509};
use xua_gateway::saml::dsig::{self, SigningIdentity};
use xua_gateway::saml::fragment::XmlFragment;
use xua_gateway::saml::prescan::XmlLimits;
use xua_gateway::saml::verify::{self, TrustStore, VerifierEngine};
use xua_gateway::samples;

use crate::input::Cursor;

struct Fixture {
    trust: TrustStore,
    idp: SigningIdentity,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut trust = TrustStore::new();
        trust.add(
            samples::SAMPLE_IDP,
            dsig::TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("sample cert"),
        );
        Fixture {
            trust,
            idp: samples::sample_idp().expect("sample IdP key"),
            now: OffsetDateTime::from_unix_timestamp(1_795_478_400).expect("a time"),
        }
    })
}

/// Text a value may hold: anything but the characters XML 1.0 cannot carry.
fn xml_text(s: String) -> Option<String> {
    let ok = !s.is_empty()
        && s.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        });
    ok.then_some(s)
}

const NAMES: &[&str] = &[
    "urn:oasis:names:tc:xacml:1.0:subject:subject-id",
    "urn:oasis:names:tc:xspa:1.0:subject:npi",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xacml:2.0:action:purpose",
];
const TYPES: &[&str] = &["xs:string", "xs:anyURI", "xs:token"];

fn hl7(input: &mut Cursor<'_>) -> Option<XmlFragment> {
    let mut f = XmlFragment::new(["Role", "PurposeOfUse", "id"][usize::from(input.byte() % 3)]);
    if input.byte().is_multiple_of(2) {
        f.namespace = Some("urn:hl7-org:v3".to_string());
    }
    f = f
        .with_attr("xsi:type", "CE")
        .with_attr("code", xml_text(input.text(16))?);
    if input.byte().is_multiple_of(2) {
        f = f.with_attr("displayName", xml_text(input.text(40))?);
    }
    if input.byte().is_multiple_of(3) {
        let mut child = XmlFragment::new("value");
        child.text = xml_text(input.text(20))?;
        f.children.push(child);
    }
    Some(f)
}

pub fn check(data: &[u8]) {
    let f = fixture();
    let mut input = Cursor::new(data);
    let Some(name_id) = xml_text(input.text(64)) else {
        return;
    };
    let name_qualifier = match input.byte() % 2 {
        0 => None,
        _ => xml_text(input.text(64)),
    };
    let mut attributes = Vec::new();
    while !input.is_empty() && attributes.len() < 8 {
        let name = match input.pick(NAMES.len()) {
            Some(known) => NAMES[known].to_string(),
            None => match xml_text(input.text(80)) {
                Some(n) => n,
                None => continue,
            },
        };
        let count = input.byte() % 4;
        let values: Vec<XuaValueOut> = (0..count)
            .filter_map(|_| {
                let kind = input.byte();
                if kind % 5 == 4 {
                    return hl7(&mut input).map(XuaValueOut::Element);
                }
                Some(XuaValueOut::Text {
                    text: xml_text(input.text(200))?,
                    xsi_type: TYPES.get(usize::from(kind % 5)).map(|t| t.to_string()),
                })
            })
            .collect();
        attributes.push(XuaAttributeOut {
            name,
            name_format: None,
            values,
        });
    }
    let spec = AssertionSpec {
        id: "_built",
        issuer: samples::SAMPLE_IDP,
        issue_instant: f.now - Duration::minutes(1),
        not_on_or_after: f.now + Duration::minutes(10),
        audience: samples::SAMPLE_AUDIENCE,
        name_id: &name_id,
        name_qualifier: name_qualifier.as_deref(),
        authn_instant: f.now - Duration::minutes(2),
        authn_context_class: AC_X509,
    };
    let Ok(unsigned) = build::assertion(&spec, &attributes) else {
        return;
    };
    let direct = build::signed_assertion(&spec, &attributes, &f.idp)
        .expect("the direct signer signs what build wrote");
    let by_libxmlsec =
        dsig::sign_assertion(&unsigned, &f.idp).expect("libxmlsec1 signs what build wrote");
    let limits = XmlLimits::default();
    let mut views = Vec::new();
    for doc in [&direct, &by_libxmlsec] {
        super::dsig::compare_with(doc, &f.trust);
        for engine in [VerifierEngine::Libxmlsec, VerifierEngine::Streaming] {
            match verify::verify_signed(engine, doc, &f.trust, &limits, f.now) {
                Ok(signed) => {
                    assert_eq!(
                        signed.signed_bytes, unsigned,
                        "the digested bytes are not the bytes build wrote"
                    );
                    views.push(signed.view);
                }
                Err(e) => assert_eq!(
                    e.class,
                    xua_gateway::error::ErrorClass::Limit,
                    "{engine:?} refuses an assertion we built and signed: {e}"
                ),
            }
        }
    }
    for view in &views {
        assert_eq!(
            view, &views[0],
            "the claims differ between signers or verifiers"
        );
        assert_eq!(view.name_id.as_deref(), Some(name_id.trim()));
        assert_eq!(
            view.attributes.len(),
            attributes.len(),
            "attribute count changed"
        );
    }
}
