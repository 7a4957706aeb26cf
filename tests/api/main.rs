//! Integration tests: the real server on a random port, spoken to over HTTP.

#[path = "../support/certs.rs"]
mod certs;

mod audit;
mod binary;
mod browser;
mod certificates;
mod cli;
mod cluster;
mod durability;
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
mod profiles;
mod rejections;
mod reload;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod token_exchange;
