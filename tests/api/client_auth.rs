//! Client authentication at `/token` (RFC 7523 private_key_jwt, `none`): assertions minted by PyJWT over real
//! HTTP, every refusal `invalid_client` (401) with nothing issued and the claimed client in the access log.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::oauth::*;

fn assertion_form(assertion: &str) -> Vec<(String, String)> {
    with(
        saml_subject("fastlege.json"),
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
}

#[actix_web::test]
async fn a_private_key_jwt_assertion_minted_by_pyjwt_authenticates_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    // `aud` may be the gateway's issuer identifier or its token endpoint URL (RFC 7523 §3).
    for aud in [ENTITY_ID.to_string(), format!("{}/token", app.address)] {
        let assertion = client_assertion(
            &sample_client_key(),
            SAMPLE_CLIENT_KID,
            SAMPLE_CLIENT,
            &aud,
            json!({}),
        );
        let answer = post_token(&app, &assertion_form(&assertion), &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["token_type"], "Bearer");
        let record = last_record(&app);
        assert_eq!(record.client_id.as_deref(), Some(SAMPLE_CLIENT));
        assert_eq!(record.client_auth.as_deref(), Some("private_key_jwt"));
        // The sample client's policy caps what it is issued at 300 s.
        assert!(answer.body["expires_in"].as_i64().unwrap() <= 300);
    }
}

#[actix_web::test]
async fn the_sample_cli_mints_an_assertion_the_gateway_accepts() {
    let app = spawn_app().await;
    let out = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_xua-gateway"))
            .args(["sample", "client-assertion"]),
    );
    assert!(out.status.success());
    let assertion = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let answer = post_token(&app, &assertion_form(&assertion), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(last_record(&app).client_id.as_deref(), Some(SAMPLE_CLIENT));
}

#[actix_web::test]
async fn every_failed_client_authentication_is_invalid_client_and_issues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    let key = sample_client_key();
    let stranger = ec_key(dir.path(), "stranger.pem");
    let sign = |payload: Value| {
        client_assertion(&key, SAMPLE_CLIENT_KID, SAMPLE_CLIENT, ENTITY_ID, payload)
    };
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "expired",
            sign(json!({"iat": now() - 600, "exp": now() - 300})),
            Some(SAMPLE_CLIENT),
            "expired",
        ),
        (
            "another audience",
            sign(json!({"aud": "https://other-gateway.example"})),
            Some(SAMPLE_CLIENT),
            "another audience",
        ),
        (
            "a key not in the client's set",
            client_assertion(
                &stranger,
                SAMPLE_CLIENT_KID,
                SAMPLE_CLIENT,
                ENTITY_ID,
                json!({}),
            ),
            Some(SAMPLE_CLIENT),
            "does not verify",
        ),
        (
            "an unknown client",
            sign(json!({"iss": "nobody", "sub": "nobody"})),
            Some("nobody"),
            "not registered",
        ),
        (
            "sub other than iss",
            sign(json!({"sub": "someone-else"})),
            Some(SAMPLE_CLIENT),
            "sub must equal iss",
        ),
        (
            "no jti",
            sign(json!({"jti": null})),
            Some(SAMPLE_CLIENT),
            "needs a jti",
        ),
        (
            "an hour long",
            sign(json!({"exp": now() + 3600})),
            Some(SAMPLE_CLIENT),
            "longer than the accepted 300 s",
        ),
        (
            "HMAC",
            jose_sign(
                json!({"alg": "HS256", "secret": "a shared secret", "headers": {"kid": SAMPLE_CLIENT_KID},
                "payload": {"iss": SAMPLE_CLIENT, "sub": SAMPLE_CLIENT, "aud": ENTITY_ID, "exp": now() + 60, "jti": "h"}}),
            ),
            Some(SAMPLE_CLIENT),
            "is a MAC",
        ),
        (
            "alg none",
            jose_sign(
                json!({"alg": "none", "payload": {"iss": SAMPLE_CLIENT, "sub": SAMPLE_CLIENT,
                "aud": ENTITY_ID, "exp": now() + 60, "jti": "n"}}),
            ),
            Some(SAMPLE_CLIENT),
            "never accepted",
        ),
    ];
    for (what, assertion, claimed, expected) in cases {
        let before = app.records().len();
        let answer = post_token(&app, &assertion_form(&assertion), &[]).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        answer.refused(401, "invalid_client");
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{what}: {description}");
        assert_eq!(answer.body["error_class"], "CLIENT", "{what}");
        let records = app.records();
        assert_eq!(records.len(), before + 1, "{what}: one record");
        let record = records.last().unwrap();
        assert_eq!(record.outcome.as_str(), "rejected", "{what}");
        assert_eq!(record.client_id.as_deref(), claimed, "{what}");
        assert_eq!(record.client_auth, None, "{what}");
        assert_eq!(record.output_token_id, None, "{what}");
    }

    // Replayed: the same assertion twice; the first use succeeds, the second is refused.
    let assertion = sign(json!({}));
    assert_eq!(
        post_token(&app, &assertion_form(&assertion), &[])
            .await
            .status,
        200
    );
    let again = post_token(&app, &assertion_form(&assertion), &[]).await;
    again.refused(401, "invalid_client");
    assert!(again.body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
}

