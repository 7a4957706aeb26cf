//! The XML-DSig profile accepted for SAML assertions, checked on the DOM *before* libxmlsec1 sees the signature.
//!
//! xmlsec executes Reference transforms before it checks the SignatureValue, so unauthenticated input decides
//! what runs. This check is the first gate (the second is xmlsec's own allow-lists, set in `ffi`). It follows
//! OpenSAML's `SAMLSignatureProfileValidator`, tightened:
//!
//! * `Signature` = `SignedInfo`, `SignatureValue`, optional `KeyInfo`; nothing else (no `Object`, no `Manifest`).
//! * `SignedInfo` = `CanonicalizationMethod` (exc-c14n without comments), `SignatureMethod` (RSA-SHA256/384/512 or
//!   ECDSA-SHA256), exactly one `Reference`.
//! * `Reference` has `URI="#"+ID` of the signature's parent, the transforms exactly [enveloped-signature,
//!   exc-c14n], `DigestMethod` SHA-256/384/512, and a `DigestValue`.
//! * No comments or processing instructions anywhere inside the Signature.
//!
//! Messages name elements and (known) algorithm URIs only. An attribute value we do not recognise is never
//! echoed: it is attacker-controlled and could carry anything.

use super::ffi::SignatureAlgorithms;
use super::node::DsigNode;
use crate::error::Rejection;
use crate::ns;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// Algorithm URIs that may be named in an error message. Anything else is reported as unrecognised.
const NAMEABLE_ALGORITHMS: &[&str] = &[
    EXC_C14N,
    ENVELOPED,
    RSA_SHA256,
    RSA_SHA384,
    RSA_SHA512,
    ECDSA_SHA256,
    SHA256,
    SHA384,
    SHA512,
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2000/09/xmldsig#base64",
    "http://www.w3.org/2001/04/xmldsig-more#md5",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
    "http://www.w3.org/2001/04/xmldsig-more#sha224",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-md5",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha224",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-ripemd160",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-ripemd160",
    "http://www.w3.org/2001/04/xmlenc#ripemd160",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "http://www.w3.org/2009/xmldsig11#dsa-sha256",
    "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1",
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "http://www.w3.org/2002/06/xmldsig-filter2",
    "http://www.w3.org/2002/07/decrypt#XML",
    "http://www.w3.org/2002/07/decrypt#Binary",
];

/// The URI as a constant from our table, or a placeholder: never the input string itself.
fn nameable(algorithm: &str) -> &'static str {
    NAMEABLE_ALGORITHMS
        .iter()
        .copied()
        .find(|known| *known == algorithm)
        .unwrap_or("(unrecognised URI)")
}

/// What the profile check established, for binding the algorithm to the trusted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckedSignature {
    /// The key family the SignatureMethod needs.
    pub(crate) algorithms: SignatureAlgorithms,
    /// The SignatureMethod URI (one of our constants, so it may appear in messages).
    pub(crate) signature_method: &'static str,
}

/// Checks that `signature` (a ds:Signature whose parent is `signed`) follows the profile and references
/// `signed` by its ID `signed_id`.
pub(crate) fn check<E: DsigNode>(
    signature: E,
    signed_id: &str,
) -> Result<CheckedSignature, Rejection> {
    check_signature_shape(signature)?;

    let mut children = signature.children();
    let signed_info = children
        .next()
        .filter(|e| e.is(ns::DSIG, "SignedInfo"))
        .ok_or_else(|| Rejection::structure("ds:Signature must begin with ds:SignedInfo"))?;
    children
        .next()
        .filter(|e| e.is(ns::DSIG, "SignatureValue"))
        .ok_or_else(|| {
            Rejection::structure("ds:SignedInfo must be followed by ds:SignatureValue")
        })?;
    let mut next = children.next();
    if next.is_some_and(|e| e.is(ns::DSIG, "KeyInfo")) {
        // KeyInfo is allowed but never read: the key comes from the trust anchor only.
        next = children.next();
    }
    if next.is_some() {
        return Err(Rejection::structure(
            "unexpected element in ds:Signature after ds:SignatureValue/ds:KeyInfo",
        ));
    }

    // xmlsec reads URI and Algorithm with xmlGetProp, which ignores namespaces and takes the first attribute of
    // that local name; we read the un-namespaced one. `p:Algorithm="xslt" Algorithm="exc-c14n"` would make the
    // two disagree, so qualified attributes are refused wherever xmlsec reads attributes (KeyInfo is never read).
    let read_by_xmlsec = [signature, signed_info]
        .into_iter()
        .chain(signed_info.descendants())
        .chain(
            signature
                .children()
                .filter(|e| e.is(ns::DSIG, "SignatureValue")),
        );
    for element in read_by_xmlsec {
        if element.has_qualified_attribute() {
            return Err(Rejection::structure(
                "namespace-qualified attributes are not allowed in ds:Signature, ds:SignedInfo or ds:SignatureValue",
            ));
        }
    }

    let checked = check_signed_info(signed_info, signed_id)?;

    // Comments in SignedInfo or DigestValue do not change what is signed (c14n drops them) but are the raw
    // material of comment-truncation attacks on readers that take only the first text node; no signer we
    // accept writes them.
    if signature.contains_comment_or_pi() {
        return Err(Rejection::sig(
            "comments and processing instructions are not allowed inside ds:Signature",
        ));
    }
    Ok(checked)
}

