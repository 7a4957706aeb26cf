//! Building bad SAML inputs from a freshly minted, validly signed assertion, the way SAML Raider does: string
//! surgery on the signed document (XSW1–8, moved and duplicated signatures, edited SignedInfo), and
//! "resigned" variants where the manipulated assertion is signed properly with the TEST-ONLY IdP key, so that
//! the check under test, not the signature, is what refuses it.
//!
//! Every edit asserts that its anchor text exists: an attack that was not really built must fail the test,
//! not pass it.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use xua_gateway::model::Outcome;
use xua_gateway::saml::dsig;
use xua_gateway::samples;

use crate::helpers::*;

use crate::xmlsec1;
pub use xmlsec1::xmlsec1_available;

/// The patient in samples/claims/fastlege.json.
pub const PATIENT: &str = "21868534521";
/// The practitioner (Subject NameID) in samples/claims/fastlege.json.
pub const PRACTITIONER: &str = "12837034688";
/// Another valid fødselsnummer, for the identity an attacker would like to be.
pub const EVIL_PERSON: &str = "14035234595";

pub const SAMLP_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// A fresh signed XUA assertion for the fastlege sample (its own ID, valid for an hour).
pub fn signed() -> String {
    String::from_utf8(mint_now("fastlege.json")).unwrap()
}

/// Replaces the first occurrence of `from`, which must be there.
#[track_caller]
pub fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(
        xml.contains(from),
        "test bug: {from:?} is not in the document"
    );
    xml.replacen(from, to, 1)
}

/// The text between `start` and the next `end`.
#[track_caller]
pub fn between<'a>(xml: &'a str, start: &str, end: &str) -> &'a str {
    let from = xml.find(start).expect("start marker") + start.len();
    let to = from + xml[from..].find(end).expect("end marker");
    &xml[from..to]
}

/// The root Assertion's ID.
pub fn assertion_id(xml: &str) -> String {
    between(xml, " ID=\"", "\"").to_string()
}

/// The whole `<ds:Signature ...>...</ds:Signature>` element.
#[track_caller]
pub fn signature_block(xml: &str) -> String {
    let start = xml.find("<ds:Signature").expect("a signature");
    let end = xml.find("</ds:Signature>").expect("a signature end") + "</ds:Signature>".len();
    xml[start..end].to_string()
}

/// The SignatureValue text (an input value that must never be echoed).
pub fn signature_value(xml: &str) -> String {
    between(xml, "<ds:SignatureValue>", "</ds:SignatureValue>").to_string()
}

/// The document without its (first) Signature element.
pub fn strip_signature(xml: &str) -> String {
    edit(xml, &signature_block(xml), "")
}

/// Signs an unsigned assertion with the TEST-ONLY sample IdP key, as the real IdP would.
#[track_caller]
pub fn sign(unsigned: &str) -> String {
    let signed = dsig::sign_assertion(unsigned.as_bytes(), &sample_idp())
        .unwrap_or_else(|e| panic!("test bug: cannot sign the manipulated assertion: {e}"));
    String::from_utf8(signed).unwrap()
}

/// Strips the signature, applies `change`, and signs again with the real IdP key: a validly signed
/// assertion that says something the gateway must refuse for another reason than the signature.
#[track_caller]
pub fn resigned(change: impl FnOnce(String) -> String) -> String {
    sign(&change(strip_signature(&signed())))
}

/// Sets (or adds) `attr="value"` on the first start tag that begins with `tag` (e.g. `<saml:Conditions`).
#[track_caller]
pub fn set_attr(xml: &str, tag: &str, attr: &str, value: &str) -> String {
    let start = xml
        .find(tag)
        .unwrap_or_else(|| panic!("test bug: no {tag}"));
    let end = start + xml[start..].find('>').expect("tag end");
    let open = &xml[start..end];
    let needle = format!(" {attr}=\"");
    let new_open = match open.find(&needle) {
        Some(at) => {
            let value_start = at + needle.len();
            let value_end = value_start + open[value_start..].find('"').expect("quote");
            format!("{}{value}{}", &open[..value_start], &open[value_end..])
        }
        None => {
            let (body, slash) = match open.strip_suffix('/') {
                Some(body) => (body, "/"),
                None => (open, ""),
            };
            format!("{body} {attr}=\"{value}\"{slash}")
        }
    };
    format!("{}{new_open}{}", &xml[..start], &xml[end..])
}

/// An unsigned copy of `xml` that names another practitioner and has its own ID: the attacker's assertion.
pub fn evil_copy(xml: &str, id: &str) -> String {
    let unsigned = strip_signature(xml);
    let original = assertion_id(&unsigned);
    edit(
        &edit(
            &unsigned,
            &format!("ID=\"{original}\""),
            &format!("ID=\"{id}\""),
        ),
        &format!(">{PRACTITIONER}</saml:NameID>"),
        &format!(">{EVIL_PERSON}</saml:NameID>"),
    )
}

/// `xml` with its Subject NameID changed and its signature left as it was.
pub fn tampered_copy(xml: &str) -> String {
    edit(
        xml,
        &format!(">{PRACTITIONER}</saml:NameID>"),
        &format!(">{EVIL_PERSON}</saml:NameID>"),
    )
}

/// A samlp:Response from the sample IdP with a Success status, then `children` (assertions, signatures...).
pub fn response(id: &str, children: &str) -> String {
    response_parts(id, "", children)
}

