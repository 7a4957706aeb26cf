//! The cost of each pipeline stage, of each whole pipeline, and of the raw crypto they cannot avoid, measured
//! in one run so each path can be given as a fraction of its ceiling.
//!
//! `cargo bench --bench stages`. Stages: parse (pre-scan), verify (XML-DSig, includes libxml2 parsing),
//! extract (claims view from the signed bytes), decode (tables → model), rules (validation + fastlege),
//! encode (model → claims / attributes), sign (JWT / XML-DSig), jwt_verify; the rules stage with the register
//! checks off, on (file registers), and over HTTP to a local register warm and uncached; pipelines per
//! direction and output algorithm (audit to a null sink; the audit's own cost is `cargo bench --bench audit`).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::{Signer, Verifier};
use time::{Duration, OffsetDateTime};

mod common;
#[path = "../tests/support/registers.rs"]
mod registers;
use common::NullSink;
use xua_gateway::config::LoadedConfig;
use xua_gateway::inspect::unverified;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::jwt::RegisteredClaims;
use xua_gateway::mapping::XuaInput;
use xua_gateway::pipeline::ExchangeRequest;
use xua_gateway::rules::RuleDirection;
use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};
use xua_gateway::saml::verify::{self, TrustStore, VerifierEngine};
use xua_gateway::saml::{dsig, prescan, stream};
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

fn gateway_with(alg: &str, engine: VerifierEngine) -> Gateway {
    gateway_edited(alg, engine, "", |t| t)
}

