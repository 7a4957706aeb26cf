//! Signing our own assertions without parsing them: `saml::build` writes the Assertion through a
//! [`CanonicalWriter`], which records it on a tape and writes it out in exclusive canonical form (with the
//! PrefixList `xs`, as the Reference transform will say). Those bytes are what any verifier digests once the
//! Signature is removed again, so they are digested as they stand; SignedInfo is written the same way and
//! signed with OpenSSL (RSA-SHA256, the identity's key parsed once); the Signature (with KeyInfo/X509Data)
//! goes right after the Issuer, with no white space around it.

use std::borrow::Cow;

use base64::Engine as _;
use openssl::hash::{hash, MessageDigest};
use openssl::sign::Signer;

use super::builder::TapeBuilder;
use super::c14n::{self, Discard, Opened, Sink};
use super::chars::has_invalid_char;
use super::tape::{Item, NsRef, Tape};
use crate::error::Rejection;
use crate::ns;
use crate::saml::dsig::SigningIdentity;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The InclusiveNamespaces PrefixList of our signatures: `xs` is used in `xsi:type` values only.
const PREFIX_LIST: &str = "xs";

/// An unsigned Assertion in exclusive canonical form.
#[derive(Debug, Clone)]
pub struct CanonicalAssertion {
    bytes: Vec<u8>,
    /// Where the Signature goes: right after `</saml:Issuer>`.
    after_issuer: usize,
    id: String,
}

impl CanonicalAssertion {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Writes an element tree (namespace declarations as `xmlns` attributes, values unescaped), to be rendered
/// in canonical form. A name that is not an XML name makes `finish` fail.
#[derive(Default)]
pub struct CanonicalWriter<'a> {
    builder: TapeBuilder<'a>,
    broken: bool,
}

impl<'a> CanonicalWriter<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn start(&mut self, name: &'a str, attributes: Vec<(&'a str, Cow<'a, str>)>) {
        if self.builder.start(name, attributes, false).is_none() {
            self.broken = true;
        }
    }

    pub fn text(&mut self, text: impl Into<Cow<'a, str>>) {
        self.builder.text(text.into());
    }

    pub fn end(&mut self) {
        if self.builder.end().is_none() {
            self.broken = true;
        }
    }

    /// A start tag, text and end tag.
    pub fn text_element(&mut self, name: &'a str, text: impl Into<Cow<'a, str>>) {
        self.start(name, Vec::new());
        self.text(text);
        self.end();
    }

    /// Renders the Assertion. Refuses what is not one well-formed `saml:Assertion` with an `ID` and
    /// `saml:Issuer` as its first child, and values XML cannot carry.
    pub fn finish(self) -> Result<CanonicalAssertion, Rejection> {
        let tape = self.builder.tape;
        if self.broken || tape.elements.iter().any(|e| e.end <= e.start) {
            return Err(Rejection::internal(
                "the assertion writer was given an unbalanced tree",
            ));
        }
        let not_xml = || Rejection::parse("a value holds a character that XML 1.0 does not allow");
        if tape.attrs.iter().any(|a| has_invalid_char(&a.value))
            || tape
                .items
                .iter()
                .any(|i| matches!(i, Item::Text(t) if has_invalid_char(t)))
        {
            return Err(not_xml());
        }
        let root = tape
            .root()
            .ok_or_else(|| Rejection::internal("the assertion writer was given no element"))?;
        let is = |id: usize, namespace: &str, local: &str| {
            tape.element(id).is_some_and(|e| {
                e.local == local && e.ns != NsRef::None && tape.uri(e.ns) == Some(namespace)
            })
        };
        if !is(root, ns::SAML, "Assertion") {
            return Err(Rejection::structure("root element must be saml:Assertion"));
        }
        if !tape
            .children(root)
            .next()
            .is_some_and(|first| is(first, ns::SAML, "Issuer"))
        {
            return Err(Rejection::structure(
                "the first child element of the Assertion must be saml:Issuer",
            ));
        }
        let id = tape
            .attrs_of(root)
            .iter()
            .find(|a| a.ns == NsRef::None && a.prefix.is_none() && a.local == "ID")
            .map(|a| a.value.to_string())
            .ok_or_else(|| Rejection::structure("the Assertion has no ID attribute"))?;
        let mut bytes = Vec::with_capacity(4096);
        let mut first_child_end = FirstChildEnd::default();
        c14n::render(
            &tape,
            root,
            None,
            &c14n::prefix_list(PREFIX_LIST),
            &mut bytes,
            &mut first_child_end,
        );
        let after_issuer = first_child_end
            .offset
            .ok_or_else(|| Rejection::internal("the Issuer was not written"))?;
        Ok(CanonicalAssertion {
            bytes,
            after_issuer,
            id,
        })
    }
}

