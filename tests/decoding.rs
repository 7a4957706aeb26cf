//! Decoding real and variant XUA encodings into the model through the Norwegian profile table.

use xua_gateway::mapping::{ProfileSet, XuaInput};
use xua_gateway::model::{AccessContext, Coded, DecisionRef, Identifier};
use xua_gateway::saml::extract::assertion_view;

fn corpus(path: &str) -> Vec<u8> {
    let full = format!("{}/../shared/corpus/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

fn decode(xml: &[u8]) -> AccessContext {
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    let view = assertion_view(xml).unwrap();
    profiles
        .default_profile()
        .decode_xua(XuaInput {
            name_id: view.name_id.as_deref(),
            attributes: &view.attributes,
        })
        .unwrap()
}

fn ident(id: &str, system: &str) -> Identifier {
    Identifier {
        id: id.into(),
        system: Some(system.into()),
        ..Identifier::default()
    }
}

#[test]
fn helseid_kj01_decodes_to_its_model() {
    let ctx = decode(&corpus("nhn/IT_SamlToken_KJ01.xml"));
    let p = &ctx.practitioner;
    assert_eq!(p.identifier.as_ref().unwrap().id, "06828399789");
    assert_eq!(
        p.identifier.as_ref().unwrap().name.as_deref(),
        Some("KVART GREVLING")
    );
    assert_eq!(
        p.identifier.as_ref().unwrap().system.as_deref(),
        Some("urn:oid:2.16.578.1.12.4.1.4.1")
    );
    assert_eq!(p.hpr_nr.as_ref().unwrap().id, "565505933");
    assert_eq!(
        p.hpr_nr.as_ref().unwrap().system.as_deref(),
        Some("urn:oid:2.16.578.1.12.4.1.4.4")
    );
    assert_eq!(
        p.authorization,
        vec![Coded {
            code: "LE".into(),
            text: Some("Lege".into()),
            system: Some("urn:oid:2.16.578.1.12.4.1.1.9060".into()),
            assigner: None
        }]
    );
    let le = p.legal_entity.as_ref().unwrap();
    assert_eq!(
        (le.id.as_str(), le.name.as_deref()),
        ("960510542", Some("VOSS HERAD"))
    );
    assert_eq!(
        le.system.as_deref(),
        Some("urn:oid:2.16.578.1.12.4.1.4.101")
    );
    assert_eq!(le.authority.as_deref(), Some("https://www.brreg.no/"));
    let poc = p.point_of_care.as_ref().unwrap();
    assert_eq!(
        (poc.id.as_str(), poc.name.as_deref()),
        ("874593842", Some("VOSS SJUKEHEIM"))
    );
    let c = &ctx.care_relationship;
    assert_eq!(c.purpose_of_use.len(), 1);
    assert_eq!(c.purpose_of_use[0].code, "TREAT");
    assert_eq!(
        c.purpose_of_use[0].system.as_deref(),
        Some("urn:oid:2.16.840.1.113883.1.11.20448")
    );
    let hs = c.healthcare_service.as_ref().unwrap();
    assert_eq!(
        (hs.code.as_str(), hs.system.as_deref()),
        ("KP01", Some("urn:oid:2.16.578.1.12.4.1.1.8663"))
    );
    assert_eq!(
        c.decision_ref,
        Some(DecisionRef {
            id: "07b4b65f-a538-4c88-b845-c8fd18702f83".into(),
            user_selected: Some(true),
            user_reason: None
        })
    );
    assert_eq!(ctx.patients.len(), 1);
    assert_eq!(
        ctx.patients[0].identifier,
        Some(ident("29698496140", "urn:oid:2.16.578.1.12.4.1.4.1"))
    );
    assert_eq!(ctx.session.security_level.as_deref(), Some("4"));
    assert_eq!(
        ctx.session.scope,
        vec!["journaldokumenter_helsepersonell".to_string()]
    );
    assert_eq!(
        ctx.session.client_id.as_deref(),
        Some("ea1b0c25-154d-483c-abeb-cdf2e09d0a45")
    );
    assert_eq!(
        ctx.session.home_community_id.as_deref(),
        Some("urn:oid:2.16.578.1.12.4.1.7.1.1")
    );
    assert_eq!(ctx.session.consent_policy, None);
}
