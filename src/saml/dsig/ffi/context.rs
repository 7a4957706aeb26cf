//! The signature context, locked down: verifying an enveloped signature and signing one.
#![allow(unsafe_code)]

use super::document::cstr_eq;
use super::*;

/// One owned `xmlSecDSigCtx` with no keys manager: keys come only from `signKey`, which we set.
struct DsigCtx(NonNull<xs::xmlSecDSigCtx>);

impl DsigCtx {
    fn new() -> Option<DsigCtx> {
        // SAFETY: creating a context with a null keys manager is documented; we own the result.
        NonNull::new(unsafe { xs::xmlSecDSigCtxCreate(ptr::null_mut()) }).map(DsigCtx)
    }

    pub(super) fn raw(&self) -> *mut xs::xmlSecDSigCtx {
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
pub(in crate::saml::dsig) enum VerifyFailure {
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
pub(in crate::saml::dsig) fn verify_enveloped(
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
pub(in crate::saml::dsig) enum SignFailure {
    /// The template could not be built or inserted.
    Template,
    /// xmlSecDSigCtxSign failed; xmlsec's first error reason.
    Processing { reason: c_int },
}

/// Inserts a ds:Signature template right after the root's first element child (saml:Issuer; the parent has
/// checked) and signs it: exc-c14n, RSA-SHA256, one Reference `#id` with SHA-256 and the transforms
/// [enveloped-signature, exc-c14n with InclusiveNamespaces PrefixList="xs"], KeyInfo/X509Data with the key's
/// certificate. The `ID` attributes must already be registered ([`Doc::register_ids`]).
pub(in crate::saml::dsig) fn sign_enveloped(
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
