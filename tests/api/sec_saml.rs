//! The SAML items of the attack checklist (docs/attack-checklist.md, items 1–38), one test per item, named
//! after its number. Every bad input is built from a freshly minted, validly signed assertion (see `forge`)
//! and sent through `POST /token`; each test asserts the error class, that no token was issued, that the
//! input is not echoed, and that exactly one audit record was written.
//!
//! Where the gateway's class differs from the checklist's, the test says why.

use time::Duration;

use crate::forge::*;
use crate::helpers::*;

// ------------------------------------------------------------------------------------------------------------
// XML parsing: DTDs, entities, XInclude
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_01_doctype_billion_laughs() {
    let app = spawn_app().await;
    let mut dtd = String::from("<!DOCTYPE saml:Assertion [<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let prev = format!("&lol{};", i - 1);
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", prev.repeat(10)));
    }
    dtd.push(']');
    dtd.push('>');
    let bomb = edit(
        &signed(),
        "TEST FASTLEGE SVENDSEN",
        "TEST FASTLEGE SVENDSEN&lol9;",
    );
    let started = std::time::Instant::now();
    expect_rejected(&app, &format!("{dtd}{bomb}"), "FORBIDDEN", "DOCTYPE").await;
    // Refused before any expansion: 10^9 "lol"s would take far longer than this.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[actix_web::test]
async fn sec_02_external_and_parameter_entities() {
    let app = spawn_app().await;
    let tripwire = Tripwire::new();
    let url = &tripwire.url;
    let base = signed();
    let with_ref = edit(
        &base,
        &format!(">{PRACTITIONER}</saml:NameID>"),
        ">&xxe;</saml:NameID>",
    );
    for dtd in [
        format!("<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM \"{url}\">]>"),
        "<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>".to_string(),
        format!("<!DOCTYPE saml:Assertion [<!ENTITY % p SYSTEM \"{url}\"> %p;]>"),
        format!("<!DOCTYPE saml:Assertion SYSTEM \"{url}\">"),
    ] {
        expect_rejected(&app, &format!("{dtd}{with_ref}"), "FORBIDDEN", "DOCTYPE").await;
    }
    // A reference to an entity nobody declared (no DTD at all) is refused too.
    expect_rejected(&app, &with_ref, "FORBIDDEN", "refers to an entity").await;
    assert!(!tripwire.was_contacted(), "an external entity was fetched");
}

#[actix_web::test]
async fn sec_03_xinclude() {
    let app = spawn_app().await;
    let tripwire = Tripwire::new();
    for namespace in [
        "http://www.w3.org/2001/XInclude",
        "http://www.w3.org/2003/XInclude",
    ] {
        let include = format!(
            r#"<xi:include xmlns:xi="{namespace}" href="{}" parse="text"/>"#,
            tripwire.url
        );
        let xml = edit(
            &signed(),
            "<saml:AttributeValue>TEST FASTLEGE SVENDSEN",
            &format!("<saml:AttributeValue>{include}TEST FASTLEGE SVENDSEN"),
        );
        expect_rejected(&app, &xml, "FORBIDDEN", "XInclude").await;
    }
    assert!(!tripwire.was_contacted());
}

// ------------------------------------------------------------------------------------------------------------
// Text splitting: comments, processing instructions, CDATA
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_04_comment_or_pi_inside_nameid_or_attribute_value() {
    let app = spawn_app().await;
    // Exclusive c14n drops comments, so each of these still has a valid signature (tests/dsig.rs proves it
    // for the library); a reader taking the first text node would see a truncated identity.
    let nameid = format!(">{PRACTITIONER}</saml:NameID>");
    for (from, to, message) in [
        (
            nameid.clone(),
            ">12837<!---->034688</saml:NameID>".to_string(),
            "comments",
        ),
        (
            "TEST FASTLEGE SVENDSEN".to_string(),
            "TEST FASTLEGE<!-- attacker --> SVENDSEN".to_string(),
            "comments",
        ),
        (
            nameid.clone(),
            ">12837<?split here?>034688</saml:NameID>".to_string(),
            "processing instructions",
        ),
        (
            "TEST FASTLEGE SVENDSEN".to_string(),
            "TEST FASTLEGE<?x?> SVENDSEN".to_string(),
            "processing instructions",
        ),
    ] {
        let xml = edit(&signed(), &from, &to);
        expect_rejected(&app, &xml, "STRUCT", message).await;
    }
}

#[actix_web::test]
async fn sec_05_comment_inside_digest_value() {
    let app = spawn_app().await;
    let xml = signed();
    let digest = between(&xml, "<ds:DigestValue>", "</ds:DigestValue>").to_string();
    let split = format!("{}<!-- -->{}", &digest[..10], &digest[10..]);
    let xml = edit(&xml, &digest, &split);
    expect_rejected(
        &app,
        &xml,
        "SIG",
        "comments are not allowed inside ds:Signature",
    )
    .await;
}

#[actix_web::test]
async fn sec_06_cdata_split_nameid() {
    let app = spawn_app().await;
    // Content changed inside a CDATA section: c14n turns CDATA into text, so the digest sees the change.
    let changed = edit(
        &signed(),
        &format!(">{PRACTITIONER}</saml:NameID>"),
        ">1403523<![CDATA[4595]]></saml:NameID>",
    );
    expect_rejected(&app, &changed, "SIG", "digest").await;

    // The same content merely split by CDATA is the same signed text, and the gateway reads all of it.
    let split = edit(
        &signed(),
        &format!(">{PRACTITIONER}</saml:NameID>"),
        ">1283703<![CDATA[4688]]></saml:NameID>",
    );
    let body = expect_accepted(&app, &split).await;
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["sub"],
        PRACTITIONER
    );
}

