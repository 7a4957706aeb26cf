//! Delegation (RFC 8693 `actor_token`): verified like a subject token, carried as `act` (nested for chains)
//! in an issued JWT, allowed per client, refused for a XUA output that has no place for it.

use base64::Engine;
use serde_json::{json, Value};
use xua_gateway::samples::{self, JwtMintOptions};

use crate::helpers::*;
use crate::oauth::*;

const HELSEID: &str = "https://helseid-sts.test.xua-gateway.example";

fn sample_client(form: Vec<(String, String)>) -> Vec<(String, String)> {
    let assertion = client_assertion(
        &sample_client_key(),
        SAMPLE_CLIENT_KID,
        SAMPLE_CLIENT,
        ENTITY_ID,
        json!({}),
    );
    with(
        form,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
}

fn actor_jwt(extra: &[(&str, Value)]) -> String {
    let mut claims = claims_file("hospital-physician.json");
    for (k, v) in extra {
        claims.insert(k.to_string(), v.clone());
    }
    samples::mint_jwt(
        &claims,
        &JwtMintOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

#[actix_web::test]
async fn an_actor_token_becomes_the_issued_jwts_act_claim_nested_for_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", config_at).await;
    let actor = actor_jwt(&[("act", json!({"sub": "the-earlier-actor"}))]);
    let actor_sub = payload(&actor)["sub"].as_str().unwrap().to_string();
    let form = sample_client(with(
        saml_subject("fastlege.json"),
        &[("actor_token", &actor), ("actor_token_type", TT_JWT)],
    ));
    let answer = post_token(&app, &form, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let claims = verified_by_pyjwt(
        &app,
        answer.body["access_token"].as_str().unwrap(),
        "https://fhir.test.example/pjd",
    )
    .await;
    assert_eq!(
        claims["act"],
        json!({"sub": actor_sub, "iss": HELSEID, "act": {"sub": "the-earlier-actor"}}),
        "{claims}"
    );
    let record = last_record(&app);
    assert_eq!(
        record.actor.as_ref().map(|a| a.issuer.as_str()),
        Some(HELSEID)
    );
    assert_eq!(record.client_id.as_deref(), Some(SAMPLE_CLIENT));

    // A SAML actor: its NameID and Issuer.
    let saml_actor =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now("municipal-nurse.json"));
    let form = with(
        saml_subject("fastlege.json"),
        &[("actor_token", &saml_actor), ("actor_token_type", TT_SAML2)],
    );
    let answer = post_token(&app, &form, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let act = &payload(answer.body["access_token"].as_str().unwrap())["act"];
    assert_eq!(act["iss"], "https://idp.test.xua-gateway.example");
    assert!(act["sub"].as_str().is_some_and(|s| !s.is_empty()), "{act}");
}

#[actix_web::test]
async fn delegation_is_refused_where_it_is_not_allowed_or_has_no_place() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        format!(
            "{}\n[[clients]]\nid = \"no-delegation\"\nauth = \"none\"\nsubject_issuers = [\"*\"]\ndirections = [\"saml-to-jwt\"]\nprofiles = [\"*\"]\naudiences = [\"*\"]\n\n[[clients]]\nid = \"elsewhere\"\nauth = \"none\"\nsubject_issuers = [\"*\"]\ndirections = [\"saml-to-jwt\"]\nprofiles = [\"*\"]\naudiences = [\"*\"]\nactor_for_issuers = [\"https://another-idp.example\"]\n",
            config_at(base)
        )
    })
    .await;
    let actor = actor_jwt(&[]);
    let act = [
        ("actor_token", actor.as_str()),
        ("actor_token_type", TT_JWT),
    ];

    // XUA has no place for an actor.
    let jwt = mint_sample_jwt("hospital-physician.json");
    let answer = post_token(&app, &with(jwt_subject(&jwt), &act), &[]).await;
    answer.refused(400, "invalid_request");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("no place for an actor"));

    let mut form = with(saml_subject("fastlege.json"), &act);
    form.push(("client_id".into(), "no-delegation".into()));
    let answer = post_token(&app, &form, &[]).await;
    answer.refused(400, "unauthorized_client");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("actor_for_issuers"));

    let mut form = with(saml_subject("fastlege.json"), &act);
    form.push(("client_id".into(), "elsewhere".into()));
    let answer = post_token(&app, &form, &[]).await;
    answer.refused(400, "unauthorized_client");
    assert_eq!(last_record(&app).outcome.as_str(), "rejected");

    // An actor token that does not verify.
    let forged = format!("{}x", &actor[..actor.len() - 1]);
    let form = with(
        saml_subject("fastlege.json"),
        &[("actor_token", &forged), ("actor_token_type", TT_JWT)],
    );
    let answer = post_token(&app, &form, &[]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("the actor token:"));
    assert!(answer.body.get("access_token").is_none());

    // RFC 8693 §2.1: actor_token_type goes with actor_token.
    let form = with(saml_subject("fastlege.json"), &[("actor_token", &actor)]);
    post_token(&app, &form, &[])
        .await
        .refused(400, "invalid_request");
}
