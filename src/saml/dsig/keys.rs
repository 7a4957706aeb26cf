//! Trust anchors (verification keys) and the gateway's signing identity.
//!
//! Both are built once at start-up from PEM, validated with the `openssl` crate (key type and strength, one
//! certificate, key/certificate pair) and stored as normalised PEM bytes, so they are plain `Send + Sync` data.
//! The libxmlsec1 key objects are not thread-safe; each worker thread parses its own copy on first use and
//! duplicates it per operation (see `ffi::key_for`), so no request parses PEM.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private, Public};
use openssl::x509::X509;

use super::ffi::{self, KeyMaterial, OwnedKey, SignatureAlgorithms};
use crate::error::Rejection;
use crate::rotation::Validity;

/// The weakest RSA modulus accepted, for trust anchors and for our own key.
const MIN_RSA_BITS: u32 = 2048;

/// Identifies one anchor/identity in the per-thread xmlsec key caches. Never reused within a process.
static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(1);

fn next_key_id() -> u64 {
    NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed)
}

/// Exactly one certificate from PEM. Bundles are refused: which certificate is trusted must not depend on order.
fn single_certificate(pem: &[u8], what: &str) -> Result<X509, Rejection> {
    let mut certificates = X509::stack_from_pem(pem)
        .map_err(|_| Rejection::parse(format!("{what} is not a PEM X.509 certificate")))?;
    if certificates.len() != 1 {
        return Err(Rejection::parse(format!(
            "{what} must contain exactly one PEM certificate"
        )));
    }
    certificates
        .pop()
        .ok_or_else(|| Rejection::parse(format!("{what} is not a PEM X.509 certificate")))
}

/// The signature algorithm family a public key may verify, or why the key is refused.
fn algorithms_for<T: HasPublic>(key: &PKeyRef<T>) -> Result<SignatureAlgorithms, Rejection> {
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < MIN_RSA_BITS {
                return Err(Rejection::forbidden(format!(
                    "RSA key of {bits} bits is below the {MIN_RSA_BITS}-bit minimum"
                )));
            }
            Ok(SignatureAlgorithms::Rsa)
        }
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
            if curve == Some(Nid::X9_62_PRIME256V1) {
                Ok(SignatureAlgorithms::EcdsaP256)
            } else {
                Err(Rejection::forbidden(
                    "EC keys are accepted only on curve P-256",
                ))
            }
        }
        _ => Err(Rejection::forbidden(
            "key type is not supported (RSA of at least 2048 bits, or EC P-256)",
        )),
    }
}

/// An ASN.1 time as an instant: its distance from the Unix epoch, as OpenSSL computes it.
fn instant(t: &Asn1TimeRef) -> Result<time::OffsetDateTime, Rejection> {
    let bad = || Rejection::parse("the certificate's validity period cannot be read");
    let epoch = Asn1Time::from_unix(0).map_err(|_| bad())?;
    let diff = epoch.diff(t).map_err(|_| bad())?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad())
}

/// The certificate's notBefore and notAfter.
fn validity_of(certificate: &X509) -> Result<Validity, Rejection> {
    Ok(Validity {
        not_before: instant(certificate.not_before())?,
        not_after: instant(certificate.not_after())?,
    })
}

fn sha256_hex(certificate: &X509) -> Result<String, Rejection> {
    certificate
        .digest(MessageDigest::sha256())
        .map(|digest| hex::encode(digest.as_ref()))
        .map_err(|_| Rejection::internal("could not compute a certificate fingerprint"))
}

/// A certificate we trust for one issuer: only its public key verifies that issuer's assertions.
///
/// Send + Sync; cheap to share behind an `Arc`. The anchor is a pinned key: no chain is evaluated, but its
/// certificate's validity period is kept, and an anchor outside it verifies nothing (`saml::verify::TrustStore`).
#[derive(Clone)]
pub struct TrustAnchor {
    id: u64,
    /// The certificate's public key alone (SubjectPublicKeyInfo PEM): a key with the certificate attached
    /// makes xmlsec copy the certificate (X509_dup, a full DER round trip in OpenSSL 3) for every
    /// verification, which cost more than the rest of the verification together.
    public_key_pem: Vec<u8>,
    algorithms: SignatureAlgorithms,
    fingerprint: String,
    /// The same public key for the streaming verifier, parsed once here: nothing is exported or re-parsed per
    /// verification.
    public_key: PKey<Public>,
    validity: Validity,
}

impl TrustAnchor {
    /// Builds an anchor from one PEM X.509 certificate. Refuses RSA keys below 2048 bits and EC keys other
    /// than P-256 (FORBIDDEN), input that is not exactly one certificate (PARSE), and fails (INTERNAL) if
    /// libxmlsec1 cannot load the key, so a bad anchor stops start-up instead of the first request.
    pub fn from_cert_pem(pem: &[u8]) -> Result<Self, Rejection> {
        super::init()?;
        let certificate = single_certificate(pem, "trust anchor")?;
        let public_key = certificate
            .public_key()
            .map_err(|_| Rejection::parse("trust anchor certificate has no usable public key"))?;
        let algorithms = algorithms_for(&public_key)?;
        let public_key_pem = public_key.public_key_to_pem().map_err(|_| {
            Rejection::internal("could not re-encode the trust anchor's public key")
        })?;
        let anchor = TrustAnchor {
            id: next_key_id(),
            public_key_pem,
            algorithms,
            fingerprint: sha256_hex(&certificate)?,
            public_key,
            validity: validity_of(&certificate)?,
        };
        drop(anchor.key()?);
        Ok(anchor)
    }

