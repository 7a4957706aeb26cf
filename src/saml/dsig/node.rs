//! What the signature checks need to know about an element, whichever parser built the tree: libxml2's DOM
//! (for libxmlsec1) or the streaming verifier's tape. The profile and the location rules are written once,
//! against this trait, so both verifiers refuse exactly the same documents with the same messages.

use std::ffi::CStr;

/// A read-only element of a parsed document. Equality is node identity, never structural equality: that is
/// what defences against signature wrapping need.
pub(crate) trait DsigNode: Copy + PartialEq {
    /// The local name as the tree stores it (an element whose prefix is undeclared keeps `p:local`).
    fn local_name(&self) -> &[u8];
    /// The namespace URI, if the element is in a namespace.
    fn namespace(&self) -> Option<&[u8]>;
    /// The parent, if it is an element.
    fn parent(&self) -> Option<Self>;
    /// Element children, in document order.
    fn children(&self) -> impl Iterator<Item = Self>;
    /// Element descendants (not including `self`), in document order.
    fn descendants(&self) -> impl Iterator<Item = Self>;
    /// The value of the un-namespaced attribute `name`, if present.
    fn attr(&self, name: &CStr) -> Option<String>;
    /// True if the element has any namespace-qualified attribute.
    fn has_qualified_attribute(&self) -> bool;
    /// True if any comment or processing instruction occurs anywhere below this element.
    fn contains_comment_or_pi(&self) -> bool;

    /// Same namespace URI and local name (prefixes are irrelevant and never compared).
    fn is(&self, namespace: &str, local_name: &str) -> bool {
        self.local_name() == local_name.as_bytes() && self.namespace() == Some(namespace.as_bytes())
    }
}

impl DsigNode for super::ffi::Elem<'_> {
    fn local_name(&self) -> &[u8] {
        super::ffi::Elem::local_name(self)
    }
    fn namespace(&self) -> Option<&[u8]> {
        super::ffi::Elem::namespace(self)
    }
    fn parent(&self) -> Option<Self> {
        super::ffi::Elem::parent(self)
    }
    fn children(&self) -> impl Iterator<Item = Self> {
        super::ffi::Elem::children(self)
    }
    fn descendants(&self) -> impl Iterator<Item = Self> {
        super::ffi::Elem::descendants(self)
    }
    fn attr(&self, name: &CStr) -> Option<String> {
        super::ffi::Elem::attr(self, name)
    }
    fn has_qualified_attribute(&self) -> bool {
        super::ffi::Elem::has_qualified_attribute(self)
    }
    fn contains_comment_or_pi(&self) -> bool {
        super::ffi::Elem::contains_comment_or_pi(self)
    }
}