#[actix_web::test]
async fn without_an_anonymous_client_every_request_must_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        config_at(base).replace("anonymous = true\n", "")
    })
    .await;
    // No client authentication at all.
    let answer = post_token(&app, &saml_subject("fastlege.json"), &[]).await;
    answer.refused(401, "invalid_client");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("required"));
    // A private_key_jwt client that sends only its id.
    let form = with(
        saml_subject("fastlege.json"),
        &[("client_id", SAMPLE_CLIENT)],
    );
    post_token(&app, &form, &[])
        .await
        .refused(401, "invalid_client");
    // HTTP Basic (client_secret_basic) is not offered: 401 with WWW-Authenticate for that scheme.
    let answer = post_token(
        &app,
        &saml_subject("fastlege.json"),
        &[("Authorization", "Basic dXNlcjpwYXNz")],
    )
    .await;
    answer.refused(401, "invalid_client");
    let challenge = answer
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    // A public client may still name itself: TEST-ONLY-open-client is auth = "none".
    let form = with(
        saml_subject("fastlege.json"),
        &[("client_id", "TEST-ONLY-open-client")],
    );
    let answer = post_token(&app, &form, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(last_record(&app).client_auth.as_deref(), Some("none"));
    let form = with(saml_subject("fastlege.json"), &[("client_id", "nobody")]);
    post_token(&app, &form, &[])
        .await
        .refused(401, "invalid_client");
    assert_eq!(last_record(&app).client_id.as_deref(), Some("nobody"));
}

#[actix_web::test]
async fn the_anonymous_sample_client_keeps_the_walk_through_working_and_is_audited() {
    let app = spawn_app().await;
    let answer = post_token(&app, &saml_subject("fastlege.json"), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let record = last_record(&app);
    assert_eq!(record.client_id.as_deref(), Some("TEST-ONLY-open-client"));
    assert_eq!(record.client_auth.as_deref(), Some("none"));
}

#[actix_web::test]
async fn a_client_jwks_url_is_refreshed_on_an_unknown_kid_like_a_trusted_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("samples/keys/TEST-ONLY-client.jwks.json")).unwrap(),
    )
    .unwrap();
    let served = Arc::new(Mutex::new(sample));
    let data = web::Data::from(served.clone());
    // The key server runs on its own thread: the gateway fetches synchronously at start-up.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().app_data(data.clone()).route(
                    "/jwks",
                    web::get().to(|s: web::Data<Mutex<Value>>| async move {
                        HttpResponse::Ok().json(s.lock().unwrap().clone())
                    }),
                )
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            tx.send(server.addrs()[0].port()).unwrap();
            let _ = server.run().await;
        })
    });
    let port = rx.recv().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        format!(
            "{}\n[[clients]]\nid = \"remote\"\nauth = \"private_key_jwt\"\njwks_url = \"http://127.0.0.1:{port}/jwks\"\nalgorithms = [\"ES256\"]\nrefresh_secs = 1\nsubject_issuers = [\"*\"]\ndirections = [\"saml-to-jwt\"]\nprofiles = [\"*\"]\naudiences = [\"*\"]\n",
            config_at(base)
        )
    })
    .await;
    let sign = |key: &std::path::Path, kid: &str| {
        client_assertion(key, kid, "remote", ENTITY_ID, json!({}))
    };
    let old = sample_client_key();
    assert_eq!(
        post_token(&app, &assertion_form(&sign(&old, SAMPLE_CLIENT_KID)), &[])
            .await
            .status,
        200
    );

    // The client rotates its key.
    let new = ec_key(dir.path(), "rotated.pem");
    *served.lock().unwrap() = json!({"keys": [public_jwk(&new, "rotated")]});
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let answer = post_token(&app, &assertion_form(&sign(&new, "rotated")), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(last_record(&app).client_id.as_deref(), Some("remote"));
    post_token(&app, &assertion_form(&sign(&old, SAMPLE_CLIENT_KID)), &[])
        .await
        .refused(401, "invalid_client");
}
