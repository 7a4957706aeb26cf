//! The one place in the crate that talks to libxml2 and libxmlsec1 through raw pointers.
//!
//! Everything here is crate-private plumbing for `saml::dsig`: the policy (what is allowed, which class an error
//! gets) lives in the safe parent module. This file only offers small owned wrappers whose invariants make the
//! raw calls sound:
//!
//! * [`Doc`] owns a parsed libxml2 document. It is `!Send` (it holds an `Rc` and raw pointers), so a document
//!   never leaves the thread that parsed it. Nothing here ever frees or relinks a node of a parsed document except
//!   [`sign_enveloped`], which takes `&mut Doc`, so no [`Elem`] can be alive while the tree changes.
//! * [`Elem`] is a read-only view of one element node, tied by lifetime to the `&Doc` it came from.
//! * [`OwnedKey`] owns one `xmlSecKey`; [`DsigCtx`] owns one `xmlSecDSigCtx` (and the key handed to it).
//!
//! xmlsec's verification runs Reference transforms before the SignatureValue is checked, so whatever reaches
//! [`verify_enveloped`] has already passed the caller's SignedInfo allow-list; the context is locked down again
//! here (same-document URIs only, explicit transform allow-lists, key pre-set so KeyInfo is never read) so that a
//! gap in one layer is not a hole.
#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::ptr::{self, NonNull};

use libxml::parser::{Parser, ParserOptions};
use libxml::tree::Document;
use xmlsec::bindings as xs;

// ---------------------------------------------------------------------------------------------------------------
// Declarations the xmlsec crate's generated bindings lack (xmlsec/errors.h is not in its header list) and one from
// OpenSSL. Signatures copied from /usr/include/xmlsec1/xmlsec/errors.h (1.2.37) and openssl/err.h.
// ---------------------------------------------------------------------------------------------------------------

type XmlSecErrorsCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

#[link(name = "xmlsec1")]
extern "C" {
    fn xmlSecErrorsSetCallback(callback: Option<XmlSecErrorsCallback>);
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: c_int);
}

#[link(name = "crypto")]
extern "C" {
    fn ERR_clear_error();
}

/// xmlsec error reasons we translate into messages (values from xmlsec/errors.h 1.2.37).
pub(super) mod reason {
    use std::os::raw::c_int;
    pub const INVALID_URI_TYPE: c_int = 33;
    pub const TRANSFORM_DISABLED: c_int = 35;
    pub const KEY_NOT_FOUND: c_int = 45;
}

thread_local! {
    /// The first xmlsec error reason reported on this thread since the last [`take_xmlsec_reason`]. Only the
    /// numeric reason is kept: xmlsec's message strings quote input (URIs, node names, IDs).
    static XMLSEC_FIRST_REASON: Cell<c_int> = const { Cell::new(0) };
}

/// Replaces xmlsec's default error callback, which prints every failure (with input fragments) to stderr.
/// Runs on whatever thread xmlsec reports from; it must not unwind, so it only touches a thread-local `Cell`.
unsafe extern "C" fn record_xmlsec_error(
    _file: *const c_char,
    _line: c_int,
    _func: *const c_char,
    _error_object: *const c_char,
    _error_subject: *const c_char,
    reason: c_int,
    _msg: *const c_char,
) {
    let _ = XMLSEC_FIRST_REASON.try_with(|first| {
        if first.get() == 0 {
            first.set(reason);
        }
    });
}

fn reset_xmlsec_reason() {
    let _ = XMLSEC_FIRST_REASON.try_with(|first| first.set(0));
}

/// The first xmlsec error reason since the last reset (0 if none).
pub(super) fn take_xmlsec_reason() -> c_int {
    XMLSEC_FIRST_REASON
        .try_with(|first| first.replace(0))
        .unwrap_or(0)
}

/// libxml2 reports XPath/tree errors through a per-thread handler that defaults to stderr, quoting input.
/// While one of our operations runs on this thread, route them to a no-op and restore the previous handler after
/// (the libxml crate's diagnostics API uses the same save/restore pattern, so the two nest).
struct QuietLibxml {
    saved_handler: xs::xmlStructuredErrorFunc,
    saved_context: *mut c_void,
}

