//! Unit tests for the layers beneath the public API, each on its own: what libxmlsec1 refuses even if the
//! SignedInfo profile check were bypassed, the post-verification binding check, and the parser gates.
//! (The public behaviour is tested in tests/dsig.rs.)

use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

use super::ffi::{self, Doc, Elem, IdProblem, VerifyFailure};
use super::*;

fn keys() -> &'static (SigningIdentity, TrustAnchor, SigningIdentity) {
    static KEYS: OnceLock<(SigningIdentity, TrustAnchor, SigningIdentity)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || {
            let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let mut name = X509NameBuilder::new().unwrap();
            name.append_entry_by_text("CN", "unit-idp").unwrap();
            let name = name.build();
            let mut builder = X509::builder().unwrap();
            builder.set_version(2).unwrap();
            builder.set_subject_name(&name).unwrap();
            builder.set_issuer_name(&name).unwrap();
            builder.set_pubkey(&key).unwrap();
            builder
                .set_not_before(&Asn1Time::days_from_now(0).unwrap())
                .unwrap();
            builder
                .set_not_after(&Asn1Time::days_from_now(30).unwrap())
                .unwrap();
            builder.sign(&key, MessageDigest::sha256()).unwrap();
            (
                key.private_key_to_pem_pkcs8().unwrap(),
                builder.build().to_pem().unwrap(),
            )
        };
        let (key, cert) = make();
        let (attacker_key, attacker_cert) = make();
        (
            SigningIdentity::from_pem(&key, &cert).unwrap(),
            TrustAnchor::from_cert_pem(&cert).unwrap(),
            SigningIdentity::from_pem(&attacker_key, &attacker_cert).unwrap(),
        )
    })
}

const ID: &str = "_unit1";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

fn assertion(id: &str, name_id: &str) -> String {
    let saml = crate::ns::SAML;
    format!(
        r#"<saml:Assertion xmlns:saml="{saml}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" Version="2.0"><saml:Issuer>unit-idp</saml:Issuer><saml:Subject><saml:NameID>{name_id}</saml:NameID></saml:Subject><saml:AttributeStatement><saml:Attribute Name="a"><saml:AttributeValue xsi:type="xs:string">v</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#
    )
}

fn signed_by(identity: &SigningIdentity, id: &str, name_id: &str) -> String {
    String::from_utf8(sign_assertion(assertion(id, name_id).as_bytes(), identity).unwrap()).unwrap()
}

fn signed() -> String {
    signed_by(&keys().0, ID, "alice")
}

#[track_caller]
fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "test bug: {from:?} not found");
    xml.replacen(from, to, 1)
}

/// Runs xmlsec on the Assertion's signature exactly as `verify_pending` does, but WITHOUT the profile check,
/// so what is refused here is refused by the xmlsec context configuration alone.
fn xmlsec_only(xml: &str) -> Result<Vec<u8>, VerifyFailure> {
    let doc = parse_strict(xml.as_bytes()).unwrap();
    let located = locate(&doc).unwrap();
    let signature = located.assertion_signature.unwrap();
    let id = located.assertion.attr(c"ID").unwrap();
    let anchor = &keys().1;
    ffi::verify_enveloped(
        &doc,
        signature,
        located.assertion,
        &id,
        anchor.key().unwrap(),
        anchor.algorithms(),
    )
}

/// Asserts that the profile check would have refused `xml` (so the xmlsec-only result is the second layer).
#[track_caller]
fn profile_refuses(xml: &str) {
    let doc = parse_strict(xml.as_bytes()).unwrap();
    let located = locate(&doc).unwrap();
    let id = located.assertion.attr(c"ID").unwrap();
    assert!(profile::check(located.assertion_signature.unwrap(), &id).is_err());
}

struct Tripwire {
    listener: TcpListener,
    url: String,
}

