//! DPoP at `/token` (RFC 9449): proofs minted by PyJWT over real HTTP. A proof binds the issued JWT
//! (`cnf.jkt`, `token_type: DPoP`); a DPoP-bound subject token is exchanged only with a proof of its key;
//! every malformed, misdirected, stale, replayed or badly keyed proof is refused with nothing issued.

use serde_json::{json, Value};
use xua_gateway::samples::{self, JwtMintOptions};

use crate::helpers::*;
use crate::oauth::*;

fn bound_jwt(jkt: &str) -> String {
    samples::mint_jwt(
        &claims_file("hospital-physician.json"),
        &JwtMintOptions {
            cnf_jkt: Some(jkt.to_string()),
            ..JwtMintOptions::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

#[actix_web::test]
async fn a_proof_binds_the_issued_jwt_to_its_key_and_pyjwt_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    let key = ec_key(dir.path(), "dpop.pem");
    let htu = format!("{}/token", app.address);
    let proof = dpop_proof(&key, &htu, json!({}));
    let answer = post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &proof)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "DPoP");
    let jwt = answer.body["access_token"].as_str().unwrap();
    let claims = verified_by_pyjwt(&app, jwt, "https://fhir.test.example/pjd").await;
    let expected = thumbprint(&key);
    assert_eq!(
        claims["cnf"]["jkt"],
        Value::String(expected.clone()),
        "{claims}"
    );
    assert_eq!(
        last_record(&app).dpop_jkt.as_deref(),
        Some(expected.as_str())
    );

    // Without a proof the same exchange is a plain bearer token.
    let answer = post_token(&app, &saml_subject("fastlege.json"), &[]).await;
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(payload(answer.body["access_token"].as_str().unwrap())
        .get("cnf")
        .is_none());
}

#[actix_web::test]
async fn a_dpop_bound_subject_token_needs_a_proof_of_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    let key = ec_key(dir.path(), "holder.pem");
    let thief = ec_key(dir.path(), "thief.pem");
    let htu = format!("{}/token", app.address);

    // Stolen from a log: no proof at all.
    let answer = post_token(&app, &jwt_subject(&bound_jwt(&thumbprint(&key))), &[]).await;
    answer.refused(400, "invalid_grant");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("cnf.jkt"));
    assert_eq!(last_record(&app).error_class.unwrap().as_str(), "BINDING");

    // Stolen, with the thief's own valid proof.
    let proof = dpop_proof(&thief, &htu, json!({}));
    let answer = post_token(
        &app,
        &jwt_subject(&bound_jwt(&thumbprint(&key))),
        &[("DPoP", &proof)],
    )
    .await;
    answer.refused(400, "invalid_grant");
    assert_eq!(last_record(&app).dpop_jkt, Some(thumbprint(&thief)));

    // The holder: accepted; the assertion is bearer, OneTimeUse and short-lived; the log keeps the key.
    let proof = dpop_proof(&key, &htu, json!({}));
    let (status, body, xml) = {
        let answer = post_token(
            &app,
            &jwt_subject(&bound_jwt(&thumbprint(&key))),
            &[("DPoP", &proof)],
        )
        .await;
        let xml = answer.body["access_token"].as_str().map(|t| {
            use base64::Engine;
            String::from_utf8(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .unwrap(),
            )
            .unwrap()
        });
        (answer.status, answer.body, xml)
    };
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "N_A");
    assert!(body["expires_in"].as_i64().unwrap() <= 300);
    let xml = xml.unwrap();
    assert!(has_empty_element(&xml, "saml:OneTimeUse"), "{xml}");
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:cm:bearer"));
    let record = last_record(&app);
    assert_eq!(record.outcome.as_str(), "issued");
    assert_eq!(record.dpop_jkt, Some(thumbprint(&key)));
}

