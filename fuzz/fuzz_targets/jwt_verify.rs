//! Fuzz target: the JWT decode path (see `harness/jwt.rs`).

#![no_main]

#[path = "../harness/jwt.rs"]
mod jwt;

libfuzzer_sys::fuzz_target!(|data: &[u8]| jwt::check(data));
