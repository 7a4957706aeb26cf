//! The inspector page in a real browser: Debian's Chromium, headless, driven by `tests/browser/inspector.mjs`
//! (Playwright's protocol client, never a browser of its own, and axe-core). The gateway runs here; the script
//! reports what the page showed, every request it made and every response header, and this test judges it.
//! It saves the screenshot to `target/inspector.png`, and to `docs/inspector.png` (the README's) when
//! `XUA_UPDATE_DOCS=1` is set or that file is missing.
//!
//! Needs `node`, `chromium` and `npm ci` in `tests/browser` (`.ci/setup` does all three). Under `CI=true` a
//! missing one fails the test; elsewhere the test says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use time::OffsetDateTime;
use xua_gateway::samples::{self, JwtMintOptions};

use crate::helpers::*;

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("node is not installed".into());
    }
    if !chromium().exists() {
        return Some(format!("{} is not installed", chromium().display()));
    }
    for module in ["playwright-core", "axe-core"] {
        if !repo()
            .join("tests/browser/node_modules")
            .join(module)
            .exists()
        {
            return Some(format!(
                "{module} is not installed (npm ci in tests/browser)"
            ));
        }
    }
    None
}

fn checks(scenario: &Value) -> &Vec<Value> {
    scenario["checks"].as_array().unwrap()
}

