//! The JWT items of the attack checklist (docs/attack-checklist.md, items 39–56), each built from a valid
//! token of the sample issuer and sent through `POST /token`: the right class, nothing issued, the token
//! not echoed, and one audit record. (Items 57 and 58, on what the gateway issues, are in `roundtrip`.)
//!
//! Where the gateway's class differs from the checklist's, the test says why.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use xua_gateway::model::Outcome;
use xua_gateway::samples;

use crate::helpers::*;

fn sample_kid() -> String {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("samples/keys/TEST-ONLY-helseid.jwks.json")).unwrap(),
    )
    .unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_string()
}

fn header() -> Map<String, Value> {
    let Value::Object(h) = json!({"alg": "ES256", "typ": "at+jwt", "kid": sample_kid()}) else {
        unreachable!()
    };
    h
}

fn claims() -> Map<String, Value> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut c = claims_file("fastlege.json");
    c.insert("iss".into(), json!(samples::SAMPLE_JWT_ISSUER));
    c.insert("aud".into(), json!(samples::SAMPLE_AUDIENCE));
    c.insert("iat".into(), json!(now));
    c.insert("nbf".into(), json!(now));
    c.insert("exp".into(), json!(now + 120));
    c.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    c
}

fn es256(message: &str) -> String {
    let key = EncodingKey::from_ec_pem(samples::SAMPLE_JWT_KEY).unwrap();
    jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::ES256).unwrap()
}

/// A token from raw header and payload bytes, signed with the sample issuer's real key.
fn signed_raw(header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = es256(&message);
    format!("{message}.{sig}")
}

fn signed(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    signed_raw(
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
    )
}

async fn expect(app: &TestApp, token: &str, class: &str, message_part: &str) {
    let before = app.records().len();
    let (status, body, xml) = app.exchange_jwt(token, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_class"], class, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(message_part),
        "expected {message_part:?} in {description:?}"
    );
    assert!(xml.is_none());
    let text = body.to_string();
    for segment in token.split('.').filter(|s| s.len() > 16) {
        assert!(!text.contains(segment), "the response echoes the token");
    }
    // Neither the practitioner nor the patient of the sample claims.
    assert!(!text.contains("12837034688"));
    assert!(!text.contains("21868534521"));
    let records = app.records();
    assert_eq!(records.len(), before + 1);
    assert_eq!(records.last().unwrap().outcome, Outcome::Rejected);
}

