//! What the XCA proxy and WS-Trust tests share: a gateway with SOAP endpoints whose public URL is its own,
//! the local upstream (`samples/upstream.py`), corpus files, and SOAP requests over HTTP.

use std::path::{Path, PathBuf};

use crate::helpers::*;
use crate::oauth::*;

pub const SOAP: &str = "application/soap+xml; charset=UTF-8";
pub const ITI38_REQUEST: &str = "xca/nhn-xcads_IT_iti-38_request.xml";
/// The patient the NHN ITI-38 request asks about.
pub const QUERY_PATIENT: &str = "17855599120";

pub fn corpus_file(name: &str) -> Option<PathBuf> {
    let path = repo().join("../shared/corpus/ihe").join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus is required in CI"
    );
    eprintln!("!!!!!!!! SKIPPING: {} is missing !!!!!!!!", path.display());
    None
}

/// A `[[proxy.routes]]` entry.
pub fn route(path: &str, upstream: &str, extra: &str) -> String {
    format!("[[proxy.routes]]\npath = \"{path}\"\nupstream = \"{upstream}\"\n{extra}\n")
}

/// The sample configuration at `base` with a 64 KiB request limit, these routes and WS-Trust on.
pub fn soap_config(base: &str, routes: &str) -> String {
    format!(
        "{}\n[ws_trust]\nenabled = true\n\n[proxy]\nmax_request_bytes = 65536\n{routes}",
        config_at(base)
    )
}

pub async fn spawn_soap(dir: &Path, routes: &str) -> TestApp {
    let routes = routes.to_string();
    spawn_at(dir, "http", move |base| soap_config(base, &routes)).await
}

pub struct SoapAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl SoapAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A SOAP 1.2 Fault with this gateway error class as its subcode.
    pub fn assert_fault(&self, status: u16, class: &str) {
        let text = self.text();
        assert_eq!(self.status, status, "{text}");
        assert!(
            self.content_type.starts_with("application/soap+xml"),
            "{}",
            self.content_type
        );
        assert!(text.contains("<soapenv:Fault>"), "{text}");
        assert!(text.contains(&format!(">xg:{class}<")), "{text}");
        assert!(!text.contains("Assertion"), "{text}");
    }
}

pub async fn post_soap(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> SoapAnswer {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut req = client
        .post(format!("{}{path}", app.address))
        .header("Content-Type", content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    SoapAnswer {
        status: res.status().as_u16(),
        content_type: res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: res.bytes().await.unwrap().to_vec(),
    }
}

/// The signing certificate `/saml/metadata` publishes, as a PEM file in `dir`.
pub async fn metadata_cert(app: &TestApp, dir: &Path) -> PathBuf {
    let xml = app
        .client
        .get(format!("{}/saml/metadata", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = xml.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + xml[start..].find('<').unwrap();
    let b64: String = xml[start..end].split_whitespace().collect();
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    write_temp(dir, "metadata.crt.pem", pem.as_bytes())
}

/// A sample JWT (hospital physician) naming `patient`, or no patient.
pub fn jwt_for(patient: Option<&str>, cnf_jkt: Option<String>) -> String {
    let mut claims = claims_file("hospital-physician.json");
    let text = serde_json::to_string(&claims).unwrap();
    let text = match patient {
        Some(p) => text.replace("03128734502", p),
        None => text,
    };
    claims = serde_json::from_str(&text).unwrap();
    if patient.is_none() {
        remove_patients(&mut claims);
    }
    xua_gateway::samples::mint_jwt(
        &claims,
        &xua_gateway::samples::JwtMintOptions {
            cnf_jkt,
            ..xua_gateway::samples::JwtMintOptions::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn remove_patients(v: &mut serde_json::Map<String, serde_json::Value>) {
    v.remove("patients");
    for (_, child) in v.iter_mut() {
        if let serde_json::Value::Object(m) = child {
            remove_patients(m);
        }
    }
}
