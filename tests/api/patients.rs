//! Which patient an exchange is for: a JWT naming two patients is refused unless the `patient` parameter
//! picks one of them (never cut to the first), and a `patient` parameter that disagrees with a SAML
//! assertion's patient is refused as it is for a JWT. Every refusal is audited.

use serde_json::json;
use time::OffsetDateTime;

use crate::forge::{expect_accepted_with, expect_rejected_with, signed, PATIENT};
use crate::helpers::*;

const SECOND: &str = "14035234595";

fn two_patients_jwt() -> String {
    let mut claims = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]["patients"] = json!([
        { "identifier": { "id": PATIENT, "system": "urn:oid:2.16.578.1.12.4.1.4.1" } },
        { "identifier": { "id": SECOND, "system": "urn:oid:2.16.578.1.12.4.1.4.1" } }
    ]);
    xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc()).unwrap()
}

#[actix_web::test]
async fn a_jwt_naming_two_patients_is_refused_unless_the_parameter_picks_one() {
    let app = spawn_app().await;
    let before = app.records().len();
    let (status, body, xml) = app.exchange_jwt(&two_patients_jwt(), &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_class"], "CLAIM");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("names 2 patients"),
        "{body}"
    );
    assert!(xml.is_none());
    assert_eq!(app.records().len(), before + 1);

    // A patient the token does not name is not picked.
    let (status, body, _) = app
        .exchange_jwt(&two_patients_jwt(), &[("patient", "41018010001")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("none of the patients"));

    // Either of the two can be picked; the assertion then names that one and not the other.
    for (pick, other) in [(PATIENT, SECOND), (SECOND, PATIENT)] {
        let (status, body, xml) = app
            .exchange_jwt(&two_patients_jwt(), &[("patient", pick)])
            .await;
        assert_eq!(status, 200, "{pick}: {body}");
        let xml = xml.unwrap();
        assert!(xml.contains(&format!("{pick}^^^")), "{xml}");
        assert!(!xml.contains(other), "{xml}");
        let record = app.records().pop().unwrap();
        let context = record.context.unwrap();
        assert_eq!(context.patients.len(), 1);
        assert_eq!(context.patients[0].identifier.as_ref().unwrap().id, pick);
    }
}

#[actix_web::test]
async fn the_inspector_says_two_patients_would_be_refused() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(two_patients_jwt())
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["accepted"], false, "{report}");
}

#[actix_web::test]
async fn a_patient_parameter_that_disagrees_with_the_assertion_is_refused() {
    let app = spawn_app().await;
    expect_rejected_with(
        &app,
        &signed(),
        &[("patient", SECOND)],
        "CLAIM",
        "another patient",
    )
    .await;
    // The same patient, as a bare number or as CX, is fine.
    expect_accepted_with(&app, &signed(), &[("patient", PATIENT)]).await;
    expect_accepted_with(
        &app,
        &signed(),
        &[("patient", "21868534521^^^&2.16.578.1.12.4.1.4.1&ISO")],
    )
    .await;
    // Over /translate too.
    let before = app.records().len();
    let res = app
        .client
        .post(format!("{}/translate?patient={SECOND}", app.address))
        .header("Content-Type", "application/xml")
        .body(signed())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(app.records().len(), before + 1);
}

/// NHN's test patient: NAV's synthetic month + 60 (69 = September + 60).
const NHN_TEST_PATIENT: &str = "29698496140";

#[actix_web::test]
async fn nhn_test_patients_follow_the_synthetic_number_setting() {
    let mut claims = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]["patients"] = json!([{}]);
    let fresh = || {
        xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc())
            .unwrap()
    };
    // The sample configuration accepts synthetic numbers: NAV's as well as Tenor's.
    let app = spawn_app().await;
    for patient in [NHN_TEST_PATIENT, PATIENT] {
        let (status, body, xml) = app.exchange_jwt(&fresh(), &[("patient", patient)]).await;
        assert_eq!(status, 200, "{patient}: {body}");
        assert!(xml.unwrap().contains(&format!("{patient}^^^")));
    }
    // Without them, neither kind passes (nor does the Tenor practitioner of the sample claims).
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text();
    assert!(text.contains("synthetic_nin = true"));
    let strict = spawn_app_with_text(
        &text.replacen("synthetic_nin = true", "synthetic_nin = false", 1),
        dir.path(),
    )
    .await;
    for patient in [NHN_TEST_PATIENT, PATIENT] {
        let (status, body, _) = strict.exchange_jwt(&fresh(), &[("patient", patient)]).await;
        assert_eq!(status, 400, "{patient}: {body}");
        assert_eq!(body["error_class"], "CLAIM");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("synthetic test number"));
        assert!(!body.to_string().contains(patient));
    }
}
