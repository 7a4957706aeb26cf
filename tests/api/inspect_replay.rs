//! The inspector's verdict knows about replay: a token that was already exchanged "would be rejected" with a
//! failing `replay` check, and inspecting a token (any number of times) never reserves it, so the real
//! exchange afterwards still succeeds.

use serde_json::Value;

use crate::helpers::*;

async fn inspect(app: &TestApp, body: impl Into<reqwest::Body>) -> Value {
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn replay_check(report: &Value) -> Option<&Value> {
    report["tokens"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "replay")
}

#[actix_web::test]
async fn an_exchanged_assertion_is_reported_as_a_replay() {
    let app = spawn_app().await;
    let xml = mint_now("fastlege.json");
    // Inspected twice before: accepted both times, and nothing reserved.
    for _ in 0..2 {
        let report = inspect(&app, xml.clone()).await;
        assert_eq!(report["accepted"], true, "{report}");
        assert!(replay_check(&report).is_none(), "{report}");
    }
    let (status, body) = app.exchange_saml(&xml, &[]).await;
    assert_eq!(status, 200, "inspecting must not reserve the token: {body}");

    let report = inspect(&app, xml.clone()).await;
    assert_eq!(report["accepted"], false, "{report}");
    let replay = replay_check(&report).unwrap_or_else(|| panic!("no replay check: {report}"));
    assert_eq!(replay["status"], "fail");
    assert!(report["verdict"]
        .as_str()
        .unwrap()
        .starts_with("would be rejected: replay"));
    // Inspection never writes an access-log record: only the one exchange did.
    assert_eq!(app.records().len(), 1);
}

#[actix_web::test]
async fn an_exchanged_jwt_is_reported_as_a_replay() {
    let app = spawn_app().await;
    let jwt = mint_sample_jwt("hospital-physician.json");
    for _ in 0..2 {
        assert_eq!(inspect(&app, jwt.clone()).await["accepted"], true);
    }
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    let report = inspect(&app, jwt.clone()).await;
    assert_eq!(report["accepted"], false, "{report}");
    assert_eq!(replay_check(&report).unwrap()["status"], "fail");
}
