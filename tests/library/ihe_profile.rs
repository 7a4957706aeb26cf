//! The `ihe-iua` profile: IHE XUA encodings (CE as child elements, values repeated in one Attribute or spread
//! over several, NameFormat present or not) ⇄ IUA claims per IHE's mapping table.

use serde_json::{json, Value};
use xua_gateway::inspect::unverified::assertion_view;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::{Profile, ProfileSet, XuaInput};
use xua_gateway::model::AccessContext;
use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};

fn ihe() -> Profile {
    ProfileSet::embedded("no-pjd")
        .unwrap()
        .get("ihe-iua")
        .unwrap()
        .clone()
}

fn assertion(attributes: &str) -> String {
    format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_i" IssueInstant="2026-11-23T10:00:00Z" Version="2.0"><saml:Issuer>urn:idp</saml:Issuer><saml:Subject><saml:NameID>jsmith</saml:NameID></saml:Subject><saml:AttributeStatement>{attributes}</saml:AttributeStatement></saml:Assertion>"#
    )
}

fn decode(profile: &Profile, xml: &str) -> AccessContext {
    let view = assertion_view(xml.as_bytes()).unwrap();
    profile
        .decode_xua_unverified(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })
        .unwrap()
}

const ROLE_PHARMACIST: &str = r#"<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="46255001" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED_CT" displayName="Pharmacist"/>"#;
const ROLE_PHYSICIAN: &str = r#"<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="309343006" codeSystem="2.16.840.1.113883.6.96" codeSystemName="SNOMED_CT" displayName="Physician"/>"#;
const POU_TREAT: &str = r#"<PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="TREAT" codeSystem="2.16.840.1.113883.5.8" codeSystemName="v3-ActReason" displayName="treatment"/>"#;
const POU_BTG: &str = r#"<PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="BTG" codeSystem="2.16.840.1.113883.5.8" displayName="break the glass"/>"#;

fn av(v: &str) -> String {
    format!("<saml:AttributeValue>{v}</saml:AttributeValue>")
}

fn attr(name: &str, values: &[&str], name_format: bool) -> String {
    let nf = if name_format {
        r#" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri""#
    } else {
        ""
    };
    format!(
        r#"<saml:Attribute Name="{name}"{nf}>{}</saml:Attribute>"#,
        values.iter().map(|v| av(v)).collect::<String>()
    )
}

fn base(name_format: bool, spread: bool) -> String {
    let roles = if spread {
        attr(
            "urn:oasis:names:tc:xacml:2.0:subject:role",
            &[ROLE_PHARMACIST],
            name_format,
        ) + &attr(
            "urn:oasis:names:tc:xacml:2.0:subject:role",
            &[ROLE_PHYSICIAN],
            name_format,
        )
    } else {
        attr(
            "urn:oasis:names:tc:xacml:2.0:subject:role",
            &[ROLE_PHARMACIST, ROLE_PHYSICIAN],
            name_format,
        )
    };
    [
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
            &["Dr. John Smith"],
            name_format,
        ),
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:organization",
            &["Central Hospital"],
            name_format,
        ),
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
            &["urn:oid:1.2.3.4"],
            name_format,
        ),
        attr(
            "urn:ihe:iti:xca:2010:homeCommunityId",
            &["urn:oid:1.2.3.4.5.6.7.8"],
            name_format,
        ),
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:npi",
            &["1234567890"],
            name_format,
        ),
        roles,
        attr(
            "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
            &[POU_TREAT, POU_BTG],
            name_format,
        ),
        attr(
            "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
            &["543797436^^^&amp;1.2.840.113619.6.197&amp;ISO"],
            name_format,
        ),
        attr("urn:ihe:iti:xua:2012:acp", &["urn:oid:1.2.3.999"], true),
    ]
    .concat()
}

fn expected_claims() -> Value {
    json!({
        "extensions": {
            "ihe_iua": {
                "subject_name": "Dr. John Smith",
                "subject_organization": "Central Hospital",
                "subject_organization_id": "urn:oid:1.2.3.4",
                "home_community_id": "urn:oid:1.2.3.4.5.6.7.8",
                "national_provider_identifier": "1234567890",
                "subject_role": [
                    {"system": "http://snomed.info/sct", "code": "46255001", "display": "Pharmacist"},
                    {"system": "http://snomed.info/sct", "code": "309343006", "display": "Physician"}
                ],
                "purpose_of_use": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT", "display": "treatment"},
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG", "display": "break the glass"}
                ]
            },
            "ihe_bppc": {
                "patient_id": "543797436^^^&1.2.840.113619.6.197&ISO",
                "acp": "urn:oid:1.2.3.999"
            }
        }
    })
}

#[test]
fn xua_with_ihe_encodings_translates_to_iua_claims_per_ihes_table() {
    let profile = ihe();
    for (name_format, spread) in [(false, false), (true, false), (false, true), (true, true)] {
        let ctx = decode(&profile, &assertion(&base(name_format, spread)));
        let claims = profile.encode_claims(&ctx).unwrap();
        assert_eq!(
            Value::Object(claims),
            expected_claims(),
            "NameFormat {name_format}, spread {spread}"
        );
    }
}

