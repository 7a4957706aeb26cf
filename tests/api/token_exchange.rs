//! SAML → JWT over `POST /token` (RFC 8693) and `POST /translate`.

use std::process::Command;

use serde_json::Value;
use time::OffsetDateTime;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::samples::MintOptions;

use crate::helpers::*;

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("samples/expected").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[actix_web::test]
async fn each_sample_exchanges_to_its_expected_claims() {
    let app = spawn_app().await;
    for sample in ["fastlege", "municipal-nurse", "hospital-physician"] {
        let xml = mint_now(&format!("{sample}.json"));
        let (status, body) = app.exchange_saml(&xml, &[]).await;
        assert_eq!(status, 200, "{sample}: {body}");
        assert_eq!(body["issued_token_type"], TT_JWT);
        assert_eq!(body["token_type"], "Bearer");
        let expires_in = body["expires_in"].as_i64().unwrap();
        assert!(expires_in > 0 && expires_in <= 300, "{expires_in}");
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            expires_in
        );
        assert_eq!(
            Value::Object(without_volatile(claims)),
            expected(&format!("{sample}.claims.json")),
            "{sample}"
        );
    }
    let records = app.records();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.outcome == xua_gateway::model::Outcome::Issued));
}

#[actix_web::test]
async fn issued_jwt_verifies_with_published_jwks_in_pyjwt() {
    let app = spawn_app().await;
    let (status, body) = app
        .exchange_saml(
            &mint_now("hospital-physician.json"),
            &[("audience", "nhn:dokumentdeling")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_temp(dir.path(), "jwks.json", app.jwks().await.as_bytes());
    let token_file = write_temp(dir.path(), "token.jwt", token.as_bytes());
    let verify = |tok: &std::path::Path, aud: &str| {
        run(Command::new("python3")
            .arg(repo().join("tests/support/verify_jwt.py"))
            .arg(&jwks)
            .arg(tok)
            .arg(aud)
            .arg("https://xua-gateway.test.example"))
    };
    let out = verify(&token_file, "nhn:dokumentdeling");
    assert!(
        out.status.success(),
        "PyJWT rejected our token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["header"]["alg"], "ES256");
    assert_eq!(verified["header"]["typ"], "at+jwt");
    assert_eq!(
        verified["payload"]["helseid://claims/hpr/hpr_number"],
        "9144900"
    );
    assert_eq!(
        verified["payload"]["nhn:tillitsrammeverk:parameters"]["practitioner"]["department"]["id"],
        "705592"
    );

    // The same verifier refuses a token whose payload was altered, and a token for another audience.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims = payload(token);
    claims.insert("sub".into(), Value::from("someone-else"));
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let forged = write_temp(dir.path(), "forged.jwt", parts.join(".").as_bytes());
    assert!(!verify(&forged, "nhn:dokumentdeling").status.success());
    assert!(!verify(&token_file, "https://fhir.test.example/pjd")
        .status
        .success());
}

#[actix_web::test]
async fn assertion_signed_by_the_xmlsec1_cli_is_accepted() {
    use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};
    let app = spawn_app().await;
    let profile = profiles();
    let profile = profile.default_profile();
    let context = profile
        .decode_claims_unverified(&claims_file("municipal-nurse.json"))
        .unwrap();
    let out = profile.encode_xua(&context).unwrap();
    let now = OffsetDateTime::now_utc();
    let id = build::new_id();
    let unsigned = build::assertion(
        &AssertionSpec {
            id: &id,
            issuer: xua_gateway::samples::SAMPLE_IDP,
            issue_instant: now,
            not_on_or_after: now + minutes(30),
            audience: xua_gateway::samples::SAMPLE_AUDIENCE,
            name_id: out.name_id.as_deref().unwrap(),
            name_qualifier: out.name_qualifier.as_deref(),
            authn_instant: now,
            authn_context_class: AC_X509,
        },
        &out.attributes,
    )
    .unwrap();
    let unsigned = String::from_utf8(unsigned).unwrap();
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##
    );
    let issuer_end = unsigned.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let with_template = format!(
        "{}{}{}",
        &unsigned[..issuer_end],
        template,
        &unsigned[issuer_end..]
    );
    let dir = tempfile::tempdir().unwrap();
    let tmpl = write_temp(dir.path(), "tmpl.xml", with_template.as_bytes());
    let signed_path = dir.path().join("signed.xml");
    let keys = repo().join("samples/keys");
    let out = run(Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!(
            "{},{}",
            keys.join("TEST-ONLY-idp.key.pem").display(),
            keys.join("TEST-ONLY-idp.crt.pem").display()
        ))
        .arg("--id-attr:ID")
        .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
        .arg("--output")
        .arg(&signed_path)
        .arg(&tmpl));
    assert!(
        out.status.success(),
        "xmlsec1 --sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read(&signed_path).unwrap();

    let (status, body) = app.exchange_saml(&signed, &[]).await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(
        Value::Object(without_volatile(claims)),
        expected("municipal-nurse.claims.json")
    );
}

#[actix_web::test]
async fn translate_returns_the_jwt_for_raw_xml() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!(
            "{}/translate?audience=nhn:dokumentdeling",
            app.address
        ))
        .header("Content-Type", "application/xml")
        .body(mint_now("fastlege.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/jwt");
    let jwt = res.text().await.unwrap();
    let claims = payload(&jwt);
    assert_eq!(claims["aud"], "nhn:dokumentdeling");
    assert_eq!(claims["sub"], "12837034688");
}

