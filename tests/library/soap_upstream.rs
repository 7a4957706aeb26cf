//! The local SOAP upstream (`samples/upstream.py`) the XCA proxy tests talk to: it must really check the
//! injected assertion (xmlsec1), the patient and the body, record what arrived, and answer as configured
//! (an ITI-38 response, an MTOM ITI-39 response streamed in chunks, a delay, a redirect, TLS with a given
//! certificate). These tests drive it directly, as the proxy will.

use crate::multipart;
use crate::upstream;
use crate::xmlsec1;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use time::OffsetDateTime;
use upstream::Upstream;
use xmlsec1::xmlsec1_available;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::soap::inject::{inject_security, Window};
use xua_gateway::soap::{scan, SoapLimits};

fn corpus_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/ihe")
        .join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus is required in CI"
    );
    eprintln!(
        "!!!!!!!! SKIPPING an upstream check: {} is missing !!!!!!!!",
        path.display()
    );
    None
}

const PATIENT: &str = "21868534521";
const SOAP: &str = "application/soap+xml; charset=UTF-8";

fn injected(client: &[u8]) -> Vec<u8> {
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    let now = OffsetDateTime::now_utc();
    let assertion = samples::mint_assertion(
        profiles.default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().unwrap(),
        now,
    )
    .unwrap();
    let env = scan(client, &SoapLimits::default()).unwrap();
    let window = Window {
        created: now,
        expires: now + time::Duration::minutes(5),
    };
    inject_security(&env, &assertion, &window).unwrap()
}

