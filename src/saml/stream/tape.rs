//! The tape: one reading of the document, recorded as libxml2 would have built its tree (the same namespace
//! bindings, attribute values and text), in document order. Canonicalisation, the signature checks and the
//! claims all walk this one recording; nothing reads the bytes a second time.

use std::borrow::Cow;
use std::ffi::CStr;
use std::ops::Range;

use crate::saml::dsig::DsigNode;

pub(super) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Which namespace a name is in, as libxml2 records it: no namespace, the predefined `xml` namespace, or one
/// declaration (by index into [`Tape::decls`]; two declarations of the same URI are different bindings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NsRef {
    None,
    Xml,
    Decl(usize),
}

/// A namespace declaration libxml2 keeps (it drops `xmlns:p=""` and declarations of the reserved URIs).
#[derive(Debug, Clone)]
pub(super) struct Decl<'a> {
    /// `None` for the default namespace.
    pub(super) prefix: Option<&'a str>,
    pub(super) uri: Cow<'a, str>,
}

#[derive(Debug, Clone)]
pub(super) struct Attr<'a> {
    /// The prefix as written (an undeclared prefix stays here with `ns` = None: libxml2 then names the
    /// attribute `prefix:local`).
    pub(super) prefix: Option<&'a str>,
    pub(super) local: &'a str,
    pub(super) ns: NsRef,
    /// The normalised value (references resolved, white space characters turned into spaces).
    pub(super) value: Cow<'a, str>,
}

impl Attr<'_> {
    /// True for the `prefix:local` attributes libxml2 keeps without a namespace.
    pub(super) fn undeclared(&self) -> bool {
        self.ns == NsRef::None && self.prefix.is_some()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Element<'a> {
    pub(super) parent: Option<usize>,
    pub(super) prefix: Option<&'a str>,
    pub(super) local: &'a str,
    pub(super) ns: NsRef,
    pub(super) decls: Range<usize>,
    pub(super) attrs: Range<usize>,
    /// Index of this element's `Start` in [`Tape::items`] and of its `End`.
    pub(super) start: usize,
    pub(super) end: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Item<'a> {
    Start(usize),
    End,
    /// Character data (text, CDATA or a resolved reference), line ends normalised.
    Text(Cow<'a, str>),
}

#[derive(Debug, Default)]
pub(super) struct Tape<'a> {
    pub(super) elements: Vec<Element<'a>>,
    pub(super) items: Vec<Item<'a>>,
    pub(super) decls: Vec<Decl<'a>>,
    pub(super) attrs: Vec<Attr<'a>>,
}

impl<'a> Tape<'a> {
    pub(super) fn element(&self, id: usize) -> Option<&Element<'a>> {
        self.elements.get(id)
    }

    pub(super) fn attrs_of(&self, id: usize) -> &[Attr<'a>] {
        self.element(id)
            .and_then(|e| self.attrs.get(e.attrs.clone()))
            .unwrap_or(&[])
    }

    /// The namespace URI of a binding.
    pub(super) fn uri(&self, ns: NsRef) -> Option<&str> {
        match ns {
            NsRef::None => None,
            NsRef::Xml => Some(XML_NS),
            NsRef::Decl(i) => self.decls.get(i).map(|d| d.uri.as_ref()),
        }
    }

    /// The prefix of a binding (`None` for the default namespace and for no namespace).
    pub(super) fn prefix_of(&self, ns: NsRef) -> Option<&'a str> {
        match ns {
            NsRef::None => None,
            NsRef::Xml => Some("xml"),
            NsRef::Decl(i) => self.decls.get(i).and_then(|d| d.prefix),
        }
    }

    /// libxml2's `xmlSearchNs`: the nearest declaration of `prefix` on the element or its ancestors (for the
    /// default namespace, including an `xmlns=""`).
    pub(super) fn search_ns(&self, id: usize, prefix: Option<&str>) -> NsRef {
        if prefix == Some("xml") {
            return NsRef::Xml;
        }
        let mut current = Some(id);
        while let Some(e) = current.and_then(|i| self.element(i)) {
            if let Some(found) = e
                .decls
                .clone()
                .find(|&i| self.decls.get(i).is_some_and(|d| d.prefix == prefix))
            {
                return NsRef::Decl(found);
            }
            current = e.parent;
        }
        NsRef::None
    }

    /// The root element (the tape holds exactly one, the reader refuses anything else).
    pub(super) fn root(&self) -> Option<usize> {
        (!self.elements.is_empty()).then_some(0)
    }

    /// Items strictly inside an element.
    pub(super) fn inner(&self, id: usize) -> Range<usize> {
        self.element(id)
            .map_or(0..0, |e| (e.start + 1)..e.end.max(e.start + 1))
    }

    /// The element children of `id`, in order.
    pub(super) fn children(&self, id: usize) -> Children<'_, 'a> {
        Children {
            tape: self,
            next: self.inner(id),
        }
    }

    /// Concatenated descendant text (libxml2's `xmlNodeGetContent`).
    pub(super) fn content(&self, id: usize) -> String {
        let mut out = String::new();
        for item in self.items.get(self.inner(id)).unwrap_or(&[]) {
            if let Item::Text(t) = item {
                out.push_str(t);
            }
        }
        out
    }
}

