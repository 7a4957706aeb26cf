//! Times at the edge of what can be written down: the "never expires" sentinel `9999-12-31T23:59:59Z`, an
//! inspection "as of" the last representable second, and an assertion that lives longer than `[saml]
//! max_lifetime_secs`. Each is a specific, audited refusal, never a panic.

use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;
use xua_gateway::samples::MintOptions;

use crate::forge::*;
use crate::helpers::*;

const SENTINEL: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

fn minted_until(until: OffsetDateTime) -> String {
    let now = OffsetDateTime::now_utc();
    let options = MintOptions {
        lifetime: until - now,
        ..MintOptions::default()
    };
    String::from_utf8(mint("fastlege.json", &options, now)).unwrap()
}

#[actix_web::test]
async fn a_never_expires_sentinel_is_refused_for_its_lifetime_and_audited() {
    let app = spawn_app().await;
    let xml = minted_until(SENTINEL);
    assert!(xml.contains("NotOnOrAfter=\"9999-12-31T23:59:59"), "{xml}");
    let body = expect_rejected(&app, &xml, "TIME", "longer than the").await;
    let message = body["error_description"].as_str().unwrap();
    assert!(message.contains("max_lifetime_secs"), "{message}");

    // The same over /translate, and twice (nothing was reserved or left half-done by the first).
    for _ in 0..2 {
        let before = app.records().len();
        let res = app
            .client
            .post(format!("{}/translate", app.address))
            .header("Content-Type", "application/xml")
            .body(xml.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error_class"], "TIME", "{body}");
        assert_eq!(app.records().len(), before + 1);
    }
}

#[actix_web::test]
async fn a_lifetime_just_under_the_cap_is_accepted_and_just_over_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text();
    assert!(text.contains("max_lifetime_secs = 28800\n"));
    let text = text.replacen(
        "max_lifetime_secs = 28800\n",
        "max_lifetime_secs = 600\n",
        1,
    );
    let app = spawn_app_with_text(&text, dir.path()).await;
    let now = OffsetDateTime::now_utc();
    let within = MintOptions {
        lifetime: time::Duration::seconds(600),
        ..MintOptions::default()
    };
    expect_accepted(
        &app,
        &String::from_utf8(mint("fastlege.json", &within, now)).unwrap(),
    )
    .await;
    let over = MintOptions {
        lifetime: time::Duration::seconds(601),
        ..MintOptions::default()
    };
    expect_rejected(
        &app,
        &String::from_utf8(mint("fastlege.json", &over, now)).unwrap(),
        "TIME",
        "601 s",
    )
    .await;
}

#[actix_web::test]
async fn a_jwt_that_never_expires_is_refused_and_audited() {
    let app = spawn_app().await;
    let jwt = xua_gateway::samples::mint_jwt(
        &claims_file("hospital-physician.json"),
        &xua_gateway::samples::JwtMintOptions {
            lifetime: SENTINEL - OffsetDateTime::now_utc(),
            ..xua_gateway::samples::JwtMintOptions::default()
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let before = app.records().len();
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_class"], "CLAIM", "{body}");
    assert_eq!(app.records().len(), before + 1);
}

#[actix_web::test]
async fn inspecting_as_of_the_last_representable_second_reports_instead_of_failing() {
    let app = spawn_app().await;
    for at in [
        "9999-12-31T23:59:59Z",
        "-9999-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
    ] {
        let res = app
            .client
            .post(format!("{}/inspect?at={at}", app.address))
            .body(mint_now("fastlege.json"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        // A time the gateway cannot read is a 400; one it can read is checked like any other.
        match status {
            200 => {
                assert_eq!(body["accepted"], false, "{body}");
                let validity = body["tokens"][0]["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == "validity")
                    .unwrap();
                assert_eq!(validity["status"], "fail", "{body}");
            }
            400 => assert_eq!(body["error_class"], "PARSE", "{body}"),
            other => panic!("{at}: HTTP {other}: {body}"),
        }
    }
    // The sentinel itself, inspected now: the lifetime check says why it would be refused.
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(minted_until(SENTINEL))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accepted"], false);
    assert!(
        body["verdict"]
            .as_str()
            .unwrap()
            .contains("max_lifetime_secs"),
        "{body}"
    );
}