#[actix_web::test]
async fn the_valid_base_token_is_accepted() {
    let app = spawn_app().await;
    let (status, body, _) = app.exchange_jwt(&signed(&header(), &claims()), &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn sec_39_alg_none_in_any_case() {
    let app = spawn_app().await;
    for none in ["none", "None", "NONE"] {
        let mut h = header();
        h.insert("alg".into(), json!(none));
        let token = format!(
            "{}.{}.",
            B64.encode(serde_json::to_vec(&h).unwrap()),
            B64.encode(serde_json::to_vec(&claims()).unwrap())
        );
        expect(&app, &token, "FORBIDDEN", "alg \"none\" is never accepted").await;
    }
}

#[actix_web::test]
async fn sec_40_hs256_keyed_with_the_issuers_public_key() {
    let app = spawn_app().await;
    let public_pem =
        std::fs::read(repo().join("samples/keys/TEST-ONLY-helseid-es256.pub.pem")).unwrap();
    let jwks = std::fs::read(repo().join("samples/keys/TEST-ONLY-helseid.jwks.json")).unwrap();
    let jwks_json: Value = serde_json::from_slice(&jwks).unwrap();
    let one_jwk = serde_json::to_vec(&jwks_json["keys"][0]).unwrap();
    let ssh = ssh_public_key(&public_pem);
    for secret in [public_pem, jwks, one_jwk, ssh] {
        let mut h = header();
        h.insert("alg".into(), json!("HS256"));
        let token = jsonwebtoken::encode(
            &serde_json::from_value(Value::Object(h)).unwrap(),
            &claims(),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        expect(&app, &token, "SIG", "alg HS256 is a MAC").await;
    }
}

/// The issuer's public key in OpenSSH's one-line format (PyJWT CVE-2022-29217 used SSH keys as HMAC secrets).
fn ssh_public_key(pem: &[u8]) -> Vec<u8> {
    let key = openssl::ec::EcKey::public_key_from_pem(pem).unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let point = key
        .public_key()
        .to_bytes(
            key.group(),
            openssl::ec::PointConversionForm::UNCOMPRESSED,
            &mut ctx,
        )
        .unwrap();
    let mut wire = Vec::new();
    for part in [
        b"ecdsa-sha2-nistp256".as_slice(),
        b"nistp256".as_slice(),
        point.as_slice(),
    ] {
        wire.extend_from_slice(&(part.len() as u32).to_be_bytes());
        wire.extend_from_slice(part);
    }
    let standard = base64::engine::general_purpose::STANDARD.encode(wire);
    format!("ecdsa-sha2-nistp256 {standard} issuer@helseid").into_bytes()
}

#[actix_web::test]
async fn sec_41_algorithm_differing_from_the_keys() {
    let app = spawn_app().await;
    let mut h = header();
    h.insert("alg".into(), json!("RS256"));
    expect(
        &app,
        &signed(&h, &claims()),
        "SIG",
        "not the one its key is bound to",
    )
    .await;
}

#[actix_web::test]
async fn sec_42_psychic_and_der_ecdsa_signatures() {
    let app = spawn_app().await;
    let message = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header()).unwrap()),
        B64.encode(serde_json::to_vec(&claims()).unwrap())
    );
    // r = s = 0
    expect(
        &app,
        &format!("{message}.{}", B64.encode([0u8; 64])),
        "SIG",
        "does not verify",
    )
    .await;
    // r = s = n (the group order)
    let n =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    let rs: Vec<u8> = n.iter().chain(n.iter()).copied().collect();
    expect(
        &app,
        &format!("{message}.{}", B64.encode(rs)),
        "SIG",
        "does not verify",
    )
    .await;
    // A real signature in DER form instead of raw r‖s.
    let raw = B64.decode(es256(&message)).unwrap();
    let r = openssl::bn::BigNum::from_slice(&raw[..32]).unwrap();
    let s = openssl::bn::BigNum::from_slice(&raw[32..]).unwrap();
    let der = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .unwrap()
        .to_der()
        .unwrap();
    expect(&app, &format!("{message}.{}", B64.encode(der)), "SIG", "").await;
}

#[actix_web::test]
async fn sec_43_header_supplied_keys_are_never_used() {
    let app = spawn_app().await;
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"});
    for (name, value) in [
        ("jwk", jwk),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut h = header();
        h.insert(name.into(), value);
        expect(
            &app,
            &signed(&h, &claims()),
            "FORBIDDEN",
            &format!("carries {name}"),
        )
        .await;
    }
}

#[actix_web::test]
async fn sec_44_kid_injection_and_unknown_kid() {
    let app = spawn_app().await;
    for kid in [
        "../../dev/null".to_string(),
        "x' OR '1'='1".to_string(),
        "nope".to_string(),
    ] {
        let mut h = header();
        h.insert("kid".into(), json!(kid));
        expect(&app, &signed(&h, &claims()), "SIG", "kid names no key").await;
    }
    let mut h = header();
    h.insert("kid".into(), json!("k".repeat(300)));
    expect(&app, &signed(&h, &claims()), "SIG", "at most 256").await;
    // A 10 KB kid makes the whole token larger than 8 KB: the size limit refuses it (LIMIT) before the
    // header is even decoded, which is earlier and more specific than the checklist's SIG.
    let mut h = header();
    h.insert("kid".into(), json!("k".repeat(10 * 1024)));
    expect(&app, &signed(&h, &claims()), "LIMIT", "longer than").await;
}

#[actix_web::test]
async fn sec_45_unknown_crit() {
    let app = spawn_app().await;
    let mut h = header();
    h.insert(
        "crit".into(),
        json!(["http://attacker.example/must-understand"]),
    );
    h.insert(
        "http://attacker.example/must-understand".into(),
        json!(true),
    );
    expect(&app, &signed(&h, &claims()), "FORBIDDEN", "crit").await;
}

