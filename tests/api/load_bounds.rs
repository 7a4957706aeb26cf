//! Slow, silent and too many clients: a body that trickles in or never comes is cut off after `[server]
//! body_timeout_ms` (answered and audited); past the blocking pool's threads and `max_queued` waiting
//! requests, a request gets 503 with `Retry-After` at once; inspections have a bound of their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;

use crate::helpers::*;

fn config(server: &str) -> String {
    let text = sample_config_text();
    assert!(text.contains("blocking_threads = 8\n"));
    text.replacen("blocking_threads = 8\n", server, 1)
        .replacen("max_queued = 256\n", "", 1)
        .replacen("max_inspections = 2\n", "", 1)
        .replacen("body_timeout_ms = 10000\n", "", 1)
}

#[actix_web::test]
async fn a_body_that_never_comes_is_cut_off_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with_text(
        &config("blocking_threads = 8\nbody_timeout_ms = 300\n"),
        dir.path(),
    )
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        // The head, then one byte of a promised hundred, then silence.
        stream
            .write_all(
                b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng",
            )
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
                Err(e) => panic!("no answer to a body that never came: {e}"),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive within 300 ms"), "{answer}");
    assert_eq!(app.records().len(), 1);
}

#[actix_web::test]
async fn past_the_threads_and_the_line_requests_get_503_with_retry_after_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with_text(
        &config("blocking_threads = 2\nmax_queued = 0\nmax_inspections = 1\n"),
        dir.path(),
    )
    .await;
    let xml = mint_now("fastlege.json");
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&xml);
    let requests: Vec<_> = (0..48)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/token", app.address);
            let token = token.clone();
            async move {
                client
                    .post(url)
                    .form(&[
                        ("grant_type", TOKEN_EXCHANGE),
                        ("subject_token_type", TT_SAML2),
                        ("subject_token", token.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        })
        .map(tokio::spawn)
        .collect();
    let mut shed = 0;
    for request in requests {
        let res = request.await.unwrap();
        match res.status().as_u16() {
            503 => {
                shed += 1;
                assert_eq!(res.headers()["retry-after"], "1");
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            // The same assertion 48 times: one is issued, the others are replays.
            200 | 400 => {}
            other => panic!("HTTP {other}"),
        }
    }
    assert!(
        shed > 0,
        "48 requests at once on 2 threads and no line: some must be shed"
    );
    // Shed requests reached no pipeline: every record is of a request that did.
    assert_eq!(app.records().len(), 48 - shed);
    // Capacity comes back: afterwards a request is served.
    let (status, _) = app.exchange_saml(&mint_now("fastlege.json"), &[]).await;
    assert_eq!(status, 200);
}
