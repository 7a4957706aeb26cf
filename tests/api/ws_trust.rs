//! WS-Trust 1.3 Issue over HTTP: RSTs in both directions (a JWT in a BinarySecurityToken becomes a XUA
//! assertion that xmlsec1 verifies; a XUA assertion becomes a JWT that PyJWT verifies), the corpus's RSTs
//! refused for what they carry, and the WS-Trust faults.

use std::process::Command;

use base64::Engine;
use xua_gateway::model::Outcome;

use crate::helpers::*;
use crate::oauth::*;
use crate::soap_helpers::*;
use crate::xmlsec1::xmlsec1_available;

pub const STS: &str = "/ws-trust/sts";

pub fn rst(on_behalf_of: &str, token_type: &str, applies_to: &str) -> Vec<u8> {
    format!(
        concat!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">"#,
            "<s:Header><a:Action>http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</a:Action>",
            "<a:MessageID>urn:uuid:5a1f4c66-0f6e-4d0e-9d0c-1d2b3c4d5e6f</a:MessageID></s:Header><s:Body>",
            r#"<wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" Context="ctx-1">"#,
            "<wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType>",
            "<wst:TokenType>{tt}</wst:TokenType>",
            r#"<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><a:EndpointReference><a:Address>{aud}</a:Address></a:EndpointReference></wsp:AppliesTo>"#,
            "<wst:OnBehalfOf>{obo}</wst:OnBehalfOf>",
            "</wst:RequestSecurityToken></s:Body></s:Envelope>"
        ),
        tt = token_type,
        aud = applies_to,
        obo = on_behalf_of,
    )
    .into_bytes()
}

pub fn jwt_token(jwt: &str) -> String {
    format!(
        r#"<wsse:BinarySecurityToken xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ValueType="urn:ietf:params:oauth:token-type:jwt" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{}</wsse:BinarySecurityToken>"#,
        base64::engine::general_purpose::STANDARD.encode(jwt)
    )
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {text}"));
    let to = from + text[from..].find(end).unwrap() + end.len();
    &text[from..to]
}

#[actix_web::test]
async fn a_jwt_on_behalf_of_becomes_a_xua_assertion_that_xmlsec1_verifies() {
    if !xmlsec1_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_soap(dir.path(), "").await;
    let jwt = mint_sample_jwt("hospital-physician.json");
    let body = rst(
        &jwt_token(&jwt),
        "urn:oasis:names:tc:SAML:2.0:assertion",
        "nhn:dokumentdeling-saml",
    );
    let answer = post_soap(&app, STS, SOAP, body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    assert!(text.contains("RSTRC/IssueFinal"), "{text}");
    assert!(text
        .contains("<wsa:RelatesTo>urn:uuid:5a1f4c66-0f6e-4d0e-9d0c-1d2b3c4d5e6f</wsa:RelatesTo>"));
    assert!(text.contains(r#"Context="ctx-1""#), "{text}");
    assert!(text.contains("<wst:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</wst:TokenType>"));
    assert!(
        text.contains("<wsa:Address>nhn:dokumentdeling-saml</wsa:Address>"),
        "{text}"
    );
    assert!(text.contains("<wst:Lifetime>"), "{text}");
    // The assertion out of the response, verified as a document of its own.
    let assertion = between(&text, "<saml:Assertion", "</saml:Assertion>");
    let file = write_temp(dir.path(), "assertion.xml", assertion.as_bytes());
    let cert = metadata_cert(&app, dir.path()).await;
    let out = run(Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
        ])
        .arg(&cert)
        .arg(&file));
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And inside the response envelope, as it arrived.
    let whole = write_temp(dir.path(), "response.xml", &answer.body);
    let out = run(Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
        ])
        .arg(&cert)
        .arg(&whole));
    assert!(
        out.status.success(),
        "xmlsec1 in the envelope: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = last_record(&app);
    assert_eq!(last.outcome, Outcome::Issued);
    assert_eq!(
        last.soap_action.as_deref(),
        Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue")
    );
}

#[actix_web::test]
async fn a_xua_assertion_on_behalf_of_becomes_a_jwt_that_pyjwt_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_soap(dir.path(), "").await;
    let assertion = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let assertion = assertion.trim_start_matches(|c| c != '<');
    let assertion = match assertion.strip_prefix("<?xml") {
        Some(rest) => &rest[rest.find("?>").unwrap() + 2..],
        None => assertion,
    };
    let body = rst(
        assertion,
        "urn:ietf:params:oauth:token-type:jwt",
        "https://fhir.test.example/pjd",
    );
    let answer = post_soap(&app, STS, SOAP, body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let bst = between(
        &text,
        "<wsse:BinarySecurityToken",
        "</wsse:BinarySecurityToken>",
    );
    let b64 = &bst[bst.find('>').unwrap() + 1..bst.rfind('<').unwrap()];
    let jwt = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    let claims = verified_by_pyjwt(&app, &jwt, "https://fhir.test.example/pjd").await;
    assert_eq!(claims["iss"], ENTITY_ID);
    assert!(text.contains("<wst:TokenType>urn:ietf:params:oauth:token-type:jwt</wst:TokenType>"));
}