/// The sample configuration for `alg` and the XML-DSig `engine`, its rules sections edited by `edit` (after
/// the paths are made absolute); `tag` keeps the temp folders of variants apart.
fn gateway_edited(
    alg: &str,
    engine: VerifierEngine,
    tag: &str,
    edit: impl Fn(String) -> String,
) -> Gateway {
    let text = include_str!("../samples/config.toml")
        .replacen(
            "[saml]\n",
            &format!("[saml]\nverifier = \"{}\"\n", engine.name()),
            1,
        )
        .replace("algorithm = \"ES256\"", &format!("algorithm = \"{alg}\""))
        .replace(
            "TEST-ONLY-gateway-jwt-es256.key.pem",
            if alg == "ES256" {
                "TEST-ONLY-gateway-jwt-es256.key.pem"
            } else {
                "TEST-ONLY-gateway-jwt-rsa.key.pem"
            },
        );
    let dir = std::env::temp_dir().join(format!(
        "xua-bench-{alg}-{}{tag}-{}",
        engine.name(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/keys");
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    let mut text = text.replace("\"keys/", &format!("\"{keys}/"));
    for register in [
        "fastlege-register.toml",
        "hpr-register.toml",
        "block-register.toml",
    ] {
        text = text.replace(
            &format!("\"{register}\""),
            &format!("\"{samples}/{register}\""),
        );
    }
    let text = text
        .replace("path = \"xua-gateway-audit.sqlite\"", "path = \"\"")
        // A benchmark re-sends one token on purpose; replay protection would refuse the second.
        .replace("saml = true", "saml = false")
        .replace("jwt = true", "jwt = false");
    let path = dir.join("config.toml");
    std::fs::write(&path, edit(text)).expect("config");
    let loaded = LoadedConfig::from_file(&path).expect("config parses");
    Gateway::build(
        loaded,
        xua_gateway::clock::system(),
        Some(Arc::new(NullSink)),
    )
    .expect("gateway")
}

fn stages(c: &mut Criterion) {
    let gw = gateway_with("ES256", VerifierEngine::DEFAULT);
    let profile = gw.pipeline().profiles().default_profile().clone();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let now = OffsetDateTime::now_utc();
    let idp = samples::sample_idp().expect("idp");
    let xml = samples::mint_assertion(&profile, &claims, &MintOptions::default(), &idp, now)
        .expect("mint");
    let anchor = dsig::TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("anchor");
    let limits = prescan::XmlLimits::default();

    c.bench_function("stage/parse_prescan", |b| {
        b.iter(|| prescan::scan(&xml, &limits).expect("scan"))
    });
    c.bench_function("stage/verify_xmldsig", |b| {
        b.iter(|| dsig::verify_assertion(&xml, &anchor).expect("verify"))
    });
    c.bench_function("stage/verify_streaming", |b| {
        b.iter(|| stream::verify_assertion(&xml, &anchor, &limits).expect("verify"))
    });
    // The whole signature stage either way: pre-scan, issuer, signature, claims from the signed bytes.
    let mut trust = TrustStore::new();
    trust.add(
        samples::SAMPLE_IDP,
        dsig::TrustAnchor::from_cert_pem(samples::SAMPLE_IDP_CERT).expect("anchor"),
    );
    for engine in [VerifierEngine::Libxmlsec, VerifierEngine::Streaming] {
        c.bench_function(&format!("stage/verify_signed/{}", engine.name()), |b| {
            b.iter(|| verify::verify_signed(engine, &xml, &trust, &limits, now).expect("verify"))
        });
    }
    let signed = dsig::verify_assertion(&xml, &anchor)
        .expect("verify")
        .signed_bytes;
    c.bench_function("stage/extract_view", |b| {
        b.iter(|| unverified::assertion_view(&signed).expect("view"))
    });
    let view = unverified::assertion_view(&signed).expect("view");
    let input = XuaInput {
        name_id: view.name_id.as_deref(),
        name_qualifier: view.name_id_qualifier.as_deref(),
        attributes: &view.attributes,
    };
    c.bench_function("stage/decode_xua", |b| {
        b.iter(|| profile.decode_xua_unverified(input).expect("decode"))
    });
    let model = profile.decode_xua_unverified(input).expect("decode");
    c.bench_function("stage/rules_encode_xua", |b| {
        b.iter(|| {
            let mut m = model.clone();
            gw.pipeline()
                .rules()
                .run(
                    &profile.name,
                    &[RuleDirection::DecodeJwt, RuleDirection::EncodeXua],
                    &mut m,
                )
                .expect("rules")
        })
    });
    c.bench_function("stage/encode_claims", |b| {
        b.iter(|| profile.encode_claims(&model).expect("encode"))
    });
    let out_claims = profile.encode_claims(&model).expect("encode");
    let registered = RegisteredClaims {
        subject: "12837034688".into(),
        audience: "https://fhir.test.example/pjd".into(),
        issued_at: now,
        expires: now + Duration::minutes(5),
        token_id: "bench".into(),
    };
    for alg in ["ES256", "RS256", "PS256"] {
        let g = gateway_with(alg, VerifierEngine::DEFAULT);
        c.bench_function(&format!("stage/sign_jwt/{alg}"), |b| {
            b.iter(|| {
                g.pipeline()
                    .jwt_issuer()
                    .issue(out_claims.clone(), &registered)
                    .expect("sign")
            })
        });
    }

    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), now).expect("jwt");
    c.bench_function("stage/verify_jwt/ES256", |b| {
        b.iter(|| gw.pipeline().verify_jwt(&jwt, now).expect("verify"))
    });
    let verified = gw.pipeline().verify_jwt(&jwt, now).expect("verify");
    c.bench_function("stage/decode_claims", |b| {
        b.iter(|| profile.decode_jwt(&verified).expect("decode"))
    });
    c.bench_function("stage/encode_xua", |b| {
        b.iter(|| {
            profile
                .encode_xua_named(&model, gw.pipeline().rules().codes())
                .expect("encode")
        })
    });
    let out = profile
        .encode_xua_named(&model, gw.pipeline().rules().codes())
        .expect("encode");
    let spec = AssertionSpec {
        id: "_bench",
        issuer: "https://xua-gateway.test.example",
        issue_instant: now,
        not_on_or_after: now + Duration::minutes(5),
        audience: "nhn:dokumentdeling-saml",
        name_id: out.name_id.as_deref().unwrap_or("x"),
        name_qualifier: out.name_qualifier.as_deref(),
        authn_instant: now,
        authn_context_class: AC_X509,
    };
    c.bench_function("stage/build_assertion", |b| {
        b.iter(|| build::assertion(&spec, &out.attributes).expect("build"))
    });
    let unsigned = build::assertion(&spec, &out.attributes).expect("build");
    let signer = dsig::SigningIdentity::from_pem(
        include_bytes!("../samples/keys/TEST-ONLY-gateway-saml.key.pem"),
        include_bytes!("../samples/keys/TEST-ONLY-gateway-saml.crt.pem"),
    )
    .expect("signer");
    c.bench_function("stage/sign_xmldsig", |b| {
        b.iter(|| dsig::sign_assertion(&unsigned, &signer).expect("sign"))
    });
    let canonical = build::canonical_assertion(&spec, &out.attributes).expect("build");
    c.bench_function("stage/sign_direct", |b| {
        b.iter(|| stream::sign::sign(&canonical, &signer).expect("sign"))
    });
    c.bench_function("stage/build_then_sign_xmldsig", |b| {
        b.iter(|| {
            let unsigned = build::assertion(&spec, &out.attributes).expect("build");
            dsig::sign_assertion(&unsigned, &signer).expect("sign")
        })
    });
    c.bench_function("stage/build_and_sign_direct", |b| {
        b.iter(|| build::signed_assertion(&spec, &out.attributes, &signer).expect("sign"))
    });
}

/// A pipeline bench's id: the plain id for the default XML-DSig engine (the one `benches/peers` reads),
/// `/<engine>` after it for the other.
fn engine_id(id: &str, engine: VerifierEngine) -> String {
    if engine == VerifierEngine::DEFAULT {
        id.to_string()
    } else {
        format!("{id}/{}", engine.name())
    }
}

fn pipelines(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let request = ExchangeRequest::default();
    for alg in ["ES256", "RS256", "PS256"] {
        let xml = samples::mint_assertion(
            gateway_with(alg, VerifierEngine::DEFAULT)
                .pipeline()
                .profiles()
                .default_profile(),
            &claims,
            &MintOptions::default(),
            &samples::sample_idp().expect("idp"),
            now,
        )
        .expect("mint");
        for engine in [VerifierEngine::Libxmlsec, VerifierEngine::Streaming] {
            let gw = gateway_with(alg, engine);
            c.bench_function(
                &engine_id(&format!("pipeline/saml_to_jwt/{alg}"), engine),
                |b| b.iter(|| gw.pipeline().saml_to_jwt(&xml, &request).expect("exchange")),
            );
        }
    }
    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), now).expect("jwt");
    // The signer follows `[saml] verifier`: libxmlsec1, or the direct signer.
    for engine in [VerifierEngine::Libxmlsec, VerifierEngine::Streaming] {
        let gw = gateway_with("ES256", engine);
        c.bench_function(&engine_id("pipeline/jwt_to_saml/ES256-in", engine), |b| {
            b.iter(|| gw.pipeline().jwt_to_saml(&jwt, &request).expect("exchange"))
        });
    }
}

