//! The two XML-DSig verifiers against each other: the pipeline's signature stage with libxmlsec1 (pre-scan,
//! issuer, `dsig::verify_assertion`, `unverified::assertion_view`) and the streaming verifier
//! (`stream::verify_document`), on every input. The harness fails on any difference:
//! * in the verdict (accepted or refused), at the signature stage or at the claims;
//! * in the error class when both refuse (there are no documented exceptions at present);
//! * in the bytes the Reference digest covered (the streaming verifier's canonical form against libxmlsec1's
//!   pre-digest buffer);
//! * in the claims (`AssertionView`).
//!
//! The first input byte picks a mode, so that acceptance is reachable:
//! * 0 — the rest is the document, as sent;
//! * 1 — the rest is an unsigned assertion, signed with the sample IdP key by `dsig::sign_assertion`, then
//!   compared; then compared again inside a Response;
//! * 2 — a parameter byte, an edit count, edit bytes, then an unsigned assertion: signed by an independent
//!   signer (libxml2's canonicaliser and OpenSSL, `xmlsign`) with the chosen digest, method, PrefixLists and
//!   key (ECDSA, or RSA when bit 0x40 is set), optionally inside a Response that is signed too; then edited
//!   (`mutate`) and compared;
//! * 3 — like 1, then edited as in 2;
//! * 4 — an assertion built from the rest (`input::Cursor`), signed by the direct signer and by libxmlsec1:
//!   both must verify, to the same claims, with both verifiers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use xua_gateway::error::Rejection;
use xua_gateway::inspect::unverified;
use xua_gateway::saml::dsig::{self, SigningIdentity, TrustAnchor};
use xua_gateway::saml::prescan::{self, Shape, XmlLimits};
use xua_gateway::saml::stream;
use xua_gateway::saml::verify::{self, TrustStore};
use xua_gateway::saml::view::AssertionView;
use xua_gateway::samples;

use super::mutate;
use super::xmlsign::{self, Params};
use crate::input::Cursor;

struct Fixture {
    rsa_trust: TrustStore,
    ec_trust: TrustStore,
    limits: XmlLimits,
    idp: SigningIdentity,
    rsa_key: PKey<Private>,
    ec_key: PKey<Private>,
}

fn ec_certificate(key: &PKey<Private>) -> Vec<u8> {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509NameBuilder, X509};
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "ec-idp.test").expect("cn");
    let name = name.build();
    let mut builder = X509::builder().expect("builder");
    builder.set_version(2).expect("version");
    builder.set_subject_name(&name).expect("subject");
    builder.set_issuer_name(&name).expect("issuer");
    builder.set_pubkey(key).expect("key");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    builder
        .set_not_after(&Asn1Time::days_from_now(3650).expect("time"))
        .expect("na");
    builder.sign(key, MessageDigest::sha256()).expect("sign");
    builder.build().to_pem().expect("pem")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        dsig::init().expect("xmlsec initialises");
        let mut rsa_trust = TrustStore::new();
        rsa_trust.add(
            samples::SAMPLE_IDP,
            TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("sample cert"),
        );
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let ec_key = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");
        let mut ec_trust = TrustStore::new();
        ec_trust.add(
            samples::SAMPLE_IDP,
            TrustAnchor::from_cert_pem(&ec_certificate(&ec_key)).expect("ec cert"),
        );
        Fixture {
            rsa_trust,
            ec_trust,
            limits: XmlLimits::default(),
            idp: samples::sample_idp().expect("sample IdP key"),
            rsa_key: PKey::private_key_from_pem(samples::SAMPLE_IDP_KEY).expect("idp key"),
            ec_key,
        }
    })
}

/// Signing is most of the cost of an input, and the fuzzer often changes only the edits after it: signatures
/// are kept by what was signed (RSA PKCS#1 v1.5 is deterministic; an ECDSA signature is as good as another).
fn signed_once(key: impl Hash, sign: impl FnOnce() -> Option<String>) -> Option<String> {
    thread_local! {
        static CACHE: RefCell<HashMap<u64, Option<String>>> = RefCell::new(HashMap::new());
    }
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let key = hasher.finish();
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let signed = sign();
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= 512 {
            cache.clear();
        }
        cache.insert(key, signed.clone());
    });
    signed
}

