//! Integration tests: the real server on a random port, spoken to over HTTP.

#[path = "../support/certs.rs"]
mod certs;

mod audit;
mod audit_vanishing;
mod binary;
mod browser;
mod certificates;
mod cli;
mod client_auth;
mod client_policy;
mod cluster;
mod config_strictness;
mod delegation;
mod dpop;
mod dsig_engine;
mod durability;
mod echoes;
#[path = "../support/engine.rs"]
mod engine;
mod forge;
mod helpers;
mod http_conventions;
mod inspect;
mod inspect_limits;
mod inspect_replay;
mod inspector_http;
mod inspector_rules;
mod jwks_purpose;
mod jwks_url;
mod jwt_attacks;
mod jwt_to_saml;
mod limits_and_replay;
mod load_bounds;
mod logging;
mod mtls;
#[allow(dead_code)]
#[path = "../support/multipart.rs"]
mod multipart;
mod oauth;
mod patients;
mod profiles;
mod register_checks;
mod register_samples;
#[path = "../support/registers.rs"]
mod registers;
mod rejections;
mod reload;
mod replay_restart;
mod reports_browser;
mod reports_cli;
mod reports_http;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod soap_helpers;
mod soap_proxy;
mod targets;
mod time_edges;
mod token_exchange;
#[path = "../support/upstream.rs"]
mod upstream;
mod ws_trust;
#[path = "../support/xmlsec1.rs"]
mod xmlsec1;
