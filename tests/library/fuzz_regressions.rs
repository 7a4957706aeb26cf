//! The fuzzers' harnesses (fuzz/harness) run as ordinary tests: every input a fuzzer once crashed on
//! (tests/regressions/<target>/, kept with a name that says what it found) and every seed
//! (fuzz/seeds/<target>/) must pass the same invariants the fuzzers check. `cargo test` never runs the
//! fuzzers themselves; see README, "Fuzzing".

// The differential harness's files name each other `super::`; they are siblings here as in the fuzz crate.
#[path = "../../fuzz/harness/built.rs"]
mod built;
#[path = "../../fuzz/harness/dsig.rs"]
mod dsig;
#[path = "../../fuzz/harness/jwt.rs"]
mod jwt;
#[path = "../../fuzz/harness/mapping.rs"]
mod mapping;
#[path = "../../fuzz/harness/mutate.rs"]
mod mutate;
#[path = "../../fuzz/harness/saml.rs"]
mod saml;
#[path = "../../fuzz/harness/xmlsign.rs"]
pub mod xmlsign;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("tests/regressions").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        // A target without findings has no regressions folder (git keeps no empty folders).
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "README.md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no inputs for {target}");
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} harness",
            path.display()
        );
    }
}

#[test]
fn saml_pipeline_inputs() {
    replay("saml_pipeline", saml::check);
}

#[test]
fn jwt_verify_inputs() {
    replay("jwt_verify", jwt::check);
}

#[test]
fn mapping_decoders_inputs() {
    replay("mapping_decoders", mapping::check);
}

#[test]
fn dsig_differential_inputs() {
    replay("dsig_differential", dsig::check);
}
