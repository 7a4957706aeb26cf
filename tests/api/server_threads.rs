//! `[server] blocking_threads` bounds the threads that do signature work and wait for the access log: under
//! a burst of concurrent exchanges the real server process must not start more of them than configured.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::binary::{write_config, Server};
use crate::helpers::*;
use crate::soap_helpers::{corpus_file, jwt_for, route, ITI38_REQUEST, QUERY_PATIENT, SOAP};
use crate::upstream::Upstream;
use crate::ws_trust::{jwt_token, rst, STS};

const BOUND: usize = 2;
const CONCURRENT: usize = 24;

/// Threads of the process that tokio names for its blocking pool (actix's own workers are named otherwise).
fn blocking_pool_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim() == "tokio-rt-worker")
        .count()
}

/// The sample configuration's text with one HTTP worker, `blocking` blocking threads and one inspection
/// at a time (inspections get fewer threads than the exchanges: a start-up rule).
fn one_worker(text: &str, blocking: usize) -> String {
    assert!(text.contains("workers = 0\n") && text.contains("blocking_threads = 8\n"));
    text.replacen("workers = 0\n", "workers = 1\n", 1)
        .replacen(
            "blocking_threads = 8\n",
            &format!("blocking_threads = {blocking}\n"),
            1,
        )
        .replacen("max_inspections = 2\n", "max_inspections = 1\n", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_exchanges_never_runs_on_more_blocking_threads_than_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &dir.path().join("audit.sqlite"),
        // One fsync per record keeps requests waiting on their commit, which is when an unbounded pool grows.
        "max_batch = 1",
        "level = \"warn,xua_gateway=info\"",
    );
    let text = one_worker(&std::fs::read_to_string(&config).unwrap(), BOUND);
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config, &[]);
    let pid = server.child.id();

    let tokens: Vec<String> = (0..CONCURRENT)
        .map(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now("fastlege.json")))
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, most) = (done.clone(), most.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(blocking_pool_threads(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let client = reqwest::Client::new();
    let requests: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (client, address) = (client.clone(), server.address.clone());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token_type", TT_SAML2),
                    ("subject_token", token.as_str()),
                ];
                client
                    .post(format!("{address}/token"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(serde_urlencoded::to_string(form).unwrap())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await);
    }
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    // Requests beyond the bound queue; none is refused.
    for status in statuses {
        assert_eq!(status.unwrap().unwrap(), 200);
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 1, "the sampler never saw the blocking pool");
    assert!(
        most <= BOUND,
        "{most} blocking threads ran at once with blocking_threads = {BOUND}"
    );
}

/// `xua_audit_batch_records` from `/metrics`: how many batches were committed, holding how many records,
/// and how many of them held more than four.
async fn batches(client: &reqwest::Client, address: &str) -> (u64, u64, u64) {
    let text = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    let count = value("xua_audit_batch_records_count");
    (
        count,
        value("xua_audit_batch_records_sum"),
        count - value("xua_audit_batch_records_bucket{le=\"4\"}"),
    )
}

/// Which endpoint the stalled-writer tests send their exchanges to.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Token,
    WsTrust,
    XcaProxy,
}

/// The real server with two blocking threads and a SQLite access log, serving one endpoint (with its
/// upstream, for the proxy), and a way to send it one exchange.
struct Rig {
    endpoint: Endpoint,
    server: Server,
    client: reqwest::Client,
    audit: std::path::PathBuf,
    upstream: Option<Upstream>,
    query: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// `None` when the proxy's corpus files are missing (outside CI).
    fn start(endpoint: Endpoint, audit_extra: &str) -> Option<Rig> {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.sqlite");
        let config = write_config(
            dir.path(),
            &audit,
            audit_extra,
            "level = \"warn,xua_gateway=info\"",
        );
        let mut text = one_worker(&std::fs::read_to_string(&config).unwrap(), 2);
        let (mut upstream, mut query) = (None, Vec::new());
        match endpoint {
            Endpoint::Token => {}
            Endpoint::WsTrust => text.push_str("\n[ws_trust]\nenabled = true\n"),
            // The upstream answers every query with the corpus's ITI-38 answer.
            Endpoint::XcaProxy => {
                let answer = corpus_file("xca/metriport_dq_multiple_docs.xml")?;
                query = std::fs::read(corpus_file(ITI38_REQUEST)?).unwrap();
                let up = Upstream::start(&["--response", answer.to_str().unwrap()]);
                text.push_str(&format!(
                    "\n[proxy]\n{}",
                    route("/xca/nhn", &up.url("http"), "")
                ));
                upstream = Some(up);
            }
        }
        std::fs::write(&config, text).unwrap();
        Some(Rig {
            endpoint,
            server: Server::start(&config, &[]),
            client: reqwest::Client::new(),
            audit,
            upstream,
            query,
            _dir: dir,
        })
    }

