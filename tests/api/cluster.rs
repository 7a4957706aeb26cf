//! Cluster mode: two real `xua-gateway serve` processes on one throw-away PostgreSQL server
//! (`tests/support/postgres.rs`), sharing the replay store and one hash-chained access log. Under load, when
//! one instance is SIGKILLed, and when PostgreSQL stops and starts again.

#[path = "../support/postgres.rs"]
mod pg;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::binary::{binary, write_config, Server};
use crate::helpers::*;
use pg::PgServer;

const URL_ENV: &str = "XUA_DATABASE_URL";
const SAMPLES: [&str; 3] = [
    "fastlege.json",
    "municipal-nurse.json",
    "hospital-physician.json",
];

/// The sample configuration with both stores in PostgreSQL and short database timeouts.
fn cluster_config(dir: &Path) -> PathBuf {
    let path = write_config(
        dir,
        Path::new(""),
        "store = \"postgres\"",
        "format = \"json\"\nlevel = \"warn,xua_gateway=info,xua_gateway::gateway=warn,xua_gateway::observability=warn\"",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[replay]\n", "[replay]\nstore = \"postgres\"\n")
        + "\n[database]\nconnect_timeout_ms = 1000\nstatement_timeout_ms = 3000\n";
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `xua-gateway ARGS --config CONFIG` with the database URL; returns (success, stdout, stderr).
fn cli(config: &Path, url: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove(URL_ENV);
    if let Some(url) = url {
        cmd.env(URL_ENV, url);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn migrate(config: &Path, url: &str) {
    let (ok, out, err) = cli(config, Some(url), &["db", "migrate"]);
    assert!(ok && out.contains("applied migration 1"), "{out}{err}");
}

fn start_two(config: &Path, url: &str) -> (Server, Server) {
    let env = [(URL_ENV, url)];
    (Server::start(config, &env), Server::start(config, &env))
}

fn db_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

/// Issued records per output token id.
fn issued_records(server: &PgServer, url: &str) -> HashMap<String, i64> {
    server.with_client(&db_name(url), |c| {
        c.query(
            "SELECT output_token_id, count(*) FROM audit_record WHERE outcome = 'issued' GROUP BY 1",
            &[],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect()
    })
}

fn assert_every_token_has_one_record(server: &PgServer, url: &str, received: &[String]) {
    let records = issued_records(server, url);
    let missing: Vec<&String> = received
        .iter()
        .filter(|jti| records.get(*jti) != Some(&1))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} received tokens have no single audit record",
        missing.len(),
        received.len()
    );
}

fn assert_chain_verifies(config: &Path, url: &str) -> String {
    let (ok, out, err) = cli(config, Some(url), &["audit", "verify"]);
    assert!(ok && out.contains("ok:"), "{out}{err}");
    out
}

fn form(token_b64: &str) -> String {
    serde_urlencoded::to_string([
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", TT_SAML2),
        ("subject_token", token_b64),
    ])
    .unwrap()
}

/// One SAML → JWT exchange: the status and body, or None when the connection failed.
async fn exchange(client: &reqwest::Client, address: &str, xml: &[u8]) -> Option<(u16, Value)> {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
    let res = client
        .post(format!("{address}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&token))
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.ok()?;
    Some((status, body))
}

async fn fresh_assertion(i: usize) -> Vec<u8> {
    tokio::task::spawn_blocking(move || mint_now(SAMPLES[i % SAMPLES.len()]))
        .await
        .unwrap()
}

async fn readyz(client: &reqwest::Client, address: &str) -> (u16, Value) {
    let res = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn jti(body: &Value) -> String {
    payload(body["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_exchanged_at_one_instance_is_a_replay_at_the_other() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    migrate(&config, &url);
    let (a, b) = start_two(&config, &url);
    let client = reqwest::Client::new();
    for s in [&a, &b] {
        let (status, body) = readyz(&client, &s.address).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["replay_store"], "ok", "{body}");
    }

    let xml = mint_now("fastlege.json");
    let (status, body) = exchange(&client, &a.address, &xml).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = exchange(&client, &b.address, &xml).await.unwrap();
    assert_eq!(
        (status, body["error_class"].as_str()),
        (400, Some("REPLAY")),
        "{body}"
    );
    let (status, _) = exchange(&client, &a.address, &xml).await.unwrap();
    assert_eq!(status, 400);

    // Both instances wrote into one chain: one issued record, two refusals.
    let out = assert_chain_verifies(&config, &url);
    assert!(out.contains("3 records verified"), "{out}");
    let (ok, out, err) = cli(
        &config,
        Some(&url),
        &[
            "audit",
            "query",
            "--since",
            "2000-01-01T00:00:00Z",
            "--format",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let outcomes: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["record"]["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(outcomes, ["issued", "rejected", "rejected"]);
}

#[test]
fn serve_refuses_a_database_without_the_schema_or_without_a_connection_string() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    let serve = |url: Option<&str>| {
        let mut cmd = Command::new(binary());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env_remove(URL_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = url {
            cmd.env(URL_ENV, url);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                return (status.success(), err);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve kept running on a database it should refuse");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (ok, err) = serve(Some(&url));
    assert!(!ok && err.contains("db migrate"), "{err}");
    let (ok, err) = serve(None);
    assert!(!ok && err.contains(URL_ENV), "{err}");
    // Nothing of the connection string is echoed.
    let (ok, err) = serve(Some(
        "postgres://gw:s3cret@127.0.0.1:1/none?sslmode=disable",
    ));
    assert!(!ok && !err.contains("s3cret"), "{err}");
}

/// Clients exchanging fresh assertions against `targets` until `stop` is set or the time is up.
struct Load {
    received: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<HashMap<String, usize>>>,
    ok: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `targets[i]` is client i's instance; `fallback` is where a client turns when its instance is gone.
    fn start(targets: Vec<String>, fallback: Option<String>, limit: Duration) -> Load {
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(HashMap::new()));
        let ok = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let deadline = Instant::now() + limit;
        let tasks = targets
            .into_iter()
            .enumerate()
            .map(|(c, target)| {
                let (client, received, statuses, ok, stop, fallback) = (
                    client.clone(),
                    received.clone(),
                    statuses.clone(),
                    ok.clone(),
                    stop.clone(),
                    fallback.clone(),
                );
                tokio::spawn(async move {
                    let mut target = target;
                    let mut i = c;
                    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                        let xml = fresh_assertion(i).await;
                        i += 1;
                        let label = match exchange(&client, &target, &xml).await {
                            Some((200, body)) => {
                                received.lock().unwrap().push(jti(&body));
                                ok.fetch_add(1, Ordering::SeqCst);
                                "200".to_string()
                            }
                            Some((status, body)) => {
                                format!("{status} {}", body["error"].as_str().unwrap_or("-"))
                            }
                            None => {
                                if let Some(f) = &fallback {
                                    target = f.clone();
                                }
                                "connection failed".to_string()
                            }
                        };
                        *statuses.lock().unwrap().entry(label).or_default() += 1;
                    }
                })
            })
            .collect();
        Load {
            received,
            statuses,
            ok,
            stop,
            tasks,
        }
    }

    async fn finish(self) -> (Vec<String>, HashMap<String, usize>) {
        for t in self.tasks {
            t.await.unwrap();
        }
        let received = self.received.lock().unwrap().clone();
        let statuses = self.statuses.lock().unwrap().clone();
        (received, statuses)
    }

    async fn wait_for(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.ok.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the load did not reach {n} tokens"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_and_sixteen_clients_every_token_has_one_record_in_one_chain() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    migrate(&config, &url);
    let (a, b) = start_two(&config, &url);
    let targets = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                a.address.clone()
            } else {
                b.address.clone()
            }
        })
        .collect();
    let (received, statuses) = Load::start(targets, None, Duration::from_secs(5))
        .finish()
        .await;
    eprintln!(
        "cluster load: {} tokens, statuses {statuses:?}",
        received.len()
    );
    assert!(received.len() >= 32, "{statuses:?}");
    assert_eq!(statuses.len(), 1, "every exchange succeeds: {statuses:?}");
    assert_every_token_has_one_record(&server, &url, &received);
    assert_eq!(issued_records(&server, &url).len(), received.len());
    let out = assert_chain_verifies(&config, &url);
    assert!(
        out.contains(&format!("{} records verified", received.len())),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_one_instance_under_load_loses_no_acknowledged_record() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    migrate(&config, &url);
    let (mut a, b) = start_two(&config, &url);
    let targets = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                a.address.clone()
            } else {
                b.address.clone()
            }
        })
        .collect();
    let load = Load::start(targets, Some(b.address.clone()), Duration::from_secs(120));
    load.wait_for(60, Duration::from_secs(60)).await;
    a.kill();
    let at_kill = load.ok.load(Ordering::SeqCst);
    load.wait_for(at_kill + 60, Duration::from_secs(60)).await;
    load.stop.store(true, Ordering::SeqCst);
    let (received, statuses) = load.finish().await;
    eprintln!(
        "sigkill: {} tokens ({at_kill} before the kill), statuses {statuses:?}",
        received.len()
    );
    assert!(
        statuses.get("connection failed").copied().unwrap_or(0) > 0,
        "the kill must land during the load: {statuses:?}"
    );
    assert!(
        received.len() > at_kill,
        "the other instance went on issuing: {statuses:?}"
    );
    assert_every_token_has_one_record(&server, &url, &received);
    assert_chain_verifies(&config, &url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_postgres_under_load_refuses_with_503_and_both_instances_recover() {
    let Some(mut server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    migrate(&config, &url);
    let (a, b) = start_two(&config, &url);
    let client = reqwest::Client::new();
    let targets = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                a.address.clone()
            } else {
                b.address.clone()
            }
        })
        .collect();
    let load = Load::start(targets, None, Duration::from_secs(180));
    load.wait_for(40, Duration::from_secs(60)).await;

    tokio::task::block_in_place(|| server.stop());
    let before_outage = load.ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = load.ok.load(Ordering::SeqCst);
    for s in [&a, &b] {
        let (status, body) = readyz(&client, &s.address).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["checks"]["replay_store"]["error"].is_string(),
            "{body}"
        );
        assert!(body["checks"]["audit"]["error"].is_string(), "{body}");
    }

    tokio::task::block_in_place(|| server.restart());
    let deadline = Instant::now() + Duration::from_secs(30);
    for s in [&a, &b] {
        loop {
            let (status, body) = readyz(&client, &s.address).await;
            if status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "an instance did not recover: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let recovered = load.ok.load(Ordering::SeqCst);
    load.wait_for(recovered + 40, Duration::from_secs(60)).await;
    load.stop.store(true, Ordering::SeqCst);
    let (received, statuses) = load.finish().await;
    eprintln!(
        "outage: {before_outage} tokens before, {} in the 3 s after the stop, {} in all; statuses {statuses:?}",
        during - before_outage,
        received.len()
    );
    // Nothing but tokens and 503s: the instances stayed up and never answered otherwise.
    for label in statuses.keys() {
        assert!(
            label == "200" || label == "503 temporarily_unavailable",
            "unexpected answers: {statuses:?}"
        );
    }
    assert!(
        statuses.contains_key("503 temporarily_unavailable"),
        "{statuses:?}"
    );
    // Fresh exchanges work at both instances without a restart.
    for s in [&a, &b] {
        let (status, body) = exchange(&client, &s.address, &mint_now("fastlege.json"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_every_token_has_one_record(&server, &url, &received);
    assert_chain_verifies(&config, &url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_log_moves_to_the_cluster_with_export_and_import() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite_dir = dir.path().join("sqlite");
    std::fs::create_dir(&sqlite_dir).unwrap();
    let sqlite_config = write_config(
        &sqlite_dir,
        &sqlite_dir.join("audit.sqlite"),
        "",
        "level = \"warn,xua_gateway=info\"",
    );
    {
        let single = Server::start(&sqlite_config, &[]);
        let client = reqwest::Client::new();
        for i in 0..3 {
            let (status, body) = exchange(&client, &single.address, &fresh_assertion(i).await)
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
        }
    }
    let (ok, sqlite_verify, err) = cli(&sqlite_config, None, &["audit", "verify"]);
    assert!(ok, "{err}");
    let head = sqlite_verify
        .split("head is")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();

    let export = dir.path().join("export.jsonl");
    let (ok, out, err) = cli(
        &sqlite_config,
        None,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(ok && out.contains("exported 3 records"), "{out}{err}");

    let url = server.database();
    let config = cluster_config(dir.path());
    migrate(&config, &url);
    let (ok, out, err) = cli(
        &config,
        Some(&url),
        &["audit", "import", export.to_str().unwrap()],
    );
    assert!(ok && out.contains("imported 3 records"), "{out}{err}");
    let pg_verify = assert_chain_verifies(&config, &url);
    assert!(pg_verify.contains(&head), "{sqlite_verify} / {pg_verify}");

    // The cluster continues the imported chain.
    let (a, _b) = start_two(&config, &url);
    let (status, _) = exchange(
        &reqwest::Client::new(),
        &a.address,
        &mint_now("fastlege.json"),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let out = assert_chain_verifies(&config, &url);
    assert!(out.contains("4 records verified"), "{out}");
}