impl Tripwire {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://127.0.0.1:{}/x",
            listener.local_addr().unwrap().port()
        );
        Tripwire { listener, url }
    }

    fn was_contacted(&self) -> bool {
        std::thread::sleep(Duration::from_millis(100));
        match self.listener.accept() {
            Ok(_) => true,
            Err(error) if error.kind() == ErrorKind::WouldBlock => false,
            Err(error) => panic!("tripwire: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// xmlsec's own allow-lists (second layer)
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn the_xmlsec_path_accepts_a_valid_signature() {
    // Control for the tests below: the same path succeeds on an unmodified document.
    let bytes = xmlsec_only(&signed()).unwrap();
    assert!(bytes.starts_with(b"<saml:Assertion "));
}

#[test]
fn xmlsec_refuses_xslt_without_executing_it() {
    let tripwire = Tripwire::new();
    let xml = edit(
        &signed(),
        &format!(r#"<ds:Transform Algorithm="{ENVELOPED}"/>"#),
        &format!(
            r#"<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:copy-of select="document('{}')"/></xsl:template></xsl:stylesheet></ds:Transform>"#,
            tripwire.url
        ),
    );
    profile_refuses(&xml);
    assert_eq!(
        xmlsec_only(&xml),
        Err(VerifyFailure::Processing {
            reason: ffi::reason::TRANSFORM_DISABLED
        })
    );
    assert!(!tripwire.was_contacted(), "XSLT was executed");
}

#[test]
fn xmlsec_refuses_xpath_sha1_rsa_sha1_and_inclusive_c14n() {
    let cases = [
        edit(
            &signed(),
            &format!(r#"<ds:Transform Algorithm="{ENVELOPED}"/>"#),
            r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#,
        ),
        edit(
            &signed(),
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
        edit(
            &signed(),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        ),
        edit(
            &signed(),
            &format!(r#"<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>"#),
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>"#,
        ),
        edit(
            &signed(),
            &format!(r#"<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>"#),
            &format!(r#"<ds:CanonicalizationMethod Algorithm="{EXC_C14N}WithComments"/>"#),
        ),
    ];
    for xml in cases {
        profile_refuses(&xml);
        assert_eq!(
            xmlsec_only(&xml),
            Err(VerifyFailure::Processing {
                reason: ffi::reason::TRANSFORM_DISABLED
            })
        );
    }
}

#[test]
fn xmlsec_refuses_empty_and_external_reference_uris_without_fetching() {
    let tripwire = Tripwire::new();
    for uri in ["", "file:///etc/hostname", tripwire.url.as_str()] {
        let xml = edit(
            &signed(),
            &format!(r##"URI="#{ID}""##),
            &format!(r#"URI="{uri}""#),
        );
        profile_refuses(&xml);
        assert_eq!(
            xmlsec_only(&xml),
            Err(VerifyFailure::Processing {
                reason: ffi::reason::INVALID_URI_TYPE
            }),
            "{uri}"
        );
    }
    assert!(!tripwire.was_contacted());
}

#[test]
fn xmlsec_uses_only_the_preset_key() {
    // A valid signature by another key, its certificate in KeyInfo: xmlsec never looks at KeyInfo.
    let forged = signed_by(&keys().2, ID, "mallory");
    assert_eq!(xmlsec_only(&forged), Err(VerifyFailure::SignatureMismatch));
    let tampered = edit(&signed(), "alice", "mallory");
    assert_eq!(xmlsec_only(&tampered), Err(VerifyFailure::DigestMismatch));
}

#[test]
fn xmlsec_reads_namespace_qualified_attributes_so_the_profile_refuses_them() {
    // The differential the profile check closes: our reader sees exc-c14n, xmlsec sees the XPath transform
    // (and its own allow-list still refuses it).
    let xml = edit(
        &signed(),
        &format!(r#"<ds:Transform Algorithm="{EXC_C14N}">"#),
        &format!(
            r#"<ds:Transform xmlns:p="urn:p" p:Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116" Algorithm="{EXC_C14N}">"#
        ),
    );
    profile_refuses(&xml);
    assert_eq!(
        xmlsec_only(&xml),
        Err(VerifyFailure::Processing {
            reason: ffi::reason::TRANSFORM_DISABLED
        })
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The post-verification binding (third layer)
// ---------------------------------------------------------------------------------------------------------------

fn assertions<'d>(doc: &'d Doc) -> Vec<Elem<'d>> {
    let root = doc.root().unwrap();
    root.descendants()
        .filter(|e| e.is(crate::ns::SAML, "Assertion"))
        .collect()
}

fn signature_of(element: Elem<'_>) -> Elem<'_> {
    element
        .children()
        .find(|e| e.is(crate::ns::DSIG, "Signature"))
        .unwrap()
}

#[test]
fn binding_catches_a_reference_that_resolves_to_another_node() {
    // Library-level wrapping (XSW): the original, unsigned content H sits hidden in Extensions and is the one
    // the ID table knows; the visible copy V carries the IdP's signature but an attacker's NameID. xmlsec
    // resolves `#ID` to H, whose digest matches, so the signature is valid; only the pointer check notices that
    // the node it verified is not the Signature's parent, the node we would hand out.
    let original = assertion(ID, "alice");
    let visible = edit(&signed(), "alice", "mallory");
    let samlp = crate::ns::SAMLP;
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="{samlp}" ID="_resp"><samlp:Extensions>{original}</samlp:Extensions>{visible}</samlp:Response>"#
    );
    let doc = Doc::parse(xml.as_bytes()).unwrap();
    // Registration stops at the duplicate, leaving the hidden copy in the table (parse_strict would refuse).
    assert_eq!(doc.register_ids(), Err(IdProblem::Duplicate));
    let found = assertions(&doc);
    assert_eq!(found.len(), 2);
    let anchor = &keys().1;
    let result = ffi::verify_enveloped(
        &doc,
        signature_of(found[1]),
        found[1],
        ID,
        anchor.key().unwrap(),
        anchor.algorithms(),
    );
    // `Binding` is only reported after xmlsec said Succeeded.
    assert_eq!(
        result,
        Err(VerifyFailure::Binding(
            "reference resolves to a different node"
        ))
    );
}

#[test]
fn binding_checks_the_uri_and_the_parent() {
    let xml = signed();
    let doc = parse_strict(xml.as_bytes()).unwrap();
    let located = locate(&doc).unwrap();
    let signature = located.assertion_signature.unwrap();
    let anchor = &keys().1;
    let other_id = ffi::verify_enveloped(
        &doc,
        signature,
        located.assertion,
        "_other",
        anchor.key().unwrap(),
        anchor.algorithms(),
    );
    assert_eq!(
        other_id,
        Err(VerifyFailure::Binding("verified reference URI differs"))
    );
    let issuer = located.assertion.children().next().unwrap();
    let wrong_parent = ffi::verify_enveloped(
        &doc,
        signature,
        issuer,
        ID,
        anchor.key().unwrap(),
        anchor.algorithms(),
    );
    assert_eq!(
        wrong_parent,
        Err(VerifyFailure::Binding(
            "Signature is not a child of the signed element"
        ))
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Parser gates, each on its own
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn post_parse_dtd_check_works_without_the_prescan() {
    let tripwire = Tripwire::new();
    let xml = format!(
        r#"<!DOCTYPE x [<!ENTITY e "v"><!ENTITY ext SYSTEM "{}">]><x>&e;&ext;</x>"#,
        tripwire.url
    );
    let doc = Doc::parse(xml.as_bytes()).unwrap();
    assert!(doc.has_dtd());
    let external = format!(r#"<!DOCTYPE x SYSTEM "{}"><x/>"#, tripwire.url);
    let doc = Doc::parse(external.as_bytes()).unwrap();
    assert!(doc.has_dtd());
    assert!(!Doc::parse(b"<x/>").unwrap().has_dtd());
    assert!(
        !tripwire.was_contacted(),
        "the parser fetched an external entity or DTD"
    );
}

#[test]
fn prescan_finds_a_doctype_only_in_the_prolog() {
    assert!(prolog_has_doctype(b"<!DOCTYPE x><x/>"));
    assert!(prolog_has_doctype(
        b"<?xml version=\"1.0\"?>\n<!-- c --><!DOCTYPE x [<!ENTITY a \"b\">]><x/>"
    ));
    assert!(prolog_has_doctype(b"\xEF\xBB\xBF<!DOCTYPE x><x/>"));
    assert!(!prolog_has_doctype(b"<!-- <!DOCTYPE x> --><x/>"));
    assert!(!prolog_has_doctype(b"<x><![CDATA[<!DOCTYPE x>]]></x>"));
    assert!(!prolog_has_doctype(b"<x/>"));
}

#[test]
fn parser_refuses_malformed_input_instead_of_recovering() {
    assert!(Doc::parse(b"<a><b></a>").is_none());
    assert!(Doc::parse(b"<a>&undeclared;</a>").is_none());
    assert!(Doc::parse(b"<a/><b/>").is_none());
    assert!(Doc::parse(b"<a/>").is_some());
}

#[test]
fn id_registration_refuses_duplicates_xml_id_clashes_and_non_ncnames() {
    let register = |xml: &str| Doc::parse(xml.as_bytes()).unwrap().register_ids();
    assert_eq!(register(r#"<a ID="x"><b ID="y"/></a>"#), Ok(()));
    assert_eq!(
        register(r#"<a ID="x"><b ID="x"/></a>"#),
        Err(IdProblem::Duplicate)
    );
    assert_eq!(
        register(r#"<a ID="x"><b xml:id="x"/></a>"#),
        Err(IdProblem::Duplicate)
    );
    assert_eq!(
        register(r#"<a ID="x') or ('"/>"#),
        Err(IdProblem::NotNcName)
    );
    assert_eq!(register(r#"<a ID=""/>"#), Err(IdProblem::NotNcName));
    assert_eq!(register(r#"<a ID="1x"/>"#), Err(IdProblem::NotNcName));
    // Namespaced attributes named ID are not SAML IDs and are left alone.
    assert_eq!(register(r#"<a xmlns:p="urn:p" p:ID="x" ID="x"/>"#), Ok(()));
}

#[test]
fn unknown_algorithm_uris_are_never_echoed() {
    let xml = edit(
        &signed(),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "urn:secret:12345678901",
    );
    let rejection = verify_assertion(xml.as_bytes(), &keys().1).unwrap_err();
    assert_eq!(rejection.class, crate::error::ErrorClass::Forbidden);
    assert!(!rejection.message.contains("12345678901"));
}
