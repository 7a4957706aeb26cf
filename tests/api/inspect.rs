//! `POST /inspect`: the report of a well-formed, a tampered and an expired token; nothing is ever issued.

use serde_json::Value;
use time::OffsetDateTime;
use xua_gateway::samples::MintOptions;

use crate::helpers::*;

async fn inspect(app: &TestApp, body: Vec<u8>, query: &str) -> (u16, String) {
    let res = app
        .client
        .post(format!("{}/inspect{query}", app.address))
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tokens"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[actix_web::test]
async fn a_well_formed_assertion_is_reported_item_by_item_with_an_unsigned_preview() {
    let app = spawn_app().await;
    let (status, text) = inspect(&app, mint_now("hospital-physician.json"), "").await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["accepted"], true, "{report}");
    assert_eq!(report["verdict"], "would be accepted");
    assert_eq!(report["profile"], "no-pjd");
    for name in ["signature", "validity", "audience", "conditions", "subject"] {
        assert_eq!(check(&report, name)["status"], "ok", "{name}: {report}");
    }
    let items = report["tokens"][0]["items"].as_array().unwrap();
    let role = items
        .iter()
        .find(|i| i["source"] == "attribute urn:oasis:names:tc:xacml:2.0:subject:role")
        .unwrap();
    assert_eq!(role["field"], "practitioner.authorization");
    assert_eq!(role["status"], "mapped");
    assert!(role["values"][0].as_str().unwrap().contains("\"LE\""));
    assert!(report["tokens"][0]["findings"]
        .as_array()
        .unwrap()
        .is_empty());
    let preview = &report["tokens"][0]["translation"];
    assert_eq!(preview["unsigned_preview"], true);
    assert_eq!(
        preview["content"]["helseid://claims/hpr/hpr_number"],
        "9144900"
    );
    // Inspection is not an exchange: it issues nothing and is not an access-log record.
    assert!(!text.contains("access_token"));
    assert!(app.records().is_empty());
}

#[actix_web::test]
async fn a_tampered_assertion_shows_the_broken_signature_and_still_the_items() {
    let app = spawn_app().await;
    let tampered = String::from_utf8(mint_now("fastlege.json"))
        .unwrap()
        .replace("TREAT", "BTG");
    let (_, text) = inspect(&app, tampered.into_bytes(), "").await;
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["accepted"], false);
    let sig = check(&report, "signature");
    assert_eq!(sig["status"], "fail");
    assert!(
        sig["message"]
            .as_str()
            .unwrap()
            .contains("changed after signing"),
        "{sig}"
    );
    assert!(report["verdict"]
        .as_str()
        .unwrap()
        .starts_with("would be rejected: signature"));
    assert_eq!(check(&report, "validity")["status"], "ok");
    let purpose = report["tokens"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["field"] == "care_relationship.purpose_of_use")
        .unwrap();
    assert!(purpose["values"][0].as_str().unwrap().contains("BTG"));
}

#[actix_web::test]
async fn an_expired_assertion_and_a_jwt_report_their_windows_in_text_too() {
    let app = spawn_app().await;
    let old = mint(
        "fastlege.json",
        &MintOptions::default(),
        OffsetDateTime::now_utc() - minutes(180),
    );
    let (_, text) = inspect(&app, old.clone(), "?format=text").await;
    assert!(
        text.contains("verdict: would be rejected: validity: assertion expired at"),
        "{text}"
    );
    assert!(text.contains("[ OK ] signature"), "{text}");
    assert!(text.contains("[FAIL] validity"), "{text}");
    // The same token checked as of when it was valid.
    let at = (OffsetDateTime::now_utc() - minutes(170))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, text) = inspect(&app, old, &format!("?format=text&at={at}")).await;
    assert!(text.contains("verdict: would be accepted"), "{text}");

    let (_, text) = inspect(
        &app,
        mint_sample_jwt("municipal-nurse.json").into_bytes(),
        "",
    )
    .await;
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["input"], "JWT");
    assert_eq!(report["accepted"], true, "{report}");
    assert_eq!(report["tokens"][0]["translation"]["kind"], "xua-attributes");
    let (status, _) = inspect(&app, b"hello".to_vec(), "").await;
    assert_eq!(status, 200);
    let (status, _) = inspect(&app, b"<x/>".to_vec(), "?profile=unknown").await;
    assert_eq!(status, 400);
}
