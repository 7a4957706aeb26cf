//! Starting the real gateway on a random port, and building inputs from the sample keys.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use xua_gateway::audit::{AuditRecord, MemorySink};
use xua_gateway::config::LoadedConfig;
use xua_gateway::http::Application;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::saml::dsig::SigningIdentity;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TT_SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
pub const TT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub audit: Arc<MemorySink>,
    pub gateway: Arc<Gateway>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The gateway on the embedded sample configuration, on 127.0.0.1 and a port the OS picks.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(LoadedConfig::embedded().expect("embedded config")).await
}

pub async fn spawn_app_with(mut loaded: LoadedConfig) -> TestApp {
    // The XML-DSig engine under test (XUA_VERIFIER=libxmlsec1|streaming), unless the test chose one.
    if loaded.config.saml.verifier.is_none() {
        loaded.config.saml.verifier = crate::engine::config_choice();
    }
    let audit = Arc::new(MemorySink::default());
    let gateway = Arc::new(
        Gateway::build(loaded, xua_gateway::clock::system(), Some(audit.clone()))
            .expect("gateway builds"),
    );
    let app = Application::build(gateway.clone(), "127.0.0.1:0", 1).expect("binds");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        audit,
        gateway,
    }
}

impl TestApp {
    pub async fn exchange_saml(&self, xml: &[u8], extra: &[(&str, &str)]) -> (u16, Value) {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", &token),
            ("requested_token_type", TT_JWT),
        ];
        form.extend_from_slice(extra);
        self.post_form(&form).await
    }

    pub async fn post_form(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.post_raw(&body).await
    }

    pub async fn post_raw(&self, body: &str) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/token", self.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn jwks(&self) -> String {
        self.client
            .get(format!("{}/.well-known/jwks.json", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn records(&self) -> Vec<AuditRecord> {
        self.audit.records()
    }
}

pub fn claims_file(name: &str) -> Map<String, Value> {
    let text = std::fs::read_to_string(repo().join("samples/claims").join(name)).unwrap();
    samples::parse_claims(&text).unwrap()
}

pub fn profiles() -> ProfileSet {
    ProfileSet::embedded("no-pjd").unwrap()
}

pub fn sample_idp() -> SigningIdentity {
    samples::sample_idp().unwrap()
}

/// A signed assertion for a claims file, valid from `now` for an hour unless `options` say otherwise.
pub fn mint(claims: &str, options: &MintOptions, issued: OffsetDateTime) -> Vec<u8> {
    samples::mint_assertion(
        profiles().default_profile(),
        &claims_file(claims),
        options,
        &sample_idp(),
        issued,
    )
    .unwrap()
}

pub fn mint_now(claims: &str) -> Vec<u8> {
    mint(claims, &MintOptions::default(), OffsetDateTime::now_utc())
}

pub fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

/// Decodes a JWT's payload without verifying (only for reading what a verified test token says).
pub fn payload(jwt: &str) -> Map<String, Value> {
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The claims a sample is expected to produce (samples/expected), without the time-dependent ones.
pub fn without_volatile(mut claims: Map<String, Value>) -> Map<String, Value> {
    for k in ["iat", "nbf", "exp", "jti"] {
        claims.remove(k);
    }
    claims
}

pub fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs a tool that CI installs; a missing tool fails the test (it would otherwise prove nothing).
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    out
}

/// The sample configuration with its key and register paths made absolute, so it can be edited and loaded
/// from anywhere.
pub fn sample_config_text() -> String {
    let keys = repo().join("samples/keys");
    let mut text = std::fs::read_to_string(repo().join("samples/config.toml"))
        .unwrap()
        .replace("\"keys/", &format!("\"{}/", keys.display()));
    for register in SAMPLE_REGISTERS {
        text = text.replace(
            &format!("file = \"{register}\""),
            &format!(
                "file = \"{}\"",
                repo().join("samples").join(register).display()
            ),
        );
    }
    text.replace("path = \"xua-gateway-audit.jsonl\"", "path = \"\"")
}

/// The register files the sample configuration names, relative to `samples/`.
pub const SAMPLE_REGISTERS: [&str; 3] = [
    "fastlege-register.toml",
    "hpr-register.toml",
    "block-register.toml",
];

/// Starts the gateway on a configuration text (written into `dir`, so relative paths resolve there).
pub async fn spawn_app_with_text(text: &str, dir: &Path) -> TestApp {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    spawn_app_with(LoadedConfig::from_file(&path).expect("test config")).await
}

impl TestApp {
    /// JWT → SAML over `/token`; returns the status and the body (with the assertion decoded on success).
    pub async fn exchange_jwt(
        &self,
        jwt: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value, Option<String>) {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_JWT),
            ("subject_token", jwt),
            ("requested_token_type", TT_SAML2),
        ];
        form.extend_from_slice(extra);
        let (status, body) = self.post_form(&form).await;
        let xml = body["access_token"].as_str().map(|t| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .expect("base64url without padding");
            String::from_utf8(bytes).unwrap()
        });
        (status, body, xml)
    }
}

pub fn mint_sample_jwt(claims: &str) -> String {
    xua_gateway::samples::mint_jwt(
        &claims_file(claims),
        &xua_gateway::samples::JwtMintOptions::default(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

/// A key and self-signed certificate that look like the sample IdP's (same subject) but are not trusted.
pub fn attacker_identity() -> SigningIdentity {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509};
    let rsa = Rsa::generate(2048).unwrap();
    let key = PKey::from_rsa(rsa).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "TEST-ONLY sample X-Assertion Provider")
        .unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = cert.build();
    SigningIdentity::from_pem(
        &key.private_key_to_pem_pkcs8().unwrap(),
        &cert.to_pem().unwrap(),
    )
    .unwrap()
}

/// Whether `xml` holds the empty element `name` in either spelling XML allows: `<a/>`, or `<a></a>` as the
/// gateway's direct signer writes it (the canonical form).
pub fn has_empty_element(xml: &str, name: &str) -> bool {
    xml.contains(&format!("<{name}/>")) || xml.contains(&format!("<{name}></{name}>"))
}
