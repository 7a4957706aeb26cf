use super::*;
use crate::soap::{scan, SoapLimits};
use time::macros::datetime;

const S12: &str = "http://www.w3.org/2003/05/soap-envelope";
const ASSERTION: &str = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a"><saml:Issuer>i</saml:Issuer></saml:Assertion>"#;

fn window() -> Window {
    Window {
        created: datetime!(2026-01-02 03:04:05.678 UTC),
        expires: datetime!(2026-01-02 03:09:05 UTC),
    }
}

fn inject(xml: &str) -> String {
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    let out = inject_security(&env, ASSERTION.as_bytes(), &window()).unwrap();
    String::from_utf8(out).unwrap()
}

fn security_of(out: &str) -> &str {
    let start = out.find("<wsse:Security").unwrap();
    let end = out[start..].find("</wsse:Security>").unwrap() + start + "</wsse:Security>".len();
    &out[start..end]
}

#[test]
fn replaces_the_clients_security_header_and_keeps_every_other_byte() {
    let before = format!(
        "<?xml version=\"1.0\"?>\n<S:Envelope xmlns:S=\"{S12}\">\n <S:Header>\n  <wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:x</wsa:Action>\n  "
    );
    let client = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><old/></wsse:Security>"#;
    let after =
        "\n </S:Header>\n <S:Body><q xmlns=\"urn:q\">&amp; body</q></S:Body>\n</S:Envelope>\n";
    let out = inject(&format!("{before}{client}{after}"));
    assert!(out.starts_with(&before));
    assert!(out.ends_with(after));
    assert!(!out.contains("<old/>"));
    let security = security_of(&out);
    assert_eq!(out.len(), before.len() + security.len() + after.len());
    assert!(security.contains(r#" S:mustUnderstand="true""#));
    assert!(security.contains(
        "<wsu:Created>2026-01-02T03:04:05Z</wsu:Created><wsu:Expires>2026-01-02T03:09:05Z</wsu:Expires></wsu:Timestamp>"
    ));
    assert!(security.ends_with(&format!("{ASSERTION}</wsse:Security>")));
    let env = scan(out.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(env.blocks_of(BlockKind::Security).count(), 1);
    assert_eq!(env.action.as_deref(), Some("urn:x"));
}

#[test]
fn every_client_security_block_is_dropped() {
    let sec = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" S:role="urn:other"/>"#;
    let xml = format!("<S:Envelope xmlns:S=\"{S12}\"><S:Header>{sec}<v:x xmlns:v=\"urn:v\"/>{sec}</S:Header><S:Body/></S:Envelope>");
    let out = inject(&xml);
    let env = scan(out.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(env.blocks_of(BlockKind::Security).count(), 1);
    assert_eq!(env.blocks.len(), 2);
    assert!(!out.contains("urn:other"));
    assert!(out.contains("<v:x xmlns:v=\"urn:v\"/>"));
}

#[test]
fn a_header_is_created_with_the_envelopes_prefix_when_absent() {
    let xml =
        format!("<soap:Envelope xmlns:soap=\"{S12}\"><soap:Body><b/></soap:Body></soap:Envelope>");
    let out = inject(&xml);
    assert!(out.starts_with(&format!(
        "<soap:Envelope xmlns:soap=\"{S12}\"><soap:Header><wsse:Security "
    )));
    assert!(
        out.ends_with("</wsse:Security></soap:Header><soap:Body><b/></soap:Body></soap:Envelope>")
    );
    assert!(security_of(&out).contains(r#" soap:mustUnderstand="true""#));
    scan(out.as_bytes(), &SoapLimits::default()).unwrap();
}

#[test]
fn an_empty_header_element_is_opened() {
    let xml = format!("<e:Envelope xmlns:e=\"{S12}\"><e:Header a=\"1\" /><e:Body/></e:Envelope>");
    let out = inject(&xml);
    assert!(out.contains("<e:Header a=\"1\" ><wsse:Security"));
    assert!(out.contains("</wsse:Security></e:Header><e:Body/>"));
    scan(out.as_bytes(), &SoapLimits::default()).unwrap();
}

#[test]
fn a_default_namespace_envelope_gets_a_declared_prefix_and_no_inherited_default() {
    let xml = format!("<Envelope xmlns=\"{S12}\"><Body/></Envelope>");
    let out = inject(&xml);
    let security = security_of(&out);
    assert!(security.contains(&format!(
        r#" xmlns="" xmlns:soapenv="{S12}" soapenv:mustUnderstand="true""#
    )));
    assert!(out.starts_with(&format!("<Envelope xmlns=\"{S12}\"><Header><wsse:Security")));
    let env = scan(out.as_bytes(), &SoapLimits::default()).unwrap();
    assert!(env.blocks[0].must_understand);
}

#[test]
fn bad_signer_output_or_window_is_an_internal_error() {
    let xml = format!("<S:Envelope xmlns:S=\"{S12}\"><S:Body/></S:Envelope>");
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    let r = inject_security(&env, b"<?xml version=\"1.0\"?><a/>", &window()).unwrap_err();
    assert_eq!(r.class, crate::error::ErrorClass::Internal);
    let backwards = Window {
        created: window().expires,
        expires: window().created,
    };
    let r = inject_security(&env, ASSERTION.as_bytes(), &backwards).unwrap_err();
    assert_eq!(r.class, crate::error::ErrorClass::Internal);
}
