//! Replay protection survives a restart: the gateway rebuilds its cache from the access log's issued
//! records whose input token is still live, so a token exchanged just before a restart (even a SIGKILL) is
//! REPLAY just after it, in both directions.

use base64::Engine;

use crate::binary::{write_config, Server};
use crate::helpers::*;

fn post(address: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = reqwest::blocking::Client::new()
        .post(format!("{address}/token"))
        .form(form)
        .send()
        .unwrap();
    (res.status().as_u16(), res.json().unwrap())
}

#[test]
fn a_token_exchanged_before_a_restart_is_a_replay_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config = write_config(dir.path(), &db, "", "level = \"info\"");
    let assertion =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now("fastlege.json"));
    let saml = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", TT_SAML2),
        ("subject_token", assertion.as_str()),
    ];
    let jwt = mint_sample_jwt("hospital-physician.json");
    let jwt_form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", TT_JWT),
        ("subject_token", jwt.as_str()),
        ("requested_token_type", TT_SAML2),
    ];
    // A token that was refused before the restart is not remembered (it was never exchanged).
    let unused = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now("fastlege.json"));
    let refused_first = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", TT_SAML2),
        ("subject_token", unused.as_str()),
        ("audience", "https://not-ours.example"),
    ];

    let mut server = Server::start(&config, &[]);
    assert_eq!(post(&server.address, &saml).0, 200);
    assert_eq!(post(&server.address, &jwt_form).0, 200);
    assert_eq!(post(&server.address, &refused_first).0, 400);
    server.kill();

    let server = Server::start(&config, &[]);
    for form in [&saml[..], &jwt_form[..]] {
        let (status, body) = post(&server.address, form);
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_class"], "REPLAY", "{body}");
    }
    let accepted_now = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", TT_SAML2),
        ("subject_token", unused.as_str()),
    ];
    assert_eq!(post(&server.address, &accepted_now).0, 200);
    assert!(server
        .output()
        .contains("replay cache rebuilt from the access log"));
}
