use super::*;
use crate::soap::{scan, SoapLimits};
use time::macros::datetime;

const ASSERTION: &str = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1"><saml:Issuer>i</saml:Issuer></saml:Assertion>"#;
const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

fn response(token: IssuedToken<'_>) -> IssueResponse<'_> {
    IssueResponse {
        token,
        token_type: uri::TT_SAMLV20,
        applies_to: Some("urn:aud&x"),
        created: datetime!(2026-01-01 10:00:00 UTC),
        expires: datetime!(2026-01-01 10:05:00 UTC),
        context: Some("urn:ctx"),
    }
}

#[test]
fn an_rstrc_carries_the_assertion_lifetime_type_and_audience() {
    let r = response(IssuedToken::Saml {
        assertion: ASSERTION.as_bytes(),
        id: Some("_a1"),
    });
    let xml = response_envelope(&r, ResponseShape::Collection, Some("urn:uuid:req")).unwrap();
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(env.action.as_deref(), Some(uri::ACTION_RSTRC_ISSUE_FINAL));
    let child = env.body_child().unwrap();
    assert_eq!(child.local, "RequestSecurityTokenResponseCollection");
    assert!(xml.contains(&format!(
        "<wst:RequestedSecurityToken>{ASSERTION}</wst:RequestedSecurityToken>"
    )));
    assert!(xml.contains("<wst:Lifetime><wsu:Created>2026-01-01T10:00:00Z</wsu:Created><wsu:Expires>2026-01-01T10:05:00Z</wsu:Expires></wst:Lifetime>"));
    assert!(xml.contains("<wsa:Address>urn:aud&amp;x</wsa:Address>"));
    assert!(xml.contains(r#"<wst:RequestSecurityTokenResponse Context="urn:ctx">"#));
    assert!(xml.contains("<wsa:RelatesTo>urn:uuid:req</wsa:RelatesTo>"));
    assert!(xml.contains(r#"ValueType="http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID">_a1</wsse:KeyIdentifier>"#));
    assert!(xml.contains(&format!(
        "<wst:TokenType>{}</wst:TokenType>",
        uri::TT_SAMLV20
    )));
}

#[test]
fn a_jwt_is_sent_base64_in_a_binary_security_token() {
    use base64::Engine;
    let r = IssueResponse {
        token_type: uri::VT_JWT,
        ..response(IssuedToken::Jwt(JWT))
    };
    let xml = response_envelope(&r, ResponseShape::Single, None).unwrap();
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(env.action.as_deref(), Some(uri::ACTION_RSTR_ISSUE));
    assert_eq!(
        env.body_child().unwrap().local,
        "RequestSecurityTokenResponse"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(JWT);
    assert!(xml.contains(&format!(
        r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt" EncodingType="{}">{b64}</wsse:BinarySecurityToken>"#,
        uri::WSSE_BASE64
    )));
    assert!(!xml.contains("RequestedAttachedReference"));
    assert!(!xml.contains("RelatesTo"));
}

#[test]
fn a_bad_lifetime_or_token_is_refused() {
    let mut r = response(IssuedToken::Jwt(JWT));
    r.expires = r.created;
    assert!(response_envelope(&r, ResponseShape::Single, None).is_err());
    let r = response(IssuedToken::Jwt("a <b>"));
    assert!(response_envelope(&r, ResponseShape::Single, None).is_err());
    let r = response(IssuedToken::Saml {
        assertion: b"<?xml version=\"1.0\"?><a/>",
        id: None,
    });
    assert!(response_envelope(&r, ResponseShape::Single, None).is_err());
}

#[test]
fn ws_trust_faults_by_error_class() {
    let cases = [
        (
            Rejection::sig("bad signature"),
            Code::Sender,
            "FailedAuthentication",
            "SIG",
        ),
        (
            Rejection::time("expired"),
            Code::Sender,
            "FailedAuthentication",
            "TIME",
        ),
        (
            Rejection::parse("not xml"),
            Code::Sender,
            "InvalidRequest",
            "PARSE",
        ),
        (
            Rejection::request("no token"),
            Code::Sender,
            "InvalidRequest",
            "REQUEST",
        ),
        (
            Rejection::target("not ours"),
            Code::Sender,
            "InvalidScope",
            "TARGET",
        ),
        (
            Rejection::internal("key"),
            Code::Receiver,
            "RequestFailed",
            "INTERNAL",
        ),
    ];
    for (rejection, code, trust, class) in cases {
        let f = fault_for(&rejection);
        assert_eq!(f.code, code);
        assert_eq!(f.subcodes[0].local, trust);
        assert_eq!(f.subcodes[0].namespace, ns::WST);
        assert_eq!(f.subcodes[1].local, class);
        let xml = f.to_envelope(None);
        assert!(xml.contains(&format!(
            r#"<soapenv:Subcode><soapenv:Value xmlns:wst="{}">wst:{trust}</soapenv:Value><soapenv:Subcode><soapenv:Value xmlns:xg="urn:xua-gateway:fault">xg:{class}</soapenv:Value></soapenv:Subcode></soapenv:Subcode>"#,
            ns::WST
        )), "{xml}");
        scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    }
}
