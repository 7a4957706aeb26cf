//! RFC 8693 `resource` and `scope` on `/token`: `resource` names the target like `audience` (refused with
//! `invalid_target` when not allowed, or when it names another target than `audience`); `scope` is checked
//! against what the target allows and carried in the issued token, or refused with `invalid_scope`.
//! Unknown parameters stay ignored (RFC 6749 §3.2).

use serde_json::Value;
use xua_gateway::model::Outcome;

use crate::helpers::*;

const PJD: &str = "https://fhir.test.example/pjd";
const OTHER: &str = "nhn:dokumentdeling";

async fn refused(app: &TestApp, extra: &[(&str, &str)], error: &str, class: &str) -> Value {
    let before = app.records().len();
    let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), extra).await;
    assert_eq!(status, 400, "{extra:?}: {body}");
    assert_eq!(body["error"], error, "{extra:?}: {body}");
    assert_eq!(body["error_class"], class, "{extra:?}: {body}");
    let records = app.records();
    assert_eq!(records.len(), before + 1);
    assert_eq!(records.last().unwrap().outcome, Outcome::Rejected);
    body
}

#[actix_web::test]
async fn resource_names_the_target_like_audience() {
    let app = spawn_app().await;
    for extra in [
        vec![("resource", OTHER)],
        vec![("audience", OTHER), ("resource", OTHER)],
    ] {
        let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &extra).await;
        assert_eq!(status, 200, "{extra:?}: {body}");
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], OTHER, "{extra:?}");
        assert_eq!(
            app.records().last().unwrap().output_audience.as_deref(),
            Some(OTHER)
        );
    }
    let body = refused(
        &app,
        &[("resource", "https://evil.example/")],
        "invalid_target",
        "TARGET",
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("resource "));
    refused(
        &app,
        &[("audience", PJD), ("resource", OTHER)],
        "invalid_target",
        "TARGET",
    )
    .await;
}

#[actix_web::test]
async fn a_granted_scope_is_the_issued_jwts_scope() {
    let app = spawn_app().await;
    // Without scope, the assertion's own (the sample's Scope attribute).
    let (_, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "journaldokumenter_helsepersonell");

    let (status, body) = app
        .exchange_saml(&mint_now("fastlege.json"), &[("scope", "pjd/read")])
        .await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "pjd/read");
    let context = app.records().pop().unwrap().context.unwrap();
    assert_eq!(context.session.scope, vec!["pjd/read".to_string()]);

    let body = refused(
        &app,
        &[("scope", "pjd/read pjd/write")],
        "invalid_scope",
        "SCOPE",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("pjd/write"),
        "{body}"
    );
    // An audience with no scopes configured grants none.
    refused(
        &app,
        &[("audience", OTHER), ("scope", "pjd/read")],
        "invalid_scope",
        "SCOPE",
    )
    .await;
    refused(&app, &[("scope", "pjd/read  x")], "invalid_scope", "SCOPE").await;
}

#[actix_web::test]
async fn a_granted_scope_travels_in_the_issued_assertion() {
    let app = spawn_app().await;
    // A JWT without a scope of its own: the assertion has a Scope attribute only when one is granted.
    let mut claims = claims_file("hospital-physician.json");
    claims.remove("scope");
    let jwt = || {
        xua_gateway::samples::mint_jwt(
            &claims,
            &Default::default(),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap()
    };
    let (status, _, xml) = app.exchange_jwt(&jwt(), &[]).await;
    assert_eq!(status, 200);
    assert!(!xml
        .unwrap()
        .contains("urn:no:ehelse:saml:1.0:subject:Scope"));
    let (status, body, xml) = app
        .exchange_jwt(&jwt(), &[("scope", "journaldokumenter_helsepersonell")])
        .await;
    assert_eq!(status, 200, "{body}");
    let xml = xml.unwrap();
    let at = xml
        .find("urn:no:ehelse:saml:1.0:subject:Scope")
        .expect("a Scope attribute");
    assert!(
        xml[at..].contains("journaldokumenter_helsepersonell"),
        "{xml}"
    );
    let (status, body, _) = app
        .exchange_jwt(
            &mint_sample_jwt("hospital-physician.json"),
            &[("scope", "pjd/read")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
}

#[actix_web::test]
async fn unknown_parameters_stay_ignored() {
    let app = spawn_app().await;
    let (status, body) = app
        .exchange_saml(
            &mint_now("fastlege.json"),
            &[("nonce", "abc"), ("x-extension", "1")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
