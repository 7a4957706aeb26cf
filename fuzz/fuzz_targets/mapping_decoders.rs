//! Fuzz target: the mapping decoders and their encoders' round trips (see `harness/mapping.rs`).

#![no_main]

#[path = "../harness/input.rs"]
mod input;
#[path = "../harness/mapping.rs"]
mod mapping;

libfuzzer_sys::fuzz_target!(|data: &[u8]| mapping::check(data));
