//! The gateway's own TLS listener: certificates made with the openssl CLI at test time, requests from
//! Python's ssl. Mutual-TLS client authentication (RFC 8705 §2), certificate-bound tokens both ways (§3),
//! discovery, and where the gateway refuses to listen at all.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::oauth::*;

const LAB_DN: &str = "/C=NO/O=Test Hospital/CN=lab-client";

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "subjectAltName=DNS:lab.test.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for (ca, cn) in [("ca", "Test Client CA"), ("rogue-ca", "Rogue CA")] {
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            let subj = format!("/CN={cn}");
            let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
            args.extend(["-keyout", &key, "-out", &crt, "-subj", &subj, "-days", "2"]);
            openssl(d, &args);
        }
        let leaf = |name: &str, subj: &str, ca: &str, ext: &str| {
            let (key, csr, crt) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
            );
            let mut args = vec!["req"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", subj]);
            openssl(d, &args);
            let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_crt,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &crt,
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                ],
            );
        };
        leaf("server", "/CN=127.0.0.1", "ca", "server.ext");
        leaf("lab", LAB_DN, "ca", "client.ext");
        // The same subject, from a CA the gateway does not trust.
        leaf("impostor", LAB_DN, "rogue-ca", "client.ext");
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "kiosk.key",
            "-out",
            "kiosk.crt",
            "-subj",
            "/CN=kiosk",
            "-days",
            "2",
        ]);
        openssl(d, &args);
        Self { dir }
    }

    fn config(&self, base: &str) -> String {
        let p = |n: &str| self.path(n).display().to_string();
        format!(
            r#"{}
[server.tls]
certificate = "{}"
key = "{}"
client_ca = ["{}"]

[[clients]]
id = "lab"
auth = "tls_client_auth"
tls_client_auth_subject_dn = "CN=lab-client,O=Test Hospital,C=NO"
subject_issuers = ["*"]
directions = ["saml-to-jwt", "jwt-to-saml"]
profiles = ["*"]
audiences = ["*"]

[[clients]]
id = "kiosk"
auth = "self_signed_tls_client_auth"
certificates = ["{}"]
subject_issuers = ["*"]
directions = ["saml-to-jwt"]
profiles = ["*"]
audiences = ["*"]
"#,
            config_at(base),
            p("server.crt"),
            p("server.key"),
            p("ca.crt"),
            p("kiosk.crt")
        )
    }

    /// One request over TLS, with the client certificate `who` (`None`: no certificate). Python runs on the
    /// blocking pool so that the test's runtime keeps serving (it starts the server, too).
    async fn request(
        &self,
        url: &str,
        who: Option<&str>,
        form: Option<&[(String, String)]>,
        headers: Value,
    ) -> Value {
        let mut spec = json!({"url": url, "ca": self.path("ca.crt"), "headers": headers,
            "method": if form.is_some() { "POST" } else { "GET" }});
        if let Some(who) = who {
            spec["cert"] = json!(self.path(&format!("{who}.crt")));
            spec["key"] = json!(self.path(&format!("{who}.key")));
        }
        if let Some(form) = form {
            spec["form"] = json!(form);
        }
        let file = self
            .dir
            .path()
            .join(format!("request-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, spec.to_string()).unwrap();
        let out = actix_web::rt::task::spawn_blocking(move || {
            run(Command::new("python3")
                .arg(repo().join("tests/support/https_request.py"))
                .arg(file))
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn refused(answer: &Value, status: u16, error: &str) {
    assert_eq!(answer["status"], status, "{answer}");
    assert_eq!(answer["body"]["error"], error, "{answer}");
    assert!(answer["body"].get("access_token").is_none());
}

/// A HelseID-style JWT bound to a certificate, signed by PyJWT with the sample issuer's TEST-ONLY key.
fn certificate_bound_jwt(x5t: &str) -> String {
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("samples/claims/hospital-physician.json")).unwrap(),
    )
    .unwrap();
    let extra = json!({
        "iss": "https://helseid-sts.test.xua-gateway.example", "aud": ENTITY_ID, "sub": "pairwise",
        "iat": now(), "exp": now() + 300, "jti": uuid::Uuid::new_v4().to_string(),
        "cnf": {"x5t#S256": x5t},
    });
    for (k, v) in extra.as_object().unwrap() {
        payload[k] = v.clone();
    }
    jose_sign(json!({
        "alg": "ES256", "key": repo().join("samples/keys/TEST-ONLY-helseid-es256.key.pem"),
        "headers": {"kid": "UdJIbjF1zdXtY4NXkiOvd436IE2DooQUz9mXPQvxlRA", "typ": "at+jwt"},
        "payload": payload,
    }))
}

async fn pyjwt_verifies(pki: &Pki, base: &str, jwt: &str) -> Value {
    let jwks = pki
        .request(
            &format!("{base}/.well-known/jwks.json"),
            None,
            None,
            json!({}),
        )
        .await;
    let dir = pki.dir.path();
    let jwks = write_temp(dir, "jwks.json", jwks["body"].to_string().as_bytes());
    let token = write_temp(dir, "token.jwt", jwt.as_bytes());
    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/verify_jwt.py"))
        .args([&jwks, &token])
        .args(["https://fhir.test.example/pjd", ENTITY_ID]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["payload"].clone()
}

#[actix_web::test]
async fn mutual_tls_clients_authenticate_by_subject_dn_or_registered_certificate() {
    let pki = Pki::new();
    let app = spawn_at(pki.dir.path(), "https", |base| pki.config(base)).await;
    let token = format!("{}/token", app.address);

    let form = with(saml_subject("fastlege.json"), &[("client_id", "lab")]);
    let answer = pki
        .request(&token, Some("lab"), Some(&form), json!({}))
        .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let record = last_record(&app);
    assert_eq!(record.client_auth.as_deref(), Some("tls_client_auth"));
    let lab = x5t(&pki.path("lab.crt"));
    assert_eq!(record.client_cert_thumbprint.as_deref(), Some(lab.as_str()));
    // RFC 8705 §3: the issued JWT is bound to the certificate the client authenticated with.
    let claims = pyjwt_verifies(
        &pki,
        &app.address,
        answer["body"]["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(claims["cnf"]["x5t#S256"], Value::String(lab), "{claims}");
    assert_eq!(answer["body"]["token_type"], "Bearer");

    let form = with(saml_subject("fastlege.json"), &[("client_id", "kiosk")]);
    let answer = pki
        .request(&token, Some("kiosk"), Some(&form), json!({}))
        .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(
        last_record(&app).client_auth.as_deref(),
        Some("self_signed_tls_client_auth")
    );

    for (what, client, cert) in [
        ("no certificate", "lab", None),
        ("same subject, untrusted CA", "lab", Some("impostor")),
        (
            "another client's self-signed certificate",
            "lab",
            Some("kiosk"),
        ),
        (
            "a certificate other than the registered one",
            "kiosk",
            Some("lab"),
        ),
    ] {
        let form = with(saml_subject("fastlege.json"), &[("client_id", client)]);
        let answer = pki.request(&token, cert, Some(&form), json!({})).await;
        assert_eq!(answer["status"], 401, "{what}: {answer}");
        refused(&answer, 401, "invalid_client");
        let record = last_record(&app);
        assert_eq!(record.client_id.as_deref(), Some(client), "{what}");
        assert_eq!(record.client_auth, None, "{what}");
    }
}

#[actix_web::test]
async fn a_certificate_bound_token_is_exchanged_only_over_a_connection_with_that_certificate() {
    let pki = Pki::new();
    let app = spawn_at(pki.dir.path(), "https", |base| pki.config(base)).await;
    let token = format!("{}/token", app.address);
    let bound = || certificate_bound_jwt(&x5t(&pki.path("lab.crt")));

    let answer = pki
        .request(&token, None, Some(&jwt_subject(&bound())), json!({}))
        .await;
    refused(&answer, 400, "invalid_grant");
    assert!(answer["body"]["error_description"]
        .as_str()
        .unwrap()
        .contains("x5t#S256"));
    let form = with(jwt_subject(&bound()), &[("client_id", "lab")]);
    let answer = pki
        .request(&token, Some("impostor"), Some(&form), json!({}))
        .await;
    refused(&answer, 401, "invalid_client");
    // The anonymous client over a connection with another certificate.
    let answer = pki
        .request(
            &token,
            Some("kiosk"),
            Some(&jwt_subject(&bound())),
            json!({}),
        )
        .await;
    refused(&answer, 400, "invalid_grant");

    let form = with(jwt_subject(&bound()), &[("client_id", "lab")]);
    let answer = pki
        .request(&token, Some("lab"), Some(&form), json!({}))
        .await;
    assert_eq!(answer["status"], 200, "{answer}");
    use base64::Engine;
    let xml = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(answer["body"]["access_token"].as_str().unwrap())
        .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(has_empty_element(&xml, "saml:OneTimeUse"), "{xml}");
}

#[actix_web::test]
async fn discovery_describes_the_token_endpoint() {
    let pki = Pki::new();
    let app = spawn_at(pki.dir.path(), "https", |base| pki.config(base)).await;
    let answer = pki
        .request(
            &format!("{}/.well-known/oauth-authorization-server", app.address),
            None,
            None,
            json!({}),
        )
        .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let d = &answer["body"];
    assert_eq!(d["issuer"], ENTITY_ID);
    assert_eq!(d["token_endpoint"], format!("{}/token", app.address));
    assert_eq!(
        d["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
    assert_eq!(d["grant_types_supported"], json!([TOKEN_EXCHANGE]));
    assert_eq!(d["tls_client_certificate_bound_access_tokens"], true);
    let methods = d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for m in [
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "none",
    ] {
        assert!(methods.contains(&json!(m)), "{m}: {d}");
    }
    assert_eq!(
        d["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert!(d["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("ES256")));
    assert!(!d["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("HS256")));
    for t in [TT_SAML2, TT_JWT] {
        assert!(d["subject_token_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(t)));
        assert!(d["issued_token_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(t)));
    }
}

/// A configuration of fresh keys (none TEST-ONLY) that issues JWTs only, with `extra` appended.
fn production_like(dir: &Path, extra: &str) -> xua_gateway::config::LoadedConfig {
    let key = ec_key(dir, "gateway-jwt.pem");
    let text = format!(
        r#"[gateway]
entity_id = "https://gateway.example"
[jwt]
signing_key = "{}"
audiences = ["https://api.example"]
[saml]
audiences = ["https://gateway.example"]
{extra}
"#,
        key.display()
    );
    let path = write_temp(dir, "config.toml", text.as_bytes());
    xua_gateway::config::LoadedConfig::from_file(&path).unwrap()
}

fn listen_any(loaded: xua_gateway::config::LoadedConfig) -> Result<(), String> {
    let gateway = std::sync::Arc::new(
        xua_gateway::startup::Gateway::build(
            loaded,
            xua_gateway::clock::system(),
            Some(std::sync::Arc::new(
                xua_gateway::audit::MemorySink::default(),
            )),
        )
        .unwrap(),
    );
    xua_gateway::http::Application::build(gateway, "0.0.0.0:0", 1)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[actix_web::test]
async fn the_gateway_refuses_to_listen_beyond_loopback_unless_it_is_safe_to() {
    let dir = tempfile::tempdir().unwrap();
    let client = "[[clients]]\nid = \"c\"\nauth = \"none\"\nanonymous = true\n";
    let plain = listen_any(production_like(dir.path(), client)).unwrap_err();
    assert!(plain.contains("plain HTTP"), "{plain}");
    let proxied = format!("[server]\nbehind_tls_proxy = true\n{client}");
    assert_eq!(listen_any(production_like(dir.path(), &proxied)), Ok(()));
    let open = listen_any(production_like(
        dir.path(),
        "[server]\nbehind_tls_proxy = true\n",
    ))
    .unwrap_err();
    assert!(open.contains("no [[clients]]"), "{open}");
    // The embedded default trusts and signs with TEST-ONLY keys: loopback only, whatever else it says.
    let embedded = listen_any(xua_gateway::config::LoadedConfig::embedded().unwrap()).unwrap_err();
    assert!(embedded.contains("TEST-ONLY"), "{embedded}");
    // A sample key under another name is still a sample key (in a configuration otherwise fit to listen).
    drop(production_like(dir.path(), &proxied));
    let copied = write_temp(
        dir.path(),
        "renamed-gateway-key.pem",
        &std::fs::read(repo().join("samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem")).unwrap(),
    );
    let mut text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    text = text.replace(
        dir.path().join("gateway-jwt.pem").to_str().unwrap(),
        copied.to_str().unwrap(),
    );
    let path = write_temp(dir.path(), "copied.toml", text.as_bytes());
    let copied =
        listen_any(xua_gateway::config::LoadedConfig::from_file(&path).unwrap()).unwrap_err();
    assert!(copied.contains("TEST-ONLY"), "{copied}");
    // Loopback is always fine.
    let gateway = std::sync::Arc::new(
        xua_gateway::startup::Gateway::build(
            production_like(dir.path(), ""),
            xua_gateway::clock::system(),
            Some(std::sync::Arc::new(
                xua_gateway::audit::MemorySink::default(),
            )),
        )
        .unwrap(),
    );
    assert!(xua_gateway::http::Application::build(gateway, "127.0.0.1:0", 1).is_ok());
}
