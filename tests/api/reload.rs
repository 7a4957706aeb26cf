//! Rotating keys without downtime, on the real binary: clients exchange tokens in both directions while the
//! configuration is rewritten to promote a new JWT key and roll the XUA signing certificate, and SIGHUP
//! swaps it in. No request may fail; tokens signed before the swap verify against the JWKS published during
//! the overlap (PyJWT), assertions against `/saml/metadata`'s certificates (xmlsec1). A broken configuration
//! on SIGHUP leaves the old keys answering, counted in `/metrics`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;

use crate::binary::{write_config, Server};
use crate::certs::{p256_key, rsa_certificate};
use crate::helpers::*;

const JWT_AUDIENCE: &str = "https://fhir.test.example/pjd";
const ENTITY_ID: &str = "https://xua-gateway.test.example";
const CLIENTS_PER_DIRECTION: usize = 3;
/// JSON logs: the start-up line `Server::start` waits for and the reload lines, not every request.
const LOGGING: &str = "format = \"json\"\nlevel = \"warn,xua_gateway=info,xua_gateway::http=warn,xua_gateway::pipeline=warn,xua_gateway::observability=warn\"";
/// Exchanges per direction to see before the swap, and after it.
const EACH_SIDE: usize = 30;

fn keys_dir() -> PathBuf {
    repo().join("samples/keys")
}

fn old_jwt_key() -> String {
    keys_dir()
        .join("TEST-ONLY-gateway-jwt-es256.key.pem")
        .display()
        .to_string()
}

fn old_saml(ext: &str) -> String {
    keys_dir()
        .join(format!("TEST-ONLY-gateway-saml.{ext}.pem"))
        .display()
        .to_string()
}

