//! A throw-away PostgreSQL server for tests (included with `#[path]`): `initdb` into a temporary folder,
//! `pg_ctl start` on a free loopback port with the socket in that folder, trust authentication, one database
//! per test, stopped and deleted on drop. As root (CI), the server runs as the `postgres` OS user, since
//! PostgreSQL refuses to run as root.
//!
//! PostgreSQL missing: a failure under CI=true (`.ci/setup` installs it), a loud skip elsewhere.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The newest PostgreSQL's binaries: Debian keeps them in /usr/lib/postgresql/<major>/bin.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct PgServer {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
    running: bool,
    fsync: bool,
    /// More `-c` settings for the server (TLS).
    extra: String,
}

/// Whether PostgreSQL can be used here; missing under CI=true fails the test.
pub fn postgres_available() -> bool {
    let found = bin_dir().is_some()
        && (!is_root()
            || Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|o| o.status.success()));
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required in CI (apt-get install postgresql; .ci/setup does)"
        );
        eprintln!("!!!!!!!! SKIPPING a PostgreSQL test: PostgreSQL is not installed !!!!!!!!");
    }
    found
}

impl PgServer {
    /// A new server, or None after a loud skip when PostgreSQL is not installed (outside CI).
    pub fn start() -> Option<PgServer> {
        Self::start_with(false)
    }

    /// With `fsync` as in production (benchmarks): a commit then waits for the disk.
    pub fn start_with(fsync: bool) -> Option<PgServer> {
        if !postgres_available() {
            return None;
        }
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("xua-pg-")
            .tempdir()
            .expect("a temporary folder");
        let root = dir.path().to_path_buf();
        let as_postgres = is_root();
        let mut server = PgServer {
            _dir: dir,
            root,
            bin,
            as_postgres,
            port: 0,
            running: false,
            fsync,
            extra: String::new(),
        };
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(&server.root)
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot hand the temporary folder to postgres"
            );
        }
        let data = server.data();
        let out = server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        for _ in 0..5 {
            server.port = free_port();
            if server.try_start() {
                return Some(server);
            }
        }
        panic!("PostgreSQL did not start: {}", server.log());
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(&self.root)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }

    fn try_start(&mut self) -> bool {
        // fsync off for tests: they kill processes, never the machine, and a commit still waits for its WAL
        // write to the operating system.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200",
            self.port,
            self.root.display(),
            if self.fsync { "on" } else { "off" }
        ) + &self.extra;
        let data = self.data();
        let log = self.root.join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = out.status.success();
        self.running
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Stops the server (fast shutdown: sessions are ended, committed work is kept).
    pub fn stop(&mut self) {
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
        self.running = false;
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start again: {}",
            self.log()
        );
    }

    /// Restarts the server with TLS on, serving `cert_pem` (and its chain) with `key_pem`.
    pub fn enable_tls(&mut self, cert_pem: &[u8], key_pem: &[u8]) {
        let cert = self.root.join("server.crt");
        let key = self.root.join("server.key");
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if self.as_postgres {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(&cert)
                .arg(&key)
                .status()
                .unwrap();
            assert!(status.success());
        }
        self.extra = format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert.display(),
            key.display()
        );
        self.stop();
        self.restart();
    }

    /// The connection string of database `name` (created by [`PgServer::database`]).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    pub fn client(&self, name: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(name), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"))
    }

    /// Runs `f` with a client of database `name` on a thread of its own (the synchronous client must not
    /// block inside an async test's runtime).
    pub fn with_client<T: Send>(
        &self,
        name: &str,
        f: impl FnOnce(&mut postgres::Client) -> T + Send,
    ) -> T {
        std::thread::scope(|s| {
            s.spawn(|| f(&mut self.client(name)))
                .join()
                .expect("the database client thread")
        })
    }

    /// A fresh, empty database; returns its connection string.
    pub fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        self.with_client("postgres", |c| {
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("CREATE DATABASE")
        });
        self.url(&name)
    }

    /// Waits until `f` holds, or panics after `limit` with `what`.
    pub fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}
