//! Shared by the test crates that call the xmlsec1 CLI (included with `#[path]`).

use std::process::Command;

/// Whether the xmlsec1 CLI can be used. Missing in CI (CI=true) is a failure; elsewhere a loud skip.
pub fn xmlsec1_available() -> bool {
    let present = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the xmlsec1 CLI is required in CI (apt-get install xmlsec1)"
        );
        eprintln!(
            "!!!!!!!! SKIPPING an xmlsec1 CLI check: the xmlsec1 CLI is not installed !!!!!!!!"
        );
    }
    present
}