#[test]
fn iua_claims_translate_back_to_the_same_xua() {
    let profile = ihe();
    let Value::Object(mut claims) = expected_claims() else {
        unreachable!()
    };
    claims.insert("sub".into(), json!("jsmith"));
    let ctx = profile.decode_claims_unverified(&claims).unwrap();
    assert_eq!(ctx, decode(&profile, &assertion(&base(false, false))));
    let out = profile.encode_xua(&ctx).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let xml = build::assertion(
        &AssertionSpec {
            id: "_x",
            issuer: "urn:gw",
            issue_instant: now,
            not_on_or_after: now + time::Duration::minutes(5),
            audience: "urn:a",
            name_id: out.name_id.as_deref().unwrap(),
            name_qualifier: None,
            authn_instant: now,
            authn_context_class: AC_X509,
        },
        &out.attributes,
    )
    .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    // IHE's encoding: CE as a child element in the HL7 namespace with a bare OID, one Attribute per name
    // holding both values, the BPPC attribute with its NameFormat.
    // (The assertion is written in exclusive canonical form: xsi is declared where it is used, attributes are
    // sorted, empty elements have an end tag.)
    assert!(xml.contains(r#"<saml:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><saml:AttributeValue><Role xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" code="46255001" codeSystem="2.16.840.1.113883.6.96" displayName="Pharmacist" xsi:type="CE"></Role></saml:AttributeValue><saml:AttributeValue><Role"#), "{xml}");
    assert!(xml.contains(r#"<saml:Attribute Name="urn:ihe:iti:xua:2012:acp" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:anyURI">urn:oid:1.2.3.999</saml:AttributeValue>"#), "{xml}");
    assert_eq!(decode(&profile, &xml), ctx);
    let again = profile.encode_claims(&decode(&profile, &xml)).unwrap();
    assert_eq!(Value::Object(again), expected_claims());
}

#[test]
fn iua_variants_are_read_single_codings_person_id_and_bare_oid_systems() {
    let profile = ihe();
    // CH:IUA: single Coding objects and the patient in person_id; IUA Rev 2.1: bare OIDs as systems.
    let claims = json!({
        "sub": "UserId-1",
        "extensions": {"ihe_iua": {
            "subject_name": "Martina Musterarzt",
            "person_id": "761337610411353650^^^&2.16.756.5.30.1.127.3.10.3&ISO",
            "subject_role": {"system": "urn:oid:2.16.756.5.30.1.127.3.10.6", "code": "HCP"},
            "purpose_of_use": [{"system": "1.0.14265.1", "code": "12", "display": "Law Enforcement"}]
        }}
    });
    let ctx = profile
        .decode_claims_unverified(claims.as_object().unwrap())
        .unwrap();
    assert_eq!(ctx.practitioner.identifier.as_ref().unwrap().id, "UserId-1");
    assert_eq!(ctx.practitioner.authorization[0].code, "HCP");
    assert_eq!(
        ctx.care_relationship.purpose_of_use[0].system.as_deref(),
        Some("urn:oid:1.0.14265.1")
    );
    assert_eq!(
        ctx.patients[0]
            .identifier
            .as_ref()
            .unwrap()
            .system
            .as_deref(),
        Some("urn:oid:2.16.756.5.30.1.127.3.10.3")
    );
}

#[test]
fn the_generic_ipf_xua_sample_decodes_with_the_ihe_profile() {
    // The IPF sample nests the assertion in a wsse:Security element; take the assertion element out as text
    // (decoding only: its signature is not verifiable, see the corpus MANIFEST).
    let Some(bytes) =
        crate::corpus_file::read("ihe/xua-generic/ipf_xds_saml2-assertion-for-xua.xml")
    else {
        return;
    };
    let text = String::from_utf8(bytes).unwrap();
    let start = text.find("<saml:Assertion").unwrap();
    let end = text.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let xml = text[start..end].replacen(
        "<saml:Assertion ",
        r#"<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
        1,
    );
    let view = assertion_view(xml.as_bytes()).unwrap();
    let result = ihe().decode_xua_unverified(XuaInput {
        name_id: view.name_id.as_deref(),
        name_qualifier: None,
        attributes: &view.attributes,
    });
    // Its roles and purposes each carry a deliberately garbage value (another namespace, xsi:type ABC):
    // refused, with the attribute named.
    let err = result.unwrap_err();
    assert!(
        err.message.starts_with("attribute urn:oasis:names:tc:"),
        "{err}"
    );
    assert!(
        err.message
            .contains("has an invalid HL7 CE value: its element is not in the HL7 v3 namespace"),
        "{err}"
    );
}

/// Found by the mapping_decoders fuzzer: an IUA `home_community_id` is any string, XUA's homeCommunityId only
/// an OID. A value that is not one is refused when encoding, instead of being signed into an assertion that
/// XUA readers (this gateway included) refuse.
#[test]
fn a_home_community_id_that_is_not_an_oid_is_not_written_into_xua() {
    let profile = ihe();
    let claims = json!({
        "sub": "jsmith",
        "extensions": {"ihe_iua": {"home_community_id": "uvn:oid:1.2.3.4"}}
    });
    let model = profile
        .decode_claims_unverified(claims.as_object().unwrap())
        .unwrap();
    let refused = profile.encode_xua(&model).unwrap_err();
    assert_eq!(refused.class, xua_gateway::error::ErrorClass::Claim);
    assert!(
        refused.message.contains("is not an OID"),
        "{}",
        refused.message
    );

    let claims = json!({
        "sub": "jsmith",
        "extensions": {"ihe_iua": {"home_community_id": "urn:oid:1.2.3.4"}}
    });
    let model = profile
        .decode_claims_unverified(claims.as_object().unwrap())
        .unwrap();
    assert!(profile.encode_xua(&model).is_ok());
}