// ------------------------------------------------------------------------------------------------------------
// Signature wrapping (SAML Raider's XSW1–8)
// ------------------------------------------------------------------------------------------------------------

/// A Response around the signed assertion, itself signed by the IdP (with the xmlsec1 CLI: our signer only
/// signs assertions). None when the CLI is missing outside CI.
fn signed_response(assertion: &str, id: &str) -> Option<String> {
    if !xmlsec1_available() {
        return None;
    }
    Some(xmlsec1_sign(&response_parts(
        id,
        &template(&format!("#{id}"), RSA_SHA256, SHA256),
        assertion,
    )))
}

#[actix_web::test]
async fn sec_07_xsw1_xsw2_response_clone() {
    let app = spawn_app().await;
    let original = signed();
    let Some(signed_response) = signed_response(&original, "_resp") else {
        return;
    };
    // The control: the signed Response around the signed assertion is accepted.
    expect_accepted(&app, &signed_response).await;

    let response_signature = signature_block(&signed_response);
    let clone = signed_response.replacen(&response_signature, "", 1);
    let evil = evil_copy(&signed(), "_evil-assertion");
    // XSW1: an evil Response (new ID, evil assertion) whose Signature holds the original Response (the one
    // the Reference points at).
    let xsw1 = response(
        "_evil-response",
        &format!(
            "{}{evil}",
            edit(
                &response_signature,
                "</ds:Signature>",
                &format!("{clone}</ds:Signature>")
            )
        ),
    );
    expect_rejected(&app, &xsw1, "STRUCT", "more than one Assertion").await;
    // XSW2: the same clone placed beside the Signature instead of inside it.
    let xsw2 = response(
        "_evil-response",
        &format!("{clone}{response_signature}{evil}"),
    );
    expect_rejected(&app, &xsw2, "STRUCT", "more than one Assertion").await;
    // XSW1 without a second assertion: the only Assertion is inside the Signature, not a Response child.
    let only_clone = response(
        "_evil-response",
        &edit(
            &response_signature,
            "</ds:Signature>",
            &format!("{clone}</ds:Signature>"),
        ),
    );
    expect_rejected(&app, &only_clone, "STRUCT", "").await;
}

#[actix_web::test]
async fn sec_08_xsw3_xsw4_evil_assertion_before_or_wrapping() {
    let app = spawn_app().await;
    let original = signed();
    let evil = evil_copy(&original, "_evil");
    // XSW3: the evil assertion first, the signed one after it.
    let xsw3 = response("_r", &format!("{evil}{original}"));
    expect_rejected(&app, &xsw3, "STRUCT", "more than one Assertion").await;
    // XSW4: the evil assertion wraps the signed one (as the Response's assertion, and standalone).
    let wrapping = edit(
        &evil,
        "</saml:Assertion>",
        &format!("{original}</saml:Assertion>"),
    );
    expect_rejected(
        &app,
        &response("_r", &wrapping),
        "STRUCT",
        "more than one Assertion",
    )
    .await;
    expect_rejected(&app, &wrapping, "STRUCT", "more than one Assertion").await;
}

#[actix_web::test]
async fn sec_09_xsw5_xsw6_signed_copy_moved() {
    let app = spawn_app().await;
    let original = signed();
    let signature = signature_block(&original);
    let unsigned_original = strip_signature(&original);
    // The evil assertion carries the original Signature (whose Reference names the original ID)...
    let evil_signed = edit(
        &evil_copy(&original, "_evil"),
        "</saml:Issuer>",
        &format!("</saml:Issuer>{signature}"),
    );
    // XSW5: ...and the original, unsigned, goes to the end of the document.
    let xsw5 = response("_r", &format!("{evil_signed}{unsigned_original}"));
    expect_rejected(&app, &xsw5, "STRUCT", "more than one Assertion").await;
    let xsw5_standalone = edit(
        &evil_signed,
        "</saml:AttributeStatement>",
        &format!("</saml:AttributeStatement>{unsigned_original}"),
    );
    expect_rejected(&app, &xsw5_standalone, "STRUCT", "more than one Assertion").await;
    // XSW6: ...and the original, unsigned, goes inside that Signature.
    let xsw6 = edit(
        &evil_copy(&original, "_evil"),
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer>{}",
            edit(
                &signature,
                "</ds:Signature>",
                &format!("{unsigned_original}</ds:Signature>")
            )
        ),
    );
    expect_rejected(&app, &xsw6, "STRUCT", "more than one Assertion").await;
}

#[actix_web::test]
async fn sec_10_xsw7_extensions_xsw8_object() {
    let app = spawn_app().await;
    let original = signed();
    let evil = evil_copy(&original, "_evil");
    // XSW7: the signed assertion hidden in the Response's Extensions, the evil one as the Response's.
    let xsw7 = response(
        "_r",
        &format!("<samlp:Extensions>{original}</samlp:Extensions>{evil}"),
    );
    expect_rejected(&app, &xsw7, "STRUCT", "more than one Assertion").await;
    // XSW8: the evil assertion carries the original Signature, with the original assertion inside a
    // ds:Object of it.
    let signature = signature_block(&original);
    let with_object = edit(
        &signature,
        "</ds:Signature>",
        &format!(
            "<ds:Object>{}</ds:Object></ds:Signature>",
            strip_signature(&original)
        ),
    );
    let xsw8 = edit(
        &evil,
        "</saml:Issuer>",
        &format!("</saml:Issuer>{with_object}"),
    );
    expect_rejected(&app, &xsw8, "STRUCT", "more than one Assertion").await;
    // A ds:Object in an otherwise valid signature is refused by the profile, whatever it holds.
    let object_only = edit(
        &original,
        "</ds:KeyInfo>",
        "</ds:KeyInfo><ds:Object><x>y</x></ds:Object>",
    );
    expect_rejected(&app, &object_only, "STRUCT", "ds:Object").await;
}

