//! Running the real `xua-gateway` binary as a child process, on a temporary configuration (sample keys by
//! absolute path, the audit database in a temporary folder), for tests that need a whole process: killing
//! it, or capturing everything it logs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{repo, SAMPLE_REGISTERS};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_xua-gateway")
}

/// The sample configuration with keys by absolute path, the audit database at `audit`, and `extra` TOML
/// lines appended to the `[audit]` and `[logging]` tables as given.
pub fn write_config(dir: &Path, audit: &Path, audit_extra: &str, logging: &str) -> PathBuf {
    let sample = std::fs::read_to_string(repo().join("samples/config.toml")).unwrap();
    let keys = repo().join("samples/keys");
    let mut text = String::new();
    let mut section = String::new();
    for line in sample.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
        }
        let is_key = !trimmed.is_empty() && !trimmed.starts_with('[') && !trimmed.starts_with('#');
        // Keys of [audit] and [logging] come from the arguments (TOML forbids a key twice).
        if (section == "[audit]" || section == "[logging]") && is_key {
            continue;
        }
        let mut line = line.replace("\"keys/", &format!("\"{}/", keys.display()));
        for register in SAMPLE_REGISTERS {
            let path = repo().join("samples").join(register);
            line = line.replace(
                &format!("\"{register}\""),
                &format!("\"{}\"", path.display()),
            );
        }
        text.push_str(&line);
        text.push('\n');
        if trimmed == "[logging]" {
            text.push_str(logging);
            text.push('\n');
        }
        if trimmed == "[audit]" {
            text.push_str(&format!(
                "path = {:?}\n{audit_extra}\n",
                audit.display().to_string()
            ));
        }
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running server process and everything it has written to stderr so far.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

fn collect(pipe: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
}

impl Server {
    /// Starts `xua-gateway serve` on a port the OS picks and waits until it says where it listens.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the gateway binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        collect(child.stderr.take().unwrap(), stderr.clone());
        collect(child.stdout.take().unwrap(), stdout.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let found = stderr
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.split("http://127.0.0.1:").nth(1).map(str::to_string));
            if let Some(rest) = found {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                break digits.parse::<u16>().unwrap();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the gateway exited with {status}: {}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            if Instant::now() >= deadline {
                // Never leave a server behind a failed test.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway did not start: {}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            address: format!("http://127.0.0.1:{port}"),
            stderr,
            stdout,
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything written so far, stdout then stderr, after giving the reader threads a moment.
    pub fn output(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        let mut all = self.stdout.lock().unwrap().join("\n");
        all.push('\n');
        all.push_str(&self.stderr.lock().unwrap().join("\n"));
        all
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `xua-gateway audit ARGS --config CONFIG` and returns (success, stdout, stderr).
pub fn audit_cli(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .arg("audit")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
