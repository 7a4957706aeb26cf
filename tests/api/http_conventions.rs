//! HTTP conventions and refusals that must say what is really wrong: 404 and 405 (with `Allow`) as JSON
//! errors, a token of the other kind than `subject_token_type` named as such, a malformed percent-escape as
//! `invalid_request`, and an audit record for every refused `/translate`, a bad query string too.

use base64::Engine;
use serde_json::Value;
use xua_gateway::model::Outcome;

use crate::forge::signed;
use crate::helpers::*;

#[actix_web::test]
async fn unknown_paths_and_wrong_methods_answer_json_errors() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/no/such/21868534521", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(!body.to_string().contains("21868534521"));

    for (method, path, allow) in [
        (reqwest::Method::GET, "/token", "POST"),
        (reqwest::Method::PUT, "/translate", "POST"),
        (reqwest::Method::GET, "/inspect", "POST"),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET"),
        (reqwest::Method::DELETE, "/readyz", "GET"),
        (reqwest::Method::POST, "/metrics", "GET"),
    ] {
        let res = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        assert!(res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{body}");
        assert_eq!(body["error_class"], "REQUEST");
    }
    // Nothing reached a pipeline: no audit record.
    assert!(app.records().is_empty());
}

#[actix_web::test]
async fn a_token_of_the_other_kind_is_named_for_what_it_is() {
    let app = spawn_app().await;
    let jwt = mint_sample_jwt("hospital-physician.json");
    let before = app.records().len();
    let (status, body) = app
        .post_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", &jwt),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        format!("subject_token looks like a JWT, but subject_token_type says {TT_SAML2}"),
        "{body}"
    );
    assert_eq!(app.records().len(), before + 1);

    let assertion = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed());
    for token in [assertion.as_str(), signed().as_str()] {
        let (status, body) = app
            .post_form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_JWT),
                ("subject_token", token),
                ("requested_token_type", TT_SAML2),
            ])
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            body["error_description"],
            format!(
                "subject_token looks like a SAML assertion, but subject_token_type says {TT_JWT}"
            ),
            "{body}"
        );
    }
    assert_eq!(app.records().len(), before + 3);
    assert!(app.records().iter().all(|r| r.outcome == Outcome::Rejected));
}

#[actix_web::test]
async fn a_malformed_percent_escape_is_an_invalid_request() {
    let app = spawn_app().await;
    for body in [
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchang%ZZ&subject_token_type=x&subject_token=y",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange%&subject_token=y",
        "grant_type=%FF%FE&subject_token=y",
    ] {
        let before = app.records().len();
        let (status, json) = app.post_raw(body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(json["error"], "invalid_request", "{body}: {json}");
        assert!(
            json["error_description"]
                .as_str()
                .unwrap()
                .contains("grant_type is not valid percent-encoded"),
            "{json}"
        );
        assert_eq!(app.records().len(), before + 1);
    }
    // A well-formed grant_type that is not token exchange is still unsupported_grant_type.
    let (status, json) = app
        .post_raw("grant_type=client_credentials&subject_token=y")
        .await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "unsupported_grant_type");
}

#[actix_web::test]
async fn every_refused_translate_leaves_one_audit_record() {
    let app = spawn_app().await;
    for query in ["?nonsense=1", "?audience=a&audience=b", "?patient"] {
        let before = app.records().len();
        let res = app
            .client
            .post(format!("{}/translate{query}", app.address))
            .header("Content-Type", "application/xml")
            .body(signed())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        if status == 400 {
            assert_eq!(app.records().len(), before + 1, "{query}: {body}");
            let record = app.records().pop().unwrap();
            assert_eq!(record.outcome, Outcome::Rejected);
        } else {
            // A query actix reads leniently still got exactly one record, of the exchange itself.
            assert_eq!(app.records().len(), before + 1, "{query}: {body}");
        }
    }
}