fn sighup(server: &Server) {
    let ok = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

/// The sample configuration of `write_config` without its single JWT key and XUA identity (they move into
/// the rotation tables).
fn without_single_keys(base: &str) -> String {
    base.replace(
        &format!("signing_key = \"{}\"", old_jwt_key()),
        "# signing_key moved into [[jwt.signing_keys]]",
    )
    .replace(
        &format!(
            "key = \"{}\"\ncertificate = \"{}\"",
            old_saml("key"),
            old_saml("crt")
        ),
        "# key and certificate moved into [[saml.signing.keys]]",
    )
}

/// `[[jwt.signing_keys]]` and `[[saml.signing.keys]]` with the sample keys in `old_state` and the new ones
/// in `new_state`.
fn rotation_tables(dir: &Path, old_state: &str, new_state: &str) -> String {
    let d = dir.display();
    format!(
        "\n[[jwt.signing_keys]]\nkey = \"{old}\"\n{old_state}\n[[jwt.signing_keys]]\nkey = \"{d}/jwt-new.key.pem\"\n{new_state}\n\
         [[saml.signing.keys]]\nkey = \"{sk}\"\ncertificate = \"{sc}\"\n{old_state}\n\
         [[saml.signing.keys]]\nkey = \"{d}/saml-new.key.pem\"\ncertificate = \"{d}/saml-new.crt.pem\"\n{new_state}\n",
        old = old_jwt_key(),
        sk = old_saml("key"),
        sc = old_saml("crt"),
    )
}

fn retired_after(t: OffsetDateTime) -> String {
    format!(
        "state = \"retired\"\nretired_after = \"{}\"",
        xua_gateway::clock::rfc3339(t)
    )
}

async fn get_text(client: &reqwest::Client, url: String) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

fn kids(jwks: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(jwks).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The base64 DER of every `ds:X509Certificate` in a document, in order.
fn certificates_in(xml: &str) -> Vec<String> {
    xml.split("<ds:X509Certificate>")
        .skip(1)
        .map(|rest| {
            rest.split("</ds:X509Certificate>")
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<String>()
        })
        .collect()
}

fn pem_of(base64_der: &str) -> String {
    let lines: Vec<String> = base64_der
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn base64_der_of(pem: &[u8]) -> String {
    let der = openssl::x509::X509::from_pem(pem)
        .unwrap()
        .to_der()
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn jwt_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    jwts: Vec<String>,
    assertions: Vec<String>,
    /// (sent, latency) of every successful request.
    timings: Vec<(Instant, Duration)>,
    failures: Vec<String>,
}

async fn one_exchange(
    client: &reqwest::Client,
    address: &str,
    saml_to_jwt: bool,
) -> Result<String, String> {
    let form = if saml_to_jwt {
        let xml = tokio::task::spawn_blocking(|| mint_now("fastlege.json"))
            .await
            .unwrap();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
        serde_urlencoded::to_string([
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", token.as_str()),
        ])
        .unwrap()
    } else {
        let jwt = mint_sample_jwt("hospital-physician.json");
        serde_urlencoded::to_string([
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_JWT),
            ("subject_token", jwt.as_str()),
            ("requested_token_type", TT_SAML2),
        ])
        .unwrap()
    };
    let res = client
        .post(format!("{address}/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let status = res.status().as_u16();
    let body: Value = res.json().await.map_err(|e| format!("body: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let token = body["access_token"].as_str().unwrap();
    Ok(if saml_to_jwt {
        token.to_string()
    } else {
        String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .unwrap(),
        )
        .unwrap()
    })
}

fn start_load(
    address: &str,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..2 * CLIENTS_PER_DIRECTION {
        let (client, address, seen, stop) = (
            client.clone(),
            address.to_string(),
            seen.clone(),
            stop.clone(),
        );
        let saml_to_jwt = c % 2 == 0;
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let result = one_exchange(&client, &address, saml_to_jwt).await;
                let took = sent.elapsed();
                let mut s = seen.lock().unwrap();
                match result {
                    Ok(t) if saml_to_jwt => s.jwts.push(t),
                    Ok(t) => s.assertions.push(t),
                    Err(e) => s.failures.push(e),
                }
                s.timings.push((sent, took));
            }
        }));
    }
    tasks
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The `micros` of every "configuration reloaded" line the server logged (JSON logs).
fn reload_micros(server: &Server) -> Vec<u64> {
    server
        .output()
        .lines()
        .filter(|l| l.contains("configuration reloaded"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["micros"].as_u64())
        .collect()
}

async fn metrics(client: &reqwest::Client, address: &str) -> String {
    get_text(client, format!("{address}/metrics")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_rotate_under_load_with_sighup_and_no_request_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwt-new.key.pem"), p256_key()).unwrap();
    let now = OffsetDateTime::now_utc();
    let saml_new = rsa_certificate(
        "TEST-ONLY xua-gateway signing (rotated)",
        now - time::Duration::days(1),
        now + time::Duration::days(365),
    );
    std::fs::write(dir.path().join("saml-new.key.pem"), &saml_new.key_pem).unwrap();
    std::fs::write(dir.path().join("saml-new.crt.pem"), &saml_new.cert_pem).unwrap();
    let config = write_config(dir.path(), &dir.path().join("audit.sqlite"), "", LOGGING);
    let base = std::fs::read_to_string(&config).unwrap();
    let single = without_single_keys(&base);
    assert_ne!(single, base);

    // Step 1: the new key and certificate are added as next.
    std::fs::write(
        &config,
        single.clone() + &rotation_tables(dir.path(), "state = \"current\"", "state = \"next\""),
    )
    .unwrap();
    let server = Server::start(&config, &[]);
    let address = server.address.clone();
    let client = reqwest::Client::new();
    let jwks_before = get_text(&client, format!("{address}/.well-known/jwks.json")).await;
    let before = kids(&jwks_before);
    assert_eq!(before.len(), 2, "{jwks_before}");
    let (old_kid, new_kid) = (before[0].clone(), before[1].clone());
    let old_cert = base64_der_of(&std::fs::read(old_saml("crt")).unwrap());
    let new_cert = base64_der_of(&saml_new.cert_pem);
    let metadata = get_text(&client, format!("{address}/saml/metadata")).await;
    assert_eq!(
        certificates_in(&metadata),
        [old_cert.clone(), new_cert.clone()]
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_load(&address, seen.clone(), stop.clone());
    wait_for("exchanges before the swap", Duration::from_secs(60), || {
        let s = seen.lock().unwrap();
        s.jwts.len() >= EACH_SIDE && s.assertions.len() >= EACH_SIDE
    })
    .await;

    // Step 2: promote. The old key and certificate stay published for an hour.
    std::fs::write(
        &config,
        single.clone()
            + &rotation_tables(
                dir.path(),
                &retired_after(now + time::Duration::hours(1)),
                "state = \"current\"",
            ),
    )
    .unwrap();
    let (jwts_at_swap, assertions_at_swap) = {
        let s = seen.lock().unwrap();
        (s.jwts.len(), s.assertions.len())
    };
    let hup = Instant::now();
    sighup(&server);
    wait_for("tokens from the new keys", Duration::from_secs(30), || {
        let s = seen.lock().unwrap();
        let jwt = s
            .jwts
            .iter()
            .skip(jwts_at_swap)
            .any(|t| jwt_kid(t) == new_kid);
        let saml = s
            .assertions
            .iter()
            .skip(assertions_at_swap)
            .any(|a| certificates_in(a) == [new_cert.clone()]);
        jwt && saml
    })
    .await;
    let swapped_after = hup.elapsed();
    let jwks_overlap = get_text(&client, format!("{address}/.well-known/jwks.json")).await;
    assert_eq!(kids(&jwks_overlap), [new_kid.clone(), old_kid.clone()]);
    let metadata_overlap = get_text(&client, format!("{address}/saml/metadata")).await;
    let overlap_certs = certificates_in(&metadata_overlap);
    assert_eq!(overlap_certs, [new_cert.clone(), old_cert.clone()]);
    let target = {
        let s = seen.lock().unwrap();
        (s.jwts.len() + EACH_SIDE, s.assertions.len() + EACH_SIDE)
    };
    wait_for("exchanges after the swap", Duration::from_secs(60), || {
        let s = seen.lock().unwrap();
        s.jwts.len() >= target.0 && s.assertions.len() >= target.1
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    // Step 3: retire. Once retired_after has passed, only the new key and certificate are published.
    std::fs::write(
        &config,
        single
            + &rotation_tables(
                dir.path(),
                &retired_after(now - time::Duration::minutes(1)),
                "state = \"current\"",
            ),
    )
    .unwrap();
    sighup(&server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let jwks_after = loop {
        let jwks = get_text(&client, format!("{address}/.well-known/jwks.json")).await;
        if kids(&jwks).len() == 1 {
            break jwks;
        }
        assert!(Instant::now() < deadline, "the old key was never retired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kids(&jwks_after), std::slice::from_ref(&new_kid));
    let metadata_after = get_text(&client, format!("{address}/saml/metadata")).await;
    assert_eq!(
        certificates_in(&metadata_after),
        std::slice::from_ref(&new_cert)
    );

    let m = metrics(&client, &address).await;
    assert!(
        m.contains("xua_config_reloads_total{outcome=\"ok\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("xua_config_reloads_total{outcome=\"refused\"} 0"),
        "{m}"
    );

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        seen.failures.len(),
        seen.timings.len(),
        &seen.failures[..seen.failures.len().min(5)]
    );
    let by_old = seen.jwts.iter().filter(|t| jwt_kid(t) == old_kid).count();
    let by_new = seen.jwts.iter().filter(|t| jwt_kid(t) == new_kid).count();
    assert_eq!(by_old + by_new, seen.jwts.len());
    assert!(by_old >= EACH_SIDE && by_new >= 1, "{by_old} / {by_new}");

    // PyJWT: every token, the ones signed before the swap included, against the JWKS of the overlap.
    let jwks_file = write_temp(dir.path(), "jwks-overlap.json", jwks_overlap.as_bytes());
    let tokens_file = write_temp(dir.path(), "jwts.txt", seen.jwts.join("\n").as_bytes());
    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/verify_jwts.py"))
        .arg(&jwks_file)
        .arg(&tokens_file)
        .args([JWT_AUDIENCE, ENTITY_ID]));
    assert!(
        out.status.success(),
        "PyJWT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["verified"], seen.jwts.len());
    assert_eq!(verified["kids"][&old_kid], by_old);
    // After retirement a token of the old key no longer finds its key.
    let final_jwks = write_temp(dir.path(), "jwks-final.json", jwks_after.as_bytes());
    let old_token = seen.jwts.iter().find(|t| jwt_kid(t) == old_kid).unwrap();
    let one = write_temp(dir.path(), "old.txt", old_token.as_bytes());
    let out = run(Command::new("python3")
        .arg(repo().join("tests/support/verify_jwts.py"))
        .arg(&final_jwks)
        .arg(&one)
        .args([JWT_AUDIENCE, ENTITY_ID]));
    assert!(!out.status.success(), "a retired key must not verify");

    // xmlsec1: every assertion against the certificate of the overlap metadata it names.
    let cert_files: Vec<PathBuf> = overlap_certs
        .iter()
        .enumerate()
        .map(|(i, c)| write_temp(dir.path(), &format!("md-{i}.crt.pem"), pem_of(c).as_bytes()))
        .collect();
    let mut by_cert = [0usize; 2];
    if crate::forge::xmlsec1_available() {
        for (i, xml) in seen.assertions.iter().enumerate() {
            let named = certificates_in(xml);
            let which = overlap_certs
                .iter()
                .position(|c| named == [c.clone()])
                .unwrap_or_else(|| panic!("assertion {i} names a certificate the metadata lacks"));
            by_cert[which] += 1;
            let file = write_temp(dir.path(), "assertion.xml", xml.as_bytes());
            let out = run(Command::new("xmlsec1")
                .args([
                    "--verify",
                    "--id-attr:ID",
                    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                    "--pubkey-cert-pem",
                ])
                .arg(&cert_files[which])
                .arg(&file));
            assert!(
                out.status.success(),
                "xmlsec1 rejects assertion {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(by_cert[1] >= EACH_SIDE && by_cert[0] >= 1, "{by_cert:?}");
    }

    // What a reload costs: its own time (logged), and the latency of requests around it.
    let micros = reload_micros(&server);
    assert_eq!(micros.len(), 2, "{}", server.output());
    let window = |from: Instant, to: Instant| -> Vec<Duration> {
        seen.timings
            .iter()
            .filter(|(sent, _)| *sent >= from && *sent < to)
            .map(|(_, took)| *took)
            .collect()
    };
    let second = Duration::from_secs(2);
    let calm = window(hup - second, hup);
    let around = window(hup, hup + second);
    eprintln!(
        "reload: {} µs and {} µs in the server (read + build + swap); first token of the new key {} ms after SIGHUP; \
         {} requests, 0 failed; {} JWTs ({by_old} old key, {by_new} new), {} assertions ({} old certificate, {} new); \
         latency p50/p99/max in the 2 s before SIGHUP: {:?}/{:?}/{:?} ({} requests), in the 2 s after: {:?}/{:?}/{:?} ({} requests)",
        micros[0],
        micros[1],
        swapped_after.as_millis(),
        seen.timings.len(),
        seen.jwts.len(),
        seen.assertions.len(),
        by_cert[1],
        by_cert[0],
        percentile(calm.clone(), 0.5),
        percentile(calm.clone(), 0.99),
        percentile(calm.clone(), 1.0),
        calm.len(),
        percentile(around.clone(), 0.5),
        percentile(around.clone(), 0.99),
        percentile(around.clone(), 1.0),
        around.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_configuration_on_sighup_leaves_the_old_keys_answering() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dir.path().join("audit.sqlite"), "", LOGGING);
    let good = std::fs::read_to_string(&config).unwrap();
    let server = Server::start(&config, &[]);
    let address = server.address.clone();
    let client = reqwest::Client::new();
    let jwks = get_text(&client, format!("{address}/.well-known/jwks.json")).await;
    let kid = kids(&jwks)[0].clone();

    let refused = AtomicUsize::new(0);
    let broken = [
        // Not TOML.
        good.replace("[jwt]\n", "[jwt\n"),
        // Two current keys.
        good.clone()
            + &format!(
                "\n[[jwt.signing_keys]]\nkey = \"{}/TEST-ONLY-gateway-jwt-rsa.key.pem\"\nalgorithm = \"RS256\"\nstate = \"current\"\n",
                keys_dir().display()
            ),
        // A key file that is not there.
        good.replace("TEST-ONLY-gateway-jwt-es256.key.pem", "missing.key.pem"),
        // A store of its own: only a restart may change it.
        good.replace("audit.sqlite", "elsewhere.sqlite"),
    ];
    for text in &broken {
        std::fs::write(&config, text).unwrap();
        sighup(&server);
        let n = refused.fetch_add(1, Ordering::SeqCst) + 1;
        let expected = format!("xua_config_reloads_total{{outcome=\"refused\"}} {n}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = metrics(&client, &address).await;
            if m.contains(&expected) {
                assert!(
                    m.contains("xua_config_reloads_total{outcome=\"ok\"} 0"),
                    "{m}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no refusal counted: {m}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Still answering, with the old key.
        let xml = mint_now("fastlege.json");
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
        let res = client
            .post(format!("{address}/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token_type", TT_SAML2),
                    ("subject_token", token.as_str()),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(jwt_kid(body["access_token"].as_str().unwrap()), kid);
        assert_eq!(
            get_text(&client, format!("{address}/.well-known/jwks.json")).await,
            jwks
        );
    }
    let out = server.output();
    assert_eq!(
        out.matches("configuration reload refused; the previous configuration keeps serving")
            .count(),
        broken.len(),
        "{out}"
    );
    assert!(out.contains("2 keys have state = \\\"current\\\""), "{out}");
    assert!(out.contains("missing.key.pem"), "{out}");
    assert!(out.contains("[audit] changed"), "{out}");
    assert!(!out.contains("PRIVATE KEY"), "{out}");

    // A valid configuration whose [server] changed: the rest applies, and the log says what needs a restart.
    std::fs::write(
        &config,
        good.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:9\""),
    )
    .unwrap();
    sighup(&server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !metrics(&client, &address)
        .await
        .contains("xua_config_reloads_total{outcome=\"ok\"} 1")
    {
        assert!(Instant::now() < deadline, "the reload did not happen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = server.output();
    assert!(
        out.contains("[server] changed, but it is not reloadable: restart the service to apply it"),
        "{out}"
    );
    let (status, _) = readyz_status(&client, &address).await;
    assert_eq!(status, 200);
}

async fn readyz_status(client: &reqwest::Client, address: &str) -> (u16, Value) {
    let res = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}
