use super::*;
use crate::error::ErrorClass;
use crate::soap::scan;

const ASSERTION: &str = r#"<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1"><saml2:Issuer>i</saml2:Issuer><saml2:AttributeStatement><saml2:Attribute Name="n"><saml2:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">v</saml2:AttributeValue></saml2:Attribute></saml2:AttributeStatement></saml2:Assertion>"#;
const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

fn rst(header_tokens: &str, children: &str) -> String {
    format!(
        r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
<S:Header><wsa:Action>http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:MessageID>urn:uuid:m</wsa:MessageID><wsse:Security S:mustUnderstand="true"><wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"/>{header_tokens}</wsse:Security></S:Header>
<S:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" Context="urn:ctx">
<wst:RequestType>
   http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue
</wst:RequestType>{children}</wst:RequestSecurityToken></S:Body></S:Envelope>"#
    )
}

const APPLIES: &str = "<wsp:AppliesTo><wsa:EndpointReference><wsa:Address> urn:aud </wsa:Address></wsa:EndpointReference></wsp:AppliesTo>";
const SAML_TT: &str = "<wst:TokenType>http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0</wst:TokenType>";

fn read(xml: &str) -> Result<IssueRequest<'_>, Rejection> {
    let env = scan(xml.as_bytes(), &SoapLimits::default())?;
    read_issue(&env)
}

