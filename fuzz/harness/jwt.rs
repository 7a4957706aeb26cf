//! The JWT decode path: `jwt::verify` (size, shape, strict base64url and JSON, header, key, signature,
//! times, audience) with the sample issuer's JWKS as the one trust, a fixed clock, then the profiles'
//! `decode_claims`.
//!
//! The first input byte picks a mode:
//! * 0 — the rest is the compact token, as sent;
//! * 1 — the rest is the payload segment's bytes, signed with the sample issuer's key under a valid header,
//!   so that everything after the signature is reached with arbitrary (even invalid) JSON;
//! * 2 — the rest is parsed as a JSON object, given valid registered claims, signed and verified: it must
//!   be accepted (unless it is an ID token), and the verified claims must be exactly what was signed.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};
use xua_gateway::error::ErrorClass;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::jwt::keys::{bind_keys, KeySource};
use xua_gateway::jwt::{self, JwtLimits, JwtPolicy, JwtTrust, TrustedIssuer};
use xua_gateway::mapping::ProfileSet;
use xua_gateway::samples;

/// 2026-11-24T00:00:00Z.
const NOW: i64 = 1_795_478_400;
const JWKS: &str = include_str!("../../samples/keys/TEST-ONLY-helseid.jwks.json");

struct Fixture {
    trust: JwtTrust,
    policy: JwtPolicy,
    profiles: ProfileSet,
    key: EncodingKey,
    header: String,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(JWKS).expect("sample JWKS");
        let algorithms = vec![Algorithm::ES256, Algorithm::RS256, Algorithm::PS256];
        let (keys, _) = bind_keys(&set, &algorithms).expect("the sample JWKS is sound");
        let mut trust = JwtTrust::default();
        trust.add(TrustedIssuer {
            issuer: samples::SAMPLE_JWT_ISSUER.to_string(),
            algorithms,
            keys: KeySource::Static(keys),
        });
        let kid = set.keys[0].common.key_id.clone().expect("a kid");
        let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}).to_string();
        Fixture {
            trust,
            policy: JwtPolicy {
                audiences: vec![samples::SAMPLE_AUDIENCE.to_string()],
                types: vec!["at+jwt".to_string()],
                skew: Duration::seconds(60),
                // Long enough for seeds minted with a long lifetime before NOW.
                max_lifetime: Duration::days(365 * 30),
                limits: JwtLimits::default(),
            },
            profiles: ProfileSet::embedded("no-pjd").expect("profiles"),
            key: EncodingKey::from_ec_pem(samples::SAMPLE_JWT_KEY).expect("sample key"),
            header,
            now: OffsetDateTime::from_unix_timestamp(NOW).expect("a time"),
        }
    })
}

fn sign_payload(payload: &[u8]) -> String {
    let f = fixture();
    let message = format!("{}.{}", B64.encode(&f.header), B64.encode(payload));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &f.key, Algorithm::ES256).expect("signs");
    format!("{message}.{signature}")
}

/// Verifies; on success decodes with every profile (which must not panic) and returns the claims.
fn run(token: &str) -> Result<Map<String, Value>, xua_gateway::error::Rejection> {
    let f = fixture();
    let verified = jwt::verify(token, &f.trust, &f.policy, f.now)?;
    // What was verified is what the token's payload says, parsed strictly once more.
    let payload = token.trim().split('.').nth(1).expect("three parts");
    let reparsed = xua_gateway::jwt::json::parse_object(&B64.decode(payload).expect("base64url"))
        .expect("the payload parsed once already");
    assert_eq!(verified.claims(), &reparsed);
    for name in ["no-pjd", "ihe-iua"] {
        let _ = f
            .profiles
            .get(name)
            .expect("profile")
            .decode_claims_unverified(verified.claims());
    }
    Ok(verified.claims().clone())
}

/// One fuzz input: the first byte picks the mode (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = run(&String::from_utf8_lossy(rest));
        }
        1 => {
            let _ = run(&sign_payload(rest));
        }
        _ => {
            let Ok(mut claims) = xua_gateway::jwt::json::parse_object(rest) else {
                return;
            };
            let now = NOW;
            claims.insert("iss".into(), json!(samples::SAMPLE_JWT_ISSUER));
            claims.insert("aud".into(), json!(samples::SAMPLE_AUDIENCE));
            claims.insert("iat".into(), json!(now - 10));
            claims.insert("exp".into(), json!(now + 300));
            claims.remove("nbf");
            for name in ["jti", "sub"] {
                if claims.get(name).is_some_and(|v| !v.is_string()) {
                    claims.remove(name);
                }
            }
            let payload = serde_json::to_vec(&claims).expect("serialises");
            let id_token = claims.contains_key("nonce") || claims.contains_key("at_hash");
            match run(&sign_payload(&payload)) {
                Ok(verified) => {
                    assert!(!id_token, "an ID token was accepted");
                    assert_eq!(
                        verified, claims,
                        "the verified claims are not what was signed"
                    );
                }
                Err(e) if e.class == ErrorClass::Limit => {}
                Err(e) if id_token && e.class == ErrorClass::Claim => {}
                Err(e) => {
                    panic!("a validly signed token with valid registered claims was refused: {e}")
                }
            }
        }
    }
}