/// No Object/Manifest, no second SignedInfo, no nested Signature anywhere below the Signature: xmlsec would
/// ignore some of these, but a reader that searches the tree might not.
fn check_signature_shape<E: DsigNode>(signature: E) -> Result<(), Rejection> {
    let mut signed_infos = 0usize;
    for element in signature.descendants() {
        if element.namespace() != Some(ns::DSIG.as_bytes()) {
            continue;
        }
        match element.local_name() {
            b"Object" | b"Manifest" => {
                return Err(Rejection::structure(
                    "ds:Object and ds:Manifest are not allowed in a ds:Signature",
                ))
            }
            b"Signature" => return Err(Rejection::structure("nested ds:Signature is not allowed")),
            b"SignedInfo" => signed_infos += 1,
            _ => {}
        }
    }
    if signed_infos > 1 {
        return Err(Rejection::structure(
            "more than one ds:SignedInfo in a ds:Signature",
        ));
    }
    Ok(())
}

fn check_signed_info<E: DsigNode>(
    signed_info: E,
    signed_id: &str,
) -> Result<CheckedSignature, Rejection> {
    let references = signed_info
        .descendants()
        .filter(|e| e.is(ns::DSIG, "Reference"))
        .count();
    if references > 1 {
        return Err(Rejection::structure(
            "more than one ds:Reference in ds:SignedInfo (exactly one is allowed)",
        ));
    }

    let mut children = signed_info.children();
    let c14n = children
        .next()
        .filter(|e| e.is(ns::DSIG, "CanonicalizationMethod"))
        .ok_or_else(|| {
            Rejection::structure("ds:SignedInfo must begin with ds:CanonicalizationMethod")
        })?;
    let method = children
        .next()
        .filter(|e| e.is(ns::DSIG, "SignatureMethod"))
        .ok_or_else(|| {
            Rejection::structure("ds:CanonicalizationMethod must be followed by ds:SignatureMethod")
        })?;
    let reference = children
        .next()
        .filter(|e| e.is(ns::DSIG, "Reference"))
        .ok_or_else(|| Rejection::structure("ds:SignedInfo must contain one ds:Reference"))?;
    if children.next().is_some() {
        return Err(Rejection::structure(
            "unexpected element in ds:SignedInfo after ds:Reference",
        ));
    }

    let c14n_algorithm = algorithm_of(c14n, "ds:CanonicalizationMethod")?;
    if c14n_algorithm != EXC_C14N {
        return Err(Rejection::forbidden(format!(
            "canonicalization algorithm {} is not allowed (only exclusive c14n without comments)",
            nameable(&c14n_algorithm)
        )));
    }
    check_exc_c14n_content(c14n, "ds:CanonicalizationMethod")?;

    let signature_algorithm = algorithm_of(method, "ds:SignatureMethod")?;
    let (algorithms, signature_method) = match signature_algorithm.as_str() {
        RSA_SHA256 => (SignatureAlgorithms::Rsa, RSA_SHA256),
        RSA_SHA384 => (SignatureAlgorithms::Rsa, RSA_SHA384),
        RSA_SHA512 => (SignatureAlgorithms::Rsa, RSA_SHA512),
        ECDSA_SHA256 => (SignatureAlgorithms::EcdsaP256, ECDSA_SHA256),
        other => {
            return Err(Rejection::forbidden(format!(
                "signature algorithm {} is not allowed",
                nameable(other)
            )))
        }
    };
    // HMACOutputLength and any other parameter: none of the allowed methods takes one.
    if method.children().next().is_some() {
        return Err(Rejection::forbidden(
            "ds:SignatureMethod must not have child elements",
        ));
    }

    check_reference(reference, signed_id)?;
    Ok(CheckedSignature {
        algorithms,
        signature_method,
    })
}