#[test]
fn an_on_behalf_of_assertion_is_cut_out_with_the_ancestor_bindings_it_needs() {
    let xml = rst("", &format!("{SAML_TT}{APPLIES}<wst:OnBehalfOf>{ASSERTION}</wst:OnBehalfOf><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:Lifetime/>"));
    let req = read(&xml).unwrap();
    assert_eq!(req.source, TokenSource::OnBehalfOf);
    assert_eq!(req.applies_to.as_deref(), Some("urn:aud"));
    assert_eq!(req.token_type.as_ref().unwrap().kind, TokenKind::Saml2);
    assert_eq!(req.context.as_deref(), Some("urn:ctx"));
    assert_eq!(req.message_id.as_deref(), Some("urn:uuid:m"));
    assert_eq!(req.requester, None);
    let SubjectToken::Saml(cut) = &req.subject else {
        panic!()
    };
    assert_eq!(cut.bytes_as_sent(), ASSERTION.as_bytes());
    let start = xml.find("<saml2:Assertion").unwrap();
    assert_eq!(cut.range, start..start + ASSERTION.len());
    let prefixes: Vec<Option<&str>> = cut.carried.iter().map(|(p, _)| p.as_deref()).collect();
    for p in ["S", "xs", "wsa", "wsse", "wst", "wsp"] {
        assert!(prefixes.contains(&Some(p)), "{p} in {prefixes:?}");
    }
    assert!(!prefixes.contains(&Some("saml2")));
    let standalone = String::from_utf8(cut.standalone().into_owned()).unwrap();
    assert!(standalone.starts_with(r#"<saml2:Assertion xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:xs="http://www.w3.org/2001/XMLSchema""#));
    assert!(standalone.ends_with(&ASSERTION["<saml2:Assertion".len()..]));
    // It is now a document of its own the SAML prescan accepts (xs is bound).
    crate::saml::prescan::scan(standalone.as_bytes(), &Default::default()).unwrap();
    assert!(!format!("{req:?}").contains("AttributeValue"));
}

#[test]
fn an_assertion_that_needs_nothing_from_its_ancestors_stands_alone_as_sent() {
    let xml = format!(
        r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType><wst:OnBehalfOf>{}</wst:OnBehalfOf></wst:RequestSecurityToken></S:Body></S:Envelope>"#,
        ASSERTION.replace("ID=\"_1\"", "xmlns:S=\"urn:mine\" xmlns:wst=\"urn:mine2\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" ID=\"_1\"")
    );
    let req = read(&xml).unwrap();
    let SubjectToken::Saml(cut) = &req.subject else {
        panic!()
    };
    assert!(cut.carried.is_empty(), "{:?}", cut.carried);
    assert!(matches!(cut.standalone(), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn jwts_in_binary_security_tokens_raw_or_base64() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(JWT);
    for bst in [
        format!(
            r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">{JWT}</wsse:BinarySecurityToken>"#
        ),
        format!(
            r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt" EncodingType="{}">{b64}</wsse:BinarySecurityToken>"#,
            uri::WSSE_BASE64
        ),
        format!(
            r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">{b64}</wsse:BinarySecurityToken>"#
        ),
    ] {
        let xml = rst("", &format!("<wst14:ActAs xmlns:wst14=\"http://docs.oasis-open.org/ws-sx/ws-trust/200802\">{bst}</wst14:ActAs><wst:TokenType>urn:ietf:params:oauth:token-type:jwt</wst:TokenType>"));
        let req = read(&xml).unwrap();
        assert_eq!(req.source, TokenSource::ActAs);
        assert_eq!(req.subject, SubjectToken::Jwt(JWT.to_string()));
        assert_eq!(req.token_type.unwrap().kind, TokenKind::Jwt);
        assert!(!format!("{:?}", req.subject).contains("eyJ"));
    }
    let bad = [
        r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">a.b</wsse:BinarySecurityToken>"#.to_string(),
        r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">a.b.c.d.e</wsse:BinarySecurityToken>"#.to_string(),
        r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">!!!</wsse:BinarySecurityToken>"#.to_string(),
        format!(r#"<wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt" EncodingType="urn:hex">{JWT}</wsse:BinarySecurityToken>"#),
        format!(r#"<wsse:BinarySecurityToken ValueType="urn:x509">{JWT}</wsse:BinarySecurityToken>"#),
    ];
    for bst in bad {
        let xml = rst("", &format!("<wst:OnBehalfOf>{bst}</wst:OnBehalfOf>"));
        assert!(read(&xml).is_err(), "{bst}");
    }
}

#[test]
fn the_security_header_token_is_the_subject_or_the_requester() {
    let xml = rst(ASSERTION, "");
    let req = read(&xml).unwrap();
    assert_eq!(req.source, TokenSource::SecurityHeader);
    assert!(matches!(req.subject, SubjectToken::Saml(_)));
    let xml = rst(
        ASSERTION,
        &format!(
            r#"<wst:OnBehalfOf><wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">{JWT}</wsse:BinarySecurityToken></wst:OnBehalfOf>"#
        ),
    );
    let req = read(&xml).unwrap();
    assert_eq!(req.subject, SubjectToken::Jwt(JWT.into()));
    assert!(matches!(req.requester, Some(SubjectToken::Saml(_))));
    // A certificate token in the header is not a subject token.
    let xml = rst(
        r#"<wsse:BinarySecurityToken ValueType="x509">MII=</wsse:BinarySecurityToken>"#,
        "",
    );
    assert_eq!(read(&xml).unwrap_err().class, ErrorClass::Request);
}

#[test]
fn what_the_gateway_does_not_implement_is_refused() {
    let obo = format!("<wst:OnBehalfOf>{ASSERTION}</wst:OnBehalfOf>");
    let act = format!("<wst14:ActAs xmlns:wst14=\"http://docs.oasis-open.org/ws-sx/ws-trust/200802\">{ASSERTION}</wst14:ActAs>");
    let cases: Vec<(String, ErrorClass, &str)> = vec![
        (rst("", &format!("{obo}<wst:Claims Dialect=\"urn:d\"/>")), ErrorClass::Request, "Claims"),
        (rst("", &format!("{obo}<wst:UseKey/>")), ErrorClass::Request, "UseKey"),
        (rst("", &format!("{obo}<trc:TRCParameters xmlns:trc=\"http://epsos.eu/trc\"/>")), ErrorClass::Request, "TRCParameters"),
        (rst("", &format!("{obo}<wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey</wst:KeyType>")), ErrorClass::Request, "Bearer"),
        (rst("", &format!("{obo}<wst:TokenType>urn:other</wst:TokenType>")), ErrorClass::Request, "TokenType"),
        (rst("", &format!("{obo}{SAML_TT}{SAML_TT}")), ErrorClass::Struct, "more than one TokenType"),
        (rst("", &format!("{obo}{act}")), ErrorClass::Struct, "both OnBehalfOf and ActAs"),
        (rst(&format!("{ASSERTION}{ASSERTION}"), ""), ErrorClass::Struct, "more than one token"),
        (rst("", &format!("<wst:OnBehalfOf>{ASSERTION}{ASSERTION}</wst:OnBehalfOf>")), ErrorClass::Struct, "more than one token"),
        (rst("", "<wst:OnBehalfOf><wsse:SecurityTokenReference/></wst:OnBehalfOf>"), ErrorClass::Request, "by reference"),
        (rst("", "<wst:OnBehalfOf/>"), ErrorClass::Request, "no token"),
        (rst("", ""), ErrorClass::Request, "no subject token"),
        (rst("", &format!("{obo}<wsp:AppliesTo><wsa:EndpointReference/></wsp:AppliesTo>")), ErrorClass::Request, "AppliesTo"),
        (rst("", &obo).replace("200512/Issue\n", "200512/Renew\n"), ErrorClass::Request, "not Issue"),
        (rst("", &obo).replace("RST/Issue", "RST/Validate"), ErrorClass::Request, "Action"),
        (rst("", &obo).replace("</S:Header>", "<wsse:Security/></S:Header>"), ErrorClass::Struct, "more than one wsse:Security"),
        (rst("", &obo).replace("wst:RequestSecurityToken ", "wst:RequestSecurityTokenCollection ").replace("</wst:RequestSecurityToken>", "</wst:RequestSecurityTokenCollection>"), ErrorClass::Request, "Collection"),
    ];
    for (xml, class, words) in cases {
        let r = read(&xml).unwrap_err();
        assert_eq!(r.class, class, "{words}: {r}");
        assert!(r.message.contains(words), "{words}: {r}");
    }
}

#[test]
fn must_understand_blocks_the_gateway_does_not_process_are_found() {
    let xml = rst(ASSERTION, "");
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert!(not_understood(&env).is_none());
    let xml = xml.replace(
        "</S:Header>",
        "<v:x xmlns:v=\"urn:v\" S:mustUnderstand=\"1\"/></S:Header>",
    );
    let env = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(not_understood(&env).unwrap().local, "x");
    let other_role = xml.replace(
        "S:mustUnderstand=\"1\"",
        "S:mustUnderstand=\"1\" S:role=\"urn:someone-else\"",
    );
    let env = scan(other_role.as_bytes(), &SoapLimits::default()).unwrap();
    assert!(not_understood(&env).is_none());
}
