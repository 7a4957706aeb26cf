//! Profiles are data: chosen per request or per issuer, and a table changed at test time changes the output
//! with no code change.

use serde_json::{json, Value};
use time::OffsetDateTime;
use xua_gateway::samples::{self, MintOptions};

use crate::helpers::*;

/// IUA claims for the IHE profile's sample user.
fn iua_claims() -> serde_json::Map<String, Value> {
    let Value::Object(m) = json!({
        "sub": "jsmith",
        "extensions": {
            "ihe_iua": {
                "subject_name": "Dr. John Smith",
                "subject_organization": "Central Hospital",
                "subject_organization_id": "urn:oid:1.2.3.4",
                "home_community_id": "urn:oid:1.2.3.4.5.6.7.8",
                "national_provider_identifier": "1234567890",
                "subject_role": [{"system": "http://snomed.info/sct", "code": "46255001", "display": "Pharmacist"}],
                "purpose_of_use": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT", "display": "treatment"},
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG", "display": "break the glass"}
                ]
            },
            "ihe_bppc": {"patient_id": "543797436^^^&1.2.840.113619.6.197&ISO"}
        }
    }) else {
        unreachable!()
    };
    m
}

/// An IHE-encoded XUA assertion (CE as child elements, several roles/purposes in one Attribute), signed by
/// `issuer` with the TEST-ONLY IdP key.
fn ihe_assertion(issuer: &str) -> Vec<u8> {
    let profiles = profiles();
    samples::mint_assertion(
        profiles.get("ihe-iua").unwrap(),
        &iua_claims(),
        &MintOptions {
            issuer: issuer.to_string(),
            ..MintOptions::default()
        },
        &sample_idp(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn without_registered(mut claims: serde_json::Map<String, Value>) -> Value {
    for k in ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"] {
        claims.remove(k);
    }
    Value::Object(claims)
}

#[actix_web::test]
async fn the_profile_is_chosen_per_request() {
    let app = spawn_app().await;
    let xml = ihe_assertion(samples::SAMPLE_IDP);
    assert!(
        String::from_utf8_lossy(&xml).contains("<Role xmlns=\"urn:hl7-org:v3\""),
        "CE as a child element"
    );
    let (status, body) = app.exchange_saml(&xml, &[("profile", "ihe-iua")]).await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "jsmith");
    let mut expected = iua_claims();
    expected.remove("sub");
    assert_eq!(without_registered(claims), Value::Object(expected));
    assert_eq!(
        app.records().last().unwrap().profile.as_deref(),
        Some("ihe-iua")
    );

    // The default (Norwegian) profile refuses the same assertion: it has no place for these encodings.
    let (status, body) = app
        .exchange_saml(&ihe_assertion(samples::SAMPLE_IDP), &[])
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .exchange_saml(&ihe_assertion(samples::SAMPLE_IDP), &[("profile", "nope")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "profile nope is not configured");
}

#[actix_web::test]
async fn the_profile_is_chosen_per_issuer_by_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[saml.trusted_issuers]]\nentity_id = \"https://ihe-idp.test.example\"\ncertificate = \"{}\"\nprofile = \"ihe-iua\"\n",
        sample_config_text(),
        repo().join("samples/keys/TEST-ONLY-idp.crt.pem").display()
    );
    let app = spawn_app_with_text(&text, dir.path()).await;
    let (status, body) = app
        .exchange_saml(&ihe_assertion("https://ihe-idp.test.example"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["extensions"]["ihe_iua"]["subject_name"],
        "Dr. John Smith"
    );
    // The Norwegian sample issuer still gets the default profile.
    let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(payload(body["access_token"].as_str().unwrap())
        .contains_key("nhn:tillitsrammeverk:parameters"));

    // A profile that does not exist stops start-up.
    let broken = text.replace("profile = \"ihe-iua\"", "profile = \"no-such-profile\"");
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let loaded = xua_gateway::config::LoadedConfig::from_file(&path).unwrap();
    let err = xua_gateway::startup::Gateway::build(loaded, xua_gateway::clock::system(), None)
        .unwrap_err();
    assert!(err.to_string().contains("no-such-profile"), "{err}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[actix_web::test]
async fn a_table_changed_at_test_time_changes_the_output_without_code() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    copy_dir(&repo().join("mappings"), &mappings);
    let table = mappings.join("profiles/no-pjd.toml");
    let text = std::fs::read_to_string(&table).unwrap();
    // Rename one XUA attribute and move one JWT claim: pure data edits.
    let edited = text
        .replace(
            r#"name = "urn:oasis:names:tc:xacml:1.0:subject:subject-id", legacy = ["urn:oasis:names:tc:xspa:1.0:subject:subject-id"]"#,
            r#"name = "urn:example:test:practitioner-name", legacy = ["urn:oasis:names:tc:xacml:1.0:subject:subject-id", "urn:oasis:names:tc:xspa:1.0:subject:subject-id"]"#,
        )
        .replace(r#"claim = ["helseid://claims/hpr/hpr_number"]"#, r#"claim = ["example:hpr_number"]"#);
    assert_ne!(edited, text);
    std::fs::write(&table, edited).unwrap();
    let config = sample_config_text().replace("mappings = \"\"", "mappings = \"mappings\"");
    let app = spawn_app_with_text(&config, dir.path()).await;

    // JWT → SAML writes the renamed attribute.
    let (status, body, xml) = app
        .exchange_jwt(&mint_sample_jwt("hospital-physician.json"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let xml = xml.unwrap();
    assert!(xml.contains(r#"<saml:Attribute Name="urn:example:test:practitioner-name"><saml:AttributeValue>TEST OVERLEGE MOE</saml:AttributeValue>"#), "{xml}");
    assert!(!xml.contains("urn:oasis:names:tc:xacml:1.0:subject:subject-id"));

    // SAML → JWT writes the moved claim, and still reads the old attribute name as a legacy one.
    let (status, body) = app
        .exchange_saml(&mint_now("hospital-physician.json"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["example:hpr_number"], "9144900");
    assert!(!claims.contains_key("helseid://claims/hpr/hpr_number"));
    assert_eq!(
        claims["nhn:tillitsrammeverk:parameters"]["practitioner"]["identifier"]["name"],
        "TEST OVERLEGE MOE"
    );
}
