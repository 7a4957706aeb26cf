//! Fuzz target: the SAML decode path with its differential invariant (see `harness/saml.rs`).

#![no_main]

#[path = "../harness/input.rs"]
mod input;
#[path = "../harness/saml.rs"]
mod saml;

libfuzzer_sys::fuzz_target!(|data: &[u8]| saml::check(data));
