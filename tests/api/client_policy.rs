//! The declared, deny-by-default exchange policy per client: each refusal names the rule, echoes no value,
//! issues nothing and is audited with the client; what is allowed is narrowed (audience, lifetime).

use time::OffsetDateTime;
use xua_gateway::samples::{self, MintOptions};

use crate::helpers::*;
use crate::oauth::*;

const OTHER_IDP: &str = "https://other-idp.test.xua-gateway.example";

fn policy_config(base: &str, other_idp_cert: &str) -> String {
    format!(
        r#"{}
[[saml.trusted_issuers]]
entity_id = "{OTHER_IDP}"
certificate = "{other_idp_cert}"

[[clients]]
id = "narrow"
auth = "none"
subject_issuers = ["https://idp.test.xua-gateway.example"]
directions = ["saml-to-jwt"]
profiles = ["no-pjd"]
audiences = ["https://fhir.test.example/pjd"]
scopes = ["pjd/read"]
min_security_level = 4
max_lifetime_secs = 60

[[clients]]
id = "needs-scope"
auth = "none"
subject_issuers = ["*"]
directions = ["saml-to-jwt", "jwt-to-saml"]
profiles = ["*"]
audiences = ["*"]
required_scopes = ["xua-gateway/exchange"]

[[clients]]
id = "second-audience"
auth = "none"
subject_issuers = ["*"]
directions = ["saml-to-jwt"]
profiles = ["*"]
audiences = ["nhn:dokumentdeling"]
"#,
        config_at(base)
    )
}

fn assertion_with_level(level: &str) -> Vec<u8> {
    let mut claims = claims_file("fastlege.json");
    claims.insert(
        "helseid://claims/identity/security_level".into(),
        level.into(),
    );
    samples::mint_assertion(
        profiles().default_profile(),
        &claims,
        &MintOptions::default(),
        &sample_idp(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn saml_form(xml: &[u8], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    use base64::Engine;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
    let mut form = saml_subject("fastlege.json");
    form.retain(|(k, _)| k != "subject_token");
    form.push(("subject_token".into(), token));
    with(form, extra)
}

#[actix_web::test]
async fn a_client_outside_its_policy_is_refused_by_the_rule_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let other = attacker_identity();
    let cert = write_temp(dir.path(), "other-idp.crt.pem", other.cert_pem());
    let cert = cert.display().to_string();
    let app = spawn_at(dir.path(), "http", |base| policy_config(base, &cert)).await;

    let other_idp_assertion = samples::mint_assertion(
        profiles().default_profile(),
        &claims_file("fastlege.json"),
        &MintOptions {
            issuer: OTHER_IDP.into(),
            ..MintOptions::default()
        },
        &other,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let narrow = [("client_id", "narrow")];
    let jwt = mint_sample_jwt("hospital-physician.json");
    // (what, form, error code, the rule named, a value that must not be echoed)
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "issuer",
            saml_form(&other_idp_assertion, &narrow),
            "unauthorized_client",
            "subject_issuers",
            OTHER_IDP,
        ),
        (
            "direction",
            with(jwt_subject(&jwt), &narrow),
            "unauthorized_client",
            "directions",
            "",
        ),
        (
            "audience",
            saml_form(
                &mint_now("fastlege.json"),
                &[("client_id", "narrow"), ("audience", "nhn:dokumentdeling")],
            ),
            "invalid_target",
            "audiences",
            "nhn:dokumentdeling",
        ),
        (
            "profile",
            saml_form(
                &mint_now("fastlege.json"),
                &[("client_id", "narrow"), ("profile", "ihe-iua")],
            ),
            "unauthorized_client",
            "profiles",
            "ihe-iua",
        ),
        (
            "scope",
            saml_form(
                &mint_now("fastlege.json"),
                &[
                    ("client_id", "narrow"),
                    ("scope", "pjd/read admin-everything"),
                ],
            ),
            "invalid_scope",
            "scopes",
            "admin-everything",
        ),
        (
            "security level",
            saml_form(&assertion_with_level("3"), &narrow),
            "unauthorized_client",
            "min_security_level",
            "",
        ),
        (
            "required scope",
            saml_form(&mint_now("fastlege.json"), &[("client_id", "needs-scope")]),
            "invalid_scope",
            "required_scopes",
            "",
        ),
    ];
    for (what, form, error, rule, not_echoed) in cases {
        let answer = post_token(&app, &form, &[]).await;
        answer.refused(400, error);
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(rule), "{what}: {description}");
        if !not_echoed.is_empty() {
            assert!(
                !description.contains(not_echoed),
                "{what} echoes: {description}"
            );
        }
        let record = last_record(&app);
        assert_eq!(record.outcome.as_str(), "rejected", "{what}");
        assert_eq!(record.output_token_id, None, "{what}");
        assert!(record.client_id.is_some(), "{what}");
    }

    // Within the policy: issued, capped at the client's 60 s, to its audience.
    let answer = post_token(
        &app,
        &saml_form(
            &mint_now("fastlege.json"),
            &[("client_id", "narrow"), ("scope", "pjd/read")],
        ),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["expires_in"].as_i64().unwrap() <= 60);
    assert_eq!(last_record(&app).client_id.as_deref(), Some("narrow"));
    assert_eq!(last_record(&app).client_auth.as_deref(), Some("none"));

    // No audience asked for: the first of the gateway's audiences the client may have, not the default.
    let answer = post_token(
        &app,
        &saml_form(
            &mint_now("fastlege.json"),
            &[("client_id", "second-audience")],
        ),
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let jwt = answer.body["access_token"].as_str().unwrap();
    assert_eq!(payload(jwt)["aud"], "nhn:dokumentdeling");
}

#[actix_web::test]
async fn a_policy_left_out_allows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_at(dir.path(), "http", |base| {
        format!(
            "{}\n[[clients]]\nid = \"bare\"\nauth = \"none\"\n",
            config_at(base)
        )
    })
    .await;
    let form = with(saml_subject("fastlege.json"), &[("client_id", "bare")]);
    let answer = post_token(&app, &form, &[]).await;
    answer.refused(400, "unauthorized_client");
    assert!(answer.body["error_description"]
        .as_str()
        .unwrap()
        .contains("directions"));
}
