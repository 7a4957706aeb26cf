//! What the client-authentication, DPoP, delegation and TLS tests share: keys and certificates made with the
//! openssl CLI, JWTs signed by PyJWT (`tests/support/jose.py`), and a gateway whose configured public URL is
//! the address it really listens on (a proof's `htu` and an assertion's `aud` name it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use xua_gateway::audit::{AuditRecord, MemorySink};
use xua_gateway::config::LoadedConfig;
use xua_gateway::http::Application;
use xua_gateway::startup::Gateway;

use crate::helpers::*;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const SAMPLE_CLIENT: &str = "TEST-ONLY-sample-client";
pub const SAMPLE_CLIENT_KID: &str = "FuhjQTuQYrRfe7BR7yhHPZvsPdpaYGz50_Zx6OsvBgk";
pub const ENTITY_ID: &str = "https://xua-gateway.test.example";

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn sample_client_key() -> PathBuf {
    repo().join("samples/keys/TEST-ONLY-client-es256.key.pem")
}

/// Runs the openssl CLI in `dir`; a failure fails the test.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh P-256 key (PKCS#8 PEM) made by the openssl CLI.
pub fn ec_key(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
    dir.join(name)
}

fn python(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("python3")
        .arg(repo().join("tests/support/jose.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "jose.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A JWS signed by PyJWT as the spec says (see `tests/support/jose.py`).
pub fn jose_sign(spec: Value) -> String {
    python(&["sign"], Some(&spec.to_string()))
}

/// The RFC 7638 thumbprint of a key's public JWK, computed by Python from the RFC's rules.
pub fn thumbprint(key: &Path) -> String {
    python(&["thumbprint", key.to_str().unwrap()], None)
}

/// A key's public JWK (with `kid` and `alg`), as Python writes it.
pub fn public_jwk(key: &Path, kid: &str) -> Value {
    serde_json::from_str(&python(&["jwk", key.to_str().unwrap(), kid, "ES256"], None)).unwrap()
}

/// The `x5t#S256` of a certificate, computed by Python.
pub fn x5t(cert: &Path) -> String {
    python(&["x5t", cert.to_str().unwrap()], None)
}

/// A client assertion signed by PyJWT; `payload` entries override the defaults (null removes one).
pub fn client_assertion(key: &Path, kid: &str, client: &str, aud: &str, payload: Value) -> String {
    let mut claims = json!({
        "iss": client, "sub": client, "aud": aud,
        "iat": now(), "exp": now() + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    merge(&mut claims, payload);
    jose_sign(json!({"alg": "ES256", "key": key, "headers": {"kid": kid}, "payload": claims}))
}

/// A DPoP proof signed by PyJWT with `key`, its public JWK in the header; `spec` entries override the
/// defaults (`payload` merged, null removes a claim).
pub fn dpop_proof(key: &Path, htu: &str, spec: Value) -> String {
    let mut payload = json!({
        "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": htu, "iat": now(),
    });
    merge(
        &mut payload,
        spec.get("payload").cloned().unwrap_or(json!({})),
    );
    let mut full = json!({
        "alg": "ES256", "key": key, "jwk": "public",
        "headers": {"typ": "dpop+jwt"}, "payload": payload,
    });
    if let Value::Object(over) = spec {
        for (k, v) in over {
            if k != "payload" {
                full[k] = v;
            }
        }
    }
    jose_sign(full)
}

fn merge(into: &mut Value, over: Value) {
    if let (Value::Object(into), Value::Object(over)) = (into, over) {
        for (k, v) in over {
            if v.is_null() {
                into.remove(&k);
            } else {
                into.insert(k, v);
            }
        }
    }
}

/// The sample configuration (absolute paths) with its public URL set to `base`.
pub fn config_at(base: &str) -> String {
    sample_config_text().replace(
        "public_url = \"http://127.0.0.1:8080\"",
        &format!("public_url = \"{base}\""),
    )
}

/// Starts the gateway on a port bound first, so that `config(base)` can name its own URL.
pub async fn spawn_at(dir: &Path, scheme: &str, config: impl FnOnce(&str) -> String) -> TestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "{scheme}://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, config(&base)).unwrap();
    let audit = Arc::new(MemorySink::default());
    let gateway = Arc::new(
        Gateway::build(
            LoadedConfig::from_file(&path).expect("test config"),
            xua_gateway::clock::system(),
            Some(audit.clone()),
        )
        .expect("gateway builds"),
    );
    let app = Application::build_on(gateway.clone(), listener, 1).expect("serves");
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: base,
        client: reqwest::Client::new(),
        audit,
        gateway,
    }
}

/// The subject-token parameters of a SAML → JWT exchange of a fresh sample assertion.
pub fn saml_subject(claims: &str) -> Vec<(String, String)> {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now(claims));
    vec![
        ("grant_type".into(), TOKEN_EXCHANGE.into()),
        ("subject_token_type".into(), TT_SAML2.into()),
        ("subject_token".into(), token),
        ("requested_token_type".into(), TT_JWT.into()),
    ]
}

/// The subject-token parameters of a JWT → SAML exchange.
pub fn jwt_subject(jwt: &str) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), TOKEN_EXCHANGE.into()),
        ("subject_token_type".into(), TT_JWT.into()),
        ("subject_token".into(), jwt.into()),
        ("requested_token_type".into(), TT_SAML2.into()),
    ]
}

pub fn with(mut form: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    form
}

/// The answer of `/token` over plain HTTP.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// A refusal: this status and error code, and no token anywhere in the answer.
    pub fn refused(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.error(), error, "{}", self.body);
        assert!(self.body.get("access_token").is_none(), "{}", self.body);
    }
}

pub async fn post_token(
    app: &TestApp,
    form: &[(String, String)],
    headers: &[(&str, &str)],
) -> Answer {
    // A connection of its own: between these requests the tests run Python and openssl, long enough for the
    // server to close an idle pooled connection just as it is reused.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut req = client
        .post(format!("{}/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The last access-log record.
pub fn last_record(app: &TestApp) -> AuditRecord {
    app.records().pop().expect("an access-log record")
}

/// Verifies an issued JWT with PyJWT against the gateway's published JWKS; returns its payload.
pub async fn verified_by_pyjwt(app: &TestApp, jwt: &str, audience: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write_temp(dir.path(), "jwks.json", app.jwks().await.as_bytes());
    let token = write_temp(dir.path(), "token.jwt", jwt.as_bytes());
    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/verify_jwt.py"))
        .arg(&jwks)
        .arg(&token)
        .arg(audience)
        .arg(ENTITY_ID));
    assert!(
        out.status.success(),
        "PyJWT rejects the issued JWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    seen["payload"].clone()
}