#[actix_web::test]
async fn jwt_never_outlives_the_assertion() {
    let app = spawn_app().await;
    let options = MintOptions {
        lifetime: time::Duration::seconds(90),
        ..MintOptions::default()
    };
    let issued = OffsetDateTime::now_utc() - time::Duration::seconds(60);
    let xml = mint("fastlege.json", &options, issued);
    let (status, body) = app.exchange_saml(&xml, &[]).await;
    assert_eq!(status, 200, "{body}");
    let claims = payload(body["access_token"].as_str().unwrap());
    let assertion_expiry = (issued + time::Duration::seconds(90)).unix_timestamp();
    assert!(claims["exp"].as_i64().unwrap() <= assertion_expiry);
    assert!(body["expires_in"].as_i64().unwrap() <= 30);
}

#[actix_web::test]
async fn health_and_jwks_are_served() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let jwks: Value = serde_json::from_str(&app.jwks().await).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(
        key.get("d").is_none(),
        "the private key must never be published"
    );
    assert_eq!(
        key["kid"].as_str().unwrap(),
        app.gateway.pipeline().jwt_issuer().kid()
    );
}

#[actix_web::test]
async fn saml_metadata_publishes_the_signing_certificate() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/saml/metadata", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = res.text().await.unwrap();
    assert!(xml.contains(r#"entityID="https://xua-gateway.test.example""#));
    assert!(xml.contains(r#"<md:KeyDescriptor use="signing">"#));
    let pem = std::fs::read(repo().join("samples/keys/TEST-ONLY-gateway-saml.crt.pem")).unwrap();
    let der = openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    assert!(
        xml.contains(&b64),
        "the published certificate is the signing one"
    );
}

#[actix_web::test]
async fn rs256_and_ps256_issuance_verify_in_pyjwt() {
    for alg in ["RS256", "PS256"] {
        let dir = tempfile::tempdir().unwrap();
        let text = sample_config_text()
            .replace("algorithm = \"ES256\"", &format!("algorithm = \"{alg}\""))
            .replace(
                "TEST-ONLY-gateway-jwt-es256.key.pem",
                "TEST-ONLY-gateway-jwt-rsa.key.pem",
            );
        let app = spawn_app_with_text(&text, dir.path()).await;
        let (status, body) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
        assert_eq!(status, 200, "{alg}: {body}");
        let jwks = write_temp(dir.path(), "jwks.json", app.jwks().await.as_bytes());
        let token = write_temp(
            dir.path(),
            "t.jwt",
            body["access_token"].as_str().unwrap().as_bytes(),
        );
        let out = run(Command::new("python3")
            .arg(repo().join("tests/support/verify_jwt.py"))
            .arg(&jwks)
            .arg(&token)
            .arg("https://fhir.test.example/pjd")
            .arg("https://xua-gateway.test.example"));
        assert!(
            out.status.success(),
            "{alg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verified["header"]["alg"], alg);
    }
}