/// The ceilings: the signatures each path must make, with OpenSSL (which libxmlsec1 uses) and with aws-lc
/// (which signs the JWTs).
fn crypto_baseline(c: &mut Criterion) {
    let rsa = PKey::private_key_from_pem(include_bytes!(
        "../samples/keys/TEST-ONLY-gateway-saml.key.pem"
    ))
    .expect("rsa");
    let msg = [7u8; 512];
    c.bench_function("crypto/openssl/rsa2048_sha256_sign", |b| {
        b.iter(|| {
            let mut s = Signer::new(MessageDigest::sha256(), &rsa).expect("signer");
            s.sign_oneshot_to_vec(&msg).expect("sign")
        })
    });
    let mut s = Signer::new(MessageDigest::sha256(), &rsa).expect("signer");
    let sig = s.sign_oneshot_to_vec(&msg).expect("sign");
    c.bench_function("crypto/openssl/rsa2048_sha256_verify", |b| {
        b.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &rsa).expect("verifier");
            v.verify_oneshot(&sig, &msg).expect("verify")
        })
    });
    let ec = PKey::private_key_from_pem(include_bytes!(
        "../samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem"
    ))
    .expect("ec");
    c.bench_function("crypto/openssl/p256_sha256_sign", |b| {
        b.iter(|| {
            let mut s = Signer::new(MessageDigest::sha256(), &ec).expect("signer");
            s.sign_oneshot_to_vec(&msg).expect("sign")
        })
    });
    // The JWT → SAML bench verifies an ES256 input, so its ceiling is this plus an RSA-2048 signature.
    let mut s = Signer::new(MessageDigest::sha256(), &ec).expect("signer");
    let ec_sig = s.sign_oneshot_to_vec(&msg).expect("sign");
    c.bench_function("crypto/openssl/p256_sha256_verify", |b| {
        b.iter(|| {
            let mut v = Verifier::new(MessageDigest::sha256(), &ec).expect("verifier");
            v.verify_oneshot(&ec_sig, &msg).expect("verify")
        })
    });
    let es = jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!(
        "../samples/keys/TEST-ONLY-gateway-jwt-es256.key.pem"
    ))
    .expect("es");
    c.bench_function("crypto/aws-lc/es256_sign", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::sign(&msg, &es, jsonwebtoken::Algorithm::ES256).expect("sign")
        })
    });
    let rs = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
        "../samples/keys/TEST-ONLY-gateway-jwt-rsa.key.pem"
    ))
    .expect("rs");
    c.bench_function("crypto/aws-lc/rs256_sign", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::sign(&msg, &rs, jsonwebtoken::Algorithm::RS256).expect("sign")
        })
    });
}