#[actix_web::test]
async fn every_bad_proof_is_invalid_dpop_proof_and_issues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    let key = ec_key(dir.path(), "dpop.pem");
    let htu = format!("{}/token", app.address);
    let p = |spec: Value| dpop_proof(&key, &htu, spec);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another htu",
            dpop_proof(&key, "https://other.example/token", json!({})),
            "htu is not",
        ),
        (
            "another path",
            dpop_proof(&key, &format!("{}/translate", app.address), json!({})),
            "htu is not",
        ),
        (
            "another htm",
            p(json!({"payload": {"htm": "GET"}})),
            "htm is not POST",
        ),
        (
            "stale",
            p(json!({"payload": {"iat": now() - 600}})),
            "older than 60 s",
        ),
        (
            "from the future",
            p(json!({"payload": {"iat": now() + 600}})),
            "in the future",
        ),
        ("no jti", p(json!({"payload": {"jti": null}})), "no jti"),
        ("no htu", p(json!({"payload": {"htu": null}})), "no htu"),
        (
            "typ JWT",
            p(json!({"headers": {"typ": "JWT"}})),
            "not dpop+jwt",
        ),
        (
            "a private key in the header",
            p(json!({"jwk": "private"})),
            "private or symmetric key member d",
        ),
        (
            "no key in the header",
            p(json!({"jwk": null})),
            "carries no jwk",
        ),
        (
            "alg none",
            jose_sign(json!({"alg": "none", "headers": {"typ": "dpop+jwt"},
                "payload": {"jti": "n", "htm": "POST", "htu": htu, "iat": now()}})),
            "never accepted",
        ),
        (
            "HMAC",
            jose_sign(
                json!({"alg": "HS256", "secret": "shared", "headers": {"typ": "dpop+jwt",
                "jwk": {"kty": "oct", "k": "c2hhcmVk"}},
                "payload": {"jti": "h", "htm": "POST", "htu": htu, "iat": now()}}),
            ),
            "is a MAC",
        ),
        ("not a JWT", "not-a-proof".to_string(), "three parts"),
    ];
    for (what, proof, expected) in cases {
        let before = app.records().len();
        let answer = post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &proof)]).await;
        answer.refused(400, "invalid_dpop_proof");
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{what}: {description}");
        assert_eq!(answer.body["error_class"], "PROOF", "{what}");
        let records = app.records();
        assert_eq!(records.len(), before + 1, "{what}");
        assert_eq!(
            records.last().unwrap().outcome.as_str(),
            "rejected",
            "{what}"
        );
    }

    // Replayed: a proof is accepted once.
    let proof = p(json!({}));
    assert_eq!(
        post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &proof)])
            .await
            .status,
        200
    );
    let again = post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &proof)]).await;
    again.refused(400, "invalid_dpop_proof");
    assert!(again.body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));

    // Two DPoP headers.
    let res = app
        .client
        .post(format!("{}/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", p(json!({})))
        .header("DPoP", p(json!({})))
        .body(serde_urlencoded::to_string(saml_subject("fastlege.json")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
}

#[actix_web::test]
async fn a_client_required_to_use_dpop_is_refused_without_a_proof() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        config_at(base).replace("# require_dpop = true", "require_dpop = true")
    })
    .await;
    let assertion = || {
        client_assertion(
            &sample_client_key(),
            SAMPLE_CLIENT_KID,
            SAMPLE_CLIENT,
            ENTITY_ID,
            json!({}),
        )
    };
    let form = || {
        with(
            saml_subject("fastlege.json"),
            &[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion()),
            ],
        )
    };
    let answer = post_token(&app, &form(), &[]).await;
    answer.refused(400, "invalid_dpop_proof");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("require_dpop"));
    assert_eq!(last_record(&app).client_id.as_deref(), Some(SAMPLE_CLIENT));
    let key = ec_key(dir.path(), "dpop.pem");
    let proof = dpop_proof(&key, &format!("{}/token", app.address), json!({}));
    let answer = post_token(&app, &form(), &[("DPoP", &proof)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "DPoP");
}

#[actix_web::test]
async fn with_nonces_configured_a_proof_without_one_gets_use_dpop_nonce_and_a_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        config_at(base).replace("nonce = false", "nonce = true")
    })
    .await;
    let key = ec_key(dir.path(), "dpop.pem");
    let htu = format!("{}/token", app.address);
    let answer = post_token(
        &app,
        &saml_subject("fastlege.json"),
        &[("DPoP", &dpop_proof(&key, &htu, json!({})))],
    )
    .await;
    answer.refused(400, "use_dpop_nonce");
    let nonce = answer
        .headers
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let wrong = dpop_proof(&key, &htu, json!({"payload": {"nonce": "made-up"}}));
    post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &wrong)])
        .await
        .refused(400, "use_dpop_nonce");
    let proof = dpop_proof(&key, &htu, json!({"payload": {"nonce": nonce}}));
    let answer = post_token(&app, &saml_subject("fastlege.json"), &[("DPoP", &proof)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.headers.get("dpop-nonce").is_some());
}

#[actix_web::test]
async fn the_sample_cli_mints_a_proof_for_a_dpop_bound_sample_jwt() {
    let app = spawn_app().await;
    // The embedded configuration names http://127.0.0.1:8080 as its public URL; the proof names that URL.
    let cli = |args: &[&str]| {
        let out = run(std::process::Command::new(env!("CARGO_BIN_EXE_xua-gateway")).args(args));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let jwt = cli(&[
        "sample",
        "jwt",
        "--claims",
        repo()
            .join("samples/claims/hospital-physician.json")
            .to_str()
            .unwrap(),
        "--dpop-bound",
    ]);
    let proof = cli(&["sample", "dpop", "--htu", "http://127.0.0.1:8080/token"]);
    let answer = post_token(&app, &jwt_subject(&jwt), &[("DPoP", &proof)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let proof = cli(&["sample", "dpop", "--htu", "http://127.0.0.1:8080/token"]);
    let other_jwt = mint_sample_jwt("hospital-physician.json");
    let answer = post_token(&app, &jwt_subject(&other_jwt), &[("DPoP", &proof)]).await;
    assert_eq!(
        answer.status, 200,
        "an unbound token may come with a proof too: {}",
        answer.body
    );
    assert!(last_record(&app).dpop_jkt.is_some());
}

#[actix_web::test]
async fn the_real_helseid_token_is_reported_by_the_inspector_as_needing_a_proof() {
    let app = spawn_app().await;
    let text =
        std::fs::read_to_string(repo().join("../shared/corpus/nhn/JsonWebToken01.json")).unwrap();
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(text.trim().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let report: Value = res.json().await.unwrap();
    let checks = report["tokens"][0]["checks"].as_array().unwrap();
    let proof = checks
        .iter()
        .find(|c| c["name"] == "proof")
        .unwrap_or_else(|| panic!("no proof check in {report}"));
    assert_eq!(proof["status"], "fail", "{proof}");
    let message = proof["message"].as_str().unwrap();
    assert!(
        message.contains("cnf.jkt") && message.contains("DPoP proof"),
        "{message}"
    );
    assert_eq!(report["accepted"], false);
}
