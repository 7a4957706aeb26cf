//! Key rotation and certificate validity, on a fixed clock: trusted issuers with several certificates, trust
//! anchors that expire or are not valid yet, the gateway's own signing certificate expiring, what
//! readiness and the metrics say about it, and a reload that keeps the stores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use time::{Duration, OffsetDateTime};
use xua_gateway::audit::{AuditSink, MemorySink};
use xua_gateway::clock::FixedClock;
use xua_gateway::config::LoadedConfig;
use xua_gateway::error::{ErrorClass, Rejection};
use xua_gateway::mapping::ProfileSet;
use xua_gateway::model::Outcome;
use xua_gateway::pipeline::ExchangeRequest;
use xua_gateway::saml::dsig::{SigningIdentity, TrustAnchor, VerifiedAssertion};
use xua_gateway::saml::prescan::XmlLimits;
use xua_gateway::saml::verify::{self, TrustStore, VerifierEngine};
use xua_gateway::samples::{self, MintOptions, SAMPLE_IDP};
use xua_gateway::startup::{Gateway, LiveGateway, ReloadError};

use crate::certs::{p256_key, rsa_certificate, KeyAndCert};

/// Certificates are dated relative to this instant; every gateway here runs on a clock stopped near it.
fn t0() -> OffsetDateTime {
    // Whole seconds: certificates carry no fractions.
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// The signature with the issuer's certificates valid at `now`, by both XML-DSig engines, which must agree
/// (the same verdict, class and message); the result is the one of the engine under test.
fn verify_signature(
    xml: &[u8],
    trust: &TrustStore,
    issuer: &str,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion, Rejection> {
    let limits = XmlLimits::default();
    let [libxmlsec, streamed] = [VerifierEngine::Libxmlsec, VerifierEngine::Streaming]
        .map(|engine| verify::verify_signature_with(engine, xml, trust, issuer, &limits, now));
    match (&libxmlsec, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a.signed_bytes, b.signed_bytes),
        (Err(a), Err(b)) => assert_eq!(a, b, "the engines refuse differently"),
        (a, b) => panic!("the engines disagree: libxmlsec1 {a:?}, streaming {b:?}"),
    }
    match crate::engine::engine() {
        VerifierEngine::Libxmlsec => libxmlsec,
        VerifierEngine::Streaming => streamed,
    }
}

fn days(d: i64) -> Duration {
    Duration::days(d)
}

fn identity(k: &KeyAndCert) -> SigningIdentity {
    SigningIdentity::from_pem(&k.key_pem, &k.cert_pem).unwrap()
}

fn anchor(k: &KeyAndCert) -> TrustAnchor {
    TrustAnchor::from_cert_pem(&k.cert_pem).unwrap()
}

fn assertion(signer: &SigningIdentity, issuer: &str, at: OffsetDateTime) -> Vec<u8> {
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    samples::mint_assertion(
        profiles.default_profile(),
        &claims,
        &MintOptions {
            issuer: issuer.to_string(),
            ..MintOptions::default()
        },
        signer,
        at,
    )
    .unwrap()
}

#[test]
fn an_expired_trust_anchor_never_verifies_and_the_refusal_says_why() {
    let t = t0();
    let old = rsa_certificate("rotation idp", t - days(30), t - days(1));
    let mut trust = TrustStore::new();
    trust.add(SAMPLE_IDP, anchor(&old));
    let xml = assertion(&identity(&old), SAMPLE_IDP, t);
    // While the certificate was valid the same signature verified: only its expiry refuses it now.
    verify_signature(&xml, &trust, SAMPLE_IDP, t - days(2)).unwrap();
    let err = verify_signature(&xml, &trust, SAMPLE_IDP, t).unwrap_err();
    assert_eq!(err.class, ErrorClass::Sig, "{err}");
    assert!(
        err.message.contains("expired at") && err.message.contains("verifies nothing"),
        "{err}"
    );
    // An issuer never trusted stays ISS, whatever the certificates of others.
    let err = verify_signature(&xml, &trust, "https://other.example", t).unwrap_err();
    assert_eq!(err.class, ErrorClass::Iss);
}

#[test]
fn any_valid_certificate_of_an_issuer_rolling_over_verifies() {
    let t = t0();
    let old = rsa_certificate("rotation idp old", t - days(300), t + days(30));
    let new = rsa_certificate("rotation idp new", t - days(1), t + days(365));
    let stranger = rsa_certificate("rotation idp", t - days(1), t + days(365));
    let mut trust = TrustStore::new();
    trust.add(SAMPLE_IDP, anchor(&old));
    trust.add(SAMPLE_IDP, anchor(&new));
    assert_eq!(trust.anchors(SAMPLE_IDP).len(), 2);
    for k in [&old, &new] {
        let xml = assertion(&identity(k), SAMPLE_IDP, t);
        verify_signature(&xml, &trust, SAMPLE_IDP, t).unwrap();
    }
    let forged = assertion(&identity(&stranger), SAMPLE_IDP, t);
    let err = verify_signature(&forged, &trust, SAMPLE_IDP, t).unwrap_err();
    assert_eq!(err.class, ErrorClass::Sig);
    assert!(
        err.message
            .contains("with none of the 2 valid certificates configured for the issuer"),
        "{err}"
    );

    // A month later the old certificate has expired: what it signed is refused, the new one still verifies.
    let later = t + days(31);
    let by_old = assertion(&identity(&old), SAMPLE_IDP, later);
    let err = verify_signature(&by_old, &trust, SAMPLE_IDP, later).unwrap_err();
    assert_eq!(err.class, ErrorClass::Sig);
    assert!(
        err.message
            .contains("(1 more outside their validity period)"),
        "{err}"
    );
    let by_new = assertion(&identity(&new), SAMPLE_IDP, later);
    verify_signature(&by_new, &trust, SAMPLE_IDP, later).unwrap();
}

#[test]
fn a_certificate_not_valid_yet_verifies_from_its_not_before_on() {
    let t = t0();
    let future = rsa_certificate("rotation idp future", t + days(7), t + days(400));
    let mut trust = TrustStore::new();
    trust.add(SAMPLE_IDP, anchor(&future));
    let signer = identity(&future);
    let early = assertion(&signer, SAMPLE_IDP, t);
    let err = verify_signature(&early, &trust, SAMPLE_IDP, t).unwrap_err();
    assert_eq!(err.class, ErrorClass::Sig);
    assert!(err.message.contains("is not valid before"), "{err}");
    let on_time = assertion(&signer, SAMPLE_IDP, t + days(7));
    verify_signature(&on_time, &trust, SAMPLE_IDP, t + days(7)).unwrap();
}

/// The sample configuration with its files by absolute path, `edit` applied, written into `dir`.
fn config_file(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(repo.join("samples/config.toml"))
        .unwrap()
        .replace(
            "\"keys/",
            &format!("\"{}/", repo.join("samples/keys").display()),
        );
    for register in [
        "fastlege-register.toml",
        "hpr-register.toml",
        "block-register.toml",
    ] {
        text = text.replace(
            &format!("file = \"{register}\""),
            &format!(
                "file = \"{}\"",
                repo.join("samples").join(register).display()
            ),
        );
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    std::fs::write(dir.join(name), bytes).unwrap();
    name.to_string()
}

fn gateway_at(path: &Path, at: OffsetDateTime) -> (Gateway, Arc<MemorySink>) {
    let audit = Arc::new(MemorySink::default());
    let gateway = Gateway::build(
        LoadedConfig::from_file(path).unwrap(),
        Arc::new(FixedClock(at)),
        Some(audit.clone()),
    )
    .unwrap();
    (gateway, audit)
}

fn check<'a>(
    checks: &'a [(&'static str, Result<(), String>)],
    name: &str,
) -> &'a Result<(), String> {
    &checks.iter().find(|(n, _)| *n == name).unwrap().1
}