/// Notes where the root's first child ends in the output.
#[derive(Default)]
struct FirstChildEnd {
    depth: usize,
    offset: Option<usize>,
}

impl Sink for FirstChildEnd {
    fn start(&mut self, _: &Opened<'_>) {
        self.depth += 1;
    }
    fn text(&mut self, _: &str) {}
    fn end(&mut self, end_offset: usize) {
        if self.depth == 2 && self.offset.is_none() {
            self.offset = Some(end_offset);
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

/// The ds:Signature for `id`, with `signature_value` (empty while SignedInfo is being signed).
fn signature_tape<'a>(
    reference: &'a str,
    digest_value: &'a str,
    signature_value: &'a str,
    certificate: &'a str,
) -> Option<(Tape<'a>, usize)> {
    let mut b = TapeBuilder::default();
    let empty = |b: &mut TapeBuilder<'a>, name: &'a str, algorithm: &'a str| {
        b.start(name, [("Algorithm", Cow::Borrowed(algorithm))], true)
    };
    b.start(
        "ds:Signature",
        [("xmlns:ds", Cow::Borrowed(ns::DSIG))],
        false,
    )?;
    b.start("ds:SignedInfo", [], false)?;
    empty(&mut b, "ds:CanonicalizationMethod", EXC_C14N)?;
    empty(&mut b, "ds:SignatureMethod", RSA_SHA256)?;
    b.start("ds:Reference", [("URI", Cow::Borrowed(reference))], false)?;
    b.start("ds:Transforms", [], false)?;
    empty(&mut b, "ds:Transform", ENVELOPED)?;
    b.start(
        "ds:Transform",
        [("Algorithm", Cow::Borrowed(EXC_C14N))],
        false,
    )?;
    b.start(
        "ec:InclusiveNamespaces",
        [
            ("xmlns:ec", Cow::Borrowed(EXC_C14N)),
            ("PrefixList", Cow::Borrowed(PREFIX_LIST)),
        ],
        true,
    )?;
    b.end()?;
    b.end()?;
    empty(&mut b, "ds:DigestMethod", SHA256)?;
    b.start("ds:DigestValue", [], false)?;
    b.text(Cow::Borrowed(digest_value));
    b.end()?;
    b.end()?;
    b.end()?;
    b.start("ds:SignatureValue", [], false)?;
    b.text(Cow::Borrowed(signature_value));
    b.end()?;
    b.start("ds:KeyInfo", [], false)?;
    b.start("ds:X509Data", [], false)?;
    b.start("ds:X509Certificate", [], false)?;
    b.text(Cow::Borrowed(certificate));
    b.end()?;
    b.end()?;
    b.end()?;
    b.end()?;
    // SignedInfo is the Signature's first child, element 1.
    Some((b.tape, 1))
}

/// Signs a canonical Assertion: RSA-SHA256, SHA-256, one Reference `#ID`, transforms [enveloped-signature,
/// exc-c14n with PrefixList `xs`], KeyInfo/X509Data with our certificate; the Signature right after Issuer.
/// Returns the signed Assertion, UTF-8, without XML declaration.
pub fn sign(
    assertion: &CanonicalAssertion,
    identity: &SigningIdentity,
) -> Result<Vec<u8>, Rejection> {
    let failed = || Rejection::internal("signing the assertion failed");
    let engine = base64::engine::general_purpose::STANDARD;
    let digest =
        engine.encode(hash(MessageDigest::sha256(), &assertion.bytes).map_err(|_| failed())?);
    let reference = format!("#{}", assertion.id);
    let certificate = identity.cert_base64();

    let (unsigned, signed_info) =
        signature_tape(&reference, &digest, "", certificate).ok_or_else(failed)?;
    let mut canonical_signed_info = Vec::with_capacity(1024);
    c14n::render(
        &unsigned,
        signed_info,
        None,
        &[],
        &mut canonical_signed_info,
        &mut Discard,
    );
    let mut signer =
        Signer::new(MessageDigest::sha256(), identity.private_key()).map_err(|_| failed())?;
    let value = engine.encode(
        signer
            .sign_oneshot_to_vec(&canonical_signed_info)
            .map_err(|_| failed())?,
    );

    let (signature, _) =
        signature_tape(&reference, &digest, &value, certificate).ok_or_else(failed)?;
    let (head, tail) = assertion
        .bytes
        .split_at_checked(assertion.after_issuer)
        .ok_or_else(failed)?;
    let mut out = Vec::with_capacity(assertion.bytes.len() + 3072);
    out.extend_from_slice(head);
    c14n::render(&signature, 0, None, &[], &mut out, &mut Discard);
    out.extend_from_slice(tail);
    Ok(out)
}
