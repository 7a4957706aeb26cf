//! `[server] blocking_threads` bounds the threads that do signature work and wait for the access log: under
//! a burst of concurrent exchanges the real server process must not start more of them than configured.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

use crate::binary::{write_config, Server};
use crate::helpers::*;

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
