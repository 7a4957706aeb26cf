//! Bad inputs: each is rejected with the right class, nothing is issued, the input is not echoed, and the
//! attempt is audited.

use serde_json::Value;
use time::OffsetDateTime;
use xua_gateway::model::Outcome;
use xua_gateway::samples::{self, MintOptions};

use crate::helpers::*;

const PATIENT: &str = "21868534521";

/// Sends `xml`, expects a rejection of `class`, and checks the common promises.
async fn expect_rejected(app: &TestApp, xml: &[u8], class: &str, message_part: &str) -> Value {
    let before = app.records().len();
    let (status, body) = app.exchange_saml(xml, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(body["error_class"], class, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(message_part),
        "expected {message_part:?} in {description:?}"
    );
    assert!(body.get("access_token").is_none());
    let text = body.to_string();
    assert!(
        !text.contains(PATIENT),
        "the response echoes the patient identifier"
    );
    assert!(
        !text.contains("SignatureValue"),
        "the response echoes the token"
    );
    let records = app.records();
    assert_eq!(records.len(), before + 1, "one audit record per attempt");
    let record = records.last().unwrap();
    assert_eq!(record.outcome, Outcome::Rejected);
    assert_eq!(record.error_class.map(|c| c.as_str()), Some(class));
    assert!(record.output_token_id.is_none());
    body
}

#[actix_web::test]
async fn tampered_value_is_sig() {
    let app = spawn_app().await;
    let xml = String::from_utf8(mint_now("fastlege.json")).unwrap();
    assert!(xml.contains(PATIENT));
    let tampered = xml.replace(PATIENT, "14035234595");
    expect_rejected(&app, tampered.as_bytes(), "SIG", "").await;
}

#[actix_web::test]
async fn wrong_key_is_sig_even_with_its_certificate_in_keyinfo() {
    let app = spawn_app().await;
    let xml = samples::mint_assertion(
        profiles().default_profile(),
        &claims_file("fastlege.json"),
        &MintOptions::default(),
        &attacker_identity(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let body = expect_rejected(&app, &xml, "SIG", "").await;
    assert!(!body["error_description"].as_str().unwrap().is_empty());
}

#[actix_web::test]
async fn expired_is_time() {
    let app = spawn_app().await;
    let xml = mint(
        "fastlege.json",
        &MintOptions::default(),
        OffsetDateTime::now_utc() - minutes(120),
    );
    expect_rejected(&app, &xml, "TIME", "assertion expired at").await;
}

#[actix_web::test]
async fn not_yet_valid_is_time() {
    let app = spawn_app().await;
    let xml = mint(
        "fastlege.json",
        &MintOptions::default(),
        OffsetDateTime::now_utc() + minutes(30),
    );
    expect_rejected(&app, &xml, "TIME", "in the future").await;
}

#[actix_web::test]
async fn wrong_audience_is_aud() {
    let app = spawn_app().await;
    let options = MintOptions {
        audience: "https://another-service.example".into(),
        ..MintOptions::default()
    };
    let xml = mint("fastlege.json", &options, OffsetDateTime::now_utc());
    expect_rejected(&app, &xml, "AUD", "addressed to another audience").await;
}

#[actix_web::test]
async fn untrusted_issuer_is_iss() {
    let app = spawn_app().await;
    let options = MintOptions {
        issuer: "https://evil.example/idp".into(),
        ..MintOptions::default()
    };
    let xml = mint("fastlege.json", &options, OffsetDateTime::now_utc());
    expect_rejected(
        &app,
        &xml,
        "ISS",
        "issuer https://evil.example/idp is not trusted",
    )
    .await;
}

#[actix_web::test]
async fn signed_assertion_wrapped_inside_an_unsigned_one_is_struct() {
    let app = spawn_app().await;
    let signed = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let inner = signed.trim_start_matches(|c: char| c != '<');
    // The attacker's assertion names another practitioner and carries the signed one in its Advice.
    let evil = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" IssueInstant="2026-01-01T00:00:00Z" Version="2.0"><saml:Issuer>{}</saml:Issuer><saml:Subject><saml:NameID>30817534585</saml:NameID></saml:Subject><saml:Advice>{inner}</saml:Advice></saml:Assertion>"#,
        samples::SAMPLE_IDP
    );
    expect_rejected(&app, evil.as_bytes(), "STRUCT", "more than one Assertion").await;

    // The signed assertion placed after an unsigned evil one inside a Response.
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_evil2" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>{}</saml:Issuer></saml:Assertion>{inner}</samlp:Response>"#,
        samples::SAMPLE_IDP
    );
    expect_rejected(
        &app,
        response.as_bytes(),
        "STRUCT",
        "more than one Assertion",
    )
    .await;
}

#[actix_web::test]
async fn response_wrapping_one_signed_assertion_is_accepted() {
    let app = spawn_app().await;
    let signed = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{signed}</samlp:Response>"#,
        samples::SAMPLE_IDP
    );
    let (status, body) = app.exchange_saml(response.as_bytes(), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["sub"],
        "12837034688"
    );

    let failed = response.replace("status:Success", "status:Requester");
    expect_rejected(&app, failed.as_bytes(), "CLAIM", "status is not Success").await;
}

#[actix_web::test]
async fn doctype_is_forbidden() {
    let app = spawn_app().await;
    let signed = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let with_dtd = format!(r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>{signed}"#);
    expect_rejected(&app, with_dtd.as_bytes(), "FORBIDDEN", "DOCTYPE").await;
}

#[actix_web::test]
async fn comment_inside_nameid_is_struct() {
    let app = spawn_app().await;
    let signed = String::from_utf8(mint_now("fastlege.json")).unwrap();
    // exc-c14n drops comments, so the signature still verifies; the gateway must refuse the split text.
    let split = signed.replace(
        ">12837034688</saml:NameID>",
        ">12837<!---->034688</saml:NameID>",
    );
    assert_ne!(split, signed);
    expect_rejected(&app, split.as_bytes(), "STRUCT", "comment").await;
}

#[actix_web::test]
async fn request_errors_follow_rfc_8693() {
    let app = spawn_app().await;
    // Even refusals before any pipeline runs leave exactly one audit record each.
    let (_, body) = app.post_form(&[("grant_type", "password")]).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    assert_eq!(app.records().len(), 1);
    assert_eq!(
        app.records()[0].error_class.map(|c| c.as_str()),
        Some("REQUEST")
    );
    let (_, _) = app
        .post_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", "!!"),
        ])
        .await;
    assert_eq!(app.records().len(), 2);
    assert_eq!(
        app.records()[1].error_class.map(|c| c.as_str()),
        Some("PARSE")
    );
    let (status, body) = app
        .post_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(
        body["error_description"],
        "parameter subject_token is required"
    );

    let (status, body) = app.post_form(&[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (_, body) = app
        .post_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", "urn:x"),
            ("subject_token", "abc"),
        ])
        .await;
    assert_eq!(
        body["error_description"],
        "subject_token_type urn:x is not supported"
    );

    let (_, body) = app
        .post_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", "!!!"),
        ])
        .await;
    assert_eq!(body["error_class"], "PARSE");

    let (status, body) = app
        .exchange_saml(
            &mint_now("fastlege.json"),
            &[("audience", "https://elsewhere.example")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );

    let (_, body) = app
        .post_raw(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&grant_type=x",
        )
        .await;
    assert_eq!(
        body["error_description"],
        "parameter grant_type is given more than once"
    );

    let (_, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert!(body.get("access_token").is_some());
    let res = app
        .client
        .post(format!("{}/token", app.address))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}
