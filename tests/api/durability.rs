//! Killing the real server (SIGKILL) in the middle of a load: every token a client received must have its
//! committed audit record, and the chain must verify.
//!
//! A SIGKILL leaves the operating system's page cache intact, so this proves the ordering (no reply before
//! the commit) rather than the fsync; `synchronous=FULL` is what covers power loss.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use xua_gateway::audit::sqlite;

use crate::binary::{audit_cli, write_config, Server};
use crate::helpers::*;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 40;
/// Successful exchanges to wait for before the kill (well before the load ends).
const KILL_AFTER: usize = 80;
/// Kills per test: where the kill lands is chance, so a store that acknowledged before committing would
/// slip through one round now and then, and through three rarely.
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_token_a_client_received_survives_sigkill_with_group_commit() {
    for _ in 0..ROUNDS {
        sigkill_mid_load("max_batch = 256").await;
    }
}

/// One fsync per record makes records queue up behind each other, which widens the window in which a store
/// that acknowledged too early would lose them (this variant catches a fire-and-forget `write` reliably).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_token_a_client_received_survives_sigkill_with_one_commit_per_record() {
    for _ in 0..ROUNDS {
        sigkill_mid_load("max_batch = 1").await;
    }
}

async fn sigkill_mid_load(audit_settings: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config = write_config(
        dir.path(),
        &db,
        audit_settings,
        "format = \"json\"\nlevel = \"warn,xua_gateway=info,xua_gateway::pipeline=warn,xua_gateway::observability=warn\"",
    );
    let server = Arc::new(Mutex::new(Server::start(&config, &[])));
    let address = server.lock().unwrap().address.clone();

    // Fresh assertions, minted before the load so the clients only send.
    let samples = [
        "fastlege.json",
        "municipal-nurse.json",
        "hospital-physician.json",
    ];
    let tokens: Vec<Vec<String>> = (0..CLIENTS)
        .map(|c| {
            (0..PER_CLIENT)
                .map(|i| {
                    let xml = mint_now(samples[(c + i) % samples.len()]);
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml)
                })
                .collect()
        })
        .collect();

    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for batch in tokens {
        let (client, address, received, ok, failed, server) = (
            client.clone(),
            address.clone(),
            received.clone(),
            ok.clone(),
            failed.clone(),
            server.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for token in batch {
                let form = [
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token_type", TT_SAML2),
                    ("subject_token", token.as_str()),
                ];
                let res = client
                    .post(format!("{address}/token"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(serde_urlencoded::to_string(form).unwrap())
                    .send()
                    .await;
                let Ok(res) = res else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                };
                if res.status().as_u16() != 200 {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                // A token counts as received only once its whole body has arrived.
                let Ok(body) = res.json::<serde_json::Value>().await else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    continue;
                };
                let jti = payload(body["access_token"].as_str().unwrap())["jti"]
                    .as_str()
                    .unwrap()
                    .to_string();
                received.lock().unwrap().push(jti);
                // Kill the moment a client holds its KILL_AFTER-th token: other requests are then between
                // their pipeline, their commit and their response, which is where an ordering bug shows.
                if ok.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    server.lock().unwrap().kill();
                }
            }
        }));
    }

    for t in tasks {
        t.await.unwrap();
    }
    // In case the load never reached KILL_AFTER (the asserts below then say so).
    server.lock().unwrap().kill();
    let received = received.lock().unwrap().clone();
    let failed = failed.load(Ordering::SeqCst);
    assert!(
        received.len() >= KILL_AFTER,
        "{} tokens received",
        received.len()
    );
    assert!(
        failed > 0,
        "the kill must land during the load ({} ok, none failed)",
        received.len()
    );

    // Every acknowledged token has its record.
    let conn = sqlite::connect(&db, false).unwrap();
    let mut missing = Vec::new();
    for jti in &received {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM audit_record WHERE output_token_id = ?1 AND outcome = 'issued'",
                [jti],
                |r| r.get(0),
            )
            .unwrap();
        if n != 1 {
            missing.push(jti.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} received tokens have no audit record: {missing:?}",
        missing.len(),
        received.len()
    );
    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken, None);
    assert!(report.records as usize >= received.len());
    drop(conn);
    let (ok, out, err) = audit_cli(&config, &["verify"]);
    assert!(ok, "{out}{err}");
    eprintln!(
        "sigkill ({audit_settings}): {} tokens received, {} requests failed after the kill, {} records on disk",
        received.len(),
        failed,
        report.records
    );
}
