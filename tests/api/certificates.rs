//! Certificate validity over HTTP, with certificates made at test time: an expired trust anchor refuses with
//! SIG, an expiring one is named in `/readyz` (still 200) and `/metrics`, and an expired signing certificate
//! stops JWT → SAML with 503 while SAML → JWT goes on.

use serde_json::Value;
use time::{Duration, OffsetDateTime};
use xua_gateway::saml::dsig::SigningIdentity;
use xua_gateway::samples::{self, MintOptions};

use crate::certs::{rsa_certificate, KeyAndCert};
use crate::helpers::*;

const EXPIRED_IDP: &str = "https://idp-expired.test";
const EXPIRING_IDP: &str = "https://idp-expiring.test";

fn days(d: i64) -> Duration {
    Duration::days(d)
}

fn signed_by(k: &KeyAndCert, issuer: &str) -> Vec<u8> {
    samples::mint_assertion(
        profiles().default_profile(),
        &claims_file("fastlege.json"),
        &MintOptions {
            issuer: issuer.to_string(),
            ..MintOptions::default()
        },
        &SigningIdentity::from_pem(&k.key_pem, &k.cert_pem).unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn trusted(entity_id: &str, certificate: &str) -> String {
    format!("[[saml.trusted_issuers]]\nentity_id = \"{entity_id}\"\ncertificate = \"{certificate}\"\n\n")
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn gauge(metrics: &str, prefix: &str) -> i64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
}

#[actix_web::test]
async fn an_expired_trust_anchor_is_refused_with_sig_and_an_expiring_one_is_reported() {
    let now = OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();
    let expired = rsa_certificate("idp expired", now - days(30), now - days(1));
    let expiring = rsa_certificate("idp expiring", now - days(1), now + days(5));
    write_temp(dir.path(), "expired.crt.pem", &expired.cert_pem);
    write_temp(dir.path(), "expiring.crt.pem", &expiring.cert_pem);
    let text = sample_config_text().replace(
        "# How the gateway issues XUA assertions",
        &format!(
            "{}{}# How the gateway issues XUA assertions",
            trusted(EXPIRED_IDP, "expired.crt.pem"),
            trusted(EXPIRING_IDP, "expiring.crt.pem")
        ),
    );
    let app = spawn_app_with_text(&text, dir.path()).await;

    let (status, body) = app
        .exchange_saml(&signed_by(&expired, EXPIRED_IDP), &[])
        .await;
    assert_eq!(
        (status, body["error_class"].as_str()),
        (400, Some("SIG")),
        "{body}"
    );
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains("expired at") && why.contains(EXPIRED_IDP),
        "{why}"
    );
    let record = app.records().pop().unwrap();
    assert_eq!(record.error_class.map(|c| c.as_str()), Some("SIG"));

    let (status, body) = app
        .exchange_saml(&signed_by(&expiring, EXPIRING_IDP), &[])
        .await;
    assert_eq!(status, 200, "{body}");

    // Ready: other issuers still verify. The warning names both certificates.
    let (status, text) = get(&app, "/readyz").await;
    assert_eq!(status, 200, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["status"], "ready");
    let warning = ready["checks"]["certificates"]["warning"].as_str().unwrap();
    assert!(
        warning.contains(&format!("trusted issuer {EXPIRED_IDP}"))
            && warning.contains("expired at"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("trusted issuer {EXPIRING_IDP}"))
            && warning.contains("(in 4 days)"),
        "{warning}"
    );
    assert!(!warning.contains("idp expir"), "no subject in {warning}");

    let (_, metrics) = get(&app, "/metrics").await;
    assert_eq!(
        gauge(
            &metrics,
            "xua_certificates{role=\"saml_trust_anchor\",standing=\"expired\"}"
        ),
        1
    );
    assert_eq!(
        gauge(
            &metrics,
            "xua_certificates{role=\"saml_trust_anchor\",standing=\"expiring\"}"
        ),
        1
    );
    let left = gauge(
        &metrics,
        &format!("xua_certificate_expiry_seconds{{issuer=\"{EXPIRING_IDP}\""),
    );
    assert!((4 * 86_400..=5 * 86_400).contains(&left), "{left}");
    assert!(
        gauge(
            &metrics,
            &format!("xua_certificate_expiry_seconds{{issuer=\"{EXPIRED_IDP}\"")
        ) < -86_000
    );
    assert!(!metrics.contains("idp expir"), "no subject in the labels");
}

#[actix_web::test]
async fn an_expired_signing_certificate_stops_jwt_to_saml_with_503_and_readyz_names_it() {
    let now = OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();
    let signing = rsa_certificate("gateway signing", now - days(400), now - days(2));
    write_temp(dir.path(), "signing.key.pem", &signing.key_pem);
    write_temp(dir.path(), "signing.crt.pem", &signing.cert_pem);
    let keys = repo().join("samples/keys");
    let text = sample_config_text().replace(
        &format!(
            "key = \"{0}/TEST-ONLY-gateway-saml.key.pem\"\ncertificate = \"{0}/TEST-ONLY-gateway-saml.crt.pem\"",
            keys.display()
        ),
        "key = \"signing.key.pem\"\ncertificate = \"signing.crt.pem\"",
    );
    assert!(text.contains("\"signing.crt.pem\""));
    let app = spawn_app_with_text(&text, dir.path()).await;

    let (status, body, xml) = app
        .exchange_jwt(&mint_sample_jwt("hospital-physician.json"), &[])
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["error_class"], "UNAVAILABLE");
    assert!(xml.is_none());
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains("the gateway's XUA signing certificate expired at"),
        "{why}"
    );
    let record = app.records().pop().unwrap();
    assert_eq!(record.error_class.map(|c| c.as_str()), Some("UNAVAILABLE"));
    assert!(record.output_token_id.is_none());

    // Nothing valid remains to sign with: not ready, and the reason is named.
    let (status, text) = get(&app, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    let error = ready["checks"]["certificates"]["error"].as_str().unwrap();
    assert!(
        error.contains("the current XUA signing certificate")
            && error.contains("no assertion is issued"),
        "{error}"
    );

    // The other direction does not need it.
    let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert_eq!(status, 200, "{body}");
}
