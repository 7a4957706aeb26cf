//! Minting TEST-ONLY inputs: a fresh signed XUA assertion from a claims file, so a newcomer and a test event
//! always have a valid, unexpired token to start from.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::error::Rejection;
use crate::mapping::Profile;
use crate::saml::build::{self, AssertionSpec, AC_X509};
use crate::saml::dsig::{self, SigningIdentity};

pub const SAMPLE_IDP: &str = "https://idp.test.xua-gateway.example";
pub const SAMPLE_AUDIENCE: &str = "https://xua-gateway.test.example";
pub const SAMPLE_IDP_KEY: &[u8] = include_bytes!("../samples/keys/TEST-ONLY-idp.key.pem");
pub const SAMPLE_IDP_CERT: &[u8] = include_bytes!("../samples/keys/TEST-ONLY-idp.crt.pem");
pub const FASTLEGE_CLAIMS: &str = include_str!("../samples/claims/fastlege.json");

#[derive(Debug, Clone)]
pub struct MintOptions {
    pub issuer: String,
    pub audience: String,
    pub lifetime: Duration,
}

impl Default for MintOptions {
    fn default() -> Self {
        Self {
            issuer: SAMPLE_IDP.to_string(),
            audience: SAMPLE_AUDIENCE.to_string(),
            lifetime: Duration::minutes(60),
        }
    }
}

/// The TEST-ONLY sample X-Assertion Provider.
pub fn sample_idp() -> Result<SigningIdentity, Rejection> {
    SigningIdentity::from_pem(SAMPLE_IDP_KEY, SAMPLE_IDP_CERT)
}

/// Parses a claims file (a JSON object of HelseID-style claims).
pub fn parse_claims(text: &str) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::parse("the claims file must hold a JSON object")),
        Err(e) => Err(Rejection::parse(format!(
            "the claims file is not JSON: {e}"
        ))),
    }
}

/// Builds and signs an assertion carrying the model the claims describe, through the profile's tables.
pub fn mint_assertion(
    profile: &Profile,
    claims: &Map<String, Value>,
    options: &MintOptions,
    identity: &SigningIdentity,
    now: OffsetDateTime,
) -> Result<Vec<u8>, Rejection> {
    let context = profile.decode_claims(claims)?;
    let out = profile.encode_xua(&context)?;
    let name_id = out.name_id.as_deref().ok_or_else(|| {
        Rejection::claim("the claims name no practitioner identifier for the NameID")
    })?;
    let id = build::new_id();
    let spec = AssertionSpec {
        id: &id,
        issuer: &options.issuer,
        issue_instant: now,
        not_on_or_after: now.saturating_add(options.lifetime),
        audience: &options.audience,
        name_id,
        name_qualifier: out.name_qualifier.as_deref(),
        authn_instant: now,
        authn_context_class: AC_X509,
    };
    let unsigned = build::assertion(&spec, &out.attributes)?;
    dsig::sign_assertion(&unsigned, identity)
}

pub const SAMPLE_JWT_ISSUER: &str = "https://helseid-sts.test.xua-gateway.example";
pub const SAMPLE_JWT_KEY: &[u8] = include_bytes!("../samples/keys/TEST-ONLY-helseid-es256.key.pem");
const SAMPLE_JWKS: &str = include_str!("../samples/keys/TEST-ONLY-helseid.jwks.json");

#[derive(Debug, Clone)]
pub struct JwtMintOptions {
    pub issuer: String,
    pub audience: String,
    pub lifetime: Duration,
    /// Bind the token to this DPoP key thumbprint (`cnf.jkt`), as HelseID does for DPoP clients.
    pub cnf_jkt: Option<String>,
}

impl Default for JwtMintOptions {
    fn default() -> Self {
        Self {
            issuer: SAMPLE_JWT_ISSUER.to_string(),
            audience: SAMPLE_AUDIENCE.to_string(),
            lifetime: Duration::minutes(5),
            cnf_jkt: None,
        }
    }
}