#[actix_web::test]
async fn sec_46_missing_or_out_of_window_times() {
    let app = spawn_app().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut c = claims();
    c.remove("exp");
    expect(&app, &signed(&header(), &c), "CLAIM", "has no exp").await;
    let mut c = claims();
    c.insert("exp".into(), json!(now - 600));
    c.insert("iat".into(), json!(now - 900));
    c.insert("nbf".into(), json!(now - 900));
    expect(&app, &signed(&header(), &c), "TIME", "expired at").await;
    let mut c = claims();
    c.insert("nbf".into(), json!(now + 600));
    c.insert("exp".into(), json!(now + 900));
    expect(&app, &signed(&header(), &c), "TIME", "not valid before").await;
    let mut c = claims();
    c.insert("iat".into(), json!(now + 600));
    c.insert("exp".into(), json!(now + 900));
    c.remove("nbf");
    expect(&app, &signed(&header(), &c), "TIME", "issued in the future").await;
    let mut c = claims();
    c.insert("exp".into(), json!(now + 2 * 3600));
    expect(
        &app,
        &signed(&header(), &c),
        "CLAIM",
        "longer than the accepted",
    )
    .await;
}

#[actix_web::test]
async fn sec_47_wrong_json_types_for_registered_claims() {
    let app = spawn_app().await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for exp in [
        json!((now + 60).to_string()),
        json!(now as f64 + 60.5),
        json!(-1),
    ] {
        let mut c = claims();
        c.insert("exp".into(), exp);
        expect(&app, &signed(&header(), &c), "CLAIM", "claim exp").await;
    }
    // 1e400 and NaN cannot be read as a JSON number at all here (not finite / not JSON), so they are PARSE
    // rather than the checklist's CLAIM: the payload is refused before any claim is looked at.
    let nan = serde_json::to_string(&claims()).unwrap().replacen(
        "\"exp\":",
        "\"exp\":NaN,\"exp_was\":",
        1,
    );
    expect(
        &app,
        &signed_raw(&serde_json::to_vec(&header()).unwrap(), nan.as_bytes()),
        "PARSE",
        "not valid UTF-8 JSON",
    )
    .await;
    let raw = serde_json::to_string(&claims()).unwrap().replacen(
        "\"exp\":",
        "\"exp\":1e400,\"exp_was\":",
        1,
    );
    expect(
        &app,
        &signed_raw(&serde_json::to_vec(&header()).unwrap(), raw.as_bytes()),
        "PARSE",
        "not valid UTF-8 JSON",
    )
    .await;
    let mut c = claims();
    c.insert("aud".into(), json!({"aud": samples::SAMPLE_AUDIENCE}));
    expect(&app, &signed(&header(), &c), "CLAIM", "claim aud must be").await;
}

#[actix_web::test]
async fn sec_48_audience_and_issuer() {
    let app = spawn_app().await;
    let mut c = claims();
    c.remove("aud");
    expect(&app, &signed(&header(), &c), "AUD", "has no aud").await;
    let mut c = claims();
    c.insert("aud".into(), json!(["https://someone-else.example"]));
    expect(&app, &signed(&header(), &c), "AUD", "another audience").await;
    let mut c = claims();
    c.insert("iss".into(), json!("https://evil.example"));
    expect(
        &app,
        &signed(&header(), &c),
        "ISS",
        "issuer https://evil.example is not trusted",
    )
    .await;
    let mut c = claims();
    c.remove("iss");
    expect(&app, &signed(&header(), &c), "ISS", "has no iss").await;

    // A key from another trusted issuer's JWKS, in a token that claims to come from the sample issuer: keys
    // are looked up in the named issuer's own set only, so the kid finds nothing there. SIG ("made with an
    // untrusted key") rather than the checklist's ISS: the issuer is trusted, the key is not its key.
    let dir = tempfile::tempdir().unwrap();
    let other = other_issuer(dir.path());
    let app = spawn_app_with_text(&other.config, dir.path()).await;
    let mut h = header();
    h.insert("kid".into(), json!(other.kid));
    let message = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&h).unwrap()),
        B64.encode(serde_json::to_vec(&claims()).unwrap())
    );
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &other.key, Algorithm::ES256).unwrap();
    expect(
        &app,
        &format!("{message}.{sig}"),
        "SIG",
        "kid names no key of its issuer",
    )
    .await;
}

struct OtherIssuer {
    key: EncodingKey,
    kid: String,
    config: String,
}

