//! Keys and certificates made at test time, with the validity period a test needs (included with `#[path]`).

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use time::OffsetDateTime;

/// An RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for it (PEM).
pub struct KeyAndCert {
    pub key_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
}

/// A self-signed RSA certificate valid from `not_before` to `not_after`.
pub fn rsa_certificate(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> KeyAndCert {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand_serial())
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    cert.set_serial_number(&serial).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::from_unix(not_before.unix_timestamp()).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::from_unix(not_after.unix_timestamp()).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    KeyAndCert {
        key_pem: key.private_key_to_pem_pkcs8().unwrap(),
        cert_pem: cert.build().to_pem().unwrap(),
    }
}

/// A P-256 private key (PKCS#8 PEM), for an ES256 JWT signing key.
pub fn p256_key() -> Vec<u8> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    key.private_key_to_pem_pkcs8().unwrap()
}

fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_be_bytes(b) >> 1
}
