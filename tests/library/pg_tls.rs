//! TLS to PostgreSQL: `sslmode=require` in the connection string uses TLS through OpenSSL and checks the
//! server's certificate (system roots plus `[database] ca_file`); an untrusted certificate is refused, never
//! answered by falling back to plain TCP.

use crate::pg::PgServer;
use xua_gateway::config::database::DatabaseConfig;
use xua_gateway::store::postgres::{migrations, Database, Settings};

fn settings(url: &str) -> Settings {
    let config = DatabaseConfig {
        connect_timeout_ms: 500,
        ..DatabaseConfig::default()
    };
    Settings::new(url, &config).with_pool_size(1)
}

/// A CA and a server certificate for 127.0.0.1 signed by it (PEM: CA cert, server cert, server key).
fn tls_material() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509NameBuilder, X509};
    let key = || {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    };
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let (ca_key, server_key) = (key(), key());
    let mut ca = X509::builder().unwrap();
    ca.set_version(2).unwrap();
    ca.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    ca.set_subject_name(&name("TEST-ONLY database CA")).unwrap();
    ca.set_issuer_name(&name("TEST-ONLY database CA")).unwrap();
    ca.set_pubkey(&ca_key).unwrap();
    ca.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    ca.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = ca.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name("127.0.0.1")).unwrap();
    cert.set_issuer_name(ca.subject_name()).unwrap();
    cert.set_pubkey(&server_key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(Some(&ca), None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&ca_key, MessageDigest::sha256()).unwrap();
    (
        ca.to_pem().unwrap(),
        cert.build().to_pem().unwrap(),
        server_key.private_key_to_pem_pkcs8().unwrap(),
    )
}

#[test]
fn sslmode_require_uses_tls_and_checks_the_server_certificate() {
    let Some(mut server) = PgServer::start() else {
        return;
    };
    let (ca, cert, key) = tls_material();
    server.enable_tls(&cert, &key);
    let url = server
        .database()
        .replace("sslmode=disable", "sslmode=require");
    // Without the CA the certificate is not trusted, and nothing falls back to plain TCP.
    let err = Database::open(&settings(&url), "test")
        .map(|_| ())
        .unwrap_err()
        .0;
    assert!(err.contains("certificate"), "{err}");
    let mut trusted = settings(&url);
    trusted.ca_pem = Some(ca);
    let db = Database::open(&trusted, "test").unwrap();
    let on_tls: bool = db
        .get()
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(on_tls);
    migrations::migrate(&db).unwrap();
}