pub(super) struct Children<'t, 'a> {
    tape: &'t Tape<'a>,
    next: Range<usize>,
}

impl Iterator for Children<'_, '_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        while self.next.start < self.next.end {
            let at = self.next.start;
            match self.tape.items.get(at) {
                Some(Item::Start(id)) => {
                    let id = *id;
                    self.next.start = self.tape.element(id).map_or(at + 1, |e| e.end + 1);
                    return Some(id);
                }
                _ => self.next.start = at + 1,
            }
        }
        None
    }
}

/// An element of a tape, for the signature checks shared with the libxmlsec1 verifier.
#[derive(Clone, Copy)]
pub(super) struct Node<'t, 'a> {
    pub(super) tape: &'t Tape<'a>,
    pub(super) id: usize,
}

impl PartialEq for Node<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.tape, other.tape) && self.id == other.id
    }
}

impl<'t, 'a> Node<'t, 'a> {
    fn element(&self) -> Option<&'t Element<'a>> {
        self.tape.element(self.id)
    }

    fn at(&self, id: usize) -> Self {
        Node {
            tape: self.tape,
            id,
        }
    }
}

/// libxml2's name of an element or attribute with an undeclared prefix is the whole `prefix:local`; those
/// never match the names the checks look for, so a marker that cannot be a name stands in.
const UNDECLARED: &[u8] = b"\0undeclared";

impl DsigNode for Node<'_, '_> {
    fn local_name(&self) -> &[u8] {
        match self.element() {
            Some(e) if e.ns == NsRef::None && e.prefix.is_some() => UNDECLARED,
            Some(e) => e.local.as_bytes(),
            None => b"",
        }
    }

    fn namespace(&self) -> Option<&[u8]> {
        self.element()
            .and_then(|e| self.tape.uri(e.ns))
            .filter(|uri| !uri.is_empty())
            .map(str::as_bytes)
    }

    fn parent(&self) -> Option<Self> {
        self.element().and_then(|e| e.parent).map(|p| self.at(p))
    }

    fn children(&self) -> impl Iterator<Item = Self> {
        let node = *self;
        self.tape.children(self.id).map(move |id| node.at(id))
    }

    fn descendants(&self) -> impl Iterator<Item = Self> {
        let node = *self;
        let tape = self.tape;
        tape.items
            .get(tape.inner(self.id))
            .unwrap_or(&[])
            .iter()
            .filter_map(move |item| match item {
                Item::Start(id) => Some(node.at(*id)),
                _ => None,
            })
    }

    fn attr(&self, name: &CStr) -> Option<String> {
        let name = name.to_str().ok()?;
        self.tape
            .attrs_of(self.id)
            .iter()
            .find(|a| a.ns == NsRef::None && a.prefix.is_none() && a.local == name)
            .map(|a| a.value.to_string())
    }

    fn has_qualified_attribute(&self) -> bool {
        self.tape
            .attrs_of(self.id)
            .iter()
            .any(|a| a.ns != NsRef::None)
    }

    fn contains_comment_or_pi(&self) -> bool {
        // The reader refuses both inside the root element before a tape exists.
        false
    }
}