/// A second trusted issuer, `https://idp2.test`, with `certificate` (a file in the configuration's folder).
fn with_second_issuer(text: String, certificate: &str) -> String {
    text.replace(
        "# How the gateway issues XUA assertions",
        &format!(
            "[[saml.trusted_issuers]]\nentity_id = \"https://idp2.test\"\ncertificate = \"{certificate}\"\n\n# How the gateway issues XUA assertions"
        ),
    )
}

#[test]
fn readiness_and_metrics_warn_before_a_trust_anchor_expires_and_fail_only_when_none_is_valid() {
    let t = t0();
    let dir = tempfile::tempdir().unwrap();
    let idp2 = rsa_certificate("idp2", t - days(10), t + days(10));
    let cert = write(dir.path(), "idp2.crt.pem", &idp2.cert_pem);
    let path = config_file(dir.path(), |s| with_second_issuer(s, &cert));

    // Ten days before it expires: 200 with a warning naming the issuer, and the gauges.
    let (gw, _) = gateway_at(&path, t);
    let checks = gw.readiness_checks();
    assert_eq!(check(&checks, "certificates"), &Ok(()));
    let warnings = gw.readiness_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].1.contains("trusted issuer https://idp2.test")
            && warnings[0].1.contains("(in 10 days)"),
        "{warnings:?}"
    );
    let metrics = gw.metrics_text().unwrap();
    let prefix: String = anchor(&idp2)
        .sha256_fingerprint()
        .chars()
        .take(16)
        .collect();
    assert!(
        metrics.contains(&format!(
            "xua_certificate_expiry_seconds{{issuer=\"https://idp2.test\",role=\"saml_trust_anchor\",sha256=\"{prefix}\",state=\"trusted\"}} {}",
            10 * 86_400
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("xua_certificates{role=\"saml_trust_anchor\",standing=\"expiring\"} 1")
    );
    assert!(metrics.contains("xua_certificates{role=\"saml_trust_anchor\",standing=\"valid\"} 1"));
    assert!(metrics.contains("xua_certificate_expiry_warning_seconds 2592000"));

    // The warning period is configuration: with 7 days nothing is said yet.
    let quiet = config_file(dir.path(), |s| {
        with_second_issuer(s, &cert).replace("expiry_warning_days = 30", "expiry_warning_days = 7")
    });
    let (gw, _) = gateway_at(&quiet, t);
    assert!(gw.readiness_warnings().is_empty());
    assert!(gw
        .metrics_text()
        .unwrap()
        .contains("xua_certificates{role=\"saml_trust_anchor\",standing=\"expiring\"} 0"));

    // Expired, while the sample issuer's certificate remains: still ready, with the expiry named.
    let path = config_file(dir.path(), |s| with_second_issuer(s, &cert));
    let (gw, _) = gateway_at(&path, t + days(11));
    assert_eq!(check(&gw.readiness_checks(), "certificates"), &Ok(()));
    let warnings = gw.readiness_warnings();
    assert!(warnings[0].1.contains("expired at"), "{warnings:?}");
    let metrics = gw.metrics_text().unwrap();
    assert!(metrics.contains(&format!("state=\"trusted\"}} -{}", 86_400)));
    assert!(metrics.contains("xua_certificates{role=\"saml_trust_anchor\",standing=\"expired\"} 1"));

    // The only trusted issuer's only certificate expired: nothing valid remains, readiness fails.
    let alone = config_file(dir.path(), |s| {
        // The sample issuer's entry, up to its certificate (comments may stand between), is taken out.
        let s = with_second_issuer(s, &cert);
        let start = s
            .find("[[saml.trusted_issuers]]\nentity_id = \"https://idp.test.xua-gateway.example\"")
            .unwrap();
        let cert_at =
            start + s[start..].find("\ncertificate = ").unwrap() + "\ncertificate = ".len();
        format!("{}# removed: {}", &s[..start], &s[cert_at..])
    });
    let text = std::fs::read_to_string(&alone).unwrap();
    assert!(!text.contains("entity_id = \"https://idp.test.xua-gateway.example\""));
    let (gw, _) = gateway_at(&alone, t + days(11));
    let checks = gw.readiness_checks();
    let err = check(&checks, "certificates").clone().unwrap_err();
    assert!(
        err.contains("no trusted issuer has a certificate valid now"),
        "{err}"
    );
    let (gw, _) = gateway_at(&alone, t);
    assert_eq!(check(&gw.readiness_checks(), "certificates"), &Ok(()));
}

/// `[saml.signing]` with the key and certificate `k` (files in `dir`).
fn with_signing(dir: &Path, text: String, k: &KeyAndCert) -> String {
    let key = write(dir, "signing.key.pem", &k.key_pem);
    let cert = write(dir, "signing.crt.pem", &k.cert_pem);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let keys = repo.join("samples/keys");
    text.replace(
        &format!(
            "key = \"{}/TEST-ONLY-gateway-saml.key.pem\"\ncertificate = \"{}/TEST-ONLY-gateway-saml.crt.pem\"",
            keys.display(),
            keys.display()
        ),
        &format!("key = \"{key}\"\ncertificate = \"{cert}\""),
    )
}

#[test]
fn an_expired_signing_certificate_stops_issuing_with_a_clear_error_that_is_audited() {
    let t = t0();
    let dir = tempfile::tempdir().unwrap();
    let signing = rsa_certificate("gateway signing", t - days(10), t + days(5));
    let path = config_file(dir.path(), |s| with_signing(dir.path(), s, &signing));
    let claims = samples::parse_claims(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("samples/claims/hospital-physician.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let request = ExchangeRequest {
        request_id: "rotation".into(),
        ..ExchangeRequest::default()
    };

    // Five days before expiry: it signs, and readiness warns.
    let (gw, _) = gateway_at(&path, t);
    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), t).unwrap();
    gw.pipeline().jwt_to_saml(&jwt, &request).unwrap();
    assert_eq!(check(&gw.readiness_checks(), "certificates"), &Ok(()));
    assert!(gw.readiness_warnings()[0]
        .1
        .contains("the current XUA signing certificate"));

    // A day after it expired: refused with UNAVAILABLE, the record says so, readiness fails, and the other
    // direction still works.
    let later = t + days(6);
    let (gw, audit) = gateway_at(&path, later);
    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), later).unwrap();
    let err = gw.pipeline().jwt_to_saml(&jwt, &request).unwrap_err();
    assert_eq!(err.class, ErrorClass::Unavailable, "{err}");
    assert!(
        err.message
            .contains("the gateway's XUA signing certificate expired at"),
        "{err}"
    );
    let record = audit.records().pop().unwrap();
    assert_eq!(record.outcome, Outcome::Rejected);
    assert_eq!(record.error_class, Some(ErrorClass::Unavailable));
    assert!(record.output_token_id.is_none());
    let checks = gw.readiness_checks();
    let reason = check(&checks, "certificates").clone().unwrap_err();
    assert!(reason.contains("no assertion is issued"), "{reason}");
    let xml = assertion(&samples::sample_idp().unwrap(), SAMPLE_IDP, later);
    gw.pipeline()
        .saml_to_jwt(&xml, &request)
        .expect("SAML → JWT does not need the XUA signing certificate");
}

