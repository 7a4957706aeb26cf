//! Starts `samples/upstream.py` (a local SOAP upstream) on a free port for a test and stops it when dropped.
//! Included with `#[path]` by the test crates that need an upstream.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Upstream {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Upstream {
    /// `args` are the script's options (see the top of samples/upstream.py); `--port-file` and `--record` are
    /// added (the record goes to `self.record_path()`).
    pub fn start(args: &[&str]) -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let record = dir.path().join("received");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/upstream.py");
        let child = Command::new("python3")
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--record")
            .arg(&record)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if let Ok(port) = text.trim().parse() {
                    break port;
                }
            }
            assert!(Instant::now() < deadline, "the upstream did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Upstream { child, port, dir }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/xca", self.port)
    }

    pub fn record_path(&self) -> PathBuf {
        self.dir.path().join("received")
    }

    /// The body the upstream received last.
    pub fn received(&self) -> Vec<u8> {
        std::fs::read(self.record_path()).expect("the upstream recorded no request")
    }

    /// Method, path, headers and check results of the last request.
    pub fn received_meta(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.path().join("received.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
