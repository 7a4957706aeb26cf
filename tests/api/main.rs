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
#[allow(dead_code)]
#[path = "../support/multipart.rs"]
mod multipart;
mod oauth;
mod profiles;
mod rejections;
mod roundtrip;
mod rules;
mod sec_saml;
mod server_threads;
mod soap_helpers;
mod soap_proxy;
mod token_exchange;
#[path = "../support/upstream.rs"]
mod upstream;
mod ws_trust;
#[path = "../support/xmlsec1.rs"]
mod xmlsec1;