fn jwks_kids(gw: &Gateway) -> Vec<String> {
    let jwks: Value = serde_json::from_str(&gw.pipeline().jwks_json().unwrap()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_jwks_publishes_every_key_not_retired_and_tokens_are_signed_with_the_current_one() {
    let t = t0();
    let dir = tempfile::tempdir().unwrap();
    let next = write(dir.path(), "next.key.pem", &p256_key());
    let retiring = write(dir.path(), "retiring.key.pem", &p256_key());
    let retired = write(dir.path(), "retired.key.pem", &p256_key());
    let until = t + Duration::hours(1);
    let tables = format!(
        "[[jwt.signing_keys]]\nkey = \"{retiring}\"\nstate = \"retired\"\nretired_after = \"{}\"\n\
         [[jwt.signing_keys]]\nkey = \"{next}\"\nstate = \"next\"\n\
         [[jwt.signing_keys]]\nkey = \"{retired}\"\nstate = \"retired\"\nretired_after = \"{}\"\n",
        xua_gateway::clock::rfc3339(until),
        xua_gateway::clock::rfc3339(t - days(1)),
    );
    let path = config_file(dir.path(), |s| s + "\n" + &tables);
    let (gw, _) = gateway_at(&path, t);
    let current = gw.pipeline().jwt_issuer().kid().to_string();
    let kids = jwks_kids(&gw);
    // The current key first, then the others in configuration order; the one retired yesterday is gone.
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert_eq!(kids[0], current);

    // The issued token names the current key, and the current key alone verifies it.
    let xml = assertion(&samples::sample_idp().unwrap(), SAMPLE_IDP, t);
    let issued = gw
        .pipeline()
        .saml_to_jwt(&xml, &ExchangeRequest::default())
        .unwrap();
    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(current.as_str()));

    // From its retired_after on, the retiring key is no longer published either.
    let (gw, _) = gateway_at(&path, until);
    assert_eq!(jwks_kids(&gw).len(), 2);
    assert_eq!(jwks_kids(&gw)[0], current);
}

#[test]
fn a_configuration_without_exactly_one_current_key_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let other = write(dir.path(), "other.key.pem", &p256_key());
    let two = config_file(dir.path(), |s| {
        s + &format!("\n[[jwt.signing_keys]]\nkey = \"{other}\"\nstate = \"current\"\n")
    });
    let err = Gateway::build(
        LoadedConfig::from_file(&two).unwrap(),
        xua_gateway::clock::system(),
        Some(Arc::new(MemorySink::default())),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("2 keys have state = \"current\""), "{err}");

    let none = config_file(dir.path(), |s| {
        s.replace(
            "signing_key = ",
            &format!(
                "signing_keys = [{{ key = \"{other}\", state = \"next\" }}]\n# signing_key = "
            ),
        )
    });
    let err = Gateway::build(
        LoadedConfig::from_file(&none).unwrap(),
        xua_gateway::clock::system(),
        Some(Arc::new(MemorySink::default())),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no key has state = \"current\""), "{err}");
}