fn check_with_rule<'a>(scenario: &'a Value, rule: &str) -> &'a Value {
    checks(scenario)
        .iter()
        .find(|c| c["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} item on the page: {scenario}"))
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]), "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[actix_web::test]
async fn the_inspector_page_works_in_a_real_browser() {
    if let Some(why) = missing() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the browser test cannot run under CI: {why}");
        }
        eprintln!("\n*** SKIPPED the_inspector_page_works_in_a_real_browser: {why} ***\n");
        return;
    }
    let app = spawn_app().await;
    let valid = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let tampered = valid.replace("TREAT", "BTG");
    assert_ne!(valid, tampered);
    let participant_jwt = samples::mint_jwt(
        &claims_file("municipal-nurse.json"),
        &JwtMintOptions {
            issuer: "https://participant-idp.test.example".to_string(),
            ..JwtMintOptions::default()
        },
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let jwks =
        std::fs::read_to_string(repo().join("samples/keys/TEST-ONLY-helseid.jwks.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_temp(
        dir.path(),
        "inputs.json",
        json!({
            "valid": valid,
            "tampered": tampered,
            "participant_jwt": participant_jwt,
            "participant_jwks": jwks,
        })
        .to_string()
        .as_bytes(),
    );
    let screenshot = repo().join("target/inspector.png");
    let script = repo().join("tests/browser/inspector.mjs");
    let address = app.address.clone();
    let shot = screenshot.clone();
    // The gateway serves from this thread's runtime, so the browser runs on the blocking pool.
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(address)
            .arg(shot)
            .arg(inputs)
            .env("CHROMIUM", chromium())
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed: {stderr}\n{stdout}");
    let out: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the script's output is not JSON ({e}): {stdout}\n{stderr}"));
    assert!(
        out["error"].is_null(),
        "the browser script failed: {}",
        out["error"]
    );

    // A valid assertion: the verdict is green and the preview shows the JWT that would be issued.
    let valid = &out["scenarios"]["valid"];
    assert_eq!(valid["url_path"], "/inspector", "/ leads to the page");
    assert_eq!(valid["verdict_class"], "verdict ok", "{valid}");
    assert!(valid["verdict"].as_str().unwrap().starts_with("Accepted"));
    assert_eq!(valid["preview_kind"], "jwt");
    let preview = valid["preview"].as_str().unwrap();
    assert!(
        preview.contains("// JWT header") && preview.contains("\"alg\": \"ES256\""),
        "{preview}"
    );
    assert!(
        preview.contains("\"helseid://claims/hpr/hpr_number\": \"565501872\""),
        "{preview}"
    );
    assert_eq!(valid["input_kind"], "xml");
    assert!(
        valid["input"]
            .as_str()
            .unwrap()
            .contains("\n  <saml:Issuer>"),
        "pretty-printed XML"
    );
    assert!(valid["model_rows"].as_u64().unwrap() > 10);
    let sig = check_with_rule(valid, "saml.signature");
    assert_eq!(sig["class"], "item ok");
    assert!(sig["links"][0]
        .as_str()
        .unwrap()
        .starts_with("https://docs.oasis-open.org/"));
    for rule in valid["item_rules"].as_array().unwrap() {
        assert!(
            xua_gateway::inspect::catalog::rule(rule.as_str().unwrap()).is_some(),
            "{rule}"
        );
    }
    assert_eq!(
        valid["rules_listed"].as_u64().unwrap() as usize,
        xua_gateway::inspect::RULES.len()
    );

    // The report downloads as JSON; a file read through the file input becomes the token.
    assert_eq!(
        out["download"]["name"], "inspection.json",
        "{}",
        out["download"]
    );
    assert_eq!(out["download"]["accepted"], true);
    assert_eq!(out["download"]["verdict"], "would be accepted");
    assert_eq!(out["file_read"], true);

    // One value changed after signing: the signature item is red, with its rule id.
    let tampered = &out["scenarios"]["tampered"];
    assert_eq!(tampered["verdict_class"], "verdict fail");
    let sig = check_with_rule(tampered, "saml.signature");
    assert_eq!(sig["class"], "item fail", "{tampered}");
    assert!(sig["text"]
        .as_str()
        .unwrap()
        .contains("rule saml.signature"));

    // A participant's JWT with its own JWKS.
    let participant = &out["scenarios"]["participant"];
    let sig = check_with_rule(participant, "jwt.signature");
    assert_eq!(sig["class"], "item ok", "{participant}");
    assert!(sig["text"]
        .as_str()
        .unwrap()
        .contains("checked with the key you supplied"));
    assert_eq!(
        check_with_rule(participant, "jwt.trust")["class"],
        "item fail"
    );
    assert_eq!(participant["verdict_class"], "verdict fail");
    assert_eq!(participant["preview_kind"], "xml");

    // The copied link holds the token in the fragment only, and opening it gives the same report.
    let link = &out["link"];
    assert_eq!(link["same_as_page"], true, "{link}");
    assert_eq!(link["fragment_only"], true, "{link}");
    assert_ne!(link["clipboard_matches"], false, "{link}");
    let opened = &out["scenarios"]["link"];
    assert_eq!(opened["token_restored"], true);
    assert_eq!(opened["verdict"], valid["verdict"]);
    assert_eq!(opened["checks"], valid["checks"]);
    assert_eq!(opened["item_rules"], valid["item_rules"]);

    // Keyboard alone at 360 px: Tab reaches the token box and the button; no horizontal scroll.
    let keyboard = &out["keyboard"];
    assert!(
        keyboard["tabs_to_token"].as_i64().unwrap() > 0,
        "{keyboard}"
    );
    assert!(
        keyboard["tabs_to_button"].as_i64().unwrap() > 0,
        "{keyboard}"
    );
    let narrow = &out["scenarios"]["keyboard"];
    assert_eq!(narrow["verdict_class"], "verdict ok", "{narrow}");
    assert_eq!(narrow["inner_width"], 360);
    assert!(
        narrow["scroll_width"].as_u64().unwrap() <= 360,
        "the page scrolls sideways at 360 px: {narrow}"
    );

    // Only the gateway was asked for anything, every response had the CSP, nothing broke, axe found nothing.
    assert_eq!(out["foreign"], json!([]), "requests to other hosts");
    let requests = out["requests"].as_array().unwrap();
    assert!(requests
        .iter()
        .any(|r| r.as_str().unwrap().starts_with("POST ")));
    assert!(requests.iter().all(|r| !r.as_str().unwrap().contains('#')));
    assert!(out["requests_checked"].as_u64().unwrap() >= requests.len() as u64 - 1);
    assert_eq!(out["without_csp"], json!([]), "responses without a CSP");
    assert_eq!(
        out["csp"],
        xua_gateway::http::security::CONTENT_SECURITY_POLICY
    );
    assert_eq!(
        out["console_errors"],
        json!([]),
        "console errors (CSP violations show here)"
    );
    for run in ["axe_empty", "axe_report", "axe_participant", "axe_narrow"] {
        assert_eq!(out[run], json!([]), "{run}: accessibility violations");
    }

    assert_eq!(png_size(&screenshot), (1280, 1000));
    let docs = repo().join("docs/inspector.png");
    if std::env::var("XUA_UPDATE_DOCS").is_ok_and(|v| v == "1") || !docs.exists() {
        std::fs::copy(&screenshot, &docs).unwrap();
    }
    assert!(app.records().is_empty(), "the page issued nothing");
}