unsafe extern "C" fn ignore_libxml_error(_user_data: *mut c_void, _error: xs::xmlErrorPtr) {}

impl QuietLibxml {
    fn install() -> Self {
        // SAFETY: __xmlStructuredError/__xmlStructuredErrorContext return pointers to this thread's libxml2
        // globals (libxml2 is built with thread support); reading them and installing a handler with the exact
        // C signature is what xmlSetStructuredErrorFunc is for. The handler never unwinds.
        unsafe {
            let saved = QuietLibxml {
                saved_handler: *xs::__xmlStructuredError(),
                saved_context: *xs::__xmlStructuredErrorContext(),
            };
            xs::xmlSetStructuredErrorFunc(ptr::null_mut(), Some(ignore_libxml_error));
            saved
        }
    }
}

impl Drop for QuietLibxml {
    fn drop(&mut self) {
        // SAFETY: restores exactly the handler/context pair read in `install` on this same thread (the guard is
        // !Send because it holds a raw pointer).
        unsafe { xs::xmlSetStructuredErrorFunc(self.saved_context, self.saved_handler) }
    }
}

/// Clears OpenSSL's per-thread error queue. xmlsec peeks at OpenSSL errors without popping them, and an invalid
/// signature leaves entries behind; left there they would confuse later OpenSSL users on the same worker thread
/// (some PEM readers decide "end of input" by looking at the last queued error).
fn clear_openssl_errors() {
    // SAFETY: ERR_clear_error takes no arguments and only touches the calling thread's error queue.
    unsafe { ERR_clear_error() }
}

/// Everything a single xmlsec operation needs around it: quiet libxml2, fresh error state before, clean after.
struct OperationScope {
    _quiet: QuietLibxml,
}

impl OperationScope {
    fn enter() -> Self {
        clear_openssl_errors();
        reset_xmlsec_reason();
        OperationScope {
            _quiet: QuietLibxml::install(),
        }
    }
}