/// A second trusted issuer with its own ES256 key and JWKS file.
fn other_issuer(dir: &std::path::Path) -> OtherIssuer {
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    let ec = openssl::pkey::PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let key = EncodingKey::from_ec_pem(&ec.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    let kid = "other-issuer-key-1".to_string();
    jwk.common.key_id = Some(kid.clone());
    let set = jsonwebtoken::jwk::JwkSet { keys: vec![jwk] };
    let jwks = write_temp(
        dir,
        "other.jwks.json",
        serde_json::to_string(&set).unwrap().as_bytes(),
    );
    let config = format!(
        "{}\n[[jwt.trust.issuers]]\nissuer = \"https://other-sts.test.example\"\njwks_file = \"{}\"\nalgorithms = [\"ES256\"]\n",
        sample_config_text(),
        jwks.display()
    );
    OtherIssuer { key, kid, config }
}

#[actix_web::test]
async fn sec_49_wrong_typ_and_id_tokens() {
    let app = spawn_app().await;
    let mut h = header();
    h.insert("typ".into(), json!("JWT"));
    expect(
        &app,
        &signed(&h, &claims()),
        "CLAIM",
        "not an accepted token type",
    )
    .await;
    let mut c = claims();
    c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
    expect(&app, &signed(&header(), &c), "CLAIM", "ID token").await;
    // The gateway's own output fed back in. It is typed at+jwt, so it is refused by who issued it (ISS:
    // the gateway is not one of its own trusted input issuers) rather than by its type.
    let xml = mint_now("fastlege.json");
    let (_, body) = app.exchange_saml(&xml, &[]).await;
    let own = body["access_token"].as_str().unwrap().to_string();
    expect(&app, &own, "ISS", "is not trusted").await;
}

#[actix_web::test]
async fn sec_50_duplicate_members() {
    let app = spawn_app().await;
    let body = serde_json::to_string(&claims()).unwrap();
    let dup = body.replacen('{', "{\"sub\":\"alice\",\"sub\":\"admin\",", 1);
    expect(
        &app,
        &signed_raw(&serde_json::to_vec(&header()).unwrap(), dup.as_bytes()),
        "PARSE",
        "repeats the member \"sub\"",
    )
    .await;
    let h = serde_json::to_string(&header())
        .unwrap()
        .replacen('{', "{\"alg\":\"none\",", 1);
    expect(
        &app,
        &signed_raw(h.as_bytes(), body.as_bytes()),
        "PARSE",
        "header repeats the member \"alg\"",
    )
    .await;
}

#[actix_web::test]
async fn sec_51_other_serialisations_and_extra_segments() {
    let app = spawn_app().await;
    let token = signed(&header(), &claims());
    expect(&app, &format!("{token}.x"), "PARSE", "exactly three parts").await;
    expect(&app, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "PARSE", "JWE").await;
    let parts: Vec<&str> = token.split('.').collect();
    let json =
        json!({"payload": parts[1], "protected": parts[0], "signature": parts[2]}).to_string();
    expect(&app, &json, "PARSE", "exactly three parts").await;
    // CVE-2022-39227: a JSON document that also holds a compact token, to make two parsers disagree.
    let polyglot = json!({
        format!("{}.{}.", parts[0], parts[1]): "",
        "protected": parts[0],
        "payload": B64.encode(br#"{"sub":"admin"}"#),
        "signature": parts[2],
    })
    .to_string();
    expect(&app, &polyglot, "PARSE", "JSON-serialised JWS").await;
}

#[actix_web::test]
async fn sec_52_non_canonical_base64url() {
    let app = spawn_app().await;
    let token = signed(&header(), &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let with = |i: usize, s: String| {
        let mut p: Vec<String> = parts.iter().map(|x| x.to_string()).collect();
        p[i] = s;
        p.join(".")
    };
    expect(
        &app,
        &with(2, format!("{}==", parts[2])),
        "PARSE",
        "canonical base64url",
    )
    .await;
    expect(
        &app,
        &with(1, parts[1].replace('-', "+").replace('_', "/") + "+"),
        "PARSE",
        "canonical base64url",
    )
    .await;
    expect(
        &app,
        &with(1, format!("{} ", &parts[1][..10]) + &parts[1][10..]),
        "PARSE",
        "canonical base64url",
    )
    .await;
    // A last character whose unused low bits are set decodes to the same bytes in lax decoders.
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let sloppy = alphabet.chars().nth(index | 0b11).unwrap();
    if sloppy != last {
        expect(
            &app,
            &with(2, format!("{}{sloppy}", &sig[..sig.len() - 1])),
            "PARSE",
            "canonical base64url",
        )
        .await;
    }
}

#[actix_web::test]
async fn sec_53_oversized_and_many_dots() {
    let app = spawn_app().await;
    let mut c = claims();
    c.insert("padding".into(), json!("x".repeat(9000)));
    expect(
        &app,
        &signed(&header(), &c),
        "LIMIT",
        "longer than 8192 bytes",
    )
    .await;
    // Many dots are never split: under 8 KB the count alone refuses them, over 8 KB the size does.
    expect(&app, &".".repeat(5000), "PARSE", "exactly three parts").await;
    expect(&app, &".".repeat(9000), "LIMIT", "longer than 8192 bytes").await;
}

#[actix_web::test]
async fn sec_54_jwe_compression_and_pbes2() {
    let app = spawn_app().await;
    let mut h = header();
    h.insert("zip".into(), json!("DEF"));
    expect(&app, &signed(&h, &claims()), "FORBIDDEN", "compressed").await;
    let h =
        json!({"alg": "PBES2-HS256+A128KW", "p2c": 2147483647u64, "p2s": "AAAA", "enc": "A128GCM"});
    let token = format!(
        "{}.{}.",
        B64.encode(h.to_string()),
        B64.encode(serde_json::to_vec(&claims()).unwrap())
    );
    expect(&app, &token, "FORBIDDEN", "not supported").await;
}

#[actix_web::test]
async fn sec_55_invalid_utf8_and_deep_nesting() {
    let app = spawn_app().await;
    let h = serde_json::to_vec(&header()).unwrap();
    let mut body = serde_json::to_vec(&claims()).unwrap();
    let at = body.len() - 1;
    body.splice(at..at, b",\"x\":\"\xff\xfe\"".iter().copied());
    expect(&app, &signed_raw(&h, &body), "PARSE", "UTF-8 JSON").await;
    let lone = serde_json::to_string(&claims())
        .unwrap()
        .replacen('{', "{\"x\":\"\\ud800\",", 1);
    expect(
        &app,
        &signed_raw(&h, lone.as_bytes()),
        "PARSE",
        "UTF-8 JSON",
    )
    .await;
    let deep = serde_json::to_string(&claims()).unwrap().replacen(
        '{',
        &format!("{{\"x\":{}1{},", "[".repeat(500), "]".repeat(500)),
        1,
    );
    expect(
        &app,
        &signed_raw(&h, deep.as_bytes()),
        "LIMIT",
        "nests too deep",
    )
    .await;
}

#[actix_web::test]
async fn sec_56_jti_reused_within_its_lifetime() {
    let app = spawn_app().await;
    let token = signed(&header(), &claims());
    let (status, body, _) = app.exchange_jwt(&token, &[]).await;
    assert_eq!(status, 200, "{body}");
    expect(&app, &token, "REPLAY", "already exchanged").await;
    // Another token (new iat, new signature) that reuses the jti is the same token to the cache.
    let mut again = claims();
    let first: Value =
        serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    again.insert("jti".into(), first["jti"].clone());
    again.insert("iat".into(), json!(first["iat"].as_i64().unwrap() - 1));
    expect(
        &app,
        &signed(&header(), &again),
        "REPLAY",
        "already exchanged",
    )
    .await;
    // Without a jti, the signed bytes name the token; a fresh ECDSA signature over them changes nothing.
    let mut anonymous = claims();
    anonymous.remove("jti");
    let h = serde_json::to_vec(&header()).unwrap();
    let p = serde_json::to_vec(&anonymous).unwrap();
    let (status, body, _) = app.exchange_jwt(&signed_raw(&h, &p), &[]).await;
    assert_eq!(status, 200, "{body}");
    expect(&app, &signed_raw(&h, &p), "REPLAY", "already exchanged").await;

    // With `[replay] jwt = false` (HelseID clients that reuse an access token), the same JWT is exchanged
    // again.
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_text().replacen("\njwt = true\n", "\njwt = false\n", 1);
    assert!(text.contains("\njwt = false\n"));
    let lax = spawn_app_with_text(&text, dir.path()).await;
    let token = signed(&header(), &claims());
    for _ in 0..2 {
        let (status, body, _) = lax.exchange_jwt(&token, &[]).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[actix_web::test]
async fn tampered_payload_is_sig() {
    let app = spawn_app().await;
    let token = signed(&header(), &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut c = claims();
    c.insert("helseid://claims/identity/pid".into(), json!("30817534585"));
    parts[1] = B64.encode(serde_json::to_vec(&c).unwrap());
    expect(&app, &parts.join("."), "SIG", "does not verify").await;
}
