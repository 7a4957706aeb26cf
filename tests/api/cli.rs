//! The command line as a newcomer uses it: minting a sample, translating offline, and start-up errors.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_xua-gateway");

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn sample_verifies_with_xmlsec1_and_translates_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).args(["sample", "saml"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = dir.path().join("a.xml");
    std::fs::write(&xml, &out.stdout).unwrap();

    let verify = Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--pubkey-cert-pem",
        ])
        .arg(repo().join("samples/keys/TEST-ONLY-idp.crt.pem"))
        .arg(&xml)
        .output()
        .expect("xmlsec1 is installed by .ci/setup");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Offline translation reads standard input; the audit file goes to the working directory.
    let mut child = Command::new(BIN)
        .arg("translate")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let jwt = String::from_utf8(done.stdout).unwrap();
    assert_eq!(jwt.trim().split('.').count(), 3);
    assert!(dir.path().join("xua-gateway-audit.sqlite").exists());
}

#[test]
fn translate_reports_a_rejection_in_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["sample", "saml", "--lifetime", "1"])
        .output()
        .unwrap();
    let tampered = String::from_utf8(out.stdout)
        .unwrap()
        .replace("TREAT", "BTG");
    let file = dir.path().join("t.xml");
    std::fs::write(&file, tampered).unwrap();
    let done = Command::new(BIN)
        .arg("translate")
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(2));
    let err = String::from_utf8(done.stderr).unwrap();
    assert!(err.starts_with("xua-gateway: "), "{err}");
    assert!(err.contains("(SIG)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_broken_mapping_table_stops_start_up_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("mappings/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let table = std::fs::read_to_string(repo().join("mappings/profiles/no-pjd.toml"))
        .unwrap()
        .replace("encoding = \"cx\"", "encoding = \"cx-typo\"");
    std::fs::write(profiles.join("no-pjd.toml"), &table).unwrap();
    let line = table.lines().position(|l| l.contains("cx-typo")).unwrap() + 1;
    let keys = repo().join("samples/keys");
    let config = std::fs::read_to_string(repo().join("samples/config.toml"))
        .unwrap()
        .replace("mappings = \"\"", "mappings = \"mappings\"")
        .replace("keys/", &format!("{}/", keys.display()))
        .replace(
            "xua-gateway-audit.jsonl",
            &dir.path().join("audit.jsonl").display().to_string(),
        );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let expected = format!(
        "{}:{line}: unknown xua encoding \"cx-typo\"",
        profiles.join("no-pjd.toml").display()
    );
    assert!(err.contains(&expected), "expected {expected:?} in {err:?}");
}

#[test]
fn sample_jwt_translates_offline_to_an_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = Command::new(BIN)
        .args(["sample", "jwt", "--claims"])
        .arg(repo().join("samples/claims/municipal-nurse.json"))
        .output()
        .unwrap();
    assert!(
        jwt.status.success(),
        "{}",
        String::from_utf8_lossy(&jwt.stderr)
    );
    let file = dir.path().join("t.jwt");
    std::fs::write(&file, &jwt.stdout).unwrap();
    let out = Command::new(BIN)
        .arg("translate")
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<saml:Assertion"));
    assert!(xml.contains(">05919034558</saml:NameID>"));
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    // The reader goes away before the sample is written (as `sample saml | head -c0` would).
    for args in [
        &["sample", "saml"][..],
        &["sample", "jwt"][..],
        &["inspect", "--format", "json", "-"][..],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"{\"iss\": \"x\"}");
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn every_command_has_help_text() {
    for args in [
        &["--help"][..],
        &["serve", "--help"][..],
        &["translate", "--help"][..],
        &["audit", "query", "--help"][..],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let serve = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&serve.stdout);
    assert!(
        text.contains("127.0.0.1:8080") && text.contains("--config <CONFIG>"),
        "{text}"
    );
}
