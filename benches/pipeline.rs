//! Whole-pipeline cost in-process, per direction (no HTTP): what one exchange costs on this machine.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
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

criterion_group!(benches, saml_to_jwt, jwt_to_saml);
criterion_main!(benches);
