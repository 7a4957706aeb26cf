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
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("workers = 0\n") && text.contains("blocking_threads = 8\n"));
    let text = text.replacen("workers = 0\n", "workers = 1\n", 1).replacen(
        "blocking_threads = 8\n",
        &format!("blocking_threads = {BOUND}\n"),
        1,
    );
    // Inspections get fewer threads than the exchanges (a start-up rule).
    let text = text.replacen("max_inspections = 2\n", "max_inspections = 1\n", 1);
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

/// Which endpoint the stalled-writer test sends its exchanges to.
#[derive(Clone, Copy)]
enum Endpoint {
    Token,
    WsTrust,
    XcaProxy,
}

/// A request waiting for its access-log record holds no thread: with two blocking threads and the writer
/// stalled (another connection holds SQLite's write lock), all eight exchanges still run their pipelines and
/// queue their records, and they commit together once the lock goes. Were a thread held through the wait,
/// at most two records would wait at a time, and eight would take at least four commits.
async fn exchanges_waiting_for_a_stalled_writer_hold_no_blocking_thread(endpoint: Endpoint) {
    const WAITING: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.sqlite");
    let config = write_config(dir.path(), &audit, "", "level = \"warn,xua_gateway=info\"");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text
        .replacen("workers = 0\n", "workers = 1\n", 1)
        .replacen("blocking_threads = 8\n", "blocking_threads = 2\n", 1)
        .replacen("max_inspections = 2\n", "max_inspections = 1\n", 1);
    // The proxy's upstream answers every query with the corpus's ITI-38 answer.
    let mut upstream = None;
    if let Endpoint::XcaProxy = endpoint {
        let Some(answer) = corpus_file("xca/metriport_dq_multiple_docs.xml") else {
            return;
        };
        let up = Upstream::start(&["--response", answer.to_str().unwrap()]);
        text.push_str(&format!(
            "\n[proxy]\n{}",
            route("/xca/nhn", &up.url("http"), "")
        ));
        upstream = Some(up);
    }
    if let Endpoint::WsTrust = endpoint {
        text.push_str("\n[ws_trust]\nenabled = true\n");
    }
    let query = match endpoint {
        Endpoint::XcaProxy => match corpus_file(ITI38_REQUEST) {
            Some(path) => std::fs::read(path).unwrap(),
            None => return,
        },
        _ => Vec::new(),
    };
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config, &[]);
    let client = reqwest::Client::new();
    let post = || {
        let (client, address) = (client.clone(), server.address.clone());
        let request = match endpoint {
            Endpoint::Token => {
                let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(mint_now("fastlege.json"));
                let form = serde_urlencoded::to_string([
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token_type", TT_SAML2),
                    ("subject_token", token.as_str()),
                ])
                .unwrap();
                client
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
                client
                    .post(format!("{address}{STS}"))
                    .header("Content-Type", SOAP)
                    .body(body)
            }
            Endpoint::XcaProxy => client
                .post(format!("{address}/xca/nhn"))
                .header("Content-Type", SOAP)
                .header(
                    "Authorization",
                    format!("Bearer {}", jwt_for(Some(QUERY_PATIENT), None)),
                )
                .body(query.clone()),
        };
        tokio::spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        })
    };
    // One exchange first, so the store is open and the metrics have a baseline.
    let (status, body) = post().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (batches_before, records_before, large_before) = batches(&client, &server.address).await;
    if let Some(up) = &upstream {
        std::fs::remove_file(up.record_path()).unwrap();
    }

    let lock = rusqlite::Connection::open(&audit).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let requests: Vec<_> = (0..WAITING).map(|_| post()).collect();
    // Long enough for eight pipelines on two threads, in a debug build.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        requests.iter().all(|r| !r.is_finished()),
        "an exchange was answered while its record could not be committed"
    );
    if let Some(up) = &upstream {
        assert!(
            !up.record_path().exists(),
            "the upstream was sent a query whose assertion's record is not durable"
        );
    }
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }

    let (batches_after, records_after, large_after) = batches(&client, &server.address).await;
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