#[actix_web::test]
async fn sec_11_duplicate_ids() {
    let app = spawn_app().await;
    let original = signed();
    let id = assertion_id(&original);
    // Another element carrying the signed assertion's ID, before it in document order.
    let twin = response("_r", &format!(r#"<samlp:Extensions ID="{id}"/>{original}"#));
    expect_rejected(&app, &twin, "STRUCT", "duplicate ID").await;
    // The Response itself carrying it.
    let same_as_response = response(&id, &original);
    expect_rejected(&app, &same_as_response, "STRUCT", "duplicate ID").await;
    // An xml:id clash inside the assertion.
    let xml_id = edit(
        &original,
        "<saml:Subject>",
        &format!(r#"<saml:Subject xml:id="{id}">"#),
    );
    expect_rejected(&app, &xml_id, "STRUCT", "duplicate ID").await;
}

#[actix_web::test]
async fn sec_12_bad_reference_uris() {
    let app = spawn_app().await;
    for (uri, class, message) in [
        ("".to_string(), "FORBIDDEN", "must not be empty"),
        (
            "http://attacker.example/assertion.xml".to_string(),
            "FORBIDDEN",
            "external URIs are not allowed",
        ),
        ("#xpointer(/)".to_string(), "FORBIDDEN", "XPointer"),
        ("#xpointer(id('_x'))".to_string(), "FORBIDDEN", "XPointer"),
        (
            "#_another-element".to_string(),
            "STRUCT",
            "'#'+ID of the signed element",
        ),
    ] {
        let xml = signed();
        let id = assertion_id(&xml);
        let xml = edit(&xml, &format!("URI=\"#{id}\""), &format!("URI=\"{uri}\""));
        expect_rejected(&app, &xml, class, message).await;
    }
    let xml = signed();
    let id = assertion_id(&xml);
    let no_uri = edit(&xml, &format!(" URI=\"#{id}\""), "");
    expect_rejected(&app, &no_uri, "FORBIDDEN", "no URI").await;
}

#[actix_web::test]
async fn sec_13_two_references_or_two_signed_infos() {
    let app = spawn_app().await;
    let xml = signed();
    let reference = format!(
        "<ds:Reference{}</ds:Reference>",
        between(&xml, "<ds:Reference", "</ds:Reference>")
    );
    let two_references = edit(
        &xml,
        "</ds:SignedInfo>",
        &format!("{reference}</ds:SignedInfo>"),
    );
    expect_rejected(
        &app,
        &two_references,
        "STRUCT",
        "more than one ds:Reference",
    )
    .await;

    let signed_info = format!(
        "<ds:SignedInfo>{}</ds:SignedInfo>",
        between(&xml, "<ds:SignedInfo>", "</ds:SignedInfo>")
    );
    let two = edit(
        &xml,
        "<ds:SignatureValue>",
        &format!("{signed_info}<ds:SignatureValue>"),
    );
    expect_rejected(&app, &two, "STRUCT", "more than one ds:SignedInfo").await;
    // CVE-2025-29774: a second SignedInfo wrapped where a naive reader might look for it.
    let wrapped = edit(
        &xml,
        "<ds:KeyInfo>",
        &format!("<ds:KeyInfo><ds:KeyName>{signed_info}</ds:KeyName>"),
    );
    expect_rejected(&app, &wrapped, "STRUCT", "more than one ds:SignedInfo").await;
}

#[actix_web::test]
async fn sec_14_signature_not_an_immediate_child() {
    let app = spawn_app().await;
    let xml = signed();
    let signature = signature_block(&xml);
    let moved = edit(
        &strip_signature(&xml),
        "<saml:Subject>",
        &format!("<saml:Subject>{signature}"),
    );
    expect_rejected(&app, &moved, "STRUCT", "not an immediate child").await;
    let wrapped = edit(
        &xml,
        &signature,
        &format!("<saml:Advice>{signature}</saml:Advice>"),
    );
    expect_rejected(&app, &wrapped, "STRUCT", "not an immediate child").await;
}

// ------------------------------------------------------------------------------------------------------------
// The signature profile: transforms, canonicalisation, algorithms
// ------------------------------------------------------------------------------------------------------------

const EXC_TRANSFORM: &str = r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>"#;
const ENVELOPED_TRANSFORM: &str =
    r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#;

#[actix_web::test]
async fn sec_15_dangerous_or_wrong_transforms() {
    let app = spawn_app().await;
    let tripwire = Tripwire::new();
    let xslt = format!(
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:copy-of select="document('{}')"/></xsl:template></xsl:stylesheet></ds:Transform>"#,
        tripwire.url
    );
    let xpath = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#;
    let filter2 = r#"<ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2"><dsig-xpath:XPath xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2" Filter="intersect">/</dsig-xpath:XPath></ds:Transform>"#;
    for (transforms, message) in [
        (format!("{ENVELOPED_TRANSFORM}{xslt}"), "is not allowed"),
        (format!("{ENVELOPED_TRANSFORM}{xpath}"), "is not allowed"),
        (format!("{ENVELOPED_TRANSFORM}{filter2}"), "is not allowed"),
        (
            format!("{ENVELOPED_TRANSFORM}{EXC_TRANSFORM}{EXC_TRANSFORM}"),
            "exactly two transforms",
        ),
        (EXC_TRANSFORM.to_string(), "exactly two transforms"),
        (
            format!("{EXC_TRANSFORM}{ENVELOPED_TRANSFORM}"),
            "exactly two transforms",
        ),
    ] {
        let xml = signed();
        let current = format!(
            "<ds:Transforms>{}</ds:Transforms>",
            between(&xml, "<ds:Transforms>", "</ds:Transforms>")
        );
        let xml = edit(
            &xml,
            &current,
            &format!("<ds:Transforms>{transforms}</ds:Transforms>"),
        );
        expect_rejected(&app, &xml, "FORBIDDEN", message).await;
    }
    assert!(!tripwire.was_contacted(), "the XSLT transform was executed");
}

#[actix_web::test]
async fn sec_16_with_comments_or_inclusive_c14n() {
    let app = spawn_app().await;
    let c14n_method =
        r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;
    for algorithm in [
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
    ] {
        // On SignedInfo...
        let xml = edit(
            &signed(),
            c14n_method,
            &format!(r#"<ds:CanonicalizationMethod Algorithm="{algorithm}"/>"#),
        );
        expect_rejected(&app, &xml, "FORBIDDEN", "is not allowed").await;
        // ...and on the Reference.
        let xml = edit(
            &signed(),
            EXC_TRANSFORM,
            &format!(r#"<ds:Transform Algorithm="{algorithm}"/>"#),
        );
        expect_rejected(&app, &xml, "FORBIDDEN", "is not allowed").await;
    }
}

#[actix_web::test]
async fn sec_17_weak_algorithms() {
    let app = spawn_app().await;
    for (from, to) in [
        (RSA_SHA256, RSA_SHA1),
        (RSA_SHA256, "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"),
        (SHA256, SHA1),
        (SHA256, "http://www.w3.org/2001/04/xmldsig-more#md5"),
    ] {
        let xml = edit(
            &signed(),
            &format!("Algorithm=\"{from}\""),
            &format!("Algorithm=\"{to}\""),
        );
        expect_rejected(&app, &xml, "FORBIDDEN", "is not allowed").await;
    }
    // A mathematically valid rsa-sha1/sha1 signature by the trusted IdP key is refused all the same: the
    // algorithm policy is checked before any crypto.
    if xmlsec1_available() {
        let unsigned = strip_signature(&signed());
        let id = assertion_id(&unsigned);
        let with_template = edit(
            &unsigned,
            "</saml:Issuer>",
            &format!(
                "</saml:Issuer>{}",
                template(&format!("#{id}"), RSA_SHA1, SHA1)
            ),
        );
        let sha1_signed = xmlsec1_sign(&with_template);
        expect_rejected(&app, &sha1_signed, "FORBIDDEN", "rsa-sha1 is not allowed").await;
    }
}

#[actix_web::test]
async fn sec_18_hmac_and_truncated_hmac() {
    let app = spawn_app().await;
    let method = format!(r#"<ds:SignatureMethod Algorithm="{RSA_SHA256}"/>"#);
    for replacement in [
        // HMAC "keyed" with the IdP's public certificate: never a shared secret.
        r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/>"#,
        r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>"#,
        // CVE-2009-0217: a truncated HMAC output.
        r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>"#,
    ] {
        let xml = edit(&signed(), &method, replacement);
        expect_rejected(&app, &xml, "FORBIDDEN", "is not allowed").await;
    }
    // An HMACOutputLength smuggled under an allowed method.
    let xml = edit(
        &signed(),
        &method,
        &format!(
            r#"<ds:SignatureMethod Algorithm="{RSA_SHA256}"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>"#
        ),
    );
    expect_rejected(&app, &xml, "FORBIDDEN", "must not have child elements").await;
}

// ------------------------------------------------------------------------------------------------------------
// Missing, broken and foreign signatures
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_19_signature_removed() {
    let app = spawn_app().await;
    let unsigned = strip_signature(&signed());
    expect_rejected(&app, &unsigned, "SIG", "not signed").await;
    // Also inside a Response.
    expect_rejected(&app, &response("_r", &unsigned), "SIG", "not signed").await;
}

#[actix_web::test]
async fn sec_20_signed_response_around_an_unsigned_assertion() {
    let app = spawn_app().await;
    let unsigned = strip_signature(&signed());
    // XUA tokens travel standalone, so the assertion itself must be signed: a valid Response signature over
    // it does not count.
    let Some(signed_response) = signed_response(&unsigned, "_resp") else {
        return;
    };
    expect_rejected(&app, &signed_response, "SIG", "assertion is not signed").await;
}

#[actix_web::test]
async fn sec_21_empty_or_garbage_signature_value() {
    let app = spawn_app().await;
    for garbage in ["", "AAAA", "!!not base64!!", "QUFBQQ=="] {
        let xml = signed();
        let value = signature_value(&xml);
        let xml = edit(
            &xml,
            &format!("<ds:SignatureValue>{value}</ds:SignatureValue>"),
            &format!("<ds:SignatureValue>{garbage}</ds:SignatureValue>"),
        );
        expect_rejected(&app, &xml, "SIG", "").await;
    }
    // One flipped character in a well-formed value.
    let xml = signed();
    let value = signature_value(&xml);
    let flipped = format!(
        "{}{}{}",
        &value[..10],
        if &value[10..11] == "A" { "B" } else { "A" },
        &value[11..]
    );
    let xml = edit(&xml, &value, &flipped);
    expect_rejected(&app, &xml, "SIG", "does not verify").await;
}

/// An attacker's RSA key with a self-signed certificate that copies the sample IdP's subject.
fn attacker_signed(unsigned: &str) -> String {
    let identity = attacker_identity();
    String::from_utf8(
        xua_gateway::saml::dsig::sign_assertion(unsigned.as_bytes(), &identity).unwrap(),
    )
    .unwrap()
}

#[actix_web::test]
async fn sec_22_attacker_resigned_with_cloned_certificate() {
    let app = spawn_app().await;
    // The attacker changes the practitioner and signs with its own key; KeyInfo holds its own certificate...
    let forged = attacker_signed(&tampered_copy(&strip_signature(&signed())));
    expect_rejected(&app, &forged, "SIG", "does not verify").await;
    // ...or the IdP's real certificate, cloned from a genuine assertion.
    let genuine = signed();
    let idp_cert = between(&genuine, "<ds:X509Certificate>", "</ds:X509Certificate>");
    let attacker_cert = between(&forged, "<ds:X509Certificate>", "</ds:X509Certificate>");
    let cloned = edit(&forged, attacker_cert, idp_cert);
    expect_rejected(&app, &cloned, "SIG", "does not verify").await;
}

#[actix_web::test]
async fn sec_23_key_retrieval_is_never_dereferenced() {
    let app = spawn_app().await;
    let tripwire = Tripwire::new();
    let url = &tripwire.url;
    let key_info = format!(
        r#"<ds:KeyInfo><ds:RetrievalMethod URI="{url}" Type="http://www.w3.org/2000/09/xmldsig#X509Data"/><dsig11:KeyInfoReference xmlns:dsig11="http://www.w3.org/2009/xmldsig11#" URI="{url}"/><ds:KeyName>{url}</ds:KeyName></ds:KeyInfo>"#
    );
    let replace_key_info = |xml: &str| {
        let current = format!(
            "<ds:KeyInfo>{}</ds:KeyInfo>",
            between(xml, "<ds:KeyInfo>", "</ds:KeyInfo>")
        );
        edit(xml, &current, &key_info)
    };
    // KeyInfo is outside SignedInfo and never read: with the IdP's valid signature the assertion verifies
    // with the configured certificate and is accepted...
    expect_accepted(&app, &replace_key_info(&signed())).await;
    // ...and an attacker's signature fails with it, whatever KeyInfo points at.
    let forged = replace_key_info(&attacker_signed(&tampered_copy(
        &strip_signature(&signed()),
    )));
    expect_rejected(&app, &forged, "SIG", "does not verify").await;
    assert!(!tripwire.was_contacted(), "KeyInfo was dereferenced");
}

// ------------------------------------------------------------------------------------------------------------
// Document structure and namespaces
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_24_two_assertions_or_an_encrypted_one() {
    let app = spawn_app().await;
    let two = response("_r", &format!("{}{}", signed(), signed()));
    expect_rejected(&app, &two, "STRUCT", "more than one Assertion").await;
    let encrypted = response(
        "_r",
        &format!(
            r#"{}<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#,
            signed()
        ),
    );
    expect_rejected(&app, &encrypted, "STRUCT", "encrypted").await;
}

#[actix_web::test]
async fn sec_25_lookalike_assertion_namespace() {
    let app = spawn_app().await;
    // Another namespace URI for the saml prefix of the whole assertion.
    let other = signed().replacen(
        "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
        "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion:evil\"",
        1,
    );
    expect_rejected(
        &app,
        &other,
        "STRUCT",
        "not in the SAML 2.0 assertion namespace",
    )
    .await;
    // An un-namespaced Assertion next to the real one.
    let unqualified = response(
        "_r",
        &format!(
            r#"<Assertion ID="_x" Version="2.0"><Issuer>{}</Issuer></Assertion>{}"#,
            xua_gateway::samples::SAMPLE_IDP,
            signed()
        ),
    );
    expect_rejected(
        &app,
        &unqualified,
        "STRUCT",
        "not in the SAML 2.0 assertion namespace",
    )
    .await;
    // CVE-2025-25292: a namespace URI with a C1 control character that some parsers fold away.
    let invalid = signed().replacen(
        "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
        "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\u{80}\"",
        1,
    );
    expect_rejected(&app, &invalid, "PARSE", "invalid namespace URI").await;
}

#[actix_web::test]
async fn sec_26_xsi_type_prefix_bound_outside_the_signed_bytes() {
    let app = spawn_app().await;
    // (Assertions in canonical form declare xsi where it is used, so the edits below declare it too.)
    // The IdP signs an assertion whose xsi:type uses a prefix ("xt") that exclusive c14n leaves out of the
    // signed bytes (it is not in the InclusiveNamespaces PrefixList); an attacker can then bind it to
    // anything outside the assertion, here on a wrapping Response.
    let assertion = resigned(|xml| {
        let xml = edit(
            &xml,
            "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"",
            "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xt=\"http://www.w3.org/2001/XMLSchema\"",
        );
        edit(
            &xml,
            "<saml:AttributeValue>TEST FASTLEGE SVENDSEN",
            "<saml:AttributeValue xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xt:string\">TEST FASTLEGE SVENDSEN",
        )
    });
    let wrapped = edit(
        &response("_r", &assertion),
        "<samlp:Response ",
        "<samlp:Response xmlns:xt=\"urn:attacker:types\" ",
    );
    expect_rejected(
        &app,
        &wrapped,
        "STRUCT",
        "not declared inside the signed assertion",
    )
    .await;
    expect_rejected(
        &app,
        &assertion,
        "STRUCT",
        "not declared inside the signed assertion",
    )
    .await;

    // The control: with the prefix in the PrefixList ("xs"), the binding is signed and the value accepted.
    let fine = resigned(|xml| {
        edit(
            &xml,
            "<saml:AttributeValue>TEST FASTLEGE SVENDSEN",
            "<saml:AttributeValue xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xs:string\">TEST FASTLEGE SVENDSEN",
        )
    });
    expect_accepted(&app, &fine).await;
}

// ------------------------------------------------------------------------------------------------------------
// Protocol checks: time, subject confirmation, audience, issuer
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_27_expired_beyond_the_skew() {
    let app = spawn_app().await;
    let old = String::from_utf8(mint(
        "fastlege.json",
        &Default::default(),
        time::OffsetDateTime::now_utc() - Duration::minutes(120),
    ))
    .unwrap();
    expect_rejected(&app, &old, "TIME", "assertion expired at").await;
    // Just past the skew (60 s): NotOnOrAfter 90 s ago.
    let just_expired = resigned(|xml| {
        let xml = set_attr(
            &xml,
            "<saml:Conditions",
            "NotBefore",
            &at(-Duration::minutes(10)),
        );
        set_attr(
            &xml,
            "<saml:Conditions",
            "NotOnOrAfter",
            &at(-Duration::seconds(90)),
        )
    });
    expect_rejected(&app, &just_expired, "TIME", "assertion expired at").await;
}

#[actix_web::test]
async fn sec_28_not_yet_valid_or_unreadable_times() {
    let app = spawn_app().await;
    let future = resigned(|xml| {
        set_attr(
            &xml,
            "<saml:Conditions",
            "NotBefore",
            &at(Duration::minutes(10)),
        )
    });
    expect_rejected(&app, &future, "TIME", "not valid before").await;
    // NotBefore equal to or after NotOnOrAfter (both within the skew, so only the order is wrong).
    for (not_before, not_on_or_after) in [(30, 30), (40, 20)] {
        let now = time::OffsetDateTime::now_utc();
        let text = |s| xua_gateway::clock::rfc3339(now + Duration::seconds(s));
        let inverted = resigned(|xml| {
            let xml = set_attr(&xml, "<saml:Conditions", "NotBefore", &text(not_before));
            set_attr(
                &xml,
                "<saml:Conditions",
                "NotOnOrAfter",
                &text(not_on_or_after),
            )
        });
        expect_rejected(&app, &inverted, "TIME", "NotBefore is not before").await;
    }
    for unreadable in ["tomorrow", "2026-11-23T12:00:00", "2026-13-45T99:00:00Z"] {
        let xml = resigned(|xml| set_attr(&xml, "<saml:Conditions", "NotOnOrAfter", unreadable));
        expect_rejected(&app, &xml, "PARSE", "not an xs:dateTime with a time zone").await;
    }
    // No NotOnOrAfter at all: the gateway issues nothing without an expiry.
    let open_ended = resigned(|xml| {
        let tag = between(&xml, "<saml:Conditions", ">").to_string();
        let without = tag
            .split(' ')
            .filter(|part| !part.starts_with("NotOnOrAfter="))
            .collect::<Vec<_>>()
            .join(" ");
        edit(
            &xml,
            &format!("<saml:Conditions{tag}>"),
            &format!("<saml:Conditions{without}>"),
        )
    });
    expect_rejected(&app, &open_ended, "TIME", "no NotOnOrAfter").await;
}

#[actix_web::test]
async fn sec_29_subject_confirmation_data() {
    let app = spawn_app().await;
    let expired = resigned(|xml| {
        set_attr(
            &xml,
            "<saml:SubjectConfirmationData",
            "NotOnOrAfter",
            &at(-Duration::minutes(5)),
        )
    });
    expect_rejected(&app, &expired, "SUBJ", "subject confirmation expired").await;
    let recipient = resigned(|xml| {
        set_attr(
            &xml,
            "<saml:SubjectConfirmationData",
            "Recipient",
            "https://attacker.example/acs",
        )
    });
    expect_rejected(&app, &recipient, "SUBJ", "another Recipient").await;
    let in_response_to = resigned(|xml| {
        set_attr(
            &xml,
            "<saml:SubjectConfirmationData",
            "InResponseTo",
            "_request-1",
        )
    });
    expect_rejected(&app, &in_response_to, "SUBJ", "InResponseTo").await;
}

#[actix_web::test]
async fn sec_30_unsupported_method_or_unproven_holder_of_key() {
    let app = spawn_app().await;
    let bearer = "Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"";
    let sender_vouches = resigned(|xml| {
        edit(
            &xml,
            bearer,
            "Method=\"urn:oasis:names:tc:SAML:2.0:cm:sender-vouches\"",
        )
    });
    expect_rejected(&app, &sender_vouches, "SUBJ", "accepted method").await;
    let holder_of_key = resigned(|xml| {
        let xml = edit(
            &xml,
            bearer,
            "Method=\"urn:oasis:names:tc:SAML:2.0:cm:holder-of-key\"",
        );
        edit(
            &xml,
            "<saml:SubjectConfirmationData ",
            "<saml:SubjectConfirmationData xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ",
        )
    });
    expect_rejected(&app, &holder_of_key, "SUBJ", "holder-of-key").await;
    let unknown = resigned(|xml| edit(&xml, bearer, "Method=\"urn:example:trust-me\""));
    expect_rejected(&app, &unknown, "SUBJ", "accepted method").await;
}

#[actix_web::test]
async fn sec_31_audience_missing_or_not_in_every_restriction() {
    let app = spawn_app().await;
    let restriction = format!(
        "<saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction>",
        xua_gateway::samples::SAMPLE_AUDIENCE
    );
    let missing = resigned(|xml| edit(&xml, &restriction, ""));
    expect_rejected(&app, &missing, "AUD", "no AudienceRestriction").await;
    let second = resigned(|xml| {
        edit(
            &xml,
            &restriction,
            &format!("{restriction}<saml:AudienceRestriction><saml:Audience>https://someone-else.example</saml:Audience></saml:AudienceRestriction>"),
        )
    });
    expect_rejected(&app, &second, "AUD", "another audience").await;
    let empty = resigned(|xml| {
        edit(
            &xml,
            &restriction,
            &format!("{restriction}<saml:AudienceRestriction></saml:AudienceRestriction>"),
        )
    });
    expect_rejected(&app, &empty, "AUD", "names no Audience").await;
}

#[actix_web::test]
async fn sec_32_issuer_missing_untrusted_or_inconsistent() {
    let app = spawn_app().await;
    let issuer = format!(
        "<saml:Issuer>{}</saml:Issuer>",
        xua_gateway::samples::SAMPLE_IDP
    );
    let missing = edit(&signed(), &issuer, "");
    expect_rejected(&app, &missing, "ISS", "no Issuer").await;
    let untrusted = String::from_utf8(mint(
        "fastlege.json",
        &xua_gateway::samples::MintOptions {
            issuer: "https://attacker.example/idp".into(),
            ..Default::default()
        },
        time::OffsetDateTime::now_utc(),
    ))
    .unwrap();
    expect_rejected(&app, &untrusted, "ISS", "is not trusted").await;
    let differing = edit(
        &response("_r", &signed()),
        &issuer,
        "<saml:Issuer>https://another-idp.example</saml:Issuer>",
    );
    expect_rejected(&app, &differing, "ISS", "different issuers").await;
    let transient = resigned(|xml| {
        edit(
            &xml,
            "<saml:Issuer>",
            "<saml:Issuer Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\">",
        )
    });
    expect_rejected(&app, &transient, "ISS", "not an entity identifier").await;
}

// ------------------------------------------------------------------------------------------------------------
// Replay and conditions
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_33_assertion_replayed_within_its_validity() {
    let app = spawn_app().await;
    let xml = signed();
    expect_accepted(&app, &xml).await;
    expect_rejected(&app, &xml, "REPLAY", "already exchanged").await;
    // The same assertion in a Response is the same assertion.
    expect_rejected(&app, &response("_r", &xml), "REPLAY", "already exchanged").await;
    // A refused exchange takes no slot: the assertion that failed for another reason can still be used.
    let fresh = signed();
    expect_rejected_with(
        &app,
        &fresh,
        &[("profile", "no-such-profile")],
        "REQUEST",
        "profile",
    )
    .await;
    expect_accepted(&app, &fresh).await;
    assert!(app.gateway.pipeline().replay_cache().len() >= 2);

    // OneTimeUse is honoured even where replay protection of assertions is switched off.
    let dir = tempfile::tempdir().unwrap();
    let text = edit(
        &sample_config_text(),
        "[replay]\n",
        "[replay]\n# switched off for this test\n",
    )
    .replacen("\nsaml = true\n", "\nsaml = false\n", 1);
    let lax = spawn_app_with_text(&text, dir.path()).await;
    let reusable = signed();
    expect_accepted(&lax, &reusable).await;
    expect_accepted(&lax, &reusable).await;
    let once = resigned(|xml| {
        edit(
            &xml,
            "</saml:AudienceRestriction>",
            "</saml:AudienceRestriction><saml:OneTimeUse/>",
        )
    });
    expect_accepted(&lax, &once).await;
    expect_rejected(&lax, &once, "REPLAY", "already exchanged").await;
}

#[actix_web::test]
async fn sec_34_proxy_restriction() {
    let app = spawn_app().await;
    let with_proxy = |proxy: &str| {
        let proxy = proxy.to_string();
        resigned(move |xml| {
            edit(
                &xml,
                "</saml:AudienceRestriction>",
                &format!("</saml:AudienceRestriction>{proxy}"),
            )
        })
    };
    let zero = with_proxy("<saml:ProxyRestriction Count=\"0\"/>");
    expect_rejected(&app, &zero, "CLAIM", "Count=\"0\"").await;
    let elsewhere = with_proxy(
        "<saml:ProxyRestriction Count=\"1\"><saml:Audience>https://another-service.example</saml:Audience></saml:ProxyRestriction>",
    );
    expect_rejected(
        &app,
        &elsewhere,
        "CLAIM",
        "does not allow the requested audience",
    )
    .await;
    // The control: a ProxyRestriction that names the audience the JWT is issued for allows it.
    let allowed = with_proxy(
        "<saml:ProxyRestriction Count=\"1\"><saml:Audience>https://fhir.test.example/pjd</saml:Audience></saml:ProxyRestriction>",
    );
    expect_accepted(&app, &allowed).await;
}

#[actix_web::test]
async fn sec_35_unknown_condition() {
    let app = spawn_app().await;
    for condition in [
        "<saml:Condition/>",
        "<del:DelegationRestriction xmlns:del=\"urn:oasis:names:tc:SAML:2.0:conditions:delegation\"/>",
        "<x:MustUnderstand xmlns:x=\"urn:example:conditions\"/>",
    ] {
        let xml = resigned(|xml| {
            edit(
                &xml,
                "</saml:AudienceRestriction>",
                &format!("</saml:AudienceRestriction>{condition}"),
            )
        });
        expect_rejected(&app, &xml, "CLAIM", "does not understand").await;
    }
}

#[actix_web::test]
async fn sec_36_status_other_than_success() {
    let app = spawn_app().await;
    for status in [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:oasis:names:tc:SAML:2.0:status:Success:evil",
    ] {
        let xml = edit(&response("_r", &signed()), SUCCESS, status);
        expect_rejected(&app, &xml, "CLAIM", "status is not Success").await;
    }
    let no_status = edit(
        &response("_r", &signed()),
        &format!("<samlp:Status><samlp:StatusCode Value=\"{SUCCESS}\"/></samlp:Status>"),
        "",
    );
    expect_rejected(&app, &no_status, "STRUCT", "no StatusCode").await;
}

#[actix_web::test]
async fn sec_37_duplicate_attributes_or_registered_claim_names() {
    let app = spawn_app().await;
    let subject_id = "<saml:Attribute Name=\"urn:oasis:names:tc:xacml:1.0:subject:subject-id\"><saml:AttributeValue>TEST FASTLEGE SVENDSEN</saml:AttributeValue></saml:Attribute>";
    let duplicate = resigned(|xml| {
        edit(
            &xml,
            subject_id,
            &format!("{subject_id}<saml:Attribute Name=\"urn:oasis:names:tc:xacml:1.0:subject:subject-id\"><saml:AttributeValue>SOMEONE ELSE</saml:AttributeValue></saml:Attribute>"),
        )
    });
    expect_rejected(&app, &duplicate, "STRUCT", "appears 2 times").await;
    for name in ["sub", "iss", "exp", "aud"] {
        let xml = resigned(|xml| {
            edit(
                &xml,
                subject_id,
                &format!("{subject_id}<saml:Attribute Name=\"{name}\"><saml:AttributeValue>{EVIL_PERSON}</saml:AttributeValue></saml:Attribute>"),
            )
        });
        expect_rejected(&app, &xml, "CLAIM", "registered JWT claim").await;
    }
    // Also under a profile that otherwise ignores unknown attributes.
    let xml = resigned(|xml| {
        edit(
            &xml,
            subject_id,
            &format!("{subject_id}<saml:Attribute Name=\"sub\"><saml:AttributeValue>admin</saml:AttributeValue></saml:Attribute>"),
        )
    });
    expect_rejected_with(
        &app,
        &xml,
        &[("profile", "ihe-iua")],
        "CLAIM",
        "registered JWT claim",
    )
    .await;
}

// ------------------------------------------------------------------------------------------------------------
// Resource limits
// ------------------------------------------------------------------------------------------------------------

#[actix_web::test]
async fn sec_38_size_depth_count_and_compression_limits() {
    let app = spawn_app().await;
    // Over max_body_bytes (256 KiB) once decoded: refused by the pre-scan before any DOM is built.
    let base = signed();
    let padded = edit(
        &base,
        "</saml:AttributeStatement>",
        &format!(
            "{}</saml:AttributeStatement>",
            " ".repeat(256 * 1024 + 100 - base.len())
        ),
    );
    expect_rejected(&app, &padded, "LIMIT", "larger than 262144 bytes").await;
    // So large that even the HTTP body is over its limit: refused while reading, still audited.
    let huge = edit(
        &signed(),
        "</saml:AttributeStatement>",
        &format!("{}</saml:AttributeStatement>", " ".repeat(600 * 1024)),
    );
    expect_rejected(&app, &huge, "LIMIT", "request body is larger").await;
    // Deeper than 64.
    let deep = edit(
        &signed(),
        "TEST FASTLEGE SVENDSEN",
        &format!("{}x{}", "<d>".repeat(70), "</d>".repeat(70)),
    );
    expect_rejected(&app, &deep, "LIMIT", "nested deeper than 64").await;
    // More than 4096 elements.
    let many = edit(&signed(), "TEST FASTLEGE SVENDSEN", &"<e/>".repeat(5000));
    expect_rejected(&app, &many, "LIMIT", "more than 4096 elements").await;
    // More than 128 saml:Attribute elements.
    let attribute = "<saml:Attribute Name=\"urn:example:x\"><saml:AttributeValue>x</saml:AttributeValue></saml:Attribute>";
    let attributes = edit(
        &signed(),
        "</saml:AttributeStatement>",
        &format!("{}</saml:AttributeStatement>", attribute.repeat(200)),
    );
    expect_rejected(&app, &attributes, "LIMIT", "more than 128 attributes").await;
    // A value longer than 1024 characters.
    let long = edit(&signed(), "TEST FASTLEGE SVENDSEN", &"A".repeat(2000));
    expect_rejected(&app, &long, "LIMIT", "longer than 1024 characters").await;
    // Too many XML attributes on one element.
    let crowded: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
    let crowded = edit(
        &signed(),
        "<saml:Subject>",
        &format!("<saml:Subject{crowded}>"),
    );
    expect_rejected(&app, &crowded, "LIMIT", "more than 64 attributes").await;

    // Compression: the gateway never inflates anything, so there is no inflate ratio to exceed. A deflate
    // bomb sent as the token is simply not XML (PARSE), and a gzip Content-Encoding is not undone: the
    // compressed bytes are read as the meaningless form they are (REQUEST).
    let bomb = deflate_bomb();
    assert!(bomb.len() < 64 * 1024);
    let before = app.records().len();
    let (status, body) = app.exchange_saml(&bomb, &[]).await;
    check_rejection(&app, before, status, &body, "PARSE", "", &[]);
    let before = app.records().len();
    let res = app
        .client
        .post(format!("{}/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    check_rejection(&app, before, status, &body, "REQUEST", "", &[]);
}

/// 64 MiB of '<' compressed with zlib (python3, which the tests already need for PyJWT).
fn deflate_bomb() -> Vec<u8> {
    let out = run(std::process::Command::new("python3").args([
        "-c",
        "import sys, zlib; sys.stdout.buffer.write(zlib.compress(b'<' * (64 << 20), 9))",
    ]));
    assert!(out.status.success());
    out.stdout
}
