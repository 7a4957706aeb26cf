//! JWT → SAML over `POST /token`: signed XUA that other stacks verify, and JWTs from other stacks accepted.

use std::process::Command;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::{json, Value};
use time::OffsetDateTime;
use xua_gateway::inspect::unverified::assertion_view;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::XuaInput;

use crate::helpers::*;

const TT_SAML2_ISSUED: &str = "urn:ietf:params:oauth:token-type:saml2";

#[actix_web::test]
async fn sample_jwt_becomes_a_signed_assertion_that_xmlsec1_and_signxml_verify() {
    let app = spawn_app().await;
    let jwt = mint_sample_jwt("hospital-physician.json");
    let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], TT_SAML2_ISSUED);
    assert_eq!(body["token_type"], "N_A");
    let token = body["access_token"].as_str().unwrap();
    assert!(
        !token.contains(['=', '+', '/']),
        "base64url without padding"
    );
    let xml = xml.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "assertion.xml", xml.as_bytes());
    let cert = repo().join("samples/keys/TEST-ONLY-gateway-saml.crt.pem");
    let out = run(Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
        ])
        .arg(&cert)
        .arg(&file));
    assert!(
        out.status.success(),
        "xmlsec1 rejects our assertion: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/verify_saml.py"))
        .arg(&file)
        .arg(&cert));
    assert!(
        out.status.success(),
        "signxml rejects our assertion: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["issuer"], "https://xua-gateway.test.example");
    assert_eq!(seen["name_id"], "30817534585");

    // What the assertion says is exactly the model the JWT carried.
    let profiles = profiles();
    let profile = profiles.default_profile();
    let view = assertion_view(xml.as_bytes()).unwrap();
    let from_saml = profile
        .decode_xua_unverified(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })
        .unwrap();
    let mut from_jwt = profile
        .decode_claims_unverified(&claims_file("hospital-physician.json"))
        .unwrap();
    from_jwt.session.home_community_id = Some("urn:oid:2.16.578.1.12.4.1.7.1.1".into());
    assert_eq!(from_saml, from_jwt);

    // XUA's structural requirements.
    let conditions = view.conditions.as_ref().unwrap();
    assert_eq!(conditions.not_before, Some(view.issue_instant));
    assert_eq!(
        conditions.audience_restrictions,
        vec![vec!["nhn:dokumentdeling-saml".to_string()]]
    );
    let jwt_exp = payload(&jwt)["exp"].as_i64().unwrap();
    assert!(conditions.not_on_or_after.unwrap().unix_timestamp() <= jwt_exp);
    assert_eq!(
        view.confirmations[0].method,
        "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    );
    assert_eq!(
        view.authn_context_class.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:ac:classes:X509")
    );
    let issuer_end = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    assert!(
        xml[issuer_end..].starts_with("<ds:Signature"),
        "Signature right after Issuer"
    );

    let records = app.records();
    assert_eq!(
        records.last().unwrap().direction,
        xua_gateway::model::Direction::JwtToSaml
    );
    assert_eq!(
        records.last().unwrap().output_token_id.as_deref(),
        Some(view.id.as_str())
    );
}