    /// One exchange with a fresh token, answered with its status and body.
    fn post(&self) -> tokio::task::JoinHandle<(u16, String)> {
        let address = &self.server.address;
        let request = match self.endpoint {
            Endpoint::Token => {
                let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(mint_now("fastlege.json"));
                let form = serde_urlencoded::to_string([
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token_type", TT_SAML2),
                    ("subject_token", token.as_str()),
                ])
                .unwrap();
                self.client
                    .post(format!("{address}/token"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form)
            }
            Endpoint::WsTrust => {
                let jwt = mint_sample_jwt("hospital-physician.json");
                let body = rst(
                    &jwt_token(&jwt),
                    "urn:oasis:names:tc:SAML:2.0:assertion",
                    "nhn:dokumentdeling-saml",
                );
                self.client
                    .post(format!("{address}{STS}"))
                    .header("Content-Type", SOAP)
                    .body(body)
            }
            Endpoint::XcaProxy => self
                .client
                .post(format!("{address}/xca/nhn"))
                .header("Content-Type", SOAP)
                .header(
                    "Authorization",
                    format!("Bearer {}", jwt_for(Some(QUERY_PATIENT), None)),
                )
                .body(self.query.clone()),
        };
        tokio::spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        })
    }

    /// Whether the upstream received a query since the last call (always false without one).
    fn upstream_received(&self) -> bool {
        self.upstream.as_ref().is_some_and(|up| {
            let received = up.record_path().exists();
            let _ = std::fs::remove_file(up.record_path());
            received
        })
    }

    /// Holds SQLite's write lock from another connection until the returned connection commits.
    fn stall_writer(&self) -> rusqlite::Connection {
        let lock = rusqlite::Connection::open(&self.audit).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        lock
    }
}

/// A request waiting for its access-log record holds no thread: with two blocking threads and the writer
/// stalled (another connection holds SQLite's write lock), all eight exchanges still run their pipelines and
/// queue their records, and they commit together once the lock goes. Were a thread held through the wait,
/// at most two records would wait at a time, and eight would take at least four commits.
async fn exchanges_waiting_for_a_stalled_writer_hold_no_blocking_thread(endpoint: Endpoint) {
    const WAITING: usize = 8;
    let Some(rig) = Rig::start(endpoint, "") else {
        return;
    };
    // One exchange first, so the store is open and the metrics have a baseline.
    let (status, body) = rig.post().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let address = &rig.server.address;
    let (batches_before, records_before, large_before) = batches(&rig.client, address).await;
    rig.upstream_received();

    let lock = rig.stall_writer();
    let requests: Vec<_> = (0..WAITING).map(|_| rig.post()).collect();
    // Long enough for eight pipelines on two threads, in a debug build.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        requests.iter().all(|r| !r.is_finished()),
        "an exchange was answered while its record could not be committed"
    );
    assert!(
        !rig.upstream_received(),
        "the upstream was sent a query whose assertion's record is not durable"
    );
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    let (batches_after, records_after, large_after) = batches(&rig.client, address).await;
    // A proxied query leaves two records: the exchange's, and the upstream's answer once it came.
    let per_request = match endpoint {
        Endpoint::XcaProxy => 2,
        _ => 1,
    };
    assert_eq!(records_after - records_before, per_request * WAITING as u64);
    // The writer had taken the first record into its stalled commit; the others were queued behind it and
    // commit as one batch (two threads could have queued two at most).
    assert!(
        large_after > large_before,
        "no commit held more than four records: the exchanges did not all wait at once"
    );
    if per_request == 1 {
        assert!(
            batches_after - batches_before <= 2,
            "{WAITING} records took {} commits: the exchanges did not all wait at once",
            batches_after - batches_before
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_exchanges_waiting_for_a_stalled_access_log_hold_no_blocking_thread() {
    exchanges_waiting_for_a_stalled_writer_hold_no_blocking_thread(Endpoint::Token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_trust_issues_waiting_for_a_stalled_access_log_hold_no_blocking_thread() {
    exchanges_waiting_for_a_stalled_writer_hold_no_blocking_thread(Endpoint::WsTrust).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxied_queries_waiting_for_a_stalled_access_log_hold_no_blocking_thread() {
    exchanges_waiting_for_a_stalled_writer_hold_no_blocking_thread(Endpoint::XcaProxy).await;
}

/// An access log that cannot commit in time lets nothing out on any endpoint: /token answers 503, WS-Trust
/// and the proxy an UNAVAILABLE Fault without an assertion, and the proxy sends the upstream nothing. Once
/// the log commits again, the same request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_access_log_that_cannot_commit_lets_no_token_out_on_any_endpoint() {
    for endpoint in [Endpoint::Token, Endpoint::WsTrust, Endpoint::XcaProxy] {
        let Some(rig) = Rig::start(endpoint, "commit_timeout_ms = 400") else {
            return;
        };
        let (status, body) = rig.post().await.unwrap();
        assert_eq!(status, 200, "{endpoint:?}: {body}");
        rig.upstream_received();

        let lock = rig.stall_writer();
        let (status, body) = rig.post().await.unwrap();
        match endpoint {
            Endpoint::Token => {
                assert_eq!(status, 503, "{body}");
                assert!(body.contains("\"UNAVAILABLE\"") && !body.contains("access_token"));
            }
            Endpoint::WsTrust | Endpoint::XcaProxy => {
                assert!(status >= 500, "{endpoint:?}: {status} {body}");
                assert!(body.contains(">xg:UNAVAILABLE<"), "{endpoint:?}: {body}");
                assert!(!body.contains("Assertion"), "{endpoint:?}: {body}");
            }
        }
        assert!(
            !rig.upstream_received(),
            "the upstream was sent a query whose assertion's record did not commit"
        );
        lock.execute_batch("COMMIT").unwrap();
        drop(lock);

        let (status, body) = rig.post().await.unwrap();
        assert_eq!(status, 200, "{endpoint:?}: {body}");
    }
}
