//! XML Digital Signature for SAML 2.0 assertions (IHE XUA): verification and signing with libxmlsec1.
//!
//! What a successful [`verify_assertion`] proves: the document is well-formed XML without DOCTYPE; its root is a
//! `saml:Assertion`, or a `samlp:Response` whose only Assertion (anywhere in the document) is a direct child; that
//! Assertion carries exactly one enveloped `ds:Signature` as a direct child, in the allowed profile (see
//! `profile`); the signature verifies with the key of the given [`TrustAnchor`] and nothing else; the verified
//! Reference resolved, by node identity, to that Assertion; and a signed Response is valid too.
//! [`VerifiedAssertion::signed_bytes`] are the exact bytes that were digested. Claims must be read from them only.
//!
//! Not checked here (the caller's job): time conditions, audience, issuer, subject confirmation, replay, and
//! comments or processing instructions inside NameID/AttributeValue (exclusive c14n drops comments, so
//! `a@x.no<!---->.evil.com` still verifies; `signed_bytes` contain the full text `a@x.no.evil.com`).
//!
//! Threading: call [`init`] once on the main thread before starting worker threads. All libxml2/xmlsec objects
//! are created, used and freed inside one call on one thread; the public types are plain data (`Send + Sync`).
//! Every entry point catches panics and turns them into an INTERNAL rejection.
//!
//! Error messages name elements, attributes and known algorithm URIs, never input values (IDs, NameIDs,
//! attribute values, digests, signature values).

mod ffi;
mod keys;
mod node;
mod profile;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use quick_xml::events::Event;

pub(crate) use self::ffi::SignatureAlgorithms;
use self::ffi::{Doc, Elem, IdProblem, InitError, SignFailure, VerifyFailure};
pub use self::keys::{SigningIdentity, TrustAnchor};
pub(crate) use self::node::DsigNode;
pub(crate) use self::profile::CheckedSignature;
use crate::error::Rejection;
use crate::ns;

static INIT: OnceLock<Result<(), Rejection>> = OnceLock::new();

/// Initialises libxml2, libxmlsec1 and its OpenSSL backend, checks that the run-time libxmlsec1 matches the
/// headers the bindings were built from, and replaces xmlsec's stderr error printer with a silent recorder.
///
/// Call once on the main thread before any other use and before spawning server threads. Idempotent: later
/// calls return the first result. (Every other entry point calls it too, so forgetting it is not unsafe, but
/// then the first worker thread to arrive does the global set-up.)
pub fn init() -> Result<(), Rejection> {
    INIT.get_or_init(|| match catch_unwind(ffi::init_libraries) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(InitError::XmlSecInitPanicked)) => {
            Err(Rejection::internal("libxmlsec1 initialisation failed"))
        }
        Ok(Err(InitError::VersionMismatch)) => Err(Rejection::internal(
            "the libxmlsec1 found at run time is not ABI-compatible with the one the bindings were built for",
        )),
        Err(_) => Err(Rejection::internal("libxmlsec1 initialisation panicked")),
    })
    .clone()
}

/// What a successful verification proves.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The exact bytes the Reference digest was computed over (the pre-digest buffer: exclusive c14n of the
    /// Assertion with the enveloped Signature removed). The caller extracts every claim from THESE bytes only.
    pub signed_bytes: Vec<u8>,
    /// The Assertion's ID attribute value (= the Reference URI without '#').
    pub assertion_id: String,
    /// Only [`verify_assertion`] can produce a value of this type (holding one means the bytes were verified).
    /// A private field rather than `#[non_exhaustive]`, which would not stop other modules of this crate.
    _verified: Verified,
}

/// Private proof-of-origin marker for [`VerifiedAssertion`].
#[derive(Clone, PartialEq, Eq)]
struct Verified;

impl VerifiedAssertion {
    /// For the streaming verifier (`saml::stream`), which proves the same as [`verify_assertion`] (the same
    /// location and profile rules, then the digest and signature over the bytes it returns) without libxmlsec1.
    pub(crate) fn from_stream(signed_bytes: Vec<u8>, assertion_id: String) -> Self {
        VerifiedAssertion {
            signed_bytes,
            assertion_id,
            _verified: Verified,
        }
    }
}

impl fmt::Debug for VerifiedAssertion {
    /// The signed bytes hold personal data (NameID, attributes); Debug shows only their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedAssertion")
            .field("assertion_id", &self.assertion_id)
            .field("signed_bytes_len", &self.signed_bytes.len())
            .finish()
    }
}

