//! A parsed libxml2 document, owned by one thread, and read-only views of its elements.
#![allow(unsafe_code)]

use super::*;

/// A parsed document, owned by this thread.
pub(in crate::saml::dsig) struct Doc {
    // Freed by libxml's Drop (xmlFreeDoc). We never create libxml `Node` wrappers, so the crate's node
    // bookkeeping stays empty and cannot hold pointers into nodes that xmlsec creates or changes.
    document: Document,
}

/// Why an `ID` attribute could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::saml::dsig) enum IdProblem {
    NotNcName,
    Duplicate,
}

impl Doc {
    /// Strict parse: no recovery (malformed input is an error, not a repaired tree), no network, no entity
    /// substitution and no DTD loading (the libxml crate cannot even set NOENT/DTDLOAD), errors not printed.
    pub(in crate::saml::dsig) fn parse(xml: &[u8]) -> Option<Doc> {
        let _quiet = QuietLibxml::install();
        let options = ParserOptions {
            recover: false,
            no_net: true,
            no_error: true,
            no_warning: true,
            no_blanks: false,
            huge: false,
            ..ParserOptions::default()
        };
        Parser::default()
            .parse_string_with_options(xml, options)
            .ok()
            .map(|document| Doc { document })
    }

    pub(super) fn raw(&self) -> *mut xs::xmlDoc {
        // libxml's and xmlsec's bindgen outputs are two Rust spellings of the same C `struct _xmlDoc`.
        self.document.doc_ptr().cast::<xs::xmlDoc>()
    }

    /// True if the document has any DOCTYPE (internal or external subset).
    pub(in crate::saml::dsig) fn has_dtd(&self) -> bool {
        let doc = self.raw();
        // SAFETY: `doc` is the live document owned by `self`; we only read two pointer fields and walk the
        // document's top-level child list (no node is freed while `self` is borrowed).
        unsafe {
            if !(*doc).intSubset.is_null() || !(*doc).extSubset.is_null() {
                return true;
            }
            let mut cur = (*doc).children;
            while !cur.is_null() {
                if (*cur).type_ == xs::xmlElementType_XML_DTD_NODE {
                    return true;
                }
                cur = (*cur).next;
            }
        }
        false
    }

    pub(in crate::saml::dsig) fn root(&self) -> Option<Elem<'_>> {
        // SAFETY: `raw()` is the live document; xmlDocGetRootElement only reads its child list.
        let root = unsafe { xs::xmlDocGetRootElement(self.raw()) };
        // SAFETY: the pointer comes from the document borrowed for the returned lifetime.
        unsafe { Elem::from_ptr(root) }
    }

    /// Registers every un-namespaced `ID` attribute in the document as an XML ID, so that xmlsec's
    /// `#id` resolution (xpointer `id()`) sees exactly these and nothing else decides what `#x` means.
    /// Fails on the first value that is not an NCName (it would be spliced into an xpointer expression) or
    /// that is already taken (a duplicate `ID`, or a clash with an `xml:id` the parser registered).
    /// Must be called once per document: a second call would see its own earlier registrations as duplicates.
    pub(in crate::saml::dsig) fn register_ids(&self) -> Result<(), IdProblem> {
        let Some(root) = self.root() else {
            return Ok(());
        };
        let doc = self.raw();
        for element in std::iter::once(root).chain(root.descendants()) {
            // SAFETY: `element` is a live element of `doc`; its attribute list is walked read-only except for
            // xmlAddID, which only adds a hash entry and sets `atype` on the attribute (no node is freed or
            // moved). xmlNodeListGetString returns a fresh copy that we free with xmlFree.
            unsafe {
                let mut attr = (*element.ptr.as_ptr()).properties;
                while !attr.is_null() {
                    if (*attr).ns.is_null() && cstr_eq((*attr).name, b"ID") {
                        let value = xs::xmlNodeListGetString(doc, (*attr).children, 1);
                        if value.is_null() {
                            // An empty attribute value: not an NCName.
                            return Err(IdProblem::NotNcName);
                        }
                        let result = if xs::xmlValidateNCName(value, 0) != 0 {
                            Err(IdProblem::NotNcName)
                        } else if xs::xmlAddID(ptr::null_mut(), doc, value, attr).is_null() {
                            Err(IdProblem::Duplicate)
                        } else {
                            Ok(())
                        };
                        xml_free(value.cast());
                        result?;
                    }
                    attr = (*attr).next;
                }
            }
        }
        Ok(())
    }

    /// Serialises the root element as UTF-8, without XML declaration and without any formatting, so the bytes
    /// are exactly the tree that was signed and can be embedded in a wsse:Security header as they are.
    pub(in crate::saml::dsig) fn serialize_root(&self) -> Option<Vec<u8>> {
        let root = self.root()?;
        // SAFETY: the buffer and save context are created, used and freed here; xmlSaveTree only reads the tree
        // owned by `self`. The node pointer type is cast between the libxml and xmlsec spellings of the same C
        // struct. The content pointer is valid for `len` bytes until xmlBufferFree, and we copy before that.
        unsafe {
            let buffer = libxml::bindings::xmlBufferCreate();
            if buffer.is_null() {
                return None;
            }
            let ctxt = libxml::bindings::xmlSaveToBuffer(buffer, c"UTF-8".as_ptr(), 0);
            if ctxt.is_null() {
                libxml::bindings::xmlBufferFree(buffer);
                return None;
            }
            let written = libxml::bindings::xmlSaveTree(
                ctxt,
                root.ptr.as_ptr().cast::<libxml::bindings::xmlNode>(),
            );
            let closed = libxml::bindings::xmlSaveClose(ctxt);
            let out = if written < 0 || closed < 0 {
                None
            } else {
                let content = libxml::bindings::xmlBufferContent(buffer);
                let len = usize::try_from(libxml::bindings::xmlBufferLength(buffer)).ok();
                match (content.is_null(), len) {
                    (false, Some(len)) if len > 0 => {
                        Some(std::slice::from_raw_parts(content, len).to_vec())
                    }
                    _ => None,
                }
            };
            libxml::bindings::xmlBufferFree(buffer);
            out
        }
    }
}

