//! A JWKS key is used only for what it is meant for: a key marked `"use": "enc"`, or whose `key_ops` lack
//! `"verify"`, never verifies a signature (it is skipped at load with a warning naming its `kid`); an RSA key
//! with a degenerate exponent refuses the whole set at start-up.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use time::OffsetDateTime;
use xua_gateway::config::LoadedConfig;
use xua_gateway::startup::Gateway;

use crate::helpers::*;

const ISSUER: &str = "https://other-sts.test.example";

/// A config trusting a second issuer whose JWKS file holds `jwks`.
fn config_with(dir: &std::path::Path, jwks: &Value, algorithms: &str) -> std::path::PathBuf {
    let file = write_temp(dir, "other.jwks.json", jwks.to_string().as_bytes());
    let text = format!(
        "{}\n[[jwt.trust.issuers]]\nissuer = \"{ISSUER}\"\njwks_file = \"{}\"\nalgorithms = [{algorithms}]\n",
        sample_config_text(),
        file.display()
    );
    write_temp(dir, "config.toml", text.as_bytes())
}

fn ec_key() -> (EncodingKey, Value) {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    let ec = openssl::pkey::PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let key = EncodingKey::from_ec_pem(&ec.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    (key, serde_json::to_value(jwk).unwrap())
}

fn token(key: &EncodingKey, kid: &str) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = claims_file("hospital-physician.json");
    claims.insert("iss".into(), json!(ISSUER));
    claims.insert("aud".into(), json!(xua_gateway::samples::SAMPLE_AUDIENCE));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 120));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[actix_web::test]
async fn keys_meant_for_encryption_never_verify_a_signature() {
    for (kid, marks) in [
        ("enc-key", json!({"use": "enc"})),
        ("encrypt-ops", json!({"key_ops": ["encrypt", "wrapKey"]})),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (enc_key, mut enc_jwk) = ec_key();
        enc_jwk["kid"] = json!(kid);
        enc_jwk
            .as_object_mut()
            .unwrap()
            .extend(marks.as_object().unwrap().clone());
        // A proper signing key beside it, so the set as a whole loads.
        let (sig_key, mut sig_jwk) = ec_key();
        sig_jwk["kid"] = json!("sig-key");
        sig_jwk["use"] = json!("sig");
        let path = config_with(
            dir.path(),
            &json!({"keys": [enc_jwk, sig_jwk]}),
            "\"ES256\"",
        );
        let app = spawn_app_with(LoadedConfig::from_file(&path).unwrap()).await;

        let before = app.records().len();
        let (status, body, xml) = app.exchange_jwt(&token(&enc_key, kid), &[]).await;
        assert_eq!(status, 400, "{kid}: {body}");
        assert_eq!(body["error_class"], "SIG", "{kid}: {body}");
        assert!(xml.is_none());
        assert_eq!(app.records().len(), before + 1);

        let (status, body, _) = app.exchange_jwt(&token(&sig_key, "sig-key"), &[]).await;
        assert_eq!(status, 200, "{kid}: the signing key still verifies: {body}");
    }
}

#[test]
fn an_rsa_key_with_exponent_one_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "e-is-one", "alg": "RS256", "use": "sig",
        "n": B64.encode(rsa.n().to_vec()), "e": B64.encode([1u8]),
    }]});
    let path = config_with(dir.path(), &jwks, "\"RS256\"");
    let err = Gateway::build(
        LoadedConfig::from_file(&path).unwrap(),
        xua_gateway::clock::system(),
        None,
    )
    .expect_err("a degenerate RSA key must stop start-up")
    .to_string();
    assert!(
        err.contains("e-is-one") && err.contains("exponent"),
        "{err}"
    );
}