/// A Response whose `before_status` goes right after the Issuer (where a Response Signature belongs).
pub fn response_parts(id: &str, before_status: &str, children: &str) -> String {
    format!(
        r#"<samlp:Response xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}" ID="{id}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{before_status}<samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status>{children}</samlp:Response>"#,
        now = now_text(),
        issuer = samples::SAMPLE_IDP,
    )
}

pub fn now_text() -> String {
    xua_gateway::clock::rfc3339(time::OffsetDateTime::now_utc())
}

pub fn at(offset: time::Duration) -> String {
    xua_gateway::clock::rfc3339(time::OffsetDateTime::now_utc() + offset)
}

/// A signature template (empty DigestValue and SignatureValue) for the xmlsec1 CLI to fill in.
pub fn template(uri: &str, signature_method: &str, digest_method: &str) -> String {
    format!(
        r#"<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{signature_method}"/><ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC_C14N}"><ec:InclusiveNamespaces xmlns:ec="{EXC_C14N}" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{digest_method}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"#
    )
}

/// Signs the first signature template in `xml` with the TEST-ONLY IdP key, using the xmlsec1 CLI (it signs
/// what our own signer never would: rsa-sha1, or a Response).
pub fn xmlsec1_sign(xml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let keys = repo().join("samples/keys");
    let input: PathBuf = write_temp(dir.path(), "template.xml", xml.as_bytes());
    let output = dir.path().join("signed.xml");
    let mut key = keys.join("TEST-ONLY-idp.key.pem").into_os_string();
    key.push(",");
    key.push(keys.join("TEST-ONLY-idp.crt.pem"));
    let out = run(Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(key)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
        ])
        .arg("--output")
        .arg(&output)
        .arg(&input));
    assert!(
        out.status.success(),
        "xmlsec1 --sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(output).unwrap();
    // The CLI writes an XML declaration; the gateway takes the element as it is.
    match text.strip_prefix("<?xml version=\"1.0\"?>\n") {
        Some(rest) => rest.trim_end().to_string(),
        None => text.trim_end().to_string(),
    }
}

/// A local port that records whether anything connected: proof that a URL in the input was not fetched.
pub struct Tripwire {
    listener: TcpListener,
    pub url: String,
}

impl Tripwire {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://127.0.0.1:{}/fetched",
            listener.local_addr().unwrap().port()
        );
        Tripwire { listener, url }
    }

    pub fn was_contacted(&self) -> bool {
        std::thread::sleep(Duration::from_millis(100));
        match self.listener.accept() {
            Ok(_) => true,
            Err(error) if error.kind() == ErrorKind::WouldBlock => false,
            Err(error) => panic!("tripwire: {error}"),
        }
    }
}

/// Values from the input that must never come back in an answer.
fn secrets_of(xml: &str) -> Vec<String> {
    let mut secrets = vec![PATIENT.to_string(), PRACTITIONER.to_string()];
    if let Some(at) = xml.find("<ds:SignatureValue>") {
        let value: String = xml[at + "<ds:SignatureValue>".len()..]
            .chars()
            .take_while(|c| *c != '<' && *c != '\n')
            .collect();
        if value.len() >= 16 {
            secrets.push(value);
        }
    }
    if let Some(at) = xml.find("<saml:Assertion") {
        let id = between(&xml[at..], " ID=\"", "\"");
        if id.len() >= 8 {
            secrets.push(id.to_string());
        }
    }
    secrets
}

/// Sends `xml` through `POST /token` and checks every promise the checklist makes for a bad input: HTTP 400
/// `invalid_request`, the expected class and message, no token, nothing of the input echoed, and exactly one
/// audit record of the rejection with that class and no output token.
pub async fn expect_rejected(app: &TestApp, xml: &str, class: &str, message_part: &str) -> Value {
    expect_rejected_with(app, xml, &[], class, message_part).await
}

pub async fn expect_rejected_with(
    app: &TestApp,
    xml: &str,
    extra: &[(&str, &str)],
    class: &str,
    message_part: &str,
) -> Value {
    let before = app.records().len();
    let (status, body) = app.exchange_saml(xml.as_bytes(), extra).await;
    check_rejection(
        app,
        before,
        status,
        &body,
        class,
        message_part,
        &secrets_of(xml),
    );
    body
}

#[track_caller]
pub fn check_rejection(
    app: &TestApp,
    records_before: usize,
    status: u16,
    body: &Value,
    class: &str,
    message_part: &str,
    secrets: &[String],
) {
    let expected_status = if class == "UNAVAILABLE" { 503 } else { 400 };
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error_class"], class, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(message_part),
        "expected {message_part:?} in {description:?}"
    );
    assert!(body.get("access_token").is_none(), "a token was issued");
    let text = body.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the answer echoes the input: {text}"
        );
    }
    let records = app.records();
    assert_eq!(
        records.len(),
        records_before + 1,
        "one audit record per attempt"
    );
    let record = records.last().unwrap();
    assert_eq!(record.outcome, Outcome::Rejected);
    assert_eq!(record.error_class.map(|c| c.as_str()), Some(class));
    assert!(record.output_token_id.is_none());
}

/// Sends `xml` and expects a token (for the variants that must be accepted), with one audit record.
pub async fn expect_accepted(app: &TestApp, xml: &str) -> Value {
    expect_accepted_with(app, xml, &[]).await
}

pub async fn expect_accepted_with(app: &TestApp, xml: &str, extra: &[(&str, &str)]) -> Value {
    let before = app.records().len();
    let (status, body) = app.exchange_saml(xml.as_bytes(), extra).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    let records = app.records();
    assert_eq!(records.len(), before + 1);
    assert_eq!(records.last().unwrap().outcome, Outcome::Issued);
    body
}