/// A read-only view of one element node of a [`Doc`].
///
/// Invariant: `ptr` points to an element node (`XML_ELEMENT_NODE`) of the document borrowed for `'d`, and that
/// document's tree is not restructured while `'d` lasts (only `&mut Doc` operations restructure it).
#[derive(Clone, Copy)]
pub(in crate::saml::dsig) struct Elem<'d> {
    pub(super) ptr: NonNull<xs::xmlNode>,
    _doc: PhantomData<&'d Doc>,
}

impl PartialEq for Elem<'_> {
    /// Node identity (pointer equality), never structural equality: that is what XSW defences need.
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for Elem<'_> {}

impl<'d> Elem<'d> {
    /// # Safety
    /// `node` must be null or a node of a document that stays alive and structurally unchanged for `'d`.
    pub(super) unsafe fn from_ptr(node: *mut xs::xmlNode) -> Option<Elem<'d>> {
        let ptr = NonNull::new(node)?;
        // SAFETY: non-null node of a live document per the caller's contract.
        if unsafe { (*ptr.as_ptr()).type_ } != xs::xmlElementType_XML_ELEMENT_NODE {
            return None;
        }
        Some(Elem {
            ptr,
            _doc: PhantomData,
        })
    }

    /// The local name (libxml2 parses namespace-aware, so `name` never carries the prefix).
    pub(in crate::saml::dsig) fn local_name(&self) -> &'d [u8] {
        // SAFETY: element nodes always have a non-null, NUL-terminated name owned by the document (or its
        // dictionary), which lives for 'd.
        unsafe { CStr::from_ptr((*self.ptr.as_ptr()).name.cast::<c_char>()).to_bytes() }
    }

    /// The namespace URI, if the element is in a namespace.
    pub(in crate::saml::dsig) fn namespace(&self) -> Option<&'d [u8]> {
        // SAFETY: `ns` is null or points to an xmlNs owned by the document; `href` is null or NUL-terminated.
        unsafe {
            let ns = (*self.ptr.as_ptr()).ns;
            if ns.is_null() || (*ns).href.is_null() {
                return None;
            }
            Some(CStr::from_ptr((*ns).href.cast::<c_char>()).to_bytes())
        }
    }

    /// Same namespace URI and local name (prefixes are irrelevant and never compared).
    pub(in crate::saml::dsig) fn is(&self, namespace: &str, local_name: &str) -> bool {
        self.local_name() == local_name.as_bytes() && self.namespace() == Some(namespace.as_bytes())
    }

    /// The parent, if it is an element (the root's parent is the document node).
    pub(in crate::saml::dsig) fn parent(&self) -> Option<Elem<'d>> {
        // SAFETY: reading the parent pointer of a live node; from_ptr checks the node type.
        unsafe { Elem::from_ptr((*self.ptr.as_ptr()).parent) }
    }

    /// Element children, in document order.
    pub(in crate::saml::dsig) fn children(&self) -> Children<'d> {
        Children {
            // SAFETY: reading the first-child pointer of a live element node.
            next: unsafe { (*self.ptr.as_ptr()).children },
            _doc: PhantomData,
        }
    }

    /// Element descendants (not including `self`), in document order.
    pub(in crate::saml::dsig) fn descendants(&self) -> Descendants<'d> {
        Descendants {
            walk: NodeWalk::new(self.ptr),
            _doc: PhantomData,
        }
    }

    /// True if any comment or processing instruction occurs anywhere below this element.
    pub(in crate::saml::dsig) fn contains_comment_or_pi(&self) -> bool {
        let mut walk = NodeWalk::new(self.ptr);
        while let Some(node) = walk.next_node() {
            // SAFETY: `node` is a live node of the same document (see NodeWalk).
            let kind = unsafe { (*node).type_ };
            if kind == xs::xmlElementType_XML_COMMENT_NODE || kind == xs::xmlElementType_XML_PI_NODE
            {
                return true;
            }
        }
        false
    }

    /// The value of the un-namespaced attribute `name`, if present.
    pub(in crate::saml::dsig) fn attr(&self, name: &CStr) -> Option<String> {
        // SAFETY: xmlGetNoNsProp reads the live element and returns a fresh copy (or null) that we free.
        unsafe {
            let value = xs::xmlGetNoNsProp(self.ptr.as_ptr(), name.as_ptr().cast());
            if value.is_null() {
                return None;
            }
            // libxml2 stores text as UTF-8 and rejects invalid input at parse time, so this is lossless.
            let owned = String::from_utf8_lossy(CStr::from_ptr(value.cast::<c_char>()).to_bytes())
                .into_owned();
            xml_free(value.cast());
            Some(owned)
        }
    }

    /// True if the element has any namespace-qualified attribute (`p:URI`, `xml:lang`, ...).
    pub(in crate::saml::dsig) fn has_qualified_attribute(&self) -> bool {
        // SAFETY: walking the attribute list of a live element, read-only.
        unsafe {
            let mut attr = (*self.ptr.as_ptr()).properties;
            while !attr.is_null() {
                if !(*attr).ns.is_null() {
                    return true;
                }
                attr = (*attr).next;
            }
        }
        false
    }

    /// The un-namespaced attribute node `name` (for pointer-identity checks against the ID table).
    pub(super) fn attr_node(&self, name: &[u8]) -> Option<*mut xs::xmlAttr> {
        // SAFETY: walking the attribute list of a live element, read-only.
        unsafe {
            let mut attr = (*self.ptr.as_ptr()).properties;
            while !attr.is_null() {
                if (*attr).ns.is_null() && cstr_eq((*attr).name, name) {
                    return Some(attr);
                }
                attr = (*attr).next;
            }
        }
        None
    }
}

