//! The signature checks over the tape: the shared location and profile rules (`dsig::locate_from`,
//! `dsig::prepare_for`), then what libxmlsec1 would compute, in its order: the Reference digest over the
//! canonical Assertion, then the SignatureValue over the canonical SignedInfo, with the trust anchor's key
//! (prepared once, when the anchor was built).

use std::collections::HashSet;

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{hash, MessageDigest};
use openssl::sign::Verifier;

use super::c14n::{self, Discard, Sink};
use super::chars::{is_absolute_uri, is_id_ncname};
use super::tape::{Item, Node, NsRef, Tape};
use super::view::TreeSink;
use crate::error::Rejection;
use crate::saml::dsig::{self, DsigNode, Pending, SignatureAlgorithms, TrustAnchor};
use crate::saml::extract;
use crate::saml::view::AssertionView;

const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";

fn processing() -> Rejection {
    Rejection::sig("signature could not be verified (malformed signature value or crypto error)")
}

fn digest_mismatch() -> Rejection {
    Rejection::sig("digest of the signed element does not match: it was changed after signing")
}

fn signature_mismatch() -> Rejection {
    Rejection::sig("signature value does not verify with the trusted certificate for this issuer")
}

/// libxml2's ID table as libxmlsec1's caller fills it: every `xml:id` (registered by the parser), then every
/// un-namespaced `ID`, which must be an NCName and not taken.
pub(super) fn register_ids(tape: &Tape<'_>) -> Result<(), Rejection> {
    let mut taken: HashSet<&str> = tape
        .attrs
        .iter()
        .filter(|a| a.ns == NsRef::Xml && a.local == "id" && !a.value.is_empty())
        .map(|a| a.value.as_ref())
        .collect();
    for id in 0..tape.elements.len() {
        for attr in tape.attrs_of(id) {
            if attr.ns != NsRef::None || attr.prefix.is_some() || attr.local != "ID" {
                continue;
            }
            if !is_id_ncname(&attr.value) {
                return Err(Rejection::structure(
                    "an ID attribute value is not a valid NCName",
                ));
            }
            if !taken.insert(attr.value.as_ref()) {
                return Err(Rejection::structure(
                    "duplicate ID value: two elements share an ID (or an ID clashes with xml:id)",
                ));
            }
        }
    }
    Ok(())
}

/// libxml2's canonicaliser refuses a document in which any element declares a namespace whose URI is not
/// absolute (or does not parse), wherever that element is.
pub(super) fn has_relative_namespace(tape: &Tape<'_>) -> bool {
    tape.decls
        .iter()
        .any(|d| !d.uri.is_empty() && !is_absolute_uri(&d.uri))
}

/// libxmlsec1's base64 reader: white space anywhere, padding only at the end, nothing but white space after it,
/// unused low bits ignored.
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
    let (mut pos, mut previous, mut finished) = (0u8, 0u8, false);
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if finished && pos == 0 {
            break;
        }
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                finished = true;
                pos = match pos {
                    2 => 3,
                    3 => 0,
                    _ => return None,
                };
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            _ => return None,
        };
        if finished {
            return None;
        }
        match pos {
            0 => pos = 1,
            1 => {
                out.push((previous << 2) | (value >> 4));
                pos = 2;
            }
            2 => {
                out.push((previous << 4) | (value >> 2));
                pos = 3;
            }
            _ => {
                out.push((previous << 6) | value);
                pos = 0;
            }
        }
        previous = value;
        i += 1;
    }
    let rest = bytes.get(i..).unwrap_or(&[]);
    (rest
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        && pos == 0)
        .then_some(out)
}

/// The parts of one ds:Signature that the crypto needs, read as libxmlsec1 reads them.
struct SignatureParts {
    signed_info: usize,
    c14n_prefixes: Option<String>,
    reference_prefixes: Option<String>,
    digest: MessageDigest,
    digest_value: String,
    signature_value: String,
}

fn nth_child<'t, 'a>(node: Node<'t, 'a>, n: usize) -> Option<Node<'t, 'a>> {
    node.children().nth(n)
}

/// The PrefixList of the InclusiveNamespaces child of a c14n method or transform, if it has one. libxmlsec1
/// fails on an InclusiveNamespaces without PrefixList.
fn inclusive_prefixes(method: Node<'_, '_>) -> Result<Option<String>, Rejection> {
    match method.children().next() {
        Some(child) if child.is(EXC_C14N_NS, "InclusiveNamespaces") => {
            child.attr(c"PrefixList").map(Some).ok_or_else(processing)
        }
        _ => Ok(None),
    }
}

fn parts(pending: &Pending<Node<'_, '_>>) -> Result<SignatureParts, Rejection> {
    let tape = pending.signature.tape;
    // The profile check established this shape; a miss here is ours.
    let shape = || Rejection::internal("the checked signature lost its shape");
    let signed_info = nth_child(pending.signature, 0).ok_or_else(shape)?;
    let signature_value = nth_child(pending.signature, 1).ok_or_else(shape)?;
    let c14n_method = nth_child(signed_info, 0).ok_or_else(shape)?;
    let reference = nth_child(signed_info, 2).ok_or_else(shape)?;
    let transforms = nth_child(reference, 0).ok_or_else(shape)?;
    let digest_method = nth_child(reference, 1).ok_or_else(shape)?;
    let digest_value = nth_child(reference, 2).ok_or_else(shape)?;
    let exc_transform = nth_child(transforms, 1).ok_or_else(shape)?;
    let c14n_prefixes = inclusive_prefixes(c14n_method)?;
    let reference_prefixes = inclusive_prefixes(exc_transform)?;
    let digest = match digest_method.attr(c"Algorithm").as_deref() {
        Some(SHA384) => MessageDigest::sha384(),
        Some(SHA512) => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    };
    Ok(SignatureParts {
        signed_info: signed_info.id,
        c14n_prefixes,
        reference_prefixes,
        digest,
        digest_value: tape.content(digest_value.id),
        signature_value: tape.content(signature_value.id),
    })
}