#[actix_web::test]
async fn patient_comes_from_the_token_or_the_patient_parameter() {
    let app = spawn_app().await;
    let mut claims = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]["patients"] = json!([{}]);
    // A fresh token per exchange: a JWT is exchanged once (replay protection).
    let fresh = || {
        xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc())
            .unwrap()
    };

    let (status, body, _) = app.exchange_jwt(&fresh(), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_class"], "CLAIM");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("no patient"));

    let (status, body, xml) = app
        .exchange_jwt(&fresh(), &[("patient", "21868534521")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(xml
        .unwrap()
        .contains("21868534521^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO"));

    // A D-number gets the D-number system; a CX value is taken as it is.
    let (_, _, xml) = app
        .exchange_jwt(&fresh(), &[("patient", "41018010001")])
        .await;
    assert!(xml
        .unwrap()
        .contains("41018010001^^^&amp;2.16.578.1.12.4.1.4.2&amp;ISO"));
    let (_, _, xml) = app
        .exchange_jwt(
            &fresh(),
            &[("patient", "21868534521^^^&2.16.578.1.12.4.1.4.1&ISO")],
        )
        .await;
    assert!(xml.is_some());

    let (status, body, _) = app
        .exchange_jwt(
            &mint_sample_jwt("fastlege.json"),
            &[("patient", "14035234595")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("names another patient"));
    assert!(!body.to_string().contains("14035234595"));

    let (status, _, _) = app.exchange_jwt(&fresh(), &[("patient", "12345")]).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn trust_framework_object_inside_authorization_details_is_read_too() {
    let app = spawn_app().await;
    let mut claims = claims_file("municipal-nurse.json");
    let mut object = claims.remove("nhn:tillitsrammeverk:parameters").unwrap();
    object["type"] = json!("nhn:tillitsrammeverk:parameters");
    claims.insert("authorization_details".into(), json!([object]));
    let jwt =
        xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc())
            .unwrap();
    let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(xml.unwrap().contains("14035234595^^^"));

    // Both forms at once is ambiguous.
    let mut both = claims.clone();
    both.insert(
        "nhn:tillitsrammeverk:parameters".into(),
        claims_file("municipal-nurse.json")["nhn:tillitsrammeverk:parameters"].clone(),
    );
    let jwt = xua_gateway::samples::mint_jwt(&both, &Default::default(), OffsetDateTime::now_utc())
        .unwrap();
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 400);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("both as a claim and in authorization_details"));
}

/// Keys for a second issuer whose tokens PyJWT mints: one key per algorithm, each bound by its JWK `alg`.
struct ForeignIssuer {
    dir: tempfile::TempDir,
    keys: Vec<(&'static str, &'static str, std::path::PathBuf)>,
}

fn foreign_issuer() -> ForeignIssuer {
    let dir = tempfile::tempdir().unwrap();
    let mut jwks = Vec::new();
    let mut keys = Vec::new();
    let rsa = |bits| PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
    let ec = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    for (alg, kid, key) in [
        ("RS256", "r1", rsa(2048)),
        ("PS256", "p1", rsa(2048)),
        ("ES256", "e1", ec),
    ] {
        let pem = key.private_key_to_pem_pkcs8().unwrap();
        let path = write_temp(dir.path(), &format!("{kid}.pem"), &pem);
        let algorithm: Algorithm = alg.parse().unwrap();
        let enc = if alg == "ES256" {
            EncodingKey::from_ec_pem(&pem)
        } else {
            EncodingKey::from_rsa_pem(&pem)
        }
        .unwrap();
        let mut jwk = Jwk::from_encoding_key(&enc, algorithm).unwrap();
        jwk.common.key_id = Some(kid.to_string());
        jwks.push(jwk);
        keys.push((alg, kid, path));
    }
    write_temp(
        dir.path(),
        "jwks.json",
        serde_json::to_string(&JwkSet { keys: jwks })
            .unwrap()
            .as_bytes(),
    );
    ForeignIssuer { dir, keys }
}

const FOREIGN: &str = "https://sts.pyjwt.test.example";

fn config_trusting(foreign: &ForeignIssuer) -> String {
    format!(
        "{}\n[[jwt.trust.issuers]]\nissuer = \"{FOREIGN}\"\njwks_file = \"{}\"\nalgorithms = [\"RS256\", \"PS256\", \"ES256\"]\n",
        sample_config_text(),
        foreign.dir.path().join("jwks.json").display()
    )
}

fn pyjwt(
    alg: &str,
    key: &std::path::Path,
    kid: &str,
    payload: &Value,
    dir: &std::path::Path,
) -> String {
    let payload_file = write_temp(dir, "payload.json", payload.to_string().as_bytes());
    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/mint_jwt.py"))
        .arg(alg)
        .arg(key)
        .arg(kid)
        .arg(payload_file));
    assert!(
        out.status.success(),
        "PyJWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn foreign_payload() -> Value {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = claims_file("fastlege.json");
    claims.insert("iss".into(), json!(FOREIGN));
    claims.insert("aud".into(), json!(["https://xua-gateway.test.example"]));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 120));
    // One token per exchange: a jti is exchanged once (replay protection).
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    Value::Object(claims)
}

