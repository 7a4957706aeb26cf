//! The library's tests in one binary: decoding, XML-DSig, the profiles, the rules and their registers, the
//! corpus through the inspector, the fuzzers' regression inputs, and the PostgreSQL stores. The HTTP and CLI tests are `tests/api`.

#[path = "../support/engine.rs"]
mod engine;
// The fuzz harnesses name their input reader `crate::input`, as in the fuzz crate.
#[path = "../support/certs.rs"]
mod certs;
#[path = "../support/corpus_file.rs"]
mod corpus_file;
#[path = "../../fuzz/harness/input.rs"]
mod input;
#[path = "../support/multipart.rs"]
mod multipart;
#[path = "../support/postgres.rs"]
mod pg;
#[path = "../support/registers.rs"]
mod registers;
#[path = "../support/upstream.rs"]
mod upstream;
#[path = "../support/xmlsec1.rs"]
mod xmlsec1;

mod corpus;
mod decoding;
mod dsig;
mod dsig_interop;
mod fuzz_regressions;
mod ihe_profile;
mod inspector_rules_doc;
mod pg_stores;
mod pg_tls;
mod register_checks;
mod reports;
mod rotation;
mod roundtrip_props;
mod rules;
mod rules_register;
mod soap_corpus;
mod soap_signatures;
mod soap_upstream;