/// Verifies one pending signature; returns the canonical bytes that were digested.
pub(super) fn verify_pending(
    pending: &Pending<Node<'_, '_>>,
    anchor: &TrustAnchor,
    sink: &mut dyn Sink,
) -> Result<Vec<u8>, Rejection> {
    let tape = pending.signature.tape;
    let parts = parts(pending)?;

    let list = parts.reference_prefixes.as_deref().unwrap_or("");
    let mut signed = Vec::with_capacity(tape_bytes_hint(tape, pending.signed.id));
    c14n::render(
        tape,
        pending.signed.id,
        Some(pending.signature.id),
        &c14n::prefix_list(list),
        &mut signed,
        sink,
    );
    let computed = hash(parts.digest, &signed).map_err(|_| processing())?;
    // libxmlsec1 fails on an empty value before comparing.
    let expected = decode_base64(&parts.digest_value)
        .filter(|_| !parts.digest_value.is_empty())
        .ok_or_else(processing)?;
    if computed.as_ref() != expected.as_slice() {
        return Err(digest_mismatch());
    }

    let list = parts.c14n_prefixes.as_deref().unwrap_or("");
    let mut signed_info = Vec::with_capacity(1024);
    c14n::render(
        tape,
        parts.signed_info,
        None,
        &c14n::prefix_list(list),
        &mut signed_info,
        &mut Discard,
    );
    let signature = decode_base64(&parts.signature_value).ok_or_else(processing)?;
    if signature.is_empty() {
        return Err(processing());
    }
    let method = pending.checked.signature_method;
    let valid = match anchor.algorithms() {
        SignatureAlgorithms::Rsa => {
            let md = match method {
                RSA_SHA384 => MessageDigest::sha384(),
                RSA_SHA512 => MessageDigest::sha512(),
                _ => MessageDigest::sha256(),
            };
            let mut verifier = Verifier::new(md, anchor.public_key()).map_err(|_| processing())?;
            verifier
                .verify_oneshot(&signature, &signed_info)
                .map_err(|_| processing())?
        }
        SignatureAlgorithms::EcdsaP256 => verify_ecdsa(&signature, &signed_info, anchor)?,
    };
    // OpenSSL may leave entries on the thread's error queue after a failed verification.
    let _ = openssl::error::ErrorStack::get();
    if !valid {
        return Err(signature_mismatch());
    }
    Ok(signed)
}

/// XML-DSig ECDSA values are r‖s, each as long as the curve order; like libxmlsec1, accept any shorter even
/// length as two equal halves (some signers drop leading zeros).
fn verify_ecdsa(signature: &[u8], data: &[u8], anchor: &TrustAnchor) -> Result<bool, Rejection> {
    const HALF: usize = 32;
    let half = if signature.len() < 2 * HALF && signature.len().is_multiple_of(2) {
        signature.len() / 2
    } else if signature.len() == 2 * HALF {
        HALF
    } else {
        return Err(processing());
    };
    let (r, s) = signature.split_at_checked(half).ok_or_else(processing)?;
    let r = BigNum::from_slice(r).map_err(|_| processing())?;
    let s = BigNum::from_slice(s).map_err(|_| processing())?;
    let der = EcdsaSig::from_private_components(r, s)
        .and_then(|sig| sig.to_der())
        .map_err(|_| processing())?;
    let mut verifier =
        Verifier::new(MessageDigest::sha256(), anchor.public_key()).map_err(|_| processing())?;
    verifier
        .verify_oneshot(&der, data)
        .map_err(|_| processing())
}

/// Roughly how many bytes the canonical form of an element takes (to allocate once).
fn tape_bytes_hint(tape: &Tape<'_>, id: usize) -> usize {
    let range = tape.inner(id);
    let text: usize = tape
        .items
        .get(range.clone())
        .unwrap_or(&[])
        .iter()
        .map(|i| match i {
            Item::Text(t) => t.len(),
            _ => 48,
        })
        .sum();
    text + 256
}

/// Everything the streaming verifier proves, plus the claims read from the digested bytes.
pub(super) fn verify_tape(
    tape: &Tape<'_>,
    anchor: &TrustAnchor,
) -> Result<(dsig::VerifiedAssertion, Result<AssertionView, Rejection>), Rejection> {
    register_ids(tape)?;
    let root = Node {
        tape,
        id: tape
            .root()
            .ok_or_else(|| Rejection::parse("document has no root element"))?,
    };
    let located = dsig::locate_from(root)?;
    let assertion_signature = located
        .assertion_signature
        .ok_or_else(|| Rejection::sig("assertion is not signed"))?;
    let algorithms = anchor.algorithms();
    let assertion = dsig::prepare_for(
        assertion_signature,
        located.assertion,
        "Assertion",
        algorithms,
    )?;
    let response = located
        .response_signature
        .map(|signature| dsig::prepare_for(signature, located.root, "Response", algorithms))
        .transpose()?;
    if has_relative_namespace(tape) {
        return Err(processing());
    }
    let mut tree = TreeSink::default();
    let signed_bytes = verify_pending(&assertion, anchor, &mut tree)?;
    if let Some(response) = &response {
        verify_pending(response, anchor, &mut Discard)?;
    }
    let view = tree.finish().and_then(|node| extract::view_of(&node));
    Ok((
        dsig::VerifiedAssertion::from_stream(signed_bytes, assertion.id.clone()),
        view,
    ))
}