fn libxmlsec_signed(unsigned: &[u8]) -> Option<String> {
    signed_once(("libxmlsec1", unsigned), || {
        dsig::sign_assertion(unsigned, &fixture().idp)
            .ok()
            .and_then(|signed| String::from_utf8(signed).ok())
    })
}

/// What one verifier concluded (short-lived, so the size of the accepted case does not matter).
#[allow(clippy::large_enum_variant)]
enum Verdict {
    /// Refused before or at the signature.
    Refused(Rejection),
    /// The signature verified over these bytes; the claims read from them, or why they cannot be.
    Signed {
        bytes: Vec<u8>,
        id: String,
        view: Result<AssertionView, Rejection>,
    },
}

/// The issuer's certificate (the fixture has one per issuer), after the checks before any signature.
fn anchor_for<'t>(shape: &Shape, trust: &'t TrustStore) -> Result<&'t TrustAnchor, Rejection> {
    let issuer = verify::check_shape(shape, trust)?;
    trust
        .anchors(issuer)
        .first()
        .ok_or_else(|| Rejection::internal("the fixture has no certificate for the issuer"))
}

fn with_libxmlsec(doc: &[u8], trust: &TrustStore, limits: &XmlLimits) -> Verdict {
    let signed = prescan::scan(doc, limits)
        .and_then(|shape| anchor_for(&shape, trust))
        .and_then(|anchor| dsig::verify_assertion(doc, anchor));
    match signed {
        Err(e) => Verdict::Refused(e),
        Ok(v) => Verdict::Signed {
            view: unverified::assertion_view(&v.signed_bytes),
            bytes: v.signed_bytes,
            id: v.assertion_id,
        },
    }
}

fn with_stream(doc: &[u8], trust: &TrustStore, limits: &XmlLimits) -> Verdict {
    let verified = stream::verify_document(doc, limits, |shape| anchor_for(shape, trust));
    match verified {
        Err(e) => Verdict::Refused(e),
        Ok(v) => Verdict::Signed {
            bytes: v.verified.signed_bytes,
            id: v.verified.assertion_id,
            view: v.view,
        },
    }
}

/// Runs both verifiers on `doc` and fails on any difference. Returns whether the signature verified.
pub fn compare_with(doc: &[u8], trust: &TrustStore) -> bool {
    let limits = &fixture().limits;
    let reference = with_libxmlsec(doc, trust, limits);
    let streamed = with_stream(doc, trust, limits);
    if std::env::var_os("DSIG_HARNESS_TRACE").is_some() {
        let show = |v: &Verdict| match v {
            Verdict::Refused(e) => format!("refused {e}"),
            Verdict::Signed { view: Ok(_), .. } => "accepted".to_string(),
            Verdict::Signed { view: Err(e), .. } => format!("signed, claims refused {e}"),
        };
        eprintln!(
            "libxmlsec1: {} | streaming: {}",
            show(&reference),
            show(&streamed)
        );
    }
    match (reference, streamed) {
        (Verdict::Refused(a), Verdict::Refused(b)) => {
            assert_eq!(
                a.class, b.class,
                "both refuse, in different classes: libxmlsec1 {a}; streaming {b}"
            );
            false
        }
        (
            Verdict::Signed { bytes, id, view },
            Verdict::Signed {
                bytes: stream_bytes,
                id: stream_id,
                view: stream_view,
            },
        ) => {
            assert!(
                bytes == stream_bytes,
                "the digested bytes differ:\nlibxmlsec1: {}\nstreaming:  {}",
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&stream_bytes)
            );
            assert_eq!(id, stream_id, "the verified ID differs");
            match (view, stream_view) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "the claims differ"),
                (Err(a), Err(b)) => assert_eq!(
                    a.class, b.class,
                    "the claims are refused in different classes: libxmlsec1 {a}; streaming {b}"
                ),
                (a, b) => panic!("the claims differ: libxmlsec1 {a:?}; streaming {b:?}"),
            }
            true
        }
        (Verdict::Refused(a), Verdict::Signed { .. }) => {
            panic!("libxmlsec1 refuses ({a}), the streaming verifier accepts")
        }
        (Verdict::Signed { .. }, Verdict::Refused(b)) => {
            panic!("libxmlsec1 accepts, the streaming verifier refuses ({b})")
        }
    }
}

pub fn compare(doc: &[u8]) -> bool {
    compare_with(doc, &fixture().rsa_trust)
}

