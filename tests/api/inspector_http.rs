//! The inspector over HTTP: the page and its assets from the binary, the security headers on every response,
//! the switch in configuration, the request object with a participant's own key (which checks the signature
//! and never decides the verdict or enters the trust store), and that nothing about an inspected token is
//! stored or logged.

use serde_json::{json, Value};
use time::OffsetDateTime;
use xua_gateway::http::security::CONTENT_SECURITY_POLICY;
use xua_gateway::samples::{self, JwtMintOptions, MintOptions};

use crate::binary::{write_config, Server};
use crate::helpers::*;
use crate::inspector_rules::inspect_json;

const PARTICIPANT: &str = "https://participant-idp.test.example";

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tokens"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

fn participant_jwt() -> String {
    samples::mint_jwt(
        &claims_file("municipal-nurse.json"),
        &JwtMintOptions {
            issuer: PARTICIPANT.to_string(),
            ..JwtMintOptions::default()
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn read_key(name: &str) -> String {
    std::fs::read_to_string(repo().join("samples/keys").join(name)).unwrap()
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let a = &app.address;
    let responses = vec![
        c.get(format!("{a}/")).send().await.unwrap(),
        c.get(format!("{a}/inspector")).send().await.unwrap(),
        c.get(format!("{a}/inspector/inspector.js"))
            .send()
            .await
            .unwrap(),
        c.get(format!("{a}/inspector/inspector.css"))
            .send()
            .await
            .unwrap(),
        c.get(format!("{a}/inspector/meta.json"))
            .send()
            .await
            .unwrap(),
        c.get(format!("{a}/no-such-page")).send().await.unwrap(),
        c.get(format!("{a}/healthz")).send().await.unwrap(),
        c.get(format!("{a}/metrics")).send().await.unwrap(),
        c.get(format!("{a}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
        c.post(format!("{a}/token"))
            .body("x=1")
            .send()
            .await
            .unwrap(),
        c.post(format!("{a}/inspect"))
            .body("hello")
            .send()
            .await
            .unwrap(),
        c.post(format!("{a}/inspect?nope=1")).send().await.unwrap(),
    ];
    let mut statuses = Vec::new();
    for res in &responses {
        let h = res.headers();
        let url = res.url().to_string();
        assert_eq!(
            h["content-security-policy"], CONTENT_SECURITY_POLICY,
            "{url}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{url}");
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [303, 200, 200, 200, 200, 404, 200, 200, 200, 400, 200, 400]
    );
    for needed in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(needed));
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert_eq!(responses[0].headers()["location"], "/inspector");
}

#[actix_web::test]
async fn the_page_is_served_from_the_binary_with_no_inline_code_and_no_other_host() {
    let app = spawn_app().await;
    let get = |path: &str| {
        let url = format!("{}{path}", app.address);
        let client = app.client.clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            let ct = res.headers()["content-type"].to_str().unwrap().to_string();
            (ct, res.text().await.unwrap())
        }
    };
    let (ct, html) = get("/inspector").await;
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(html.contains("<script src=\"/inspector/inspector.js\" defer></script>"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "one script, from a file"
    );
    assert!(!html.contains("<style") && !html.contains(" style="));
    for handler in [
        "onclick=",
        "onload=",
        "onerror=",
        "onsubmit=",
        "oninput=",
        "onchange=",
    ] {
        assert!(!html.contains(handler), "{handler}");
    }
    let (ct, js) = get("/inspector/inspector.js").await;
    assert!(ct.starts_with("text/javascript"), "{ct}");
    let (ct, css) = get("/inspector/inspector.css").await;
    assert!(ct.starts_with("text/css"), "{ct}");
    for (name, text) in [("html", &html), ("js", &js), ("css", &css)] {
        let external = regex_like_urls(text);
        assert!(
            external.is_empty(),
            "{name} names other hosts: {external:?}"
        );
        assert!(
            !text.contains("@import") && !text.contains("eval("),
            "{name}"
        );
    }
    let (_, meta) = get("/inspector/meta.json").await;
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["default_profile"], "no-pjd");
    assert!(meta["profiles"]
        .as_array()
        .unwrap()
        .contains(&json!("ihe-iua")));
    assert_eq!(
        meta["rules"].as_array().unwrap().len(),
        xua_gateway::inspect::RULES.len()
    );
}

/// `http://` or `https://` followed by a host name, in page code (a spec link is data, not code).
fn regex_like_urls(text: &str) -> Vec<String> {
    text.match_indices("://")
        .filter(|(i, _)| {
            text.get(..*i)
                .is_some_and(|before| before.ends_with("http") || before.ends_with("https"))
        })
        .filter_map(|(i, _)| text.get(i + 3..i + 4))
        .filter(|next| next.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
        .collect()
}

#[actix_web::test]
async fn switched_off_the_inspector_answers_404_everywhere_and_the_exchange_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = sample_config_text();
    assert_eq!(
        config.matches("\nenabled = true\n").count(),
        1,
        "[inspector] enabled"
    );
    let config = config.replace("\nenabled = true\n", "\nenabled = false\n");
    let app = spawn_app_with_text(&config, dir.path()).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let a = &app.address;
    for res in [
        c.post(format!("{a}/inspect"))
            .body(mint_now("fastlege.json"))
            .send()
            .await
            .unwrap(),
        c.get(format!("{a}/")).send().await.unwrap(),
        c.get(format!("{a}/inspector")).send().await.unwrap(),
        c.get(format!("{a}/inspector/inspector.js"))
            .send()
            .await
            .unwrap(),
        c.get(format!("{a}/inspector/meta.json"))
            .send()
            .await
            .unwrap(),
    ] {
        let url = res.url().to_string();
        assert_eq!(res.status().as_u16(), 404, "{url}");
        assert_eq!(
            res.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{url}");
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("[inspector] enabled = false"));
    }
    let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn a_supplied_key_checks_the_signature_but_the_configured_trust_decides() {
    let app = spawn_app().await;
    // A participant's JWT: its issuer is not configured; the JWKS it publishes is supplied.
    let jwt = participant_jwt();
    let jwks = read_key("TEST-ONLY-helseid.jwks.json");
    let (status, report) = inspect_json(&app, &json!({ "token": jwt, "key": jwks })).await;
    assert_eq!(status, 200, "{report}");
    let sig = check(&report, "signature");
    assert_eq!(sig["status"], "ok", "{report}");
    assert_eq!(
        sig["message"],
        "checked with the key you supplied: the signature verifies"
    );
    assert_eq!(sig["rule_id"], "jwt.signature");
    let trust = check(&report, "trust");
    assert_eq!(trust["status"], "fail");
    assert_eq!(trust["rule_id"], "jwt.trust");
    assert!(trust["message"]
        .as_str()
        .unwrap()
        .contains("is not trusted"));
    assert_eq!(report["accepted"], false);
    assert!(report["verdict"]
        .as_str()
        .unwrap()
        .starts_with("would be rejected: trust:"));

    // The same with the issuer's public key as PEM; a key that did not sign it fails, and so does garbage.
    let pem = read_key("TEST-ONLY-helseid-es256.pub.pem");
    let (_, report) = inspect_json(&app, &json!({ "token": jwt, "key": pem })).await;
    assert_eq!(check(&report, "signature")["status"], "ok", "{report}");
    let (_, report) = inspect_json(&app, &json!({ "token": jwt, "key": app.jwks().await })).await;
    let sig = check(&report, "signature");
    assert_eq!(sig["status"], "fail", "{report}");
    assert!(sig["message"]
        .as_str()
        .unwrap()
        .starts_with("checked with the key you supplied: "));
    let (_, report) = inspect_json(&app, &json!({ "token": jwt, "key": "not a key" })).await;
    assert!(check(&report, "signature")["message"]
        .as_str()
        .unwrap()
        .contains("neither a PEM certificate"));

    // The key entered no trust store: without it the signature is not verifiable, and an exchange is refused.
    let (_, report) = inspect_json(&app, &json!({ "token": jwt })).await;
    assert_eq!(check(&report, "signature")["status"], "fail");
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 400, "{body}");

    // An assertion from a participant's IdP, checked with its certificate and with a wrong one.
    let idp = attacker_identity();
    let xml = samples::mint_assertion(
        profiles().default_profile(),
        &claims_file("fastlege.json"),
        &MintOptions {
            issuer: PARTICIPANT.to_string(),
            ..MintOptions::default()
        },
        &idp,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    let cert = String::from_utf8(idp.cert_pem().to_vec()).unwrap();
    let (_, report) = inspect_json(&app, &json!({ "token": xml, "key": cert })).await;
    let sig = check(&report, "signature");
    assert_eq!(sig["status"], "ok", "{report}");
    assert_eq!(sig["rule_id"], "saml.signature");
    assert_eq!(check(&report, "trust")["status"], "fail");
    assert_eq!(report["accepted"], false);
    let wrong = read_key("TEST-ONLY-idp.crt.pem");
    let (_, report) = inspect_json(&app, &json!({ "token": xml, "key": wrong })).await;
    assert_eq!(check(&report, "signature")["status"], "fail", "{report}");
    let (status, _) = app.exchange_saml(xml.as_bytes(), &[]).await;
    assert_eq!(status, 400);
    // Only the two refused exchanges are in the access log; the inspections are not.
    assert_eq!(app.records().len(), 2);
}

#[actix_web::test]
async fn the_request_object_is_strict_and_a_bare_payload_still_reads_as_one() {
    let app = spawn_app().await;
    let token = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let (status, body) = inspect_json(&app, &json!({ "token": token, "extra": 1 })).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains("extra\":1"));
    let res = app
        .client
        .post(format!("{}/inspect?profile=no-pjd", app.address))
        .header("Content-Type", "application/json")
        .body(json!({ "token": token, "profile": "ihe-iua" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let (status, body) = inspect_json(&app, &json!({ "token": token, "profile": "nope" })).await;
    assert_eq!(status, 400, "{body}");
    let (status, report) = inspect_json(&app, &Value::Object(claims_file("fastlege.json"))).await;
    assert_eq!(status, 200);
    assert_eq!(report["input"], "JWT payload (JSON, no signature)");
    // The request object's profile and time are used.
    let at = (OffsetDateTime::now_utc() + minutes(120))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, report) = inspect_json(
        &app,
        &json!({ "token": token, "at": at, "profile": "ihe-iua" }),
    )
    .await;
    assert_eq!(report["profile"], "ihe-iua");
    assert_eq!(check(&report, "validity")["status"], "fail", "{report}");
}

#[actix_web::test]
async fn an_inspected_token_reaches_neither_the_logs_nor_the_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let access_log = dir.path().join("access.jsonl");
    let config = write_config(
        dir.path(),
        &access_log,
        "store = \"jsonl\"",
        "format = \"json\"\nlevel = \"trace\"",
    );
    let mut server = Server::start(&config, &[("RUST_LOG", "trace")]);
    let client = reqwest::Client::new();
    let xml = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let jwt = participant_jwt();
    let assertion_id = xml
        .split("ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let signature = jwt.rsplit('.').next().unwrap().to_string();
    let key = read_key("TEST-ONLY-helseid.jwks.json");
    for (content_type, body) in [
        ("application/xml", xml.clone()),
        ("text/plain", jwt.clone()),
        (
            "application/json",
            json!({ "token": jwt, "key": key }).to_string(),
        ),
    ] {
        let res = client
            .post(format!("{}/inspect", server.address))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let report: Value = res.json().await.unwrap();
        assert!(report["tokens"][0]["checks"].is_array());
    }
    let logs = server.output();
    server.kill();
    assert!(
        logs.contains("request done") && logs.contains("/inspect"),
        "{logs}"
    );
    let claims = Value::Object(claims_file("fastlege.json")).to_string();
    let practitioner = "12837034688";
    let patient = "21868534521";
    assert!(claims.contains(practitioner) && claims.contains(patient));
    for secret in [
        practitioner,
        patient,
        assertion_id.as_str(),
        signature.as_str(),
        "TEST FASTLEGE SVENDSEN",
        "\"kty\"",
    ] {
        assert!(!logs.contains(secret), "{secret} is in the log");
    }
    let records = std::fs::read_to_string(&access_log).unwrap_or_default();
    assert!(records.trim().is_empty(), "the access log got: {records}");
}
