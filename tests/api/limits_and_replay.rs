//! `[limits]` and `[replay]`: checked at start-up, and what the configuration says is what is enforced.

use xua_gateway::config::{LoadedConfig, Origin};

use crate::forge::*;
use crate::helpers::*;

#[test]
fn limit_and_replay_settings_are_checked_at_start_up() {
    let sample = std::fs::read_to_string(repo().join("samples/config.toml")).unwrap();
    let loaded = LoadedConfig::parse(&sample, Origin::Embedded).unwrap();
    let limits = &loaded.config.limits;
    assert_eq!(
        (
            limits.max_body_bytes,
            limits.max_xml_depth,
            limits.max_xml_elements,
            limits.max_xml_attributes_per_element,
            limits.max_saml_attributes,
            limits.max_value_chars,
            limits.max_jwt_bytes
        ),
        (262_144, 64, 4096, 64, 128, 1024, 8192)
    );
    assert!(loaded.config.replay.saml && loaded.config.replay.jwt);
    assert_eq!(loaded.config.replay.capacity, 100_000);
    assert_eq!(loaded.config.server.blocking_threads, 8);

    for (from, to) in [
        ("capacity = 100000", "capacity = 0"),
        ("blocking_threads = 8", "blocking_threads = 0"),
        ("max_jwt_bytes = 8192", "max_jwt_bytes = 100"),
        ("max_value_chars = 1024", "max_value_chars = 10"),
        ("max_saml_attributes = 128", "max_saml_attributes = 0"),
        ("max_xml_depth = 64", "max_xml_depth = 2"),
        ("max_body_bytes = 262144", "max_body_bytes = 100"),
        ("\nsaml = true\n", "\nsaml = \"yes\"\n"),
    ] {
        assert!(sample.contains(from), "{from}");
        let text = sample.replacen(from, to, 1);
        assert!(
            LoadedConfig::parse(&text, Origin::Embedded).is_err(),
            "{to} must be refused"
        );
    }
    // The JWT size limit lives in [limits] now; the old key says where it went.
    let old = sample.replacen(
        "max_lifetime_secs = 3600\n\n[[jwt.trust.issuers]]",
        "max_lifetime_secs = 3600\nmax_bytes = 8192\n\n[[jwt.trust.issuers]]",
        1,
    );
    assert_ne!(old, sample);
    let error = LoadedConfig::parse(&old, Origin::Embedded)
        .unwrap_err()
        .to_string();
    assert!(error.contains("[limits] max_jwt_bytes"), "{error}");
}

#[actix_web::test]
async fn configured_limits_are_the_ones_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text()
        .replacen("max_saml_attributes = 128", "max_saml_attributes = 5", 1)
        .replacen("max_jwt_bytes = 8192", "max_jwt_bytes = 1024", 1);
    let app = spawn_app_with_text(&text, dir.path()).await;
    // The sample assertion carries more than five saml:Attributes.
    expect_rejected(&app, &signed(), "LIMIT", "more than 5 attributes").await;
    // The sample JWT is longer than 1 KiB.
    let before = app.records().len();
    let jwt = mint_sample_jwt("fastlege.json");
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    check_rejection(
        &app,
        before,
        status,
        &body,
        "LIMIT",
        "longer than 1024 bytes",
        &[],
    );

    // max_value_chars also bounds every decoded value, here a practitioner name from a JWT.
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text().replacen("max_value_chars = 1024", "max_value_chars = 100", 1);
    let app = spawn_app_with_text(&text, dir.path()).await;
    let mut claims = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]["practitioner"]["identifier"]["name"] =
        serde_json::json!("N".repeat(150));
    let jwt = xua_gateway::samples::mint_jwt(
        &claims,
        &Default::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let before = app.records().len();
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    check_rejection(
        &app,
        before,
        status,
        &body,
        "LIMIT",
        "longer than 100 characters",
        &[],
    );
}

#[actix_web::test]
async fn a_full_replay_cache_refuses_new_tokens_rather_than_forget_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text().replacen("capacity = 100000", "capacity = 1", 1);
    let app = spawn_app_with_text(&text, dir.path()).await;
    let first = signed();
    expect_accepted(&app, &first).await;
    // No room: the second token is refused with 503, and the first is still remembered.
    expect_rejected(&app, &signed(), "UNAVAILABLE", "replay cache is full").await;
    expect_rejected(&app, &first, "REPLAY", "already exchanged").await;
    assert_eq!(app.gateway.pipeline().replay_cache().len(), 1);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("xua_replay_cache_entries 1"), "{metrics}");
}