#[test]
fn a_reload_swaps_keys_on_the_same_stores_and_refuses_a_broken_or_store_changing_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = write(dir.path(), "new.key.pem", &p256_key());
    let path = config_file(dir.path(), |s| s);
    let original = std::fs::read_to_string(&path).unwrap();
    let audit = Arc::new(MemorySink::default());
    let first = Arc::new(
        Gateway::build(
            LoadedConfig::from_file(&path).unwrap(),
            xua_gateway::clock::system(),
            Some(audit.clone()),
        )
        .unwrap(),
    );
    let old_kid = first.pipeline().jwt_issuer().kid().to_string();
    let live = LiveGateway::new(first.clone());

    // Promote a new key; the old one stays published.
    let promoted = original.replace("signing_key = ", "# signing_key = ")
        + &format!(
            "\n[[jwt.signing_keys]]\nkey = \"{new_key}\"\nstate = \"current\"\n[[jwt.signing_keys]]\nkey = {:?}\nstate = \"retired\"\nretired_after = \"{}\"\n",
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem")
                .display(),
            xua_gateway::clock::rfc3339(OffsetDateTime::now_utc() + Duration::hours(1)),
        );
    std::fs::write(&path, &promoted).unwrap();
    let done = live.reload().unwrap();
    assert!(done.not_applied.is_empty());
    let second = live.load();
    assert_ne!(second.pipeline().jwt_issuer().kid(), old_kid);
    assert_eq!(jwks_kids(&second)[1], old_kid);
    // The stores and the registry are the running ones, not reopened.
    assert!(Arc::ptr_eq(
        second.pipeline().audit_sink(),
        first.pipeline().audit_sink()
    ));
    let as_sink: Arc<dyn AuditSink> = audit;
    assert!(Arc::ptr_eq(second.pipeline().audit_sink(), &as_sink));
    assert!(Arc::ptr_eq(
        second.pipeline().replay_cache(),
        first.pipeline().replay_cache()
    ));
    assert!(Arc::ptr_eq(
        second.pipeline().metrics(),
        first.pipeline().metrics()
    ));
    // The gateway the first requests hold still answers with what it had.
    assert_eq!(first.pipeline().jwt_issuer().kid(), old_kid);

    // Broken: refused, and the promoted configuration keeps serving.
    for broken in [
        promoted.replace("[jwt]\n", "[jwt\n"),
        promoted.replace("state = \"retired\"", "state = \"current\""),
        promoted.replace(&new_key, "missing.key.pem"),
    ] {
        std::fs::write(&path, &broken).unwrap();
        let err = live.reload().unwrap_err();
        assert!(
            matches!(err, ReloadError::Config(_) | ReloadError::Build(_)),
            "{err}"
        );
        assert!(Arc::ptr_eq(&live.load(), &second));
    }
    // A store of its own: a restart is needed.
    std::fs::write(
        &path,
        promoted.replace("retention_days = 3650", "retention_days = 30"),
    )
    .unwrap();
    let err = live.reload().unwrap_err();
    assert!(matches!(err, ReloadError::RestartNeeded(_)), "{err}");
    assert!(err.to_string().contains("[audit] changed"), "{err}");
    assert!(Arc::ptr_eq(&live.load(), &second));

    // The server's own settings change nothing until a restart, and say so.
    std::fs::write(&path, promoted.replace("workers = 0", "workers = 3")).unwrap();
    let done = live.reload().unwrap();
    assert_eq!(done.not_applied, ["[server]"]);
    assert_eq!(live.load().server().workers, 0);

    let metrics = live.load().metrics_text().unwrap();
    assert!(
        metrics.contains("xua_config_reloads_total{outcome=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("xua_config_reloads_total{outcome=\"refused\"} 4"),
        "{metrics}"
    );
}