/// Verifies a document whose root is either a `saml:Assertion` or a `samlp:Response` holding exactly one
/// `saml:Assertion` child (no EncryptedAssertion, no second Assertion anywhere in the document). The Assertion must
/// carry its own enveloped signature (a signed Response around an unsigned Assertion is rejected: XUA tokens travel
/// standalone). If the Response is signed too, that signature is verified with the same anchor and must be valid.
///
/// Error classes: PARSE (not well-formed), FORBIDDEN (DOCTYPE, algorithm/transform/URI outside the profile),
/// STRUCT (wrapping, duplicate IDs, ambiguous structure), SIG (unsigned, invalid, wrong key, crypto error),
/// INTERNAL (our side).
pub fn verify_assertion(xml: &[u8], anchor: &TrustAnchor) -> Result<VerifiedAssertion, Rejection> {
    guarded(|| verify_inner(xml, anchor))
}

/// Signs an unsigned `saml:Assertion` document (root = Assertion with an `ID` attribute and `saml:Issuer` as its
/// first child element). Inserts the `ds:Signature` right after `saml:Issuer`: RSA-SHA256, SHA-256 digest, one
/// Reference `URI="#<ID>"`, transforms [enveloped-signature, exc-c14n with `ec:InclusiveNamespaces
/// PrefixList="xs"`], CanonicalizationMethod exc-c14n, `KeyInfo/X509Data` with our certificate.
///
/// Returns the signed Assertion element serialised once, as UTF-8, without XML declaration and without any
/// re-formatting, ready to embed (e.g. in a `wsse:Security` header).
pub fn sign_assertion(
    unsigned_xml: &[u8],
    identity: &SigningIdentity,
) -> Result<Vec<u8>, Rejection> {
    guarded(|| sign_inner(unsigned_xml, identity))
}

/// A panic (from the xmlsec crate or from us) must never cross the API edge.
fn guarded<T>(operation: impl FnOnce() -> Result<T, Rejection>) -> Result<T, Rejection> {
    catch_unwind(AssertUnwindSafe(operation)).unwrap_or_else(|_| {
        Err(Rejection::internal(
            "internal error in XML signature processing",
        ))
    })
}

// -------------------------------------------------------------------------------------------------------------
// Parsing
// -------------------------------------------------------------------------------------------------------------

/// Parse with every gate that does not depend on SAML: no DOCTYPE, well-formed, all `ID`s registered and unique.
fn parse_strict(xml: &[u8]) -> Result<Doc, Rejection> {
    if xml.is_empty() {
        return Err(Rejection::parse("document is empty"));
    }
    // Refuse a DOCTYPE before libxml2 ever reads its declarations (entities, ATTLIST ID declarations). The
    // post-parse check below is the authority; this one only keeps DTD processing from starting.
    if prolog_has_doctype(xml) {
        return Err(Rejection::forbidden("DOCTYPE is not allowed"));
    }
    let doc = Doc::parse(xml).ok_or_else(|| Rejection::parse("document is not well-formed XML"))?;
    if doc.has_dtd() {
        return Err(Rejection::forbidden("DOCTYPE is not allowed"));
    }
    doc.register_ids().map_err(|problem| match problem {
        IdProblem::NotNcName => Rejection::structure("an ID attribute value is not a valid NCName"),
        IdProblem::Duplicate => Rejection::structure(
            "duplicate ID value: two elements share an ID (or an ID clashes with xml:id)",
        ),
    })?;
    Ok(doc)
}

