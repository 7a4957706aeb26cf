//! The checks against HPR and the access-block register with the sample configuration (the TEST-ONLY file
//! registers): the samples that are refused, practitioners without an HPR number, the configurable
//! direction, the inspector's items, and that blocks never reach the ordinary log.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::register_checks::{assertion, blocked, decision, not_confirmed};

#[actix_web::test]
async fn the_sample_configuration_refuses_the_lapsed_and_the_blocked_samples() {
    let app = spawn_app().await;
    for sample in [
        "fastlege.json",
        "hospital-physician.json",
        "municipal-nurse.json",
    ] {
        let (status, body) = app.exchange_saml(&mint_now(sample), &[]).await;
        assert_eq!(status, 200, "{sample}: {body}");
        let record = app.records().pop().unwrap();
        assert_eq!(decision(&record, "hpr-authorization")["backend"], "file");
    }
    let (status, body) = app
        .exchange_saml(&mint_now("lapsed-authorization.json"), &[])
        .await;
    assert_eq!((status, body), (400, not_confirmed()));
    let d = decision(&app.records().pop().unwrap(), "hpr-authorization");
    assert_eq!(
        (d["why"].as_str(), d["backend"].as_str()),
        (Some("lapsed"), Some("file"))
    );
    let (status, body) = app
        .exchange_saml(&mint_now("blocked-patient.json"), &[])
        .await;
    assert_eq!((status, body), (400, blocked()));
    let d = decision(&app.records().pop().unwrap(), "access-block");
    assert_eq!(d["block"], "TEST-ONLY-SPERRE-0001");
    let (status, _, _) = app
        .exchange_jwt(&mint_sample_jwt("blocked-patient.json"), &[])
        .await;
    assert_eq!(status, 400);
}

/// The sample configuration text with one replacement.
async fn sample_app_with(from: &str, to: &str, dir: &std::path::Path) -> TestApp {
    let text = sample_config_text();
    assert!(text.contains(from), "{from}");
    spawn_app_with_text(&text.replacen(from, to, 1), dir).await
}

