//! Whole-pipeline cost in-process, per direction (no HTTP): what one exchange costs on this machine, and what
//! client authentication (a private_key_jwt assertion) and a DPoP proof add to it, measured in the same run.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
mod common;
use common::{no_replay_config, NullSink};
use xua_gateway::pipeline::ExchangeRequest;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

fn gateway() -> Gateway {
    let loaded = no_replay_config();
    Gateway::build(
        loaded,
        xua_gateway::clock::system(),
        Some(Arc::new(NullSink)),
    )
    .expect("gateway")
}

fn saml_to_jwt(c: &mut Criterion) {
    let gw = gateway();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let xml = samples::mint_assertion(
        gw.pipeline().profiles().default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().expect("idp"),
        time::OffsetDateTime::now_utc(),
    )
    .expect("mint");
    let request = ExchangeRequest::default();
    c.bench_function("pipeline/saml_to_jwt/ES256", |b| {
        b.iter(|| gw.pipeline().saml_to_jwt(&xml, &request).expect("exchange"))
    });
}

fn jwt_to_saml(c: &mut Criterion) {
    let gw = gateway();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let jwt = samples::mint_jwt(
        &claims,
        &samples::JwtMintOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .expect("mint");
    let request = ExchangeRequest::default();
    c.bench_function("pipeline/jwt_to_saml/ES256-in", |b| {
        b.iter(|| gw.pipeline().jwt_to_saml(&jwt, &request).expect("exchange"))
    });
}

/// The SAML → JWT exchange with what a caller adds: a fresh client assertion, a fresh DPoP proof, or both,
/// each checked as `/token` checks them (signature, claims, `jti` into the replay store). Minting them is
/// outside the measurement.
fn callers(c: &mut Criterion) {
    use xua_gateway::clients::{Credentials, ASSERTION_TYPE_JWT_BEARER};
    let gw = gateway();
    let p = gw.pipeline();
    let callers = gw.callers();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let xml = samples::mint_assertion(
        p.profiles().default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().expect("idp"),
        time::OffsetDateTime::now_utc(),
    )
    .expect("mint");
    let assertion = || Credentials {
        assertion_type: Some(ASSERTION_TYPE_JWT_BEARER.to_string()),
        assertion: Some(
            samples::mint_client_assertion(
                samples::SAMPLE_CLIENT_ID,
                samples::SAMPLE_AUDIENCE,
                time::Duration::seconds(60),
                time::OffsetDateTime::now_utc(),
            )
            .expect("assertion"),
        ),
        ..Credentials::default()
    };
    let proof = || {
        samples::mint_dpop_proof("POST", &callers.htu, None, time::OffsetDateTime::now_utc())
            .expect("proof")
    };
    let cache = p.replay_cache().as_ref();
    let authenticate = |credentials: &Credentials| {
        callers
            .registry
            .authenticate(credentials, cache, p.now())
            .expect("authenticated")
    };
    let verify = |proof: &str| {
        callers
            .dpop
            .verify(proof, "POST", &callers.htu, cache, p.now())
            .expect("proof verifies")
    };
    c.bench_function("clients/private_key_jwt/authenticate", |b| {
        b.iter_batched(assertion, |a| authenticate(&a), BatchSize::SmallInput)
    });
    c.bench_function("clients/dpop/verify", |b| {
        b.iter_batched(proof, |pr| verify(&pr), BatchSize::SmallInput)
    });
    c.bench_function("pipeline/saml_to_jwt/ES256+private_key_jwt", |b| {
        b.iter_batched(
            assertion,
            |a| {
                let request = ExchangeRequest {
                    client: authenticate(&a),
                    ..ExchangeRequest::default()
                };
                p.saml_to_jwt(&xml, &request).expect("exchange")
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("pipeline/saml_to_jwt/ES256+dpop", |b| {
        b.iter_batched(
            proof,
            |pr| {
                let request = ExchangeRequest {
                    proof: Some(verify(&pr)),
                    ..ExchangeRequest::default()
                };
                p.saml_to_jwt(&xml, &request).expect("exchange")
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("pipeline/saml_to_jwt/ES256+private_key_jwt+dpop", |b| {
        b.iter_batched(
            || (assertion(), proof()),
            |(a, pr)| {
                let request = ExchangeRequest {
                    client: authenticate(&a),
                    proof: Some(verify(&pr)),
                    ..ExchangeRequest::default()
                };
                p.saml_to_jwt(&xml, &request).expect("exchange")
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, saml_to_jwt, jwt_to_saml, callers);
criterion_main!(benches);
