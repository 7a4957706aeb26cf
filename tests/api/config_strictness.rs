//! Configuration is read strictly: a log level that is not one (in `[logging] level` or `RUST_LOG`) stops
//! start-up naming the value, `level = "warn"` means no INFO line from anyone, and every relative path is
//! relative to the configuration file (the audit database too), with absolute paths in errors.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::{binary, write_config};

/// Runs `serve` and waits (at most 20 s) for it to exit; a server that keeps running fails the test.
pub fn serve_must_exit(config: &Path, env: &[(&str, &str)], cwd: &Path) -> (i32, String) {
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started although its configuration is wrong");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_log_level_that_is_not_one_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.sqlite");
    let config = write_config(dir.path(), &audit, "", "level = \"verbose\"");
    let (code, stderr) = serve_must_exit(&config, &[], dir.path());
    assert_ne!(code, 0);
    assert!(
        stderr.contains("logging.level") && stderr.contains("verbose"),
        "{stderr}"
    );

    let config = write_config(dir.path(), &audit, "", "level = \"info\"");
    let (code, stderr) = serve_must_exit(&config, &[("RUST_LOG", "loudly")], dir.path());
    assert_ne!(code, 0);
    assert!(
        stderr.contains("RUST_LOG") && stderr.contains("loudly"),
        "{stderr}"
    );
}

#[test]
fn warn_means_no_info_lines_from_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.sqlite");
    let config = write_config(dir.path(), &audit, "", "level = \"warn\"");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    while client.get(&url).send().is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A request or two, then stop it and read everything it wrote.
    let _ = client.get(&url).send();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    // The sample keys are TEST-ONLY: that warning is expected; nothing at INFO is.
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains(" INFO "), "{stderr}");
}

#[test]
fn relative_paths_are_relative_to_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        Path::new("relative-audit.sqlite"),
        "",
        "level = \"info\"",
    );
    let mut server = crate::binary::Server::start(&config, &[]);
    let _ = reqwest::blocking::get(format!("{}/readyz", server.address));
    server.kill();
    let leaked = repo_root_has("relative-audit.sqlite");
    assert!(
        !leaked,
        "the audit database went into the working directory"
    );
    assert!(dir.path().join("relative-audit.sqlite").exists());
    assert!(!elsewhere.path().join("relative-audit.sqlite").exists());

    // A key that is not there is named by its absolute path, whatever the working directory.
    let text = std::fs::read_to_string(&config).unwrap();
    let key_line = text
        .lines()
        .find(|l| l.starts_with("signing_key = "))
        .unwrap()
        .to_string();
    let broken = text.replacen(&key_line, "signing_key = \"keys/missing.pem\"", 1);
    std::fs::write(&config, broken).unwrap();
    let (code, stderr) = serve_must_exit(&config, &[], elsewhere.path());
    assert_ne!(code, 0);
    let expected = dir.path().join("keys/missing.pem");
    assert!(stderr.contains(&expected.display().to_string()), "{stderr}");
}

/// Whether the working directory of the test (the crate root) got the file, which is then removed.
fn repo_root_has(name: &str) -> bool {
    let path = crate::helpers::repo().join(name);
    let there = path.exists();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    there
}