fn check_reference<E: DsigNode>(reference: E, signed_id: &str) -> Result<(), Rejection> {
    let uri = reference.attr(c"URI").ok_or_else(|| {
        Rejection::forbidden(
            "ds:Reference has no URI attribute (whole-document references are not allowed)",
        )
    })?;
    if uri.is_empty() {
        return Err(Rejection::forbidden(
            "Reference URI must not be empty (whole-document references are not allowed)",
        ));
    }
    let Some(fragment) = uri.strip_prefix('#') else {
        return Err(Rejection::forbidden(
            "Reference URI must be a same-document reference '#'+ID; external URIs are not allowed",
        ));
    };
    if fragment.starts_with("xpointer(") {
        return Err(Rejection::forbidden(
            "XPointer Reference URIs are not allowed",
        ));
    }
    if fragment != signed_id {
        return Err(Rejection::structure(
            "Reference URI must be '#'+ID of the signed element",
        ));
    }

    let mut children = reference.children();
    let transforms = children
        .next()
        .filter(|e| e.is(ns::DSIG, "Transforms"))
        .ok_or_else(|| {
            Rejection::forbidden(
                "ds:Reference must list exactly the transforms enveloped-signature and exc-c14n",
            )
        })?;
    let digest_method = children
        .next()
        .filter(|e| e.is(ns::DSIG, "DigestMethod"))
        .ok_or_else(|| Rejection::structure("ds:Transforms must be followed by ds:DigestMethod"))?;
    let digest_value = children
        .next()
        .filter(|e| e.is(ns::DSIG, "DigestValue"))
        .ok_or_else(|| {
            Rejection::structure("ds:DigestMethod must be followed by ds:DigestValue")
        })?;
    if children.next().is_some() {
        return Err(Rejection::structure(
            "unexpected element in ds:Reference after ds:DigestValue",
        ));
    }

    check_transforms(transforms)?;

    let digest_algorithm = algorithm_of(digest_method, "ds:DigestMethod")?;
    if !matches!(digest_algorithm.as_str(), SHA256 | SHA384 | SHA512) {
        return Err(Rejection::forbidden(format!(
            "digest algorithm {} is not allowed",
            nameable(&digest_algorithm)
        )));
    }
    if digest_method.children().next().is_some() {
        return Err(Rejection::forbidden(
            "ds:DigestMethod must not have child elements",
        ));
    }
    if digest_value.children().next().is_some() {
        return Err(Rejection::structure(
            "ds:DigestValue must contain only text",
        ));
    }
    Ok(())
}

fn check_transforms<E: DsigNode>(transforms: E) -> Result<(), Rejection> {
    let mut algorithms = Vec::new();
    for transform in transforms.children() {
        if !transform.is(ns::DSIG, "Transform") {
            return Err(Rejection::structure(
                "ds:Transforms may only contain ds:Transform",
            ));
        }
        let algorithm = algorithm_of(transform, "ds:Transform")?;
        match algorithm.as_str() {
            ENVELOPED => {
                if transform.children().next().is_some() {
                    return Err(Rejection::forbidden(
                        "the enveloped-signature transform must not have child elements",
                    ));
                }
            }
            EXC_C14N => check_exc_c14n_content(transform, "the exc-c14n ds:Transform")?,
            other => {
                return Err(Rejection::forbidden(format!(
                    "transform {} is not allowed",
                    nameable(other)
                )))
            }
        }
        algorithms.push(algorithm);
    }
    if algorithms != [ENVELOPED, EXC_C14N] {
        return Err(Rejection::forbidden(
            "ds:Reference must have exactly two transforms: enveloped-signature, then exc-c14n",
        ));
    }
    Ok(())
}

/// exc-c14n takes at most one `ec:InclusiveNamespaces` parameter and nothing else.
fn check_exc_c14n_content<E: DsigNode>(element: E, what: &str) -> Result<(), Rejection> {
    let mut children = element.children();
    if let Some(first) = children.next() {
        if !first.is(ns::EXC_C14N, "InclusiveNamespaces") || children.next().is_some() {
            return Err(Rejection::forbidden(format!(
                "{what} may only contain one ec:InclusiveNamespaces element"
            )));
        }
    }
    Ok(())
}

fn algorithm_of<E: DsigNode>(element: E, what: &str) -> Result<String, Rejection> {
    element
        .attr(c"Algorithm")
        .ok_or_else(|| Rejection::forbidden(format!("{what} has no Algorithm attribute")))
}
