//! An assertion cut out of a SOAP envelope. Its bytes are a range of the input; but inside the envelope it
//! may rely on namespace declarations of its ancestors (the Envelope often declares `xs`, which an
//! `xsi:type="xs:string"` value or an InclusiveNamespaces PrefixList then uses). Standing alone those
//! prefixes would be unbound, and exclusive c14n would render a different document than was signed.
//!
//! So, as WS-Security processors do when they detach a token, the standalone document gets every binding
//! in scope at the assertion that the assertion does not declare itself, written on its start tag. This is
//! neutral for exclusive c14n: a namespace is rendered where it is visibly used or listed in the
//! PrefixList whether it was declared on an ancestor or on the apex, so the canonical bytes, and with them
//! the digest, are the ones the issuer signed. (Inherited `xml:*` attributes play no part in exclusive
//! c14n, the only canonicalisation the verifier accepts.)

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::soap::xml::escape;

/// A `saml:Assertion` element found in a SOAP message.
#[derive(Clone, PartialEq, Eq)]
pub struct CutAssertion<'a> {
    input: &'a [u8],
    /// The element's bytes in the input, start tag to end tag.
    pub range: Range<usize>,
    /// Where the start tag's name ends (declarations are inserted there).
    name_end: usize,
    /// In-scope bindings from ancestors that the assertion does not redeclare: (prefix, URI).
    pub carried: Vec<(Option<String>, String)>,
}

impl<'a> CutAssertion<'a> {
    pub(crate) fn new(
        input: &'a [u8],
        range: Range<usize>,
        name_end: usize,
        carried: Vec<(Option<String>, String)>,
    ) -> Self {
        Self {
            input,
            range,
            name_end,
            carried,
        }
    }

    /// The assertion's bytes exactly as they are in the message.
    pub fn bytes_as_sent(&self) -> &'a [u8] {
        self.input.get(self.range.clone()).unwrap_or_default()
    }

    /// The assertion as a document of its own, for the SAML verifier: the bytes as sent when it relies on no
    /// ancestor declaration, otherwise those bytes with the carried declarations added to its start tag.
    pub fn standalone(&self) -> Cow<'a, [u8]> {
        if self.carried.is_empty() {
            return Cow::Borrowed(self.bytes_as_sent());
        }
        let head = self
            .input
            .get(self.range.start..self.name_end)
            .unwrap_or_default();
        let tail = self
            .input
            .get(self.name_end..self.range.end)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(self.range.len() + 64 * self.carried.len());
        out.extend_from_slice(head);
        for (prefix, uri) in &self.carried {
            match prefix {
                Some(p) => {
                    out.extend_from_slice(b" xmlns:");
                    out.extend_from_slice(p.as_bytes());
                }
                None => out.extend_from_slice(b" xmlns"),
            }
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(escape(uri).as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(tail);
        Cow::Owned(out)
    }
}

/// Debug shows where the assertion is, not what it says (it holds personal data).
impl fmt::Debug for CutAssertion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CutAssertion")
            .field("range", &self.range)
            .field(
                "carried_prefixes",
                &self
                    .carried
                    .iter()
                    .map(|(p, _)| p.as_deref())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The bindings to carry: those in scope at the assertion (`in_scope`, which includes its own) minus the
/// prefixes it declares itself (`own`).
pub(crate) fn carried_bindings(
    in_scope: Vec<(Option<String>, String)>,
    own: &[(Option<String>, String)],
) -> Vec<(Option<String>, String)> {
    in_scope
        .into_iter()
        .filter(|(p, uri)| !uri.is_empty() && !own.iter().any(|(q, _)| q == p))
        .collect()
}
