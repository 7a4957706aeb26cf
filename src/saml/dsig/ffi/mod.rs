//! The one place in the crate that talks to libxml2 and libxmlsec1 through raw pointers, in three parts:
//! `document` (a parsed document and read-only views of its elements), `key` (owned keys and the per-thread
//! key cache) and `context` (the locked-down signature context: verify and sign). This file holds the
//! library set-up and the error plumbing they share.
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

mod context;
mod document;
mod key;

pub(super) use context::{sign_enveloped, verify_enveloped, SignFailure, VerifyFailure};
// Also the streaming verifier's: both bind the signature algorithm to the trusted key's type.
pub(crate) use context::SignatureAlgorithms;
pub(super) use document::{Doc, Elem, IdProblem};
pub(super) use key::{key_for, KeyMaterial, OwnedKey};

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