    /// SHA-256 over the certificate's DER encoding, lowercase hex without separators.
    pub fn sha256_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The certificate's validity period.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    pub(crate) fn algorithms(&self) -> SignatureAlgorithms {
        self.algorithms
    }

    /// The public key as an OpenSSL key, for the streaming verifier.
    pub(crate) fn public_key(&self) -> &PKey<Public> {
        &self.public_key
    }

    /// A fresh xmlsec key for one verification on this thread.
    pub(super) fn key(&self) -> Result<OwnedKey, Rejection> {
        ffi::key_for(self.id, KeyMaterial::PublicKey(&self.public_key_pem)).ok_or_else(|| {
            Rejection::internal("the trusted certificate could not be loaded into libxmlsec1")
        })
    }
}

impl fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("sha256", &self.fingerprint)
            .field("algorithms", &self.algorithms)
            .field("not_after", &self.validity.not_after)
            .finish()
    }
}

/// The gateway's own signing identity: an RSA private key and its X.509 certificate.
///
/// Send + Sync. The private key is held as PKCS#8 PEM bytes, overwritten on drop (best effort: the per-thread
/// xmlsec copies live until their threads end), and never shown by `Debug`.
pub struct SigningIdentity {
    id: u64,
    key_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    /// The certificate's DER in base64, written into KeyInfo/X509Data by us: a key carrying the certificate
    /// would make xmlsec copy it (X509_dup) for every signature.
    cert_base64: String,
    fingerprint: String,
    /// The private key as an OpenSSL key, for the direct signer (parsed once here).
    private_key: PKey<Private>,
    validity: Validity,
}

impl SigningIdentity {
    /// Builds the identity from an unencrypted RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY` PEM, at least 2048 bits) and exactly one PEM certificate whose public key matches it.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, Rejection> {
        super::init()?;
        // The callback supplies an empty passphrase: without it OpenSSL's default callback would prompt on the
        // terminal for an encrypted key and block start-up.
        let key = PKey::private_key_from_pem_callback(key_pem, |_| Ok(0)).map_err(|_| {
            Rejection::parse("signing key is not an unencrypted PEM private key (PKCS#8 or PKCS#1)")
        })?;
        if key.id() != Id::RSA {
            return Err(Rejection::forbidden("the signing key must be an RSA key"));
        }
        algorithms_for(&key)?;
        let certificate = single_certificate(cert_pem, "signing certificate")?;
        let matches = certificate
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(Rejection::internal(
                "the signing certificate does not belong to the signing key",
            ));
        }
        let identity = SigningIdentity {
            id: next_key_id(),
            key_pem: key
                .private_key_to_pem_pkcs8()
                .map_err(|_| Rejection::internal("could not re-encode the signing key"))?,
            cert_pem: certificate
                .to_pem()
                .map_err(|_| Rejection::internal("could not re-encode the signing certificate"))?,
            cert_base64: {
                use base64::Engine;
                let der = certificate.to_der().map_err(|_| {
                    Rejection::internal("could not re-encode the signing certificate")
                })?;
                base64::engine::general_purpose::STANDARD.encode(der)
            },
            fingerprint: sha256_hex(&certificate)?,
            private_key: key,
            validity: validity_of(&certificate)?,
        };
        drop(identity.key()?);
        Ok(identity)
    }

    /// Our certificate as PEM (one `CERTIFICATE` block), e.g. for SAML metadata.
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert_pem
    }

    /// SHA-256 over our certificate's DER encoding, lowercase hex without separators.
    pub fn sha256_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The certificate's validity period: outside it the gateway issues nothing with this identity.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// The certificate for KeyInfo/X509Data/X509Certificate (base64 DER).
    pub(crate) fn cert_base64(&self) -> &str {
        &self.cert_base64
    }

    /// The private key as an OpenSSL key, for the direct signer.
    pub(crate) fn private_key(&self) -> &PKey<Private> {
        &self.private_key
    }

    /// A fresh xmlsec key (the private key alone) for one signing operation on this thread.
    pub(super) fn key(&self) -> Result<OwnedKey, Rejection> {
        ffi::key_for(
            self.id,
            KeyMaterial::PrivateKey {
                key_pem: &self.key_pem,
            },
        )
        .ok_or_else(|| Rejection::internal("the signing key could not be loaded into libxmlsec1"))
    }
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("certificate_sha256", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Drop for SigningIdentity {
    fn drop(&mut self) {
        self.key_pem.fill(0);
        std::hint::black_box(&self.key_pem);
    }
}