#[actix_web::test]
async fn a_practitioner_without_an_hpr_number_is_refused_unless_the_configuration_allows_it() {
    let mut admin = claims_file("fastlege.json");
    let p = admin["nhn:tillitsrammeverk:parameters"]["practitioner"]
        .as_object_mut()
        .unwrap();
    p.remove("hpr_nr");
    p.remove("authorization");
    let mut other = claims_file("fastlege.json");
    other["nhn:tillitsrammeverk:parameters"]["practitioner"]
        .as_object_mut()
        .unwrap()
        .remove("hpr_nr");
    other["nhn:tillitsrammeverk:parameters"]["practitioner"]["authorization"] =
        json!({"code": "XX", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"});

    let strict = spawn_app().await;
    let (status, body) = strict.exchange_saml(&assertion(&admin), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "rule hpr-authorization: the practitioner has no HPR number, and this deployment lets no such practitioner through"
    );
    assert_eq!(
        decision(&strict.records().pop().unwrap(), "hpr-authorization"),
        json!({"rule": "hpr-authorization", "register": "hpr", "backend": "file",
               "answer": "no-hpr-number", "categories": [], "refused": true})
    );

    let dir = tempfile::tempdir().unwrap();
    let lenient = sample_app_with(
        "allow_without_hpr_number = []",
        "allow_without_hpr_number = [\"none\"]",
        dir.path(),
    )
    .await;
    let (status, body) = lenient.exchange_saml(&assertion(&admin), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        decision(&lenient.records().pop().unwrap(), "hpr-authorization")["answer"],
        "exempt"
    );
    // "none" lets through a token without an authorization, not one claiming a category.
    let (status, _) = lenient.exchange_saml(&assertion(&other), &[]).await;
    assert_eq!(status, 400);

    // A code that is not in Volven 9060 stops start-up.
    let text = sample_config_text().replacen(
        "allow_without_hpr_number = []",
        "allow_without_hpr_number = [\"ADMIN\"]",
        1,
    );
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let loaded =
        xua_gateway::config::LoadedConfig::from_file(&dir.path().join("bad.toml")).unwrap();
    let err = xua_gateway::startup::Gateway::build(loaded, xua_gateway::clock::system(), None)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADMIN") && err.contains("9060"), "{err}");
}

#[actix_web::test]
async fn the_checks_direction_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let app = sample_app_with(
        "# direction = [\"encode-jwt\", \"encode-xua\"]",
        "direction = [\"encode-xua\"]",
        dir.path(),
    )
    .await;
    // Only when issuing XUA: the lapsed practitioner gets a JWT, not an assertion.
    let (status, body) = app
        .exchange_saml(&mint_now("lapsed-authorization.json"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(app
        .records()
        .pop()
        .unwrap()
        .checks
        .iter()
        .all(|d| d.rule != "hpr-authorization"));
    let (status, _, _) = app
        .exchange_jwt(&mint_sample_jwt("lapsed-authorization.json"), &[])
        .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn the_inspector_reports_each_registers_answer_with_its_rule_id() {
    let app = spawn_app().await;
    let inspect = |xml: Vec<u8>| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(format!("{}/inspect", app.address))
                .body(xml)
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    let items = |report: &Value| -> Vec<(String, String)> {
        report["tokens"][0]["registers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["answer"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let ok = inspect(mint_now("fastlege.json")).await;
    assert_eq!(ok["accepted"], true, "{ok}");
    assert_eq!(
        items(&ok),
        vec![
            (
                "rules.hpr-authorization".to_string(),
                "confirmed".to_string()
            ),
            ("rules.access-block".to_string(), "not-blocked".to_string()),
        ]
    );
    let lapsed = inspect(mint_now("lapsed-authorization.json")).await;
    assert_eq!(lapsed["accepted"], false);
    assert_eq!(
        items(&lapsed),
        vec![(
            "rules.hpr-authorization".to_string(),
            "not-authorized".to_string()
        )]
    );
    let held = inspect(mint_now("blocked-patient.json")).await;
    assert_eq!(held["accepted"], false);
    assert!(
        held["verdict"].as_str().unwrap().contains("BLOCKED"),
        "{held}"
    );
    assert_eq!(
        items(&held)[1],
        ("rules.access-block".to_string(), "blocked".to_string())
    );
    // The report says what the exchange would be told, not which block or why.
    let text = held.to_string() + &lapsed.to_string();
    for secret in ["SPERRE", "lapsed", "2023-12-31", "\"why\"", "\"block\""] {
        assert!(!text.contains(secret), "{secret} in the inspector's report");
    }
    // The inspector audits nothing.
    assert!(app.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_never_reach_the_ordinary_log() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config =
        crate::binary::write_config(dir.path(), &db, "", "format = \"text\"\nlevel = \"info\"");
    let mut server = crate::binary::Server::start(&config, &[("RUST_LOG", "trace")]);
    let client = reqwest::Client::new();
    for sample in ["blocked-patient.json", "lapsed-authorization.json"] {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now(sample));
        let res = client
            .post(format!("{}/token", server.address))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    let logs = server.output();
    server.kill();
    assert!(logs.contains("exchange rejected"), "{logs}");
    for secret in [
        "TEST-ONLY-SPERRE",
        "access-block",
        "blocked this access",
        "19916210070",
        "9144900",
        "4456789",
        "lapsed",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} in the ordinary log:\n{logs}"
        );
    }
    // The access log has the block's id.
    let conn = xua_gateway::audit::sqlite::connect(&db, false).unwrap();
    let json: String = conn
        .query_row(
            "SELECT record_json FROM audit_record WHERE error_class = 'BLOCKED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(json.contains("TEST-ONLY-SPERRE-0001"), "{json}");
}
