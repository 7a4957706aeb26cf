//! Fuzz target: the libxmlsec1 and streaming XML-DSig verifiers must agree on every input (see
//! `harness/dsig.rs`).

#![no_main]

#[path = "../harness/built.rs"]
mod built;
#[path = "../harness/dsig.rs"]
mod dsig;
#[path = "../harness/input.rs"]
mod input;
#[path = "../harness/mutate.rs"]
mod mutate;
#[path = "../harness/xmlsign.rs"]
mod xmlsign;

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsig::check(data));