fn cert_file(dir: &Path) -> String {
    let path = dir.join("idp.crt.pem");
    std::fs::write(&path, samples::SAMPLE_IDP_CERT).unwrap();
    path.display().to_string()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn post(up: &Upstream, content_type: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    client()
        .post(up.url("http"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .unwrap()
}

#[test]
fn the_upstream_checks_signature_patient_and_body_and_records_the_request() {
    if !xmlsec1_available() {
        return;
    }
    let Some(request) = corpus_file("xca/nhn-xcads_IT_iti-38_request.xml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = cert_file(dir.path());
    let expect_body = request.display().to_string();
    let up = Upstream::start(&[
        "--cert",
        &cert,
        "--expect-patient-id",
        PATIENT,
        "--expect-body",
        &expect_body,
    ]);
    let client_bytes = std::fs::read(&request).unwrap();
    let sent = injected(&client_bytes);

    let response = post(&up, SOAP, sent.clone());
    assert_eq!(response.status(), 200);
    let answer = response.bytes().unwrap();
    let env = scan(&answer, &SoapLimits::default()).unwrap();
    assert_eq!(
        env.action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayQueryResponse")
    );
    assert_eq!(up.received(), sent);
    let meta = up.received_meta();
    assert_eq!(
        meta["checks"],
        serde_json::json!({"signature": "ok", "patient": "ok", "body": "ok"})
    );
    assert_eq!(meta["path"], "/xca");

    // Each check can fail: the client's own message (no assertion), a changed body, a changed assertion.
    let response = post(&up, SOAP, client_bytes.clone());
    assert_eq!(response.status(), 400);
    assert!(response.text().unwrap().contains("signature"));
    assert!(up.received_meta()["checks"]["signature"]
        .as_str()
        .unwrap()
        .starts_with("failed"));
    let text = String::from_utf8(sent.clone()).unwrap();
    let other_body = text.replace("17855599120^^^", "17855599121^^^");
    assert_eq!(post(&up, SOAP, other_body.into_bytes()).status(), 400);
    let checks = up.received_meta()["checks"].clone();
    assert_eq!(
        (checks["body"].as_str(), checks["signature"].as_str()),
        (Some("mismatch"), Some("ok"))
    );
    let other_patient = text.replace(PATIENT, "21868534522");
    assert_eq!(post(&up, SOAP, other_patient.into_bytes()).status(), 400);
    let checks = up.received_meta()["checks"].clone();
    assert!(checks["patient"].as_str().unwrap().starts_with("mismatch"));
    assert!(checks["signature"].as_str().unwrap().starts_with("failed"));
}

const MTOM_RESPONSE_CT: &str = r#"multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";boundary="uuid:34605f3a-f898-4d62-99a5-c0fc113a7e59+id=51889";start-info="application/soap+xml""#;

#[test]
fn an_mtom_response_is_streamed_in_chunks_and_arrives_byte_identical() {
    let Some(file) = corpus_file("xca/metriport_multi-mtom.txt") else {
        return;
    };
    let response_file = file.display().to_string();
    let up = Upstream::start(&[
        "--response",
        &response_file,
        "--response-type",
        MTOM_RESPONSE_CT,
        "--chunk-size",
        "700",
        "--chunk-delay",
        "0.02",
    ]);
    let request =
        br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"#;
    let response = post(&up, SOAP, request.to_vec());
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let (body, pieces) = multipart::read_in_pieces(response);
    assert!(pieces > 1, "the answer came in {pieces} piece(s)");
    let sent = std::fs::read(&file).unwrap();
    multipart::assert_same_package((MTOM_RESPONSE_CT, &sent), (&content_type, &body));
}

#[test]
#[should_panic(expected = "part 1: content changed")]
fn the_package_check_names_the_part_that_changed() {
    let ct = r#"multipart/related; type="application/xop+xml"; boundary=b"#;
    let sent = "--b\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\n\n<e/>\n--b\nContent-ID: <1>\n\nabc\n--b--";
    multipart::assert_same_package(
        (ct, sent.as_bytes()),
        (ct, sent.replace("abc", "abd").as_bytes()),
    );
}

#[test]
fn an_mtom_request_root_part_is_checked_too() {
    if !xmlsec1_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = cert_file(dir.path());
    let up = Upstream::start(&["--cert", &cert, "--expect-patient-id", PATIENT]);
    let client = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x:RetrieveDocumentSetRequest xmlns:x="urn:ihe:iti:xds-b:2007"/></s:Body></s:Envelope>"#;
    let root = injected(client);
    let ct = r#"multipart/related; type="application/xop+xml"; start="<root@x>"; boundary="B0""#;
    let mut body = b"--B0\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@x>\r\n\r\n".to_vec();
    body.extend_from_slice(&root);
    body.extend_from_slice(b"\r\n--B0\r\nContent-ID: <doc@x>\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01binary\r\n--B0--\r\n");
    assert_eq!(post(&up, ct, body.clone()).status(), 200);
    assert_eq!(up.received(), body);
    assert_eq!(up.received_meta()["checks"]["signature"], "ok");
}

#[test]
fn the_upstream_can_be_slow_or_redirect() {
    let up = Upstream::start(&["--delay", "3"]);
    let started = Instant::now();
    let err = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .post(up.url("http"))
        .body("<x/>")
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));

    let up = Upstream::start(&["--redirect", "http://127.0.0.1:9/elsewhere"]);
    let response = post(&up, SOAP, b"<x/>".to_vec());
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        "http://127.0.0.1:9/elsewhere"
    );
}

fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut subject = X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", "localhost").unwrap();
    let subject = subject.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder
        .set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&subject).unwrap();
    builder.set_issuer_name(&subject).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&builder.x509v3_context(None, None))
        .unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = dir.join(format!("{name}.crt.pem"));
    let key_path = dir.join(format!("{name}.key.pem"));
    std::fs::write(&cert, builder.build().to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, key_path)
}

/// A TLS POST to the upstream trusting only `ca`; the status line, or the handshake error.
fn tls_post(port: u16, ca: &Path) -> Result<String, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder.set_ca_file(ca).unwrap();
    builder.set_verify(SslVerifyMode::PEER);
    let connector = builder.build();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = connector
        .connect("localhost", tcp)
        .map_err(|e| e.to_string())?;
    tls.write_all(b"POST /xca HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nConnection: close\r\n\r\n<x/>").unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    Ok(answer.lines().next().unwrap_or_default().to_string())
}

#[test]
fn the_upstream_serves_tls_with_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (right, right_key) = self_signed(dir.path(), "right");
    let (wrong, _) = self_signed(dir.path(), "wrong");
    let (cert, key) = (right.display().to_string(), right_key.display().to_string());
    let up = Upstream::start(&["--tls-cert", &cert, "--tls-key", &key]);
    assert_eq!(tls_post(up.port, &right).unwrap(), "HTTP/1.1 200 OK");
    let err = tls_post(up.port, &wrong).unwrap_err();
    assert!(err.contains("certificate verify failed"), "{err}");
}