/// Iterator over element children.
pub(in crate::saml::dsig) struct Children<'d> {
    next: *mut xs::xmlNode,
    _doc: PhantomData<&'d Doc>,
}

impl<'d> Iterator for Children<'d> {
    type Item = Elem<'d>;
    fn next(&mut self) -> Option<Elem<'d>> {
        while !self.next.is_null() {
            let cur = self.next;
            // SAFETY: `cur` is a live sibling node of the document borrowed for 'd.
            unsafe {
                self.next = (*cur).next;
                if let Some(elem) = Elem::from_ptr(cur) {
                    return Some(elem);
                }
            }
        }
        None
    }
}

/// Iterator over element descendants.
pub(in crate::saml::dsig) struct Descendants<'d> {
    walk: NodeWalk,
    _doc: PhantomData<&'d Doc>,
}

impl<'d> Iterator for Descendants<'d> {
    type Item = Elem<'d>;
    fn next(&mut self) -> Option<Elem<'d>> {
        while let Some(node) = self.walk.next_node() {
            // SAFETY: NodeWalk yields live nodes of the document borrowed for 'd.
            if let Some(elem) = unsafe { Elem::from_ptr(node) } {
                return Some(elem);
            }
        }
        None
    }
}

/// Pre-order walk over every node below `top` (not `top` itself), without recursion or allocation.
/// Only element children are descended into: entity-reference nodes share their children with the entity
/// declaration (whose `parent` is not the reference), so climbing back from them would leave the subtree.
struct NodeWalk {
    top: *mut xs::xmlNode,
    next: *mut xs::xmlNode,
}

impl NodeWalk {
    fn new(top: NonNull<xs::xmlNode>) -> Self {
        // SAFETY: `top` is a live element node (Elem invariant).
        let first = unsafe { (*top.as_ptr()).children };
        NodeWalk {
            top: top.as_ptr(),
            next: first,
        }
    }

    fn next_node(&mut self) -> Option<*mut xs::xmlNode> {
        let cur = self.next;
        if cur.is_null() {
            return None;
        }
        // SAFETY: `cur` and every pointer followed below are nodes of the same live, unchanging tree; the
        // climb stops at `top`, which is an ancestor of every node visited.
        unsafe {
            if (*cur).type_ == xs::xmlElementType_XML_ELEMENT_NODE && !(*cur).children.is_null() {
                self.next = (*cur).children;
            } else {
                let mut node = cur;
                self.next = ptr::null_mut();
                while !node.is_null() && node != self.top {
                    if !(*node).next.is_null() {
                        self.next = (*node).next;
                        break;
                    }
                    node = (*node).parent;
                }
            }
        }
        Some(cur)
    }
}

/// # Safety
/// `s` must be null or a NUL-terminated string.
pub(super) unsafe fn cstr_eq(s: *const xs::xmlChar, expected: &[u8]) -> bool {
    // SAFETY: per the function contract.
    !s.is_null() && unsafe { CStr::from_ptr(s.cast::<c_char>()) }.to_bytes() == expected
}

/// # Safety
/// `p` must be null or memory allocated by libxml2's allocator that nobody else frees.
unsafe fn xml_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: `xmlFree` is libxml2's global deallocator pointer, set at library load and never changed by us;
    // we copy the function pointer (no reference to the static is taken) and call it on libxml2 memory.
    unsafe {
        let free_fn: xs::xmlFreeFunc = xs::xmlFree;
        if let Some(free) = free_fn {
            free(p);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------------------
