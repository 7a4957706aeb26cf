//! Integration tests: the real server on a random port, spoken to over HTTP.

mod audit;
mod binary;
mod browser;
mod cli;
mod client_auth;
mod client_policy;
mod cluster;
mod delegation;
mod dpop;
mod durability;
#[path = "../support/engine.rs"]
mod engine;
mod forge;
mod helpers;
mod inspect;
mod inspector_http;
mod inspector_rules;
mod jwks_url;
mod jwt_attacks;
mod jwt_to_saml;
mod limits_and_replay;
mod logging;
mod mtls;
mod oauth;
mod profiles;
mod rejections;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod token_exchange;