#[actix_web::test]
async fn jwts_minted_by_pyjwt_with_rs256_ps256_and_es256_are_accepted() {
    let foreign = foreign_issuer();
    let app = spawn_app_with_text(&config_trusting(&foreign), foreign.dir.path()).await;
    for (alg, kid, key) in &foreign.keys {
        let jwt = pyjwt(alg, key, kid, &foreign_payload(), foreign.dir.path());
        let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
        assert_eq!(status, 200, "{alg}: {body}");
        assert!(xml.unwrap().contains(">12837034688</saml:NameID>"), "{alg}");
    }
    // A key is bound to its algorithm: the PS256 key cannot verify an RS256 token.
    let (_, _, ps_key) = &foreign.keys[1];
    let jwt = pyjwt(
        "RS256",
        ps_key,
        "p1",
        &foreign_payload(),
        foreign.dir.path(),
    );
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_class"], "SIG");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not the one its key is bound to"),
        "{body}"
    );
}

#[actix_web::test]
async fn seed_example_8_1_fastlege_gets_the_override_in_xua_and_the_audit_keeps_the_original() {
    let app = spawn_app().await;
    let (status, body, xml) = app
        .exchange_jwt(&mint_sample_jwt("fastlege.json"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let view = assertion_view(xml.unwrap().as_bytes()).unwrap();
    let hs = view
        .attributes
        .iter()
        .find(|a| a.name == "urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service")
        .unwrap();
    let value = &hs.values[0].text;
    assert!(value.contains(r#"code="KX17""#), "{value}");
    assert!(
        value.contains(r#"codeSystem="urn:oid:2.16.578.1.12.4.1.1.8666""#),
        "{value}"
    );
    assert!(
        value.contains(r#"displayName="Fastlege, liste uten fast lege""#),
        "{value}"
    );
    // Nothing else changed: the other attributes are those of the model without the override.
    let mut model = profiles()
        .default_profile()
        .decode_claims_unverified(&claims_file("fastlege.json"))
        .unwrap();
    let decoded = {
        let profiles = profiles();
        profiles
            .default_profile()
            .decode_xua_unverified(XuaInput {
                name_id: view.name_id.as_deref(),
                name_qualifier: view.name_id_qualifier.as_deref(),
                attributes: &view.attributes,
            })
            .unwrap()
    };
    model.care_relationship.healthcare_service =
        decoded.care_relationship.healthcare_service.clone();
    model.session.home_community_id = decoded.session.home_community_id.clone();
    assert_eq!(decoded, model);

    let record = app.records().pop().unwrap();
    let rules = serde_json::to_value(record.rules.as_ref().unwrap()).unwrap();
    let decision = &rules["decisions"][0];
    assert_eq!(decision["rule"], "fastlege");
    assert_eq!(decision["applied"], true);
    assert_eq!(decision["original"]["code"], "KA01");
    assert_eq!(decision["replacement"]["code"], "KX17");

    // A physician who is not the patient's GP keeps the input's healthcare service.
    let (status, _, xml) = app
        .exchange_jwt(&mint_sample_jwt("hospital-physician.json"), &[])
        .await;
    assert_eq!(status, 200);
    assert!(xml.unwrap().contains(r#"code="S03""#));
    let record = app.records().pop().unwrap();
    let rules = serde_json::to_value(record.rules.as_ref().unwrap()).unwrap();
    assert_eq!(rules["decisions"][0]["applied"], false);
}

#[actix_web::test]
async fn slim_request_form_gets_display_texts_and_code_system_names_from_the_code_tables() {
    let app = spawn_app().await;
    let mut claims = claims_file("hospital-physician.json");
    let p = &mut claims["nhn:tillitsrammeverk:parameters"];
    p["practitioner"]["authorization"] =
        json!({"code": "LE", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"});
    p["care_relationship"]["purpose_of_use"] =
        json!({"code": "TREAT", "system": "urn:oid:2.16.840.1.113883.1.11.20448"});
    let jwt =
        xua_gateway::samples::mint_jwt(&claims, &Default::default(), OffsetDateTime::now_utc())
            .unwrap();
    let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
    assert_eq!(status, 200, "{body}");
    let xml = xml.unwrap();
    assert!(xml.contains(r#"code="LE" codeSystem="urn:oid:2.16.578.1.12.4.1.1.9060" codeSystemName="Kategori helsepersonell" displayName="Lege""#), "{xml}");
    assert!(
        xml.contains(r#"code="TREAT" codeSystem="urn:oid:2.16.840.1.113883.1.11.20448" codeSystemName="PurposeOfUse" displayName="Treatment""#),
        "{xml}"
    );
}
