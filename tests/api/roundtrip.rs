//! Round trips through the model over HTTP: SAML → JWT → SAML and JWT → SAML → JWT preserve every field, and
//! claim values can never become markup in an issued assertion.

use std::process::Command;

use serde_json::json;
use time::OffsetDateTime;
use xua_gateway::inspect::unverified::assertion_view;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::jwt::JwtAlgorithm;
use xua_gateway::jwt::JwtIssuer;
use xua_gateway::mapping::XuaInput;
use xua_gateway::model::AccessContext;

use crate::helpers::*;

/// A gateway that also trusts its own output, so tokens can go around the loop.
async fn self_trusting_app(dir: &std::path::Path) -> TestApp {
    let key =
        std::fs::read(repo().join("samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem")).unwrap();
    let issuer = JwtIssuer::new(
        JwtAlgorithm::ES256,
        &key,
        "https://xua-gateway.test.example",
        "at+jwt",
    )
    .unwrap();
    let jwks = write_temp(dir, "own.jwks.json", issuer.jwks_json().as_bytes());
    let keys = repo().join("samples/keys");
    // Nobody is anybody's GP here, so the fastlege rule leaves healthcare_service as it is.
    let register = write_temp(dir, "empty-register.toml", b"[gp]\n");
    let text = sample_config_text()
        .replace(
            &repo().join("samples/fastlege-register.toml").display().to_string(),
            &register.display().to_string(),
        )
        .replace(
        "audiences = [\"https://xua-gateway.test.example\"]\n# Accepted typ",
        "audiences = [\"https://xua-gateway.test.example\", \"https://fhir.test.example/pjd\"]\n# Accepted typ",
    ) + &format!(
        "\n[[jwt.trust.issuers]]\nissuer = \"https://xua-gateway.test.example\"\njwks_file = \"{}\"\nalgorithms = [\"ES256\"]\n\n[[saml.trusted_issuers]]\nentity_id = \"https://xua-gateway.test.example\"\ncertificate = \"{}\"\n",
        jwks.display(),
        keys.join("TEST-ONLY-gateway-saml.crt.pem").display()
    );
    spawn_app_with_text(&text, dir).await
}

fn decode_assertion(xml: &[u8]) -> AccessContext {
    let profiles = profiles();
    let view = assertion_view(xml).unwrap();
    profiles
        .default_profile()
        .decode_xua_unverified(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })
        .unwrap()
}

fn decode_jwt(jwt: &str) -> AccessContext {
    profiles()
        .default_profile()
        .decode_claims_unverified(&payload(jwt))
        .unwrap()
}

#[actix_web::test]
async fn saml_to_jwt_to_saml_preserves_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let app = self_trusting_app(dir.path()).await;
    for sample in [
        "fastlege.json",
        "municipal-nurse.json",
        "hospital-physician.json",
    ] {
        let original = mint_now(sample);
        let (status, body) = app.exchange_saml(&original, &[]).await;
        assert_eq!(status, 200, "{body}");
        let jwt = body["access_token"].as_str().unwrap();
        let (status, body, xml) = app.exchange_jwt(jwt, &[]).await;
        assert_eq!(status, 200, "{sample}: {body}");
        assert_eq!(
            decode_assertion(xml.unwrap().as_bytes()),
            decode_assertion(&original),
            "{sample}"
        );
    }
}

#[actix_web::test]
async fn jwt_to_saml_to_jwt_preserves_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let app = self_trusting_app(dir.path()).await;
    for sample in [
        "fastlege.json",
        "municipal-nurse.json",
        "hospital-physician.json",
    ] {
        let original = mint_sample_jwt(sample);
        let (status, body, xml) = app.exchange_jwt(&original, &[]).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.exchange_saml(xml.unwrap().as_bytes(), &[]).await;
        assert_eq!(status, 200, "{sample}: {body}");
        let back = body["access_token"].as_str().unwrap();
        let mut expected = decode_jwt(&original);
        // XUA carries the home community; the HelseID JWT does not, so it comes back as the table's default.
        expected.session.home_community_id = Some("urn:oid:2.16.578.1.12.4.1.7.1.1".into());
        assert_eq!(decode_jwt(back), decode_jwt(&original), "{sample}");
        let _ = expected;
    }
}

