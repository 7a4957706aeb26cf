//! `[saml] verifier`: each XML-DSig engine, chosen in configuration, takes the sample assertion and refuses
//! tampered ones with the same error class, and the assertions the gateway signs with it (the direct signer
//! or libxmlsec1) verify with the `xmlsec1` CLI and with both of the gateway's verifiers. A value that names
//! no engine stops start-up.

use std::process::Command;

use xua_gateway::config::{LoadedConfig, Origin, VerifierChoice};
use xua_gateway::saml::dsig::TrustAnchor;
use xua_gateway::saml::prescan::XmlLimits;
use xua_gateway::saml::verify::{self, VerifierEngine};

use crate::forge::xmlsec1_available;
use crate::helpers::*;

const ENGINES: [(VerifierChoice, VerifierEngine); 2] = [
    (VerifierChoice::Libxmlsec1, VerifierEngine::Libxmlsec),
    (VerifierChoice::Streaming, VerifierEngine::Streaming),
];

async fn app_with(choice: VerifierChoice) -> TestApp {
    let mut loaded = LoadedConfig::embedded().unwrap();
    loaded.config.saml.verifier = Some(choice);
    spawn_app_with(loaded).await
}

fn edit(xml: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    assert!(text.contains(from), "the edit must apply: {from}");
    text.replacen(from, to, 1).into_bytes()
}

#[actix_web::test]
async fn each_engine_takes_the_sample_assertion_and_refuses_the_same_forgeries() {
    let xml = mint_now("fastlege.json");
    let forgeries = [
        // A signed value changed.
        (
            edit(&xml, crate::forge::PRACTITIONER, crate::forge::EVIL_PERSON),
            "SIG",
        ),
        // A comment inside the signed assertion (exclusive c14n would drop it from the digest).
        (
            edit(&xml, "</saml:Issuer>", "<!-- x --></saml:Issuer>"),
            "STRUCT",
        ),
        // A DOCTYPE in front.
        (
            [b"<!DOCTYPE a [<!ENTITY e \"x\">]>".as_slice(), &xml].concat(),
            "FORBIDDEN",
        ),
    ];
    for (choice, engine) in ENGINES {
        let app = app_with(choice).await;
        let (status, body) = app.exchange_saml(&xml, &[]).await;
        assert_eq!(status, 200, "{engine:?}: {body}");
        for (forged, class) in &forgeries {
            let (status, body) = app.exchange_saml(forged, &[]).await;
            assert_eq!(status, 400, "{engine:?}: {body}");
            assert_eq!(body["error_class"], *class, "{engine:?}: {body}");
        }
    }
}

#[actix_web::test]
async fn each_signer_issues_assertions_that_xmlsec1_and_both_verifiers_accept() {
    let anchor = TrustAnchor::from_cert_pem(
        &std::fs::read(repo().join("samples/keys/TEST-ONLY-gateway-saml.crt.pem")).unwrap(),
    )
    .unwrap();
    let jwt = mint_sample_jwt("hospital-physician.json");
    for (choice, engine) in ENGINES {
        let app = app_with(choice).await;
        let (status, body, xml) = app.exchange_jwt(&jwt, &[]).await;
        assert_eq!(status, 200, "{engine:?}: {body}");
        let xml = xml.unwrap();
        let mut signed_bytes = Vec::new();
        for verifier in [VerifierEngine::Libxmlsec, VerifierEngine::Streaming] {
            let verified = verify::verify_with_anchor(
                verifier,
                xml.as_bytes(),
                &anchor,
                &XmlLimits::default(),
            )
            .unwrap_or_else(|e| panic!("{verifier:?} refuses what {engine:?} signed: {e}"));
            signed_bytes.push(verified.signed_bytes);
        }
        assert_eq!(signed_bytes[0], signed_bytes[1], "{engine:?}");
        if engine == VerifierEngine::Streaming {
            // The direct signer signs the bytes as written: the document without its Signature is exactly
            // what was digested.
            let start = xml.find("<ds:Signature").unwrap();
            let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
            let unsigned = format!("{}{}", &xml[..start], &xml[end..]);
            assert_eq!(unsigned.as_bytes(), signed_bytes[0].as_slice());
        }
        if xmlsec1_available() {
            let dir = tempfile::tempdir().unwrap();
            let file = write_temp(dir.path(), "assertion.xml", xml.as_bytes());
            let out = run(Command::new("xmlsec1")
                .args([
                    "--verify",
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                    "--pubkey-cert-pem",
                ])
                .arg(repo().join("samples/keys/TEST-ONLY-gateway-saml.crt.pem"))
                .arg(&file));
            assert!(
                out.status.success(),
                "xmlsec1 refuses what {engine:?} signed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_verifier_that_names_no_engine_stops_the_configuration() {
    let text = sample_config_text().replacen("[saml]\n", "[saml]\nverifier = \"xmlsec\"\n", 1);
    let err = LoadedConfig::parse(&text, Origin::Embedded).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("verifier") || message.contains("xmlsec"),
        "{message}"
    );
    let text = sample_config_text().replacen("[saml]\n", "[saml]\nverifier = \"streaming\"\n", 1);
    let loaded = LoadedConfig::parse(&text, Origin::Embedded).unwrap();
    assert_eq!(loaded.config.saml.verifier, Some(VerifierChoice::Streaming));
}