#[actix_web::test]
async fn bad_requests_and_the_corpus_rsts_get_ws_trust_faults_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_soap(dir.path(), "").await;
    let jwt = mint_sample_jwt("hospital-physician.json");
    let fault = |text: &str, sub: &str| {
        assert!(text.contains(&format!(">wst:{sub}<")), "{text}");
    };
    // Not a SOAP envelope; a DOCTYPE; a JWT asked to become a JWT; an audience not served; a forged JWT.
    let forged = {
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut claims = payload(&jwt);
        claims.insert("exp".into(), serde_json::json!(now() + 3000));
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
        format!("{}.{body}.{}", parts[0], parts[2])
    };
    for (body, sub, class) in [
        (b"<x/>".to_vec(), "InvalidRequest", "STRUCT"),
        (
            [
                b"<!DOCTYPE s [<!ENTITY e \"e\">]>".as_slice(),
                &rst(
                    &jwt_token(&jwt),
                    "urn:oasis:names:tc:SAML:2.0:assertion",
                    "x",
                ),
            ]
            .concat(),
            "InvalidRequest",
            "FORBIDDEN",
        ),
        (
            rst(
                &jwt_token(&jwt),
                "urn:ietf:params:oauth:token-type:jwt",
                "x",
            ),
            "InvalidRequest",
            "REQUEST",
        ),
        (
            rst(
                &jwt_token(&jwt),
                "urn:oasis:names:tc:SAML:2.0:assertion",
                "urn:other",
            ),
            "InvalidScope",
            "TARGET",
        ),
        (
            rst(
                &jwt_token(&forged),
                "urn:oasis:names:tc:SAML:2.0:assertion",
                "nhn:dokumentdeling-saml",
            ),
            "FailedAuthentication",
            "SIG",
        ),
    ] {
        let answer = post_soap(&app, STS, SOAP, body, &[]).await;
        assert_eq!(answer.status, 400, "{}", answer.text());
        fault(&answer.text(), sub);
        let last = last_record(&app);
        assert_eq!(last.outcome, Outcome::Rejected);
        assert_eq!(
            last.error_class.map(|c| c.as_str()),
            Some(class),
            "{}",
            answer.text()
        );
    }
    // A mustUnderstand header block the endpoint does not know.
    let body = String::from_utf8(rst(
        &jwt_token(&jwt),
        "urn:oasis:names:tc:SAML:2.0:assertion",
        "x",
    ))
    .unwrap()
    .replace(
        "<s:Header>",
        r#"<s:Header><x:Unknown xmlns:x="urn:x" s:mustUnderstand="true"/>"#,
    );
    let answer = post_soap(&app, STS, SOAP, body.into_bytes(), &[]).await;
    assert_eq!(answer.status, 500, "{}", answer.text());
    assert!(
        answer.text().contains("soapenv:MustUnderstand"),
        "{}",
        answer.text()
    );

    // The corpus: the epSOS TRC request is two documents (STRUCT); its first alone asks with TRC
    // parameters (REQUEST); without them it asks for a SAML assertion (the TRC) for its HCP assertion,
    // which is not a translation (REQUEST). The Swiss requests ask with wst:Claims (REQUEST).
    let Some(trc) = corpus_file("wstrust/openncp-legacy_trc_SampleRST.xml") else {
        return;
    };
    let bytes = std::fs::read(&trc).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let first = &text[..text.find("</S:Envelope>").unwrap() + "</S:Envelope>".len()];
    let start = first.find("<trc:TRCParameters").unwrap();
    let end = first.find("</trc:TRCParameters>").unwrap() + "</trc:TRCParameters>".len();
    let plain = format!("{}{}", &first[..start], &first[end..]);
    let mut cases = vec![
        (bytes, "InvalidRequest", "STRUCT"),
        (first.as_bytes().to_vec(), "InvalidRequest", "REQUEST"),
        // A TRC request: a SAML assertion asked for on the strength of another, which is no translation.
        (plain.into_bytes(), "InvalidRequest", "REQUEST"),
    ];
    for name in [
        "xua-ch/epr-by-example_1_Get_X-User_Assertion_Request-Healthcare_Provider.xml",
        "xua-ch/epr-by-example_samples_GetXAssertion_request_raw.xml",
    ] {
        if let Some(f) = corpus_file(name) {
            cases.push((std::fs::read(f).unwrap(), "InvalidRequest", "REQUEST"));
        }
    }
    for (body, sub, class) in cases {
        let answer = post_soap(&app, STS, SOAP, body, &[]).await;
        assert_eq!(answer.status, 400, "{}", answer.text());
        fault(&answer.text(), sub);
        let last = last_record(&app);
        assert_eq!(last.outcome, Outcome::Rejected);
        assert_eq!(
            last.error_class.map(|c| c.as_str()),
            Some(class),
            "{}",
            answer.text()
        );
    }
}
