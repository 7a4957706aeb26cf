//! The rules stage over HTTP (SAML → JWT): invalid values are rejected with the field named, lenient mode
//! passes unknown codes with a warning in the audit record, and the fastlege rule (encode-xua) leaves this
//! direction alone.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use xua_gateway::config::{LoadedConfig, Origin};
use xua_gateway::model::Outcome;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

use crate::helpers::*;

fn mint_claims(claims: &Map<String, Value>) -> Vec<u8> {
    samples::mint_assertion(
        profiles().default_profile(),
        claims,
        &MintOptions::default(),
        &sample_idp(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// The fastlege sample with its trust-framework object edited.
fn fastlege_with(edit: impl Fn(&mut Value)) -> Vec<u8> {
    let mut c = claims_file("fastlege.json");
    edit(&mut c["nhn:tillitsrammeverk:parameters"]);
    mint_claims(&c)
}

/// The sample configuration with one line replaced, read as if from samples/ (so its paths resolve).
fn sample_config_with(from: &str, to: &str) -> LoadedConfig {
    let path = repo().join("samples/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    LoadedConfig::parse(&text.replace(from, to), Origin::File(path)).unwrap()
}

#[actix_web::test]
async fn saml_to_jwt_is_not_touched_by_the_fastlege_rule() {
    let app = spawn_app().await;
    // Example 8.1: the register lists this practitioner as the patient's GP, but the rule is for encode-xua.
    let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    let hs = &claims["nhn:tillitsrammeverk:parameters"]["care_relationship"]["healthcare_service"];
    assert_eq!(hs["code"], "KA01");
    assert_eq!(app.gateway.pipeline().rules().stats().snapshot().lookups, 0);
    let record = app.records().pop().unwrap();
    assert_eq!(record.outcome, Outcome::Issued);
    assert!(
        record.rules.is_none(),
        "nothing to record: {:?}",
        record.rules
    );
}

#[actix_web::test]
async fn invalid_values_are_rejected_with_the_field_named() {
    let app = spawn_app().await;
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            Box::new(|p| p["practitioner"]["legal_entity"]["id"] = json!("100100674")),
            "100100674",
            "practitioner.legal_entity.id fails rule orgnr: the check digit is wrong",
        ),
        (
            Box::new(|p| p["patients"][0]["identifier"]["id"] = json!("21868534522")),
            "21868534522",
            "patient.identifier.id fails rule nin: the second check digit is wrong",
        ),
        (
            Box::new(|p| {
                p["care_relationship"]["decision_ref"]["user_reason"] =
                    json!("Akutt\"><img src=x onerror=alert(1)>")
            }),
            "onerror",
            "care_relationship.decision_ref.user_reason fails rule charset user_reason",
        ),
        (
            Box::new(|p| p["care_relationship"]["purpose_of_use"]["code"] = json!("NOSY")),
            "NOSY",
            "care_relationship.purpose_of_use.code fails rule codes",
        ),
    ];
    for (edit, value, expected) in cases {
        let before = app.records().len();
        let (status, body) = app.exchange_saml(&fastlege_with(edit), &[]).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_class"], "CLAIM");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with(expected), "{description}");
        assert!(!body.to_string().contains(value), "{body}");
        let records = app.records();
        assert_eq!(records.len(), before + 1);
        let record = records.last().unwrap();
        assert_eq!(record.outcome, Outcome::Rejected);
        assert!(record.error.as_deref().unwrap().starts_with(expected));
        assert!(record.output_token_id.is_none());
    }
}

#[actix_web::test]
async fn lenient_mode_passes_unknown_codes_with_a_warning_in_the_audit_record() {
    let unknown = fastlege_with(|p| {
        p["care_relationship"]["healthcare_service"] =
            json!({"code": "KA99", "system": "urn:oid:2.16.578.1.12.4.1.1.8663"})
    });

    let strict = spawn_app().await;
    let (status, body) = strict.exchange_saml(&unknown, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("care_relationship.healthcare_service.code fails rule codes"));

    let lenient = spawn_app_with(sample_config_with(
        r#"unknown_codes = { "no-pjd" = "strict" }"#,
        r#"unknown_codes = { "no-pjd" = "lenient" }"#,
    ))
    .await;
    let (status, body) = lenient.exchange_saml(&unknown, &[]).await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["nhn:tillitsrammeverk:parameters"]["care_relationship"]["healthcare_service"]
            ["code"],
        "KA99",
        "lenient passes the value through unchanged"
    );
    let record = lenient.records().pop().unwrap();
    assert_eq!(record.outcome, Outcome::Issued);
    let audited = serde_json::to_value(&record).unwrap();
    assert_eq!(
        audited["rules"]["warnings"],
        json!([{
            "severity": "warning",
            "field": "care_relationship.healthcare_service.code",
            "rule": "codes",
            "problem": "the code is not in the table of urn:oid:2.16.578.1.12.4.1.1.8663 (Tjenestetyper for kommunal helse- og omsorgstjeneste mv.)"
        }])
    );
}

#[actix_web::test]
async fn a_broken_rules_configuration_stops_start_up() {
    let build = |loaded: LoadedConfig| {
        Gateway::build(loaded, xua_gateway::clock::system(), None)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = build(sample_config_with(
        r#"register = "file""#,
        r#"register = "http""#,
    ));
    assert!(err.contains("[rules.fastlege.http] is missing"), "{err}");
    let err = build(sample_config_with(
        r#"# replacement_system = "urn:oid:2.16.578.1.12.4.1.1.8663""#,
        r#"replacement_system = "urn:oid:2.16.578.1.12.4.1.1.9060""#,
    ));
    assert!(err.contains("KX17"), "{err}");
    let err = build(sample_config_with(
        r#"unknown_codes = { "no-pjd" = "strict" }"#,
        r#"unknown_codes = { "no-such-profile" = "strict" }"#,
    ));
    assert!(err.contains("no-such-profile"), "{err}");
    let err = build(sample_config_with(
        r#"file = "fastlege-register.toml""#,
        r#"file = "no-such-register.toml""#,
    ));
    assert!(err.contains("no-such-register.toml"), "{err}");
}
