//! Signatures across the SOAP edge, checked with the xmlsec1 CLI and the gateway's own verifier: an assertion
//! injected into every corpus request stays valid in its new context while every other byte is kept; an
//! assertion signed inside an envelope and cut out verifies standalone only with the carried declarations;
//! an RSTR's assertion verifies.

use crate::xmlsec1;

use std::path::Path;
use std::process::Command;

use time::{Duration, OffsetDateTime};
use xmlsec1::xmlsec1_available;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::ns;
use xua_gateway::saml::dsig::{self, TrustAnchor};
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::soap::inject::{inject_security, Window};
use xua_gateway::soap::wstrust::{
    read_issue, response_envelope, IssueResponse, IssuedToken, ResponseShape, SubjectToken,
};
use xua_gateway::soap::xca::read_request;
use xua_gateway::soap::{scan, uri, BlockKind, Envelope, SoapLimits};

const ID_ATTR: &str = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion";

fn corpus() -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ihe");
    if root.join("xca").is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus is required in CI"
    );
    eprintln!(
        "!!!!!!!! SKIPPING SOAP corpus signature checks: {} is missing !!!!!!!!",
        root.display()
    );
    None
}

fn minted() -> Vec<u8> {
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    samples::mint_assertion(
        profiles.default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn window() -> Window {
    let now = OffsetDateTime::now_utc();
    Window {
        created: now,
        expires: now + Duration::minutes(5),
    }
}

/// `xmlsec1 --verify` of `xml` against `cert_pem`; (success, stderr).
fn cli_verify(xml: &[u8], cert_pem: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let file = dir.path().join("doc.xml");
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmlsec1")
        .args(["--verify", "--id-attr:ID", ID_ATTR, "--pubkey-cert-pem"])
        .arg(&cert)
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The bytes of every header block except Security, and of the Body, in order.
fn kept_parts<'a>(env: &Envelope<'a>) -> Vec<&'a [u8]> {
    let mut parts: Vec<&[u8]> = env
        .blocks
        .iter()
        .filter(|b| b.kind != BlockKind::Security)
        .map(|b| env.slice(&b.range))
        .collect();
    parts.push(env.slice(&env.body.whole()));
    parts.push(env.slice(&env.envelope.start_tag));
    parts
}

#[test]
fn an_injected_assertion_verifies_in_every_corpus_request_and_nothing_else_changes() {
    if !xmlsec1_available() {
        return;
    }
    let Some(root) = corpus() else { return };
    let assertion = minted();
    let mut requests: Vec<(String, Vec<u8>)> = [
        "xca/connect_saml_header_diff_order.xml",
        "xca/dk-ehdsi_test-tool_template_xca_query_request-ps.xml",
        "xca/epr-by-example_samples_ITI-43_request_raw.xml",
        "xca/metriport_epic-iti-38-request.xml",
        "xca/nhn-xcads_IT_iti-38_request.xml",
        "xca/nhn-xcads_iti38-iti40-request-kj.xml",
        "xca/nist-toolkit2_soap-xcq-req.xml",
        "xca/nist-toolkit2_soap-xcr-req.xml",
        "xua-ch/epr-by-example_samples_ITI-18_request_raw.xml",
    ]
    .iter()
    .map(|n| (n.to_string(), std::fs::read(root.join(n)).unwrap()))
    .collect();
    // A hostile context: the Envelope binds xs and the default namespace to other URIs.
    requests.push((
        "hostile-context".into(),
        br#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:xs="urn:not-xml-schema" xmlns="urn:evil" xmlns:saml="urn:not-saml"><S:Header><a:Action xmlns:a="http://www.w3.org/2005/08/addressing">urn:ihe:iti:2007:CrossGatewayRetrieve</a:Action></S:Header><S:Body><x:RetrieveDocumentSetRequest xmlns:x="urn:ihe:iti:xds-b:2007"><x:DocumentRequest><x:RepositoryUniqueId>1</x:RepositoryUniqueId><x:DocumentUniqueId>2</x:DocumentUniqueId></x:DocumentRequest></x:RetrieveDocumentSetRequest></S:Body></S:Envelope>"#.to_vec(),
    ));
    for (name, bytes) in &requests {
        let before = scan(bytes, &SoapLimits::default()).unwrap();
        let out = inject_security(&before, &assertion, &window()).unwrap();
        let after = scan(&out, &SoapLimits::default()).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(
            kept_parts(&before),
            kept_parts(&after),
            "{name}: bytes changed"
        );
        assert_eq!(after.blocks_of(BlockKind::Security).count(), 1, "{name}");
        assert_eq!(
            read_request(&before).unwrap(),
            read_request(&after).unwrap(),
            "{name}"
        );
        let security = after.blocks_of(BlockKind::Security).next().unwrap();
        assert!(security.must_understand, "{name}");
        let (ok, why) = cli_verify(&out, samples::SAMPLE_IDP_CERT);
        assert!(ok, "{name}: xmlsec1 refused the injected assertion: {why}");
        // The check can fail: one changed byte in the assertion breaks it.
        let text = String::from_utf8(out.clone()).unwrap();
        let tampered = text.replacen("21868534521", "21868534522", 1);
        assert_ne!(
            tampered, text,
            "{name}: the minted patient is not in the assertion"
        );
        assert!(
            !cli_verify(tampered.as_bytes(), samples::SAMPLE_IDP_CERT).0,
            "{name}"
        );
    }
}

#[test]
fn an_assertion_signed_inside_an_envelope_verifies_standalone_with_its_carried_declarations() {
    if !xmlsec1_available() {
        return;
    }
    // xs is declared only on the Envelope; the assertion uses it in xsi:type and lists it in the PrefixList,
    // so exclusive c14n renders it: the issuer's signature covers a binding the assertion does not declare.
    let template = format!(
        concat!(
            r##"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:wsse="{wsse}">"##,
            r##"<S:Header><wsse:Security><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_in-context" IssueInstant="2026-01-01T00:00:00Z" Version="2.0">"##,
            "<saml2:Issuer>{issuer}</saml2:Issuer>",
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"##,
            r##"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_in-context"><ds:Transforms>"##,
            r##"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">"##,
            r##"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms>"##,
            r##"<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"##,
            r##"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##,
            r##"<saml2:Subject><saml2:NameID>n</saml2:NameID></saml2:Subject><saml2:AttributeStatement><saml2:Attribute Name="a">"##,
            r##"<saml2:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">v</saml2:AttributeValue>"##,
            "</saml2:Attribute></saml2:AttributeStatement></saml2:Assertion></wsse:Security></S:Header>",
            r##"<S:Body><wst:RequestSecurityToken xmlns:wst="{wst}"><wst:RequestType>{issue}</wst:RequestType></wst:RequestSecurityToken></S:Body></S:Envelope>"##
        ),
        wsse = ns::WSSE,
        issuer = samples::SAMPLE_IDP,
        wst = ns::WST,
        issue = uri::WST_ISSUE,
    );
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let input = dir.path().join("template.xml");
    let output = dir.path().join("signed.xml");
    std::fs::write(&key, samples::SAMPLE_IDP_KEY).unwrap();
    std::fs::write(&cert, samples::SAMPLE_IDP_CERT).unwrap();
    std::fs::write(&input, &template).unwrap();
    let mut key_arg = key.into_os_string();
    key_arg.push(",");
    key_arg.push(cert.as_os_str());
    let out = Command::new("xmlsec1")
        .args(["--sign", "--id-attr:ID", ID_ATTR, "--privkey-pem"])
        .arg(key_arg)
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmlsec1 --sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = std::fs::read(&output).unwrap();
    assert!(
        cli_verify(&signed, samples::SAMPLE_IDP_CERT).0,
        "the in-context signature itself"
    );

    let env = scan(&signed, &SoapLimits::default()).unwrap();
    let request = read_issue(&env).unwrap();
    let SubjectToken::Saml(cut) = &request.subject else {
        panic!("not a SAML subject")
    };
    let standalone = cut.standalone();
    let anchor = TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).unwrap();
    let (ok, why) = cli_verify(&standalone, samples::SAMPLE_IDP_CERT);
    assert!(ok, "xmlsec1 refused the standalone assertion: {why}");
    let verified = dsig::verify_assertion(&standalone, &anchor).unwrap();
    assert_eq!(verified.assertion_id, "_in-context");
    // Without the carried declarations the same bytes are a different document: both verifiers refuse.
    assert!(!cli_verify(cut.bytes_as_sent(), samples::SAMPLE_IDP_CERT).0);
    assert!(dsig::verify_assertion(cut.bytes_as_sent(), &anchor).is_err());
}

#[test]
fn the_assertion_in_an_rstrc_verifies() {
    if !xmlsec1_available() {
        return;
    }
    let assertion = minted();
    let now = OffsetDateTime::now_utc();
    let response = IssueResponse {
        token: IssuedToken::Saml {
            assertion: &assertion,
            id: None,
        },
        token_type: uri::TT_SAMLV20,
        applies_to: Some("urn:aud"),
        created: now,
        expires: now + Duration::minutes(5),
        context: None,
    };
    let xml = response_envelope(&response, ResponseShape::Collection, Some("urn:uuid:1")).unwrap();
    let (ok, why) = cli_verify(xml.as_bytes(), samples::SAMPLE_IDP_CERT);
    assert!(ok, "{why}");
}
