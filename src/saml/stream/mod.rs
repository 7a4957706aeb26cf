//! The streaming XML-DSig verifier: one reading of the bytes for the pre-scan, the signature and the claims.
//!
//! It accepts exactly the signature profile of `saml::dsig` (root Assertion, or a Response with one Assertion
//! child; one enveloped ds:Signature as the Assertion's direct child; exc-c14n; RSA-SHA256/384/512 or
//! ECDSA-SHA256; one Reference `#ID` with the transforms [enveloped-signature, exc-c14n]; SHA-256/384/512;
//! KeyInfo ignored; a signed Response verified too) and refuses everything else with the classes the
//! libxmlsec1 path gives. How it gets there:
//!
//! 1. `read`: quick-xml events, once. Each goes through the pre-scan (`prescan::Scanner`: limits, DOCTYPE,
//!    entities, comments, XInclude, shape) and onto the `tape`, recorded the way libxml2 would build its tree.
//!    What libxml2 would refuse is noted and reported after the issuer checks, where libxml2 would have met it.
//! 2. `verify`: the location and profile rules shared with the libxmlsec1 verifier (`dsig::locate_from`,
//!    `dsig::prepare_for`), the ID table, then the Reference digest over the exclusive canonical form of the
//!    Assertion without its Signature (`c14n`), then the SignatureValue over the canonical SignedInfo, with the
//!    trust anchor's OpenSSL key.
//! 3. `view`: the claims come from the elements, attributes and text the canonicaliser wrote for the digest,
//!    resolved as a reader of those canonical bytes would resolve them.
//!
//! `sign` is the other direction: our own assertions are written in canonical form, so the signature is made
//! over the bytes as written, without parsing them again.
#![deny(clippy::indexing_slicing)]

mod builder;
mod c14n;
mod chars;
mod classes;
mod read;
pub mod sign;
mod tape;
mod verify;
mod view;

use crate::error::Rejection;
use crate::saml::dsig::{TrustAnchor, VerifiedAssertion};
use crate::saml::prescan::{self, Shape, XmlLimits};
use crate::saml::view::AssertionView;

/// What the streaming verifier proves (the same as `dsig::verify_assertion`), and the claims.
#[derive(Debug)]
pub struct StreamVerified {
    pub verified: VerifiedAssertion,
    /// The claims read from `verified.signed_bytes` as they were written, or why they cannot be read (the
    /// errors `extract::assertion_view` gives for those bytes).
    pub view: Result<AssertionView, Rejection>,
}

/// Verifies `xml` with `anchor`, like `dsig::verify_assertion`, but with the pre-scan's rules and limits in
/// front (they are part of the one reading).
pub fn verify_assertion(
    xml: &[u8],
    anchor: &TrustAnchor,
    limits: &XmlLimits,
) -> Result<StreamVerified, Rejection> {
    verify_document(xml, limits, |_| Ok(anchor))
}

/// Verifies `xml`; `select` picks the trust anchor from the document's unverified shape (the issuer), after
/// the pre-scan and before anything else, as the pipeline does.
pub fn verify_document<'t>(
    xml: &[u8],
    limits: &XmlLimits,
    select: impl FnOnce(&Shape) -> Result<&'t TrustAnchor, Rejection>,
) -> Result<StreamVerified, Rejection> {
    verify_document_with(xml, limits, |shape, with_anchor| {
        with_anchor(select(shape)?)
    })
}

/// Reads `xml` once, then hands `verify` the unverified shape and a check of the signature with one anchor,
/// which it may call for each of an issuer's certificates (the reading is not repeated).
pub fn verify_document_with<T>(
    xml: &[u8],
    limits: &XmlLimits,
    verify: impl FnOnce(
        &Shape,
        &mut dyn FnMut(&TrustAnchor) -> Result<StreamVerified, Rejection>,
    ) -> Result<T, Rejection>,
) -> Result<T, Rejection> {
    let text = prescan::text_of(xml, limits)?;
    let reading = read::read(text, limits)?;
    let mut with_anchor = |anchor: &TrustAnchor| {
        if let Some(problem) = &reading.not_well_formed {
            return Err(problem.clone());
        }
        let (verified, view) = verify::verify_tape(&reading.tape, anchor)?;
        Ok(StreamVerified { verified, view })
    };
    verify(&reading.shape, &mut with_anchor)
}