/// The rules stage of SAML → JWT (validation, rules, checks) with the checks off, on with the file
/// registers, on over HTTP to a local register with a warm cache, and over HTTP with the cache off (one
/// loopback request per register per exchange). The register checks' cost per exchange is each case minus
/// `checks_off`, in the same run.
fn register_checks(c: &mut Criterion) {
    let server = registers::Registers::start();
    let without_checks = |t: String| {
        let (start, end) = (
            t.find("[rules.hpr]").expect("hpr"),
            t.find("[logging]").expect("logging"),
        );
        format!("{}{}", &t[..start], &t[end..])
    };
    let over_http = |ttl: u64| {
        let server = &server;
        move |t: String| {
            let t = without_checks(t);
            let end = t.find("[logging]").expect("logging");
            let transport = format!("cache_ttl_secs = {ttl}\nnegative_cache_ttl_secs = {ttl}");
            format!(
                "{}[rules.hpr]\nregister = \"http\"\n[rules.hpr.http]\nurl = \"{}\"\n{transport}\n\n\
                 [rules.blocks]\nregister = \"http\"\n[rules.blocks.http]\nurl = \"{}\"\n{transport}\n\n{}",
                &t[..end],
                server.url("hpr", "{hpr}"),
                server.url("blocks", "{patient}"),
                &t[end..]
            )
        }
    };
    let variants = [
        (
            "checks_off",
            gateway_edited("ES256", VerifierEngine::DEFAULT, "-off", without_checks),
        ),
        (
            "checks_file",
            gateway_edited("ES256", VerifierEngine::DEFAULT, "-file", |t| t),
        ),
        (
            "checks_http_warm",
            gateway_edited("ES256", VerifierEngine::DEFAULT, "-warm", over_http(3600)),
        ),
        (
            "checks_http_uncached",
            gateway_edited("ES256", VerifierEngine::DEFAULT, "-cold", over_http(0)),
        ),
    ];
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let directions = [RuleDirection::DecodeXua, RuleDirection::EncodeJwt];
    for (name, gw) in &variants {
        let profile = gw.pipeline().profiles().default_profile().clone();
        let model = profile.decode_claims_unverified(&claims).expect("decode");
        let rules = gw.pipeline().rules();
        let now = OffsetDateTime::now_utc();
        c.bench_function(&format!("stage/rules_saml_to_jwt/{name}"), |b| {
            b.iter(|| {
                let mut m = model.clone();
                rules
                    .run(&profile.name, &directions, &mut m)
                    .expect("rules");
                let checked = rules.check(&profile.name, &directions, &m, now);
                checked.verdict.expect("checks");
                checked.decisions.len()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = crypto_baseline, stages, register_checks, pipelines
}
criterion_main!(benches);