/// True if a DOCTYPE appears before the root element. Only the prolog is scanned (a DOCTYPE anywhere else is
/// not well-formed and libxml2 rejects it); a scan error is left to libxml2, which is the parser of record.
fn prolog_has_doctype(xml: &[u8]) -> bool {
    let mut reader = quick_xml::Reader::from_reader(xml);
    loop {
        match reader.read_event() {
            Ok(Event::DocType(_)) => return true,
            Ok(Event::Start(_) | Event::Empty(_) | Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

// -------------------------------------------------------------------------------------------------------------
// Verification
// -------------------------------------------------------------------------------------------------------------

/// The nodes that matter, found by namespace URI and local name.
pub(crate) struct Located<N> {
    pub(crate) root: N,
    pub(crate) assertion: N,
    pub(crate) assertion_signature: Option<N>,
    pub(crate) response_signature: Option<N>,
}

/// Finds the one Assertion and the Signatures, refusing every ambiguity (XSW1-8 all need a second Assertion,
/// a misplaced Signature, or an Assertion that is not where the signature says).
fn locate(doc: &Doc) -> Result<Located<Elem<'_>>, Rejection> {
    let root = doc
        .root()
        .ok_or_else(|| Rejection::parse("document has no root element"))?;
    locate_from(root)
}

/// [`locate`] for any tree: the rules do not depend on the parser.
pub(crate) fn locate_from<N: DsigNode>(root: N) -> Result<Located<N>, Rejection> {
    let is_response = if root.is(ns::SAMLP, "Response") {
        true
    } else if root.is(ns::SAML, "Assertion") {
        false
    } else {
        return Err(Rejection::structure(
            "root element must be saml:Assertion or samlp:Response (compared by namespace URI and local name)",
        ));
    };

    let mut assertions = Vec::new();
    let mut signatures = Vec::new();
    for element in std::iter::once(root).chain(root.descendants()) {
        // Any namespace: a lookalike Assertion anywhere is already an ambiguity we do not need.
        match element.local_name() {
            b"EncryptedAssertion" => {
                return Err(Rejection::structure(
                    "EncryptedAssertion is not supported: the assertion must be sent signed and unencrypted",
                ))
            }
            b"Assertion" => assertions.push(element),
            _ => {}
        }
        if element.is(ns::DSIG, "Signature") {
            signatures.push(element);
        }
        // Inert here (libxml2 only expands XInclude on request), but a later consumer might not be so careful.
        if ns::XINCLUDE_ALL
            .iter()
            .any(|ns| element.namespace() == Some(ns.as_bytes()))
        {
            return Err(Rejection::forbidden("XInclude elements are not allowed"));
        }
    }

    let assertion = match assertions.as_slice() {
        [] => return Err(Rejection::structure("Response contains no Assertion")),
        [one] => *one,
        _ => {
            return Err(Rejection::structure(
                "document contains more than one Assertion element",
            ))
        }
    };
    if !assertion.is(ns::SAML, "Assertion") {
        return Err(Rejection::structure(
            "Assertion element is not in the SAML 2.0 assertion namespace",
        ));
    }
    if is_response && assertion.parent() != Some(root) {
        return Err(Rejection::structure(
            "Assertion must be a direct child of the Response",
        ));
    }

    let mut assertion_signature = None;
    let mut response_signature = None;
    for signature in signatures {
        let parent = signature.parent();
        if parent == Some(assertion) {
            if assertion_signature.replace(signature).is_some() {
                return Err(Rejection::structure(
                    "the Assertion has more than one ds:Signature child",
                ));
            }
        } else if is_response && parent == Some(root) {
            if response_signature.replace(signature).is_some() {
                return Err(Rejection::structure(
                    "the Response has more than one ds:Signature child",
                ));
            }
        } else {
            return Err(Rejection::structure(
                "ds:Signature is not an immediate child of the Assertion or Response it signs",
            ));
        }
    }

    Ok(Located {
        root,
        assertion,
        assertion_signature,
        response_signature,
    })
}

/// One signature to verify, after its profile check.
pub(crate) struct Pending<N> {
    pub(crate) signature: N,
    pub(crate) signed: N,
    pub(crate) id: String,
    pub(crate) checked: CheckedSignature,
}

/// Profile-checks `signature` on `signed` and binds its algorithm to the anchor's key type.
fn prepare<N: DsigNode>(
    signature: N,
    signed: N,
    what: &str,
    anchor: &TrustAnchor,
) -> Result<Pending<N>, Rejection> {
    prepare_for(signature, signed, what, anchor.algorithms())
}

/// [`prepare`] against the key family of an anchor.
pub(crate) fn prepare_for<N: DsigNode>(
    signature: N,
    signed: N,
    what: &str,
    algorithms: SignatureAlgorithms,
) -> Result<Pending<N>, Rejection> {
    let id = signed
        .attr(c"ID")
        .ok_or_else(|| Rejection::structure(format!("the signed {what} has no ID attribute")))?;
    let checked = profile::check(signature, &id)?;
    if checked.algorithms != algorithms {
        return Err(Rejection::sig(format!(
            "signature algorithm {} does not match the trusted key type for this issuer",
            checked.signature_method
        )));
    }
    Ok(Pending {
        signature,
        signed,
        id,
        checked,
    })
}

fn verify_inner(xml: &[u8], anchor: &TrustAnchor) -> Result<VerifiedAssertion, Rejection> {
    init()?;
    let doc = parse_strict(xml)?;
    let located = locate(&doc)?;

    let assertion_signature = located
        .assertion_signature
        .ok_or_else(|| Rejection::sig("assertion is not signed"))?;
    // Every profile check runs before any crypto: a document we will refuse never reaches xmlsec.
    let assertion = prepare(assertion_signature, located.assertion, "Assertion", anchor)?;
    let response = located
        .response_signature
        .map(|signature| prepare(signature, located.root, "Response", anchor))
        .transpose()?;

    let signed_bytes = verify_pending(&doc, &assertion, anchor)?;
    if let Some(response) = &response {
        verify_pending(&doc, response, anchor)?;
    }
    Ok(VerifiedAssertion {
        signed_bytes,
        assertion_id: assertion.id,
        _verified: Verified,
    })
}

fn verify_pending(
    doc: &Doc,
    pending: &Pending<Elem<'_>>,
    anchor: &TrustAnchor,
) -> Result<Vec<u8>, Rejection> {
    let key = anchor.key()?;
    ffi::verify_enveloped(
        doc,
        pending.signature,
        pending.signed,
        &pending.id,
        key,
        anchor.algorithms(),
    )
    .map_err(|failure| match failure {
        VerifyFailure::Setup => {
            Rejection::internal("could not set up the signature verification context")
        }
        VerifyFailure::Processing { reason } => match reason {
            ffi::reason::TRANSFORM_DISABLED => Rejection::forbidden(
                "a transform or algorithm was refused by the signature library's allow-list",
            ),
            ffi::reason::INVALID_URI_TYPE => Rejection::forbidden(
                "the Reference URI type was refused by the signature library (same-document only)",
            ),
            ffi::reason::KEY_NOT_FOUND => Rejection::sig(
                "the trusted certificate for this issuer does not fit the signature algorithm",
            ),
            _ => Rejection::sig(
                "signature could not be verified (malformed signature value or crypto error)",
            ),
        },
        VerifyFailure::DigestMismatch => Rejection::sig(
            "digest of the signed element does not match: it was changed after signing",
        ),
        VerifyFailure::SignatureMismatch => Rejection::sig(
            "signature value does not verify with the trusted certificate for this issuer",
        ),
        VerifyFailure::Binding(detail) => Rejection::structure(format!(
            "the verified reference is not bound to the signed element ({detail})"
        )),
    })
}

// -------------------------------------------------------------------------------------------------------------
// Signing
// -------------------------------------------------------------------------------------------------------------

fn sign_inner(unsigned_xml: &[u8], identity: &SigningIdentity) -> Result<Vec<u8>, Rejection> {
    init()?;
    let mut doc = parse_strict(unsigned_xml)?;
    let id = {
        let root = doc
            .root()
            .ok_or_else(|| Rejection::parse("document has no root element"))?;
        if !root.is(ns::SAML, "Assertion") {
            return Err(Rejection::structure("root element must be saml:Assertion"));
        }
        let id = root
            .attr(c"ID")
            .ok_or_else(|| Rejection::structure("the Assertion has no ID attribute"))?;
        if !root
            .children()
            .next()
            .is_some_and(|first| first.is(ns::SAML, "Issuer"))
        {
            return Err(Rejection::structure(
                "the first child element of the Assertion must be saml:Issuer",
            ));
        }
        for element in root.descendants() {
            if element.is(ns::DSIG, "Signature") {
                return Err(Rejection::structure(
                    "the Assertion already contains a ds:Signature",
                ));
            }
            if matches!(element.local_name(), b"Assertion" | b"EncryptedAssertion") {
                return Err(Rejection::structure(
                    "the Assertion contains another Assertion element",
                ));
            }
        }
        id
    };

    let key = identity.key()?;
    ffi::sign_enveloped(&mut doc, &id, key, identity.cert_base64()).map_err(
        |failure| match failure {
            SignFailure::Template => Rejection::internal("could not build the signature template"),
            SignFailure::Processing { .. } => {
                Rejection::internal("signing the assertion failed in libxmlsec1")
            }
        },
    )?;
    doc.serialize_root()
        .ok_or_else(|| Rejection::internal("could not serialise the signed assertion"))
}

#[cfg(test)]
mod tests;
