//! Owned xmlsec keys, loaded from PEM once and duplicated per use from a per-thread cache.
#![allow(unsafe_code)]

use super::*;

/// One owned `xmlSecKey`.
pub(in crate::saml::dsig) struct OwnedKey(NonNull<xs::xmlSecKey>);

impl OwnedKey {
    fn duplicate(&self) -> Option<OwnedKey> {
        // SAFETY: `self.0` is a live key owned by us; xmlSecKeyDuplicate returns a new independent key or null.
        NonNull::new(unsafe { xs::xmlSecKeyDuplicate(self.0.as_ptr()) }).map(OwnedKey)
    }

    /// Gives up ownership (to an xmlSecDSigCtx, which destroys its signKey).
    pub(super) fn into_raw(self) -> *mut xs::xmlSecKey {
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
pub(in crate::saml::dsig) enum KeyMaterial<'a> {
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
pub(in crate::saml::dsig) fn key_for(id: u64, material: KeyMaterial<'_>) -> Option<OwnedKey> {
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