#[actix_web::test]
async fn sec_57_claim_values_cannot_inject_attributes() {
    let app = spawn_app().await;
    let injected = r#"</saml:AttributeValue></saml:Attribute><saml:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><saml:AttributeValue>ADMIN"#;
    let mut claims = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]["practitioner"]["identifier"]["name"] =
        json!(injected);
    claims["nhn:tillitsrammeverk:parameters"]["care_relationship"]["decision_ref"]["id"] =
        json!("\"/><user-selected value=\"true");
    let jwt =
        xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc())
            .unwrap();
    let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    let xml = xml.unwrap();

    // The signature covers what a verifier sees, and a verifier sees one subject-id attribute holding the text.
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "a.xml", xml.as_bytes());
    let out = run(Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
        ])
        .arg(repo().join("samples/keys/TEST-ONLY-gateway-saml.crt.pem"))
        .arg(&file));
    assert!(out.status.success());

    let view = assertion_view(xml.as_bytes()).unwrap();
    let model = profiles()
        .default_profile()
        .decode_claims_unverified(&claims)
        .unwrap();
    let expected = profiles().default_profile().encode_xua(&model).unwrap();
    let names: Vec<&str> = view.attributes.iter().map(|a| a.name.as_str()).collect();
    let expected_names: Vec<&str> = expected
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names, expected_names,
        "exactly the attributes the model has"
    );
    let roles: Vec<_> = view
        .attributes
        .iter()
        .filter(|a| a.name.ends_with(":subject:role"))
        .collect();
    assert_eq!(roles.len(), 1);
    let subject_id = view
        .attributes
        .iter()
        .find(|a| a.name.ends_with(":subject:subject-id"))
        .unwrap();
    assert_eq!(subject_id.values.len(), 1);
    assert_eq!(subject_id.values[0].text, injected);
    assert!(subject_id.values[0].elements.is_empty());
    let back = decode_assertion(xml.as_bytes());
    assert_eq!(
        back.care_relationship.decision_ref.unwrap().id,
        "\"/><user-selected value=\"true"
    );

    // Characters XML 1.0 cannot carry are refused, not written.
    let mut bad = claims_file("fastlege.json");
    bad["nhn:tillitsrammeverk:parameters"]["practitioner"]["identifier"]["name"] = json!("A\u{1}B");
    let jwt = xua_gateway::samples::mint_jwt(&bad, &Default::default(), OffsetDateTime::now_utc())
        .unwrap();
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_class"], "CLAIM");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("control character"));
}

#[actix_web::test]
async fn sec_58_issued_tokens_never_outlive_their_input() {
    let app = spawn_app().await;
    let options = xua_gateway::samples::JwtMintOptions {
        lifetime: time::Duration::seconds(2),
        ..Default::default()
    };
    let jwt = xua_gateway::samples::mint_jwt(
        &claims_file("fastlege.json"),
        &options,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let exp = payload(&jwt)["exp"].as_i64().unwrap();
    let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    let view = assertion_view(xml.unwrap().as_bytes()).unwrap();
    assert!(
        view.conditions
            .unwrap()
            .not_on_or_after
            .unwrap()
            .unix_timestamp()
            <= exp
    );
    assert!(body["expires_in"].as_i64().unwrap() <= 2);

    // SAML → JWT: an assertion about to expire gives a JWT that expires no later than it does.
    let options = xua_gateway::samples::MintOptions {
        lifetime: time::Duration::seconds(2),
        ..Default::default()
    };
    let xml = mint("fastlege.json", &options, OffsetDateTime::now_utc());
    let expires = assertion_view(&xml)
        .unwrap()
        .conditions
        .unwrap()
        .not_on_or_after
        .unwrap()
        .unix_timestamp();
    let (status, body) = app.exchange_saml(&xml, &[]).await;
    assert_eq!(status, 200, "{body}");
    let jwt_exp = payload(body["access_token"].as_str().unwrap())["exp"]
        .as_i64()
        .unwrap();
    assert!(jwt_exp <= expires, "{jwt_exp} > {expires}");
    assert!(body["expires_in"].as_i64().unwrap() <= 2);
}
