//! The public IHE/eHDSI/CH corpus (`../shared/corpus/ihe`, written by others, read in place): every file goes
//! through the inspector (`Gateway::inspect`, as `POST /inspect` and `xua-gateway inspect` use it) without a
//! panic and yields a report with at least one token; each token file is refused for the reason its
//! MANIFEST.txt gives. None of these issuers is trusted by the sample configuration, so the inspector checks
//! each signature with the certificate the token carries, for information only.
//!
//! Where our reason differs from the MANIFEST's, the table says which one we assert and why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use xua_gateway::audit::MemorySink;
use xua_gateway::config::LoadedConfig;
use xua_gateway::inspect::{InspectOptions, Report, Status};
use xua_gateway::startup::Gateway;

/// The corpus beside the project. Missing in CI (CI=true) is a failure; elsewhere a loud skip, as in
/// tests/dsig.rs.
fn corpus_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ihe");
    if root.join("MANIFEST.txt").is_file() {
        return Some(root);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus {} is required in CI",
        root.display()
    );
    eprintln!(
        "!!!!!!!! SKIPPING corpus checks: {} is missing !!!!!!!!",
        root.display()
    );
    None
}

fn gateway() -> Gateway {
    let audit = Arc::new(MemorySink::default());
    Gateway::build(
        LoadedConfig::embedded().unwrap(),
        xua_gateway::clock::system(),
        Some(audit),
    )
    .unwrap()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Why a token is refused, as the MANIFEST puts it, and the words of the inspector that say it.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// "Reference digest MISMATCH": changed after signing.
    Digest,
    /// "digests OK but RSA SignatureValue check FAILS".
    SignatureValue,
    /// "unsigned".
    NotSigned,
    /// Signatures that verify mathematically, refused by policy: a 1024-bit RSA key (and rsa-sha1).
    WeakKey,
    /// "no KeyInfo and a dummy SignatureValue", "redacted", "truncated": no certificate to check with.
    NoUsableCertificate,
    /// A JWT payload or header without its JWS.
    NoSignature,
    /// Not a token at all (fragments, an HTTP snippet, certificates, the MANIFEST).
    NotAToken,
    /// The signing issuer is not configured.
    IssuerNotTrusted,
    /// Not one well-formed XML document.
    Parse,
    /// Our reason where the MANIFEST gives another one (see the table).
    AlgorithmPolicy,
}

impl Why {
    fn words(self) -> &'static [&'static str] {
        match self {
            Why::Digest => &["digest of the signed element does not match"],
            Why::SignatureValue => &["signature value does not verify"],
            Why::NotSigned => &["the assertion is not signed"],
            Why::WeakKey => &["RSA key of 1024 bits is below the 2048-bit minimum"],
            Why::NoUsableCertificate => &[
                "the assertion carries no X509Certificate",
                "its X509Certificate is not base64",
                "its X509Certificate is not a certificate",
            ],
            Why::NoSignature => &["this is a payload without its JWS"],
            Why::NotAToken => &["neither XML, a compact JWT nor a JSON payload"],
            Why::IssuerNotTrusted => &["is not trusted"],
            Why::Parse => &["more than one root element"],
            Why::AlgorithmPolicy => &["rsa-sha1 is not allowed"],
        }
    }
}

