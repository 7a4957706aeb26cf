//! Integration tests: the real server on a random port, spoken to over HTTP.

mod audit;
mod binary;
mod cli;
mod config_strictness;
mod durability;
mod echoes;
mod forge;
mod helpers;
mod http_conventions;
mod inspect;
mod inspect_replay;
mod jwks_purpose;
mod jwks_url;
mod jwt_attacks;
mod jwt_to_saml;
mod limits_and_replay;
mod logging;
mod patients;
mod profiles;
mod rejections;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod time_edges;
mod token_exchange;