/// The element's ID and where its Signature goes (right after its first child's end tag).
fn id_and_insertion(doc: &str, element_start: usize) -> Option<(String, usize)> {
    let tag_end = element_start + doc.get(element_start..)?.find('>')?;
    let tag = doc.get(element_start..tag_end)?;
    let id_at = tag.find(" ID=\"")? + 5;
    let id_len = tag.get(id_at..)?.find('"')?;
    let id = tag.get(id_at..id_at + id_len)?.to_string();
    let issuer_end = tag_end + doc.get(tag_end..)?.find("</saml:Issuer>")? + "</saml:Issuer>".len();
    Some((id, issuer_end))
}

fn params_from(byte: u8, more: u8) -> Params {
    Params {
        digest: xmlsign::DIGESTS[usize::from(byte % 3)],
        rsa_method: xmlsign::RSA_METHODS[usize::from((byte / 3) % 3)],
        reference_prefixes: xmlsign::PREFIX_LISTS[usize::from(more % 8)],
        c14n_prefixes: if (byte / 9).is_multiple_of(4) {
            xmlsign::PREFIX_LISTS[usize::from((more / 8) % 8)]
        } else {
            None
        },
        ds_prefix: match (byte / 36) % 4 {
            0 => None,
            1 => Some("dsig"),
            _ => Some("ds"),
        },
        wrap_base64: more & 0x80 != 0,
    }
}

fn independently_signed(rest: &[u8]) -> Option<(String, &'static TrustStore, Vec<u8>)> {
    let f = fixture();
    let (&params_byte, rest) = rest.split_first()?;
    let (&more, rest) = rest.split_first()?;
    let (&count, rest) = rest.split_first()?;
    let edits_len = usize::from(count % 16).min(rest.len());
    let (edits, unsigned) = rest.split_at(edits_len);
    let unsigned = std::str::from_utf8(unsigned).ok()?;
    let params = params_from(params_byte, more);
    // ECDSA unless asked for RSA: an RSA signature costs twenty ECDSA ones (modes 1 and 3 sign with RSA).
    let (key, trust) = if params_byte & 0x40 != 0 {
        (&f.rsa_key, &f.rsa_trust)
    } else {
        (&f.ec_key, &f.ec_trust)
    };
    let signed = signed_once(("independent", params_byte, more, unsigned), || {
        let (id, at) = id_and_insertion(unsigned, unsigned.find("<saml:Assertion")?)?;
        let mut signed = xmlsign::sign(unsigned, &id, at, key, &params)?;
        if params_byte & 0x80 != 0 {
            // Inside a Response, and the Response signed too.
            let mut cursor = Cursor::new(&[7, 0]);
            signed = mutate::apply(&signed, &mut cursor)?;
            let (id, at) = id_and_insertion(&signed, 0)?;
            signed = xmlsign::sign(&signed, &id, at, key, &params)?;
        }
        Some(signed)
    })?;
    Some((signed, trust, edits.to_vec()))
}

/// Applies the edits one after the other and compares the result (the signed document itself when no edit
/// applies). One comparison per input keeps an execution cheap; the fuzzer explores the edit sequences.
fn edit_and_compare(signed: String, edits: &[u8], trust: &TrustStore) {
    let mut doc = signed;
    let mut input = Cursor::new(edits);
    while !input.is_empty() {
        if let Some(edited) = mutate::apply(&doc, &mut input) {
            doc = edited;
        }
    }
    compare_with(doc.as_bytes(), trust);
}

/// One fuzz input: the first byte picks the mode (see the module documentation).
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 5 {
        0 => {
            compare(rest);
        }
        1 => {
            if let Some(signed) = libxmlsec_signed(rest) {
                compare(signed.as_bytes());
                let mut cursor = Cursor::new(&[7, 2]);
                if let Some(wrapped) = mutate::apply(&signed, &mut cursor) {
                    compare(wrapped.as_bytes());
                }
            }
        }
        2 => {
            if let Some((signed, trust, edits)) = independently_signed(rest) {
                edit_and_compare(signed, &edits, trust);
            }
        }
        3 => {
            let Some((&count, rest)) = rest.split_first() else {
                return;
            };
            let (edits, unsigned) = rest.split_at(usize::from(count % 16).min(rest.len()));
            if let Some(signed) = libxmlsec_signed(unsigned) {
                edit_and_compare(signed, edits, &f.rsa_trust);
            }
        }
        _ => super::built::check(rest),
    }
}
