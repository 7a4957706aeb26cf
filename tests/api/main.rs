//! Integration tests: the real server on a random port, spoken to over HTTP.

mod audit;
mod binary;
mod durability;
#[path = "../support/engine.rs"]
mod engine;
mod forge;
mod helpers;
mod inspect;
mod jwks_url;
mod jwt_attacks;
mod jwt_to_saml;
mod limits_and_replay;
mod logging;
mod profiles;
mod rejections;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod token_exchange;
