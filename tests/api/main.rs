//! Integration tests: the real server on a random port, spoken to over HTTP.

mod audit;
mod binary;
mod durability;
mod helpers;
mod inspect;
mod jwks_url;
mod jwt_attacks;
mod jwt_to_saml;
mod logging;
mod profiles;
mod rejections;
mod roundtrip;
mod rules;
mod token_exchange;