/// Signs the claims as the TEST-ONLY sample HelseID-style issuer (ES256, `typ: at+jwt`), adding the
/// registered claims. Claims in the file win over nothing: registered names in it are refused.
pub fn mint_jwt(
    claims: &Map<String, Value>,
    options: &JwtMintOptions,
    now: OffsetDateTime,
) -> Result<String, Rejection> {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(SAMPLE_JWT_KEY)
        .map_err(|_| Rejection::internal("the sample JWT key cannot be read"))?;
    let jwks: Value = serde_json::from_str(SAMPLE_JWKS)
        .map_err(|_| Rejection::internal("the sample JWKS is broken"))?;
    let kid = jwks
        .pointer("/keys/0/kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".to_string());
    header.kid = kid;
    let mut all = claims.clone();
    for name in ["iss", "aud", "iat", "nbf", "exp", "jti", "sub", "cnf"] {
        if all.contains_key(name) {
            return Err(Rejection::claim(format!(
                "the claims file sets {name}; the sample issuer sets it"
            )));
        }
    }
    let iat = now.unix_timestamp();
    all.insert("iss".into(), Value::from(options.issuer.clone()));
    all.insert("aud".into(), Value::from(options.audience.clone()));
    all.insert("iat".into(), Value::from(iat));
    all.insert("nbf".into(), Value::from(iat));
    all.insert(
        "exp".into(),
        Value::from(now.saturating_add(options.lifetime).unix_timestamp()),
    );
    all.insert(
        "jti".into(),
        Value::from(uuid::Uuid::new_v4().simple().to_string()),
    );
    if let Some(jkt) = &options.cnf_jkt {
        all.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
    // HelseID's `sub` is a pairwise pseudonym, not the person's number.
    all.insert(
        "sub".into(),
        Value::from(format!("sample-{}", uuid::Uuid::new_v4().simple())),
    );
    jsonwebtoken::encode(&header, &all, &key)
        .map_err(|e| Rejection::internal(format!("cannot sign the sample JWT: {e}")))
}

pub const SAMPLE_CLIENT_ID: &str = "TEST-ONLY-sample-client";
pub const SAMPLE_CLIENT_KEY: &[u8] =
    include_bytes!("../samples/keys/TEST-ONLY-client-es256.key.pem");
const SAMPLE_CLIENT_JWKS: &str = include_str!("../samples/keys/TEST-ONLY-client.jwks.json");
pub const SAMPLE_DPOP_KEY: &[u8] = include_bytes!("../samples/keys/TEST-ONLY-dpop-es256.key.pem");

/// A fresh `private_key_jwt` client assertion (RFC 7523) for the TEST-ONLY sample client: `iss` = `sub` =
/// the client id, `aud` the gateway's issuer or token endpoint, a random `jti`, valid for `lifetime`.
pub fn mint_client_assertion(
    client_id: &str,
    audience: &str,
    lifetime: Duration,
    now: OffsetDateTime,
) -> Result<String, Rejection> {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(SAMPLE_CLIENT_KEY)
        .map_err(|_| Rejection::internal("the sample client key cannot be read"))?;
    let jwks: Value = serde_json::from_str(SAMPLE_CLIENT_JWKS)
        .map_err(|_| Rejection::internal("the sample client JWKS is broken"))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = jwks
        .pointer("/keys/0/kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let iat = now.unix_timestamp();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": iat,
        "exp": (now + lifetime).unix_timestamp(),
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    });
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Rejection::internal(format!("cannot sign the client assertion: {e}")))
}

fn sample_dpop_key() -> Result<(jsonwebtoken::EncodingKey, jsonwebtoken::jwk::Jwk), Rejection> {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(SAMPLE_DPOP_KEY)
        .map_err(|_| Rejection::internal("the sample DPoP key cannot be read"))?;
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256)
        .map_err(|_| Rejection::internal("the sample DPoP key has no public JWK"))?;
    Ok((key, jwk))
}

/// The RFC 7638 thumbprint of the TEST-ONLY sample DPoP key (what a token bound to it names in `cnf.jkt`).
pub fn sample_dpop_thumbprint() -> Result<String, Rejection> {
    let (_, jwk) = sample_dpop_key()?;
    jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .map_err(|_| Rejection::internal("the sample DPoP key has no thumbprint"))
}

/// A fresh DPoP proof (RFC 9449) signed with the TEST-ONLY sample DPoP key, for `htm` `htu`, with the
/// server's nonce when one is given.
pub fn mint_dpop_proof(
    htm: &str,
    htu: &str,
    nonce: Option<&str>,
    now: OffsetDateTime,
) -> Result<String, Rejection> {
    let (key, jwk) = sample_dpop_key()?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("dpop+jwt".to_string());
    header.jwk = Some(jwk);
    let mut claims = serde_json::json!({
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "htm": htm,
        "htu": htu,
        "iat": now.unix_timestamp(),
    });
    if let (Some(n), Some(map)) = (nonce, claims.as_object_mut()) {
        map.insert("nonce".into(), Value::from(n));
    }
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Rejection::internal(format!("cannot sign the DPoP proof: {e}")))
}