/// Each token file of the MANIFEST, with the reason for each token it holds, in document order.
const EXPECTED: &[(&str, &[Why])] = &[
    (
        "ehdsi/dk-ehdsi_openncp_soap_header_FI-hcp_namespace-regression.xml",
        &[Why::Digest, Why::Digest],
    ),
    (
        "ehdsi/dk-ehdsi_openncp_soap_header_bad-purposeofuse.xml",
        &[Why::Digest, Why::Digest],
    ),
    (
        "ehdsi/dk-ehdsi_openncp_soap_header_hcp+trc_doctor.xml",
        &[Why::SignatureValue, Why::SignatureValue],
    ),
    (
        "ehdsi/dk-ehdsi_openncp_soap_header_hcp+trc_pharmacist.xml",
        &[Why::Digest, Why::SignatureValue],
    ),
    (
        "ehdsi/dk-ehdsi_test-tool_template_hcp_unsigned.xml",
        &[Why::NotSigned],
    ),
    (
        "ehdsi/dk-ehdsi_test-tool_template_trc_unsigned.xml",
        &[Why::NotSigned],
    ),
    (
        "ehdsi/openncp-legacy_hcp_SAMLIdAssertion_unsigned.xml",
        &[Why::NotSigned],
    ),
    // The MANIFEST: "VERIFIES (RSA-SHA1, exc-c14n#WithComments)" against a 1024-bit certificate. Refused by
    // policy all the same: the key is refused before the algorithms are looked at (tests/dsig.rs shows the
    // rsa-sha1 refusal with that key admitted).
    (
        "ehdsi/openncp-legacy_hcp_SignedSamlAssertion.xml",
        &[Why::WeakKey],
    ),
    (
        "ehdsi/openncp-legacy_trc_SignedSamlAssertionOld.xml",
        &[Why::WeakKey],
    ),
    (
        "iua-jwt/ch-epr-fhir_iti71_basic-access-token_payload.json",
        &[Why::NoSignature],
    ),
    (
        "iua-jwt/ch-epr-fhir_iti71_extended-access-token-assistant-delegation_payload.json",
        &[Why::NoSignature],
    ),
    (
        "iua-jwt/ch-epr-fhir_iti71_extended-access-token_payload.json",
        &[Why::NoSignature],
    ),
    (
        "iua-jwt/ihe-iua-rev2.1_example_jws-payload.json",
        &[Why::NoSignature],
    ),
    // A JOSE header, read as a payload: it has no signature either.
    (
        "iua-jwt/ihe-iua-rev2.4_example_jose-header.json",
        &[Why::NoSignature],
    ),
    (
        "iua-jwt/ihe-iua-rev2.4_example_jws-payload.json",
        &[Why::NoSignature],
    ),
    // "not standalone JSON".
    (
        "iua-jwt/ihe-iua-rev2.4_ihe_bppc-extension-fragment.txt",
        &[Why::NotAToken],
    ),
    (
        "iua-jwt/ihe-iua-rev2.4_ihe_iua-extension-fragment.txt",
        &[Why::NotAToken],
    ),
    // Its typ is also not at+jwt (the verdict names that first); the MANIFEST's reason is the issuer.
    (
        "iua-jwt/real-world_elga-style_iua_access-token_RS256.jwt",
        &[Why::IssuerNotTrusted],
    ),
    ("wstrust/openncp-legacy_trc_SampleRST.xml", &[Why::Parse]),
    (
        "xua-ch/epr-by-example_1_Get_X-User_Assertion_Request-Healthcare_Provider.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_1_Get_X-User_Assertion_Response-Healthcare_Provider.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_2_Get_X-User_Assertion_Request-Assistant.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_2_Get_X-User_Assertion_Response-Assistant.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_3_Get_X-User_Assertion_Request-Technical_User.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_3_Get_X-User_Assertion_Response-Technical_User.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_4_Get_X-User_Assertion_Response-Patient.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_5_Get_X-User_Assertion_Response-Representative.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_6_Get_X-User_Assertion_Response-Policy-Administrator.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_7_Get_X-User_Assertion_Response-Document-Administrator.xml",
        &[Why::NoUsableCertificate],
    ),
    ("xua-ch/epr-by-example_assertion_only.xml", &[Why::Digest]),
    (
        "xua-ch/epr-by-example_samples_GetXAssertion_request_raw.xml",
        &[Why::NoUsableCertificate],
    ),
    (
        "xua-ch/epr-by-example_samples_GetXAssertion_response_raw.xml",
        &[Why::NoUsableCertificate],
    ),
    // The MANIFEST: "digest MISMATCH". It is signed with rsa-sha1, and the algorithm policy is checked
    // before any digest is computed, so that is the reason we give.
    (
        "xua-ch/epr-by-example_samples_ITI-18_request_raw.xml",
        &[Why::AlgorithmPolicy],
    ),
    (
        "xua-ch/ipf_xacml20_xua-assertion.xml",
        &[Why::NoUsableCertificate],
    ),
    ("xua-ch/mag_http_getxua.txt", &[Why::NotAToken]),
    (
        "xua-generic/ipf_xds_saml2-assertion-for-xua.xml",
        &[Why::NoUsableCertificate],
    ),
];

/// The message of the check that carries the reason: the signature, or the first failing format/parse check.
fn reason_of(report: &Report, token: usize) -> String {
    let t = &report.tokens[token];
    t.checks
        .iter()
        .find(|c| matches!(c.name, "format" | "parse") && c.status == Status::Fail)
        .or_else(|| t.checks.iter().find(|c| c.name == "signature"))
        .map(|c| c.message.clone())
        .unwrap_or_else(|| panic!("token {token} has no signature, format or parse check"))
}

fn inspect(gateway: &Gateway, path: &Path) -> Report {
    let bytes = std::fs::read(path).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gateway
            .pipeline()
            .inspect(&bytes, &InspectOptions::default())
    }));
    outcome.unwrap_or_else(|_| panic!("{} panics the inspector", path.display()))
}

#[test]
fn every_corpus_file_is_inspected_without_a_panic_and_with_a_token() {
    let Some(root) = corpus_root() else { return };
    let gateway = gateway();
    let mut all = Vec::new();
    files(&root, &mut all);
    assert!(
        all.len() >= 40,
        "the corpus is not where it should be: {}",
        root.display()
    );
    for path in all {
        let report = inspect(&gateway, &path);
        assert!(
            !report.tokens.is_empty(),
            "{}: no token in the report",
            path.display()
        );
        // Nothing in it is from an issuer we trust: nothing would be accepted.
        assert!(!report.accepted, "{}: accepted", path.display());
        assert!(!report.verdict.is_empty());
    }
}

#[test]
fn every_corpus_token_is_refused_for_the_manifests_reason() {
    let Some(root) = corpus_root() else { return };
    let gateway = gateway();
    let manifest = std::fs::read_to_string(root.join("MANIFEST.txt")).unwrap();
    for (file, reasons) in EXPECTED {
        assert!(
            manifest.contains(&format!("FILE: {file}")),
            "{file} is not in the MANIFEST"
        );
        let report = inspect(&gateway, &root.join(file));
        assert_eq!(
            report.tokens.len(),
            reasons.len(),
            "{file}: {} tokens, expected {}",
            report.tokens.len(),
            reasons.len()
        );
        for (i, why) in reasons.iter().enumerate() {
            let reason = reason_of(&report, i);
            assert!(
                why.words().iter().any(|w| reason.contains(w)),
                "{file} token {i}: expected {why:?}, the inspector says {reason:?}"
            );
        }
    }
    // Every token file the MANIFEST lists has an expectation here.
    let listed = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("FILE: "))
        .count();
    assert_eq!(
        listed,
        EXPECTED.len(),
        "a MANIFEST entry has no expectation"
    );
}
