//! Ordinary logs never carry a patient's or a practitioner's identifier, even at TRACE: the real binary runs
//! a full set of exchanges (accepted and rejected, every endpoint) with `RUST_LOG=trace`, everything it
//! writes is captured, and every identifier and name in `samples/claims/*.json` is searched for. The access
//! log, which must hold them, is checked to be somewhere else.

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;
use xua_gateway::samples::MintOptions;

use crate::binary::{write_config, Server};
use crate::helpers::*;

/// Practitioner and patient identifiers and names in every sample claims file.
fn sample_identifiers() -> Vec<String> {
    fn walk(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if key == "identifier" || key == "hpr_nr" {
                    for k in ["id", "name"] {
                        if let Some(Value::String(s)) = map.get(k) {
                            out.push(s.clone());
                        }
                    }
                }
                for (k, v) in map {
                    walk(v, k, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, key, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("samples/claims")).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        walk(&v, "", &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Where `needle` occurs in `haystack`; a number only counts when no digit touches it (an HPR number may
/// otherwise turn up inside a nanosecond timestamp by chance).
fn occurrences(haystack: &str, needle: &str) -> Vec<usize> {
    let numeric = needle.bytes().all(|b| b.is_ascii_digit());
    let bytes = haystack.as_bytes();
    haystack
        .match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| {
            !numeric
                || !(i > 0 && bytes[i - 1].is_ascii_digit()
                    || bytes.get(i + needle.len()).is_some_and(u8::is_ascii_digit))
        })
        .collect()
}

async fn post_token(
    client: &reqwest::Client,
    address: &str,
    form: &[(&str, &str)],
    id: &str,
) -> (u16, Value) {
    let res = client
        .post(format!("{address}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Request-Id", id)
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn b64(xml: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml)
}

/// Runs every kind of exchange against the server; returns the ids of the tokens it issued.
async fn full_set_of_exchanges(address: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut issued = Vec::new();
    let samples = ["fastlege", "municipal-nurse", "hospital-physician"];
    for (n, sample) in samples.iter().enumerate() {
        // Accepted, over /token and /translate.
        let xml = mint_now(&format!("{sample}.json"));
        let token = b64(&xml);
        let (status, body) = post_token(
            &client,
            address,
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", &token),
            ],
            &format!("log-ok-{n}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        issued.push(
            payload(body["access_token"].as_str().unwrap())["jti"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let res = client
            .post(format!("{address}/translate"))
            .header("Content-Type", "application/xml")
            .body(mint_now(&format!("{sample}.json")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);

        // Rejected: changed after signing (SIG), wrong audience (TARGET), expired (TIME),
        // unknown profile, and the same through /translate.
        let text = String::from_utf8(xml.clone()).unwrap();
        let patient = claims_file(&format!("{sample}.json"))["nhn:tillitsrammeverk:parameters"]
            ["patients"][0]["identifier"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains(&patient));
        let changed = text.replace(&patient, "99999999999");
        for (i, (form_extra, bytes)) in [
            (vec![], changed.clone().into_bytes()),
            (vec![("audience", "https://not-ours.example")], xml.clone()),
            (vec![("profile", "no-such-profile")], xml.clone()),
        ]
        .into_iter()
        .enumerate()
        {
            let token = b64(&bytes);
            let mut form = vec![
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", token.as_str()),
            ];
            form.extend(form_extra);
            let (status, body) =
                post_token(&client, address, &form, &format!("log-bad-{n}-{i}")).await;
            assert_eq!(status, 400, "{body}");
        }
        let expired = mint(
            &format!("{sample}.json"),
            &MintOptions {
                lifetime: minutes(5),
                ..MintOptions::default()
            },
            OffsetDateTime::now_utc() - minutes(60),
        );
        let token = b64(&expired);
        let (status, body) = post_token(
            &client,
            address,
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", &token),
            ],
            &format!("log-expired-{n}"),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_class"], "TIME");
        let res = client
            .post(format!("{address}/translate"))
            .header("Content-Type", "application/xml")
            .body(changed.into_bytes())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    // Malformed requests that never reach the pipeline; one caller uses a fødselsnummer as its request id.
    for (form, id) in [
        (vec![("grant_type", "password")], "log-grant"),
        (
            vec![
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", "%%%not-base64"),
            ],
            "21868534521",
        ),
    ] {
        let (status, _) = post_token(&client, address, &form, id).await;
        assert_eq!(status, 400);
    }
    for path in ["/metrics", "/readyz", "/healthz", "/.well-known/jwks.json"] {
        let res = client.get(format!("{address}{path}")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    issued
}

async fn run(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config = write_config(
        dir.path(),
        &db,
        "",
        &format!("format = \"{format}\"\nlevel = \"info\""),
    );
    let mut server = Server::start(&config, &[("RUST_LOG", "trace")]);
    let issued = full_set_of_exchanges(&server.address.clone()).await;
    let logs = server.output();
    server.kill();

    // The capture is real: TRACE/DEBUG output from the crate and its dependencies, request spans, outcomes.
    assert!(logs.lines().count() > 50, "too little was logged:\n{logs}");
    assert!(
        logs.contains("TRACE") || logs.contains("\"level\":\"TRACE\""),
        "no TRACE output"
    );
    assert!(logs.contains("request done"));
    assert!(
        logs.contains("log-bad-0-0"),
        "the request id is in the span"
    );
    assert!(logs.contains("exchange rejected") && logs.contains("token issued"));
    if format == "json" {
        for line in logs.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not a JSON log line: {line}"
            );
        }
    }

    let identifiers = sample_identifiers();
    assert!(identifiers.len() >= 9, "{identifiers:?}");
    let mut leaks = Vec::new();
    for id in &identifiers {
        for at in occurrences(&logs, id) {
            let from = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let to = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            leaks.push(format!("{id}: {}", &logs[from..to]));
        }
    }
    assert!(
        leaks.is_empty(),
        "identifiers in the {format} log:\n{}",
        leaks.join("\n")
    );

    // The access log is not the ordinary log: no record, no token id there...
    for jti in &issued {
        assert!(
            !logs.contains(jti.as_str()),
            "token id {jti} in the ordinary log"
        );
    }
    assert!(!logs.contains("record_json") && !logs.contains("output_token_id"));
    // ...and it holds what the ordinary log must not: every sample patient, in its own store.
    let conn = xua_gateway::audit::sqlite::connect(&db, false).unwrap();
    for patient in ["21868534521", "14035234595", "03128734502"] {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM audit_record WHERE patient_id = ?1",
                [patient],
                |r| r.get(0),
            )
            .unwrap();
        assert!(n >= 2, "patient {patient}: {n} records");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_at_trace_hold_no_identifiers() {
    run("json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_at_trace_hold_no_identifiers() {
    run("text").await;
}
