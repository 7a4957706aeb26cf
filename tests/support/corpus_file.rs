//! The one way tests read the corpus beside the checkout (`../shared/corpus`, docs/corpus.md): a missing file
//! fails the test under CI (`CI=true`) and is a loud skip anywhere else.

use std::path::{Path, PathBuf};

/// Where the corpus is looked for.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The bytes of `relative` (e.g. `nhn/SamlToken01.xml`), or `None` after a loud skip message.
#[track_caller]
pub fn read(relative: &str) -> Option<Vec<u8>> {
    let path = root().join(relative);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the corpus file {} is required in CI: {error} (docs/corpus.md says where it comes from)",
                path.display()
            );
            eprintln!(
                "!!!!!!!! SKIPPING: {} is missing ({error}); see docs/corpus.md !!!!!!!!",
                path.display()
            );
            None
        }
    }
}

#[test]
fn a_missing_corpus_file_is_a_loud_skip_or_under_ci_a_failure() {
    let missing = "no-such-folder/no-such-file.xml";
    if std::env::var("CI").as_deref() == Ok("true") {
        assert!(std::panic::catch_unwind(|| read(missing)).is_err());
    } else {
        assert_eq!(read(missing), None);
    }
}