impl Drop for OperationScope {
    fn drop(&mut self) {
        clear_openssl_errors();
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Global initialisation
// ---------------------------------------------------------------------------------------------------------------

/// Why initialisation failed (the parent maps these to messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InitError {
    /// The xmlsec crate's lazy initialiser panicked (it panics instead of returning errors).
    XmlSecInitPanicked,
    /// The libxmlsec1 loaded at run time is not ABI-compatible with the headers the bindings were generated from.
    VersionMismatch,
}

/// libxml2 + xmlsec + OpenSSL initialisation. Not idempotent by itself: the parent calls it exactly once.
pub(super) fn init_libraries() -> Result<(), InitError> {
    libxml::init_parser();

    // Let the xmlsec crate run its own one-time initialisation (xmlSecInit, xmlSecOpenSSLAppInit,
    // xmlSecOpenSSLInit) rather than calling those ourselves: the crate initialises lazily from its own API, and a
    // second xmlSecInit from us would register every transform twice if any other code uses that API.
    let created = std::panic::catch_unwind(|| drop(xmlsec::XmlSecSignatureContext::new()));
    if created.is_err() {
        return Err(InitError::XmlSecInitPanicked);
    }

    // We read and write xmlSecDSigCtx / xmlSecDSigReferenceCtx fields directly, so the run-time library must
    // have the struct layout of the headers bindgen saw.
    // SAFETY: plain C call with integer arguments; xmlsec is initialised above.
    let compatible = unsafe {
        xs::xmlSecCheckVersionExt(
            xs::XMLSEC_VERSION_MAJOR as c_int,
            xs::XMLSEC_VERSION_MINOR as c_int,
            xs::XMLSEC_VERSION_SUBMINOR as c_int,
            xs::xmlSecCheckVersionMode_xmlSecCheckVersionABICompatible,
        )
    };
    if compatible != 1 {
        return Err(InitError::VersionMismatch);
    }

    // SAFETY: both functions only store a flag / function pointer in xmlsec's globals. `record_xmlsec_error`
    // has the exact xmlSecErrorsCallback signature and never unwinds. This runs once, before worker threads use
    // xmlsec (the parent guards it with a OnceLock), so there is no concurrent reader of the callback pointer.
    unsafe {
        xmlSecErrorsDefaultCallbackEnableOutput(0);
        xmlSecErrorsSetCallback(Some(record_xmlsec_error));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Documents and read-only element views
// ---------------------------------------------------------------------------------------------------------------

/// A parsed document, owned by this thread.
pub(super) struct Doc {
    // Freed by libxml's Drop (xmlFreeDoc). We never create libxml `Node` wrappers, so the crate's node
    // bookkeeping stays empty and cannot hold pointers into nodes that xmlsec creates or changes.
    document: Document,
}

/// Why an `ID` attribute could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdProblem {
    NotNcName,
    Duplicate,
}

impl Doc {
    /// Strict parse: no recovery (malformed input is an error, not a repaired tree), no network, no entity
    /// substitution and no DTD loading (the libxml crate cannot even set NOENT/DTDLOAD), errors not printed.
    pub(super) fn parse(xml: &[u8]) -> Option<Doc> {
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

    fn raw(&self) -> *mut xs::xmlDoc {
        // libxml's and xmlsec's bindgen outputs are two Rust spellings of the same C `struct _xmlDoc`.
        self.document.doc_ptr().cast::<xs::xmlDoc>()
    }

    /// True if the document has any DOCTYPE (internal or external subset).
    pub(super) fn has_dtd(&self) -> bool {
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

    pub(super) fn root(&self) -> Option<Elem<'_>> {
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
    pub(super) fn register_ids(&self) -> Result<(), IdProblem> {
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
    pub(super) fn serialize_root(&self) -> Option<Vec<u8>> {
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
pub(super) struct Elem<'d> {
    ptr: NonNull<xs::xmlNode>,
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
    unsafe fn from_ptr(node: *mut xs::xmlNode) -> Option<Elem<'d>> {
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
    pub(super) fn local_name(&self) -> &'d [u8] {
        // SAFETY: element nodes always have a non-null, NUL-terminated name owned by the document (or its
        // dictionary), which lives for 'd.
        unsafe { CStr::from_ptr((*self.ptr.as_ptr()).name.cast::<c_char>()).to_bytes() }
    }

    /// The namespace URI, if the element is in a namespace.
    pub(super) fn namespace(&self) -> Option<&'d [u8]> {
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
    pub(super) fn is(&self, namespace: &str, local_name: &str) -> bool {
        self.local_name() == local_name.as_bytes() && self.namespace() == Some(namespace.as_bytes())
    }

    /// The parent, if it is an element (the root's parent is the document node).
    pub(super) fn parent(&self) -> Option<Elem<'d>> {
        // SAFETY: reading the parent pointer of a live node; from_ptr checks the node type.
        unsafe { Elem::from_ptr((*self.ptr.as_ptr()).parent) }
    }

    /// Element children, in document order.
    pub(super) fn children(&self) -> Children<'d> {
        Children {
            // SAFETY: reading the first-child pointer of a live element node.
            next: unsafe { (*self.ptr.as_ptr()).children },
            _doc: PhantomData,
        }
    }

    /// Element descendants (not including `self`), in document order.
    pub(super) fn descendants(&self) -> Descendants<'d> {
        Descendants {
            walk: NodeWalk::new(self.ptr),
            _doc: PhantomData,
        }
    }

    /// True if any comment or processing instruction occurs anywhere below this element.
    pub(super) fn contains_comment_or_pi(&self) -> bool {
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
    pub(super) fn attr(&self, name: &CStr) -> Option<String> {
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
    pub(super) fn has_qualified_attribute(&self) -> bool {
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
    fn attr_node(&self, name: &[u8]) -> Option<*mut xs::xmlAttr> {
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
pub(super) struct Children<'d> {
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
pub(super) struct Descendants<'d> {
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
unsafe fn cstr_eq(s: *const xs::xmlChar, expected: &[u8]) -> bool {
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

/// One owned `xmlSecKey`.
pub(super) struct OwnedKey(NonNull<xs::xmlSecKey>);

impl OwnedKey {
    fn duplicate(&self) -> Option<OwnedKey> {
        // SAFETY: `self.0` is a live key owned by us; xmlSecKeyDuplicate returns a new independent key or null.
        NonNull::new(unsafe { xs::xmlSecKeyDuplicate(self.0.as_ptr()) }).map(OwnedKey)
    }

    /// Gives up ownership (to an xmlSecDSigCtx, which destroys its signKey).
    fn into_raw(self) -> *mut xs::xmlSecKey {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        raw
    }
}

impl Drop for OwnedKey {
    fn drop(&mut self) {
        // SAFETY: we own this key and nobody else holds it.
        unsafe { xs::xmlSecKeyDestroy(self.0.as_ptr()) }
    }
}

/// Key material as PEM, already validated and normalised by the parent (one certificate; one private key).
#[derive(Clone, Copy)]
pub(super) enum KeyMaterial<'a> {
    /// A trust anchor: a public key (SubjectPublicKeyInfo PEM), without its certificate.
    PublicKey(&'a [u8]),
    /// A signing identity's private key (PKCS#8 PEM); its certificate is written into KeyInfo by the caller.
    PrivateKey { key_pem: &'a [u8] },
}

fn load_key(material: KeyMaterial<'_>) -> Option<OwnedKey> {
    let _scope = OperationScope::enter();
    match material {
        KeyMaterial::PublicKey(pem) => {
            let len = c_uint::try_from(pem.len()).ok()?;
            // SAFETY: `pem` is valid for `len` bytes during the call; no password or callback. The PEM format
            // reads a private key and, failing that, a public key (PEM_read_bio_PUBKEY).
            let key = unsafe {
                xs::xmlSecOpenSSLAppKeyLoadMemory(
                    pem.as_ptr(),
                    len,
                    xs::xmlSecKeyDataFormat_xmlSecKeyDataFormatPem,
                    ptr::null(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            NonNull::new(key).map(OwnedKey)
        }
        KeyMaterial::PrivateKey { key_pem } => {
            let key_len = c_uint::try_from(key_pem.len()).ok()?;
            // SAFETY: as above; the format is PEM (PEM_read_bio_PrivateKey accepts PKCS#8 and PKCS#1).
            let key = unsafe {
                xs::xmlSecOpenSSLAppKeyLoadMemory(
                    key_pem.as_ptr(),
                    key_len,
                    xs::xmlSecKeyDataFormat_xmlSecKeyDataFormatPem,
                    ptr::null(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            NonNull::new(key).map(OwnedKey)
        }
    }
}

/// Most distinct keys one thread keeps. Anchors and identities are built once at start-up, so this is only a
/// bound against unbounded growth if they are rebuilt (e.g. on configuration reload): past it the cache is
/// emptied and refilled on demand.
const KEY_CACHE_CAPACITY: usize = 64;

thread_local! {
    /// Per-thread parsed keys, by the id of the TrustAnchor/SigningIdentity they belong to. xmlsec keys are not
    /// thread-safe, so each worker thread parses its own copy once and duplicates it per operation (xmlsec
    /// destroys the key it was given when the context goes away).
    static KEY_CACHE: RefCell<HashMap<u64, OwnedKey>> = RefCell::new(HashMap::new());
}

/// A fresh key for one operation: duplicated from this thread's cached copy (parsed on first use).
pub(super) fn key_for(id: u64, material: KeyMaterial<'_>) -> Option<OwnedKey> {
    let cached = KEY_CACHE.try_with(|cell| {
        let mut cache = cell.try_borrow_mut().ok()?;
        if !cache.contains_key(&id) {
            if cache.len() >= KEY_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(id, load_key(material)?);
        }
        let _scope = OperationScope::enter();
        cache.get(&id)?.duplicate()
    });
    match cached {
        Ok(key) => key,
        // Thread-local storage already torn down (thread exit): parse without caching.
        Err(_) => load_key(material),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Signature contexts
// ---------------------------------------------------------------------------------------------------------------

/// One owned `xmlSecDSigCtx` with no keys manager: keys come only from `signKey`, which we set.
struct DsigCtx(NonNull<xs::xmlSecDSigCtx>);

impl DsigCtx {
    fn new() -> Option<DsigCtx> {
        // SAFETY: creating a context with a null keys manager is documented; we own the result.
        NonNull::new(unsafe { xs::xmlSecDSigCtxCreate(ptr::null_mut()) }).map(DsigCtx)
    }

    fn raw(&self) -> *mut xs::xmlSecDSigCtx {
        self.0.as_ptr()
    }

    /// Hands `key` to the context (which destroys it with itself).
    fn set_key(&mut self, key: OwnedKey) {
        // SAFETY: the context is live and owned by us; a previously set key (none, in our use) is destroyed so
        // it cannot leak, and the new key's ownership moves into the context.
        unsafe {
            let old = (*self.raw()).signKey;
            if !old.is_null() {
                xs::xmlSecKeyDestroy(old);
            }
            (*self.raw()).signKey = key.into_raw();
        }
    }

    fn enable_reference_transform(&mut self, id: xs::xmlSecTransformId) -> Option<()> {
        // SAFETY: live context; `id` is a transform klass pointer returned by xmlsec's own getters.
        (unsafe { xs::xmlSecDSigCtxEnableReferenceTransform(self.raw(), id) } >= 0).then_some(())
    }

    fn enable_signature_transform(&mut self, id: xs::xmlSecTransformId) -> Option<()> {
        // SAFETY: as above.
        (unsafe { xs::xmlSecDSigCtxEnableSignatureTransform(self.raw(), id) } >= 0).then_some(())
    }
}

impl Drop for DsigCtx {
    fn drop(&mut self) {
        // SAFETY: we own the context; xmlSecDSigCtxDestroy also destroys its signKey and reference contexts.
        unsafe { xs::xmlSecDSigCtxDestroy(self.raw()) }
    }
}

/// The signature algorithms a verification may use, fixed by the trusted key's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithms {
    /// rsa-sha256, rsa-sha384, rsa-sha512.
    Rsa,
    /// ecdsa-sha256 (P-256).
    EcdsaP256,
}

/// The enabled transform klasses. Looked up at call time: they are static data inside libxmlsec1.
struct Transforms;

impl Transforms {
    fn reference() -> [xs::xmlSecTransformId; 5] {
        // SAFETY: the *GetKlass functions take no arguments and return pointers to static klass structs.
        unsafe {
            [
                xs::xmlSecTransformEnvelopedGetKlass(),
                xs::xmlSecTransformExclC14NGetKlass(),
                xs::xmlSecOpenSSLTransformSha256GetKlass(),
                xs::xmlSecOpenSSLTransformSha384GetKlass(),
                xs::xmlSecOpenSSLTransformSha512GetKlass(),
            ]
        }
    }

    fn signature(algorithms: SignatureAlgorithms) -> Vec<xs::xmlSecTransformId> {
        // SAFETY: as above.
        unsafe {
            match algorithms {
                SignatureAlgorithms::Rsa => vec![
                    xs::xmlSecTransformExclC14NGetKlass(),
                    xs::xmlSecOpenSSLTransformRsaSha256GetKlass(),
                    xs::xmlSecOpenSSLTransformRsaSha384GetKlass(),
                    xs::xmlSecOpenSSLTransformRsaSha512GetKlass(),
                ],
                SignatureAlgorithms::EcdsaP256 => vec![
                    xs::xmlSecTransformExclC14NGetKlass(),
                    xs::xmlSecOpenSSLTransformEcdsaSha256GetKlass(),
                ],
            }
        }
    }
}

/// Why xmlsec did not confirm a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VerifyFailure {
    /// The context could not be set up (allocation failure); our fault.
    Setup,
    /// xmlSecDSigCtxVerify returned an error; `reason` is xmlsec's first error reason (0 if none).
    Processing { reason: c_int },
    /// The Reference digest did not match: the signed element was changed.
    DigestMismatch,
    /// The digest matched but the SignatureValue does not verify with the trusted key.
    SignatureMismatch,
    /// xmlsec reported success but did not sign what we checked (reference count, URI, node identity, or no
    /// pre-digest buffer). Should be unreachable after the profile check; never accepted.
    Binding(&'static str),
}

/// Verifies the enveloped signature `signature` (a ds:Signature that is a direct child of `signed`) with `key`,
/// and proves that xmlsec digested exactly `signed`: one SignedInfo reference, status Succeeded, URI `#id`,
/// and the ID table entry for `id` is the `ID` attribute node of `signed`, which is `signature`'s parent.
///
/// Returns the pre-digest bytes (exclusive c14n of `signed` without the signature).
pub(super) fn verify_enveloped(
    doc: &Doc,
    signature: Elem<'_>,
    signed: Elem<'_>,
    id: &str,
    key: OwnedKey,
    algorithms: SignatureAlgorithms,
) -> Result<Vec<u8>, VerifyFailure> {
    if signature.parent() != Some(signed) {
        return Err(VerifyFailure::Binding(
            "Signature is not a child of the signed element",
        ));
    }
    let id_c = CString::new(id).map_err(|_| VerifyFailure::Binding("ID contains NUL"))?;
    let expected_uri = format!("#{id}");

    // Declared before the context so that it is dropped after it: the OpenSSL queue is cleared last.
    let _scope = OperationScope::enter();
    let mut ctx = DsigCtx::new().ok_or(VerifyFailure::Setup)?;
    // SAFETY: live context owned by us; plain field writes before the context is used.
    unsafe {
        (*ctx.raw()).flags = xs::XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES
            | xs::XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
        // Only `#...` URIs: no empty (whole document) and no local/remote fetches.
        (*ctx.raw()).enabledReferenceUris = xs::xmlSecTransformUriTypeSameDocument;
    }
    for transform in Transforms::reference() {
        ctx.enable_reference_transform(transform)
            .ok_or(VerifyFailure::Setup)?;
    }
    for transform in Transforms::signature(algorithms) {
        ctx.enable_signature_transform(transform)
            .ok_or(VerifyFailure::Setup)?;
    }
    // With signKey set and no keys manager, xmlsec never reads KeyInfo (xmlSecDSigCtxProcessKeyInfoNode only
    // consults KeyInfo when signKey is null and a keys manager exists): RetrievalMethod, KeyInfoReference,
    // X509 URLs and embedded certificates are never looked at.
    ctx.set_key(key);

    // SAFETY: `signature` is a live ds:Signature element of `doc`, which outlives this call; the context is
    // configured above. Verification reads the tree, adds `Id` attributes under the Signature to the ID table
    // and evaluates transforms over node sets; it does not free or move nodes.
    let rc = unsafe { xs::xmlSecDSigCtxVerify(ctx.raw(), signature.ptr.as_ptr()) };
    if rc < 0 {
        return Err(VerifyFailure::Processing {
            reason: take_xmlsec_reason(),
        });
    }

    // SAFETY: after xmlSecDSigCtxVerify the context's fields are initialised; the reference list holds
    // xmlSecDSigReferenceCtx pointers owned by the context, valid until it is destroyed at the end of this
    // function. Strings read are NUL-terminated copies owned by those contexts.
    unsafe {
        let refs = ptr::addr_of_mut!((*ctx.raw()).signedInfoReferences);
        let count = xs::xmlSecPtrListGetSize(refs);
        let first = if count >= 1 {
            xs::xmlSecPtrListGetItem(refs, 0).cast::<xs::xmlSecDSigReferenceCtx>()
        } else {
            ptr::null_mut()
        };

        if (*ctx.raw()).status != xs::xmlSecDSigStatus_xmlSecDSigStatusSucceeded {
            // xmlsec stops at the first failed reference and marks the whole signature invalid.
            if !first.is_null() && (*first).status != xs::xmlSecDSigStatus_xmlSecDSigStatusSucceeded
            {
                return Err(VerifyFailure::DigestMismatch);
            }
            return Err(VerifyFailure::SignatureMismatch);
        }

        if count != 1 || first.is_null() {
            return Err(VerifyFailure::Binding(
                "expected exactly one verified reference",
            ));
        }
        if (*first).origin != xs::xmlSecDSigReferenceOrigin_xmlSecDSigReferenceOriginSignedInfo
            || (*first).status != xs::xmlSecDSigStatus_xmlSecDSigStatusSucceeded
        {
            return Err(VerifyFailure::Binding("reference not verified"));
        }
        if !cstr_eq((*first).uri, expected_uri.as_bytes()) {
            return Err(VerifyFailure::Binding("verified reference URI differs"));
        }

        // The node xmlsec resolved `#id` to is whatever the ID table says; it must be the attribute we expect
        // on the element we will hand out, and that element must be the Signature's parent.
        let resolved = xs::xmlGetID(doc.raw(), id_c.as_ptr().cast());
        let expected_attr = signed.attr_node(b"ID");
        if resolved.is_null()
            || Some(resolved) != expected_attr
            || (*resolved).parent != signed.ptr.as_ptr()
        {
            return Err(VerifyFailure::Binding(
                "reference resolves to a different node",
            ));
        }

        let buffer = xs::xmlSecDSigReferenceCtxGetPreDigestBuffer(first);
        if buffer.is_null() {
            return Err(VerifyFailure::Binding("no pre-digest buffer"));
        }
        let data = xs::xmlSecBufferGetData(buffer);
        let size = usize::try_from(xs::xmlSecBufferGetSize(buffer)).unwrap_or(0);
        if data.is_null() || size == 0 {
            return Err(VerifyFailure::Binding("empty pre-digest buffer"));
        }
        Ok(std::slice::from_raw_parts(data, size).to_vec())
    }
}

/// Adds `<ec:InclusiveNamespaces PrefixList="xs"/>` to the exc-c14n transform. `xs` is the prefix used inside
/// `xsi:type="xs:string"` attribute values; exc-c14n only keeps namespaces used by element and attribute
/// *names*, so without it the signed bytes would lose the `xs` binding. Built by hand rather than with
/// xmlSecTmplTransformAddC14NInclNamespaces, which declares the namespace as the default one (`xmlns="..."`)
/// instead of the `ec:` prefix every SAML IdP emits.
///
/// # Safety
/// `doc` must be a live document and `transform` an element node linked into it.
unsafe fn add_inclusive_namespaces(
    doc: *mut xs::xmlDoc,
    transform: *mut xs::xmlNode,
) -> Result<(), SignFailure> {
    // SAFETY: per the function contract. The new node is freed here if it cannot be linked; once linked, the
    // document owns it. xmlNewNs attaches the namespace to the node (freed with it).
    unsafe {
        let node = xs::xmlNewDocNode(
            doc,
            ptr::null_mut(),
            c"InclusiveNamespaces".as_ptr().cast(),
            ptr::null(),
        );
        if node.is_null() {
            return Err(SignFailure::Template);
        }
        let ns = xs::xmlNewNs(
            node,
            c"http://www.w3.org/2001/10/xml-exc-c14n#".as_ptr().cast(),
            c"ec".as_ptr().cast(),
        );
        let linked = !ns.is_null()
            && {
                xs::xmlSetNs(node, ns);
                !xs::xmlSetProp(node, c"PrefixList".as_ptr().cast(), c"xs".as_ptr().cast())
                    .is_null()
            }
            && !xs::xmlAddChild(transform, node).is_null();
        if !linked {
            xs::xmlFreeNode(node);
            return Err(SignFailure::Template);
        }
    }
    Ok(())
}

/// Why signing failed (always our side: the input was validated by the parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignFailure {
    /// The template could not be built or inserted.
    Template,
    /// xmlSecDSigCtxSign failed; xmlsec's first error reason.
    Processing { reason: c_int },
}

/// Inserts a ds:Signature template right after the root's first element child (saml:Issuer; the parent has
/// checked) and signs it: exc-c14n, RSA-SHA256, one Reference `#id` with SHA-256 and the transforms
/// [enveloped-signature, exc-c14n with InclusiveNamespaces PrefixList="xs"], KeyInfo/X509Data with the key's
/// certificate. The `ID` attributes must already be registered ([`Doc::register_ids`]).
pub(super) fn sign_enveloped(
    doc: &mut Doc,
    id: &str,
    key: OwnedKey,
    cert_base64: &str,
) -> Result<(), SignFailure> {
    let uri = CString::new(format!("#{id}")).map_err(|_| SignFailure::Template)?;
    let cert = CString::new(cert_base64).map_err(|_| SignFailure::Template)?;
    let raw_doc = doc.raw();
    let _scope = OperationScope::enter();

    // SAFETY: `raw_doc` is the live document owned by `doc`, which we hold mutably, so no Elem views exist
    // while nodes are added. Every template call returns a node linked into the tree under `signature` (or
    // null on failure); `signature` itself is linked into the document right after creation, so the document
    // owns and frees all of them whatever happens later.
    let signature = unsafe {
        let root = xs::xmlDocGetRootElement(raw_doc);
        let issuer = Elem::from_ptr(root)
            .and_then(|r| r.children().next())
            .ok_or(SignFailure::Template)?;

        let signature = xs::xmlSecTmplSignatureCreateNsPref(
            raw_doc,
            xs::xmlSecTransformExclC14NGetKlass(),
            xs::xmlSecOpenSSLTransformRsaSha256GetKlass(),
            ptr::null(),
            c"ds".as_ptr().cast(),
        );
        if signature.is_null() {
            return Err(SignFailure::Template);
        }
        if xs::xmlAddNextSibling(issuer.ptr.as_ptr(), signature).is_null() {
            // Not linked: still ours to free.
            xs::xmlFreeNode(signature);
            return Err(SignFailure::Template);
        }

        let reference = xs::xmlSecTmplSignatureAddReference(
            signature,
            xs::xmlSecOpenSSLTransformSha256GetKlass(),
            ptr::null(),
            uri.as_ptr().cast(),
            ptr::null(),
        );
        if reference.is_null()
            || xs::xmlSecTmplReferenceAddTransform(
                reference,
                xs::xmlSecTransformEnvelopedGetKlass(),
            )
            .is_null()
        {
            return Err(SignFailure::Template);
        }
        let c14n =
            xs::xmlSecTmplReferenceAddTransform(reference, xs::xmlSecTransformExclC14NGetKlass());
        if c14n.is_null() {
            return Err(SignFailure::Template);
        }
        add_inclusive_namespaces(raw_doc, c14n)?;
        let key_info = xs::xmlSecTmplSignatureEnsureKeyInfo(signature, ptr::null());
        if key_info.is_null() {
            return Err(SignFailure::Template);
        }
        let x509_data = xs::xmlSecTmplKeyInfoAddX509Data(key_info);
        if x509_data.is_null() {
            return Err(SignFailure::Template);
        }
        // The key carries no certificate, so xmlsec leaves X509Data as we fill it.
        let certificate = xs::xmlSecTmplX509DataAddCertificate(x509_data);
        if certificate.is_null() {
            return Err(SignFailure::Template);
        }
        xs::xmlNodeSetContent(certificate, cert.as_ptr().cast());
        signature
    };

    let mut ctx = DsigCtx::new().ok_or(SignFailure::Template)?;
    // SAFETY: live context owned by us; field write before use.
    unsafe {
        (*ctx.raw()).enabledReferenceUris = xs::xmlSecTransformUriTypeSameDocument;
    }
    ctx.set_key(key);

    // SAFETY: `signature` is the template linked into the live document above; signing fills DigestValue,
    // SignatureValue and X509Data in place (replacing text children of nodes we created) and frees nothing else.
    let rc = unsafe { xs::xmlSecDSigCtxSign(ctx.raw(), signature) };
    // SAFETY: reading the status field of the live context.
    let status = unsafe { (*ctx.raw()).status };
    if rc < 0 || status != xs::xmlSecDSigStatus_xmlSecDSigStatusSucceeded {
        return Err(SignFailure::Processing {
            reason: take_xmlsec_reason(),
        });
    }
    Ok(())
}
