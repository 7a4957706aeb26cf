//! What the access log costs.
//!
//! - `audit_write/*`: one record made durable, per record: the SQLite store with group commit (16 writers
//!   at once, as under load) and without it (`max_batch = 1`: one transaction and fsync per record), a
//!   single writer (no one to share an fsync with), and the in-memory sink for reference.
//! - `exchange/*`: end-to-end `POST /token` (SAML → JWT) against the real HTTP server in this process,
//!   16 and 64 concurrent clients, with each store. Time per element is the inverse of throughput.
//!
//! `cargo bench --bench audit`. The machine this runs on matters more than usual: fsync latency is the
//! disk's, and client and server share the cores.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use time::OffsetDateTime;

use xua_gateway::audit::sqlite::{Settings, SqliteSink};
use xua_gateway::audit::{AuditRecord, AuditSink, MemorySink};
use xua_gateway::clock;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::model::{Direction, Outcome};
mod common;
use common::no_replay_config;
use xua_gateway::http::Application;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

const CONCURRENCY: usize = 16;

fn record() -> AuditRecord {
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    let mut r = AuditRecord::begin(
        Direction::SamlToJwt,
        OffsetDateTime::now_utc(),
        "0f8e0d1c-5a4b-4c3d-9e2f-1a0b9c8d7e6f",
        Some("127.0.0.1"),
    );
    r.outcome = Outcome::Issued;
    r.input_issuer = Some(samples::SAMPLE_IDP.into());
    r.input_token_id = Some("_2f4c9a0e8b7d6c5b4a3f2e1d0c9b8a7f".into());
    r.output_token_id = Some("6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4".into());
    r.output_audience = Some("https://fhir.test.example/pjd".into());
    r.context = Some(
        profiles
            .default_profile()
            .decode_claims_unverified(&claims)
            .unwrap(),
    );
    r
}

fn sqlite(dir: &Path, name: &str, max_batch: usize) -> Arc<SqliteSink> {
    let settings = Settings {
        max_batch,
        ..Settings::default()
    };
    Arc::new(SqliteSink::open(&dir.join(name), settings, None, clock::system()).unwrap())
}

/// Worker `t`'s share of `iters` so that the shares add up to exactly `iters`.
fn share(iters: u64, workers: usize, t: usize) -> u64 {
    let w = workers as u64;
    iters / w + u64::from((t as u64) < iters % w)
}

/// `iters` writes spread over `threads` threads; the wall time for all of them.
fn concurrent_writes(
    sink: &Arc<dyn AuditSink>,
    record: &AuditRecord,
    iters: u64,
    threads: usize,
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = share(iters, threads, t);
            s.spawn(move || {
                for _ in 0..n {
                    sink.write(record).unwrap();
                }
            });
        }
    });
    start.elapsed()
}

fn audit_write(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let record = record();
    let mut g = c.benchmark_group("audit_write");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(6));
    let grouped: Arc<dyn AuditSink> = sqlite(dir.path(), "grouped.sqlite", 256);
    g.bench_function("sqlite_group_commit_16_writers", |b| {
        b.iter_custom(|iters| concurrent_writes(&grouped, &record, iters, CONCURRENCY))
    });
    let single: Arc<dyn AuditSink> = sqlite(dir.path(), "single.sqlite", 1);
    g.bench_function("sqlite_fsync_per_record_16_writers", |b| {
        b.iter_custom(|iters| concurrent_writes(&single, &record, iters, CONCURRENCY))
    });
    g.bench_function("sqlite_one_writer", |b| {
        b.iter_custom(|iters| concurrent_writes(&grouped, &record, iters, 1))
    });
    let memory: Arc<dyn AuditSink> = Arc::new(MemorySink::default());
    g.bench_function("memory_16_writers", |b| {
        b.iter_custom(|iters| concurrent_writes(&memory, &record, iters, CONCURRENCY))
    });
    g.finish();
}

/// The real server on a port the OS picks, in its own thread and actix system.
fn serve(sink: Arc<dyn AuditSink>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let loaded = no_replay_config();
            let gateway = Arc::new(Gateway::build(loaded, clock::system(), Some(sink)).unwrap());
            let app = Application::build(gateway, "127.0.0.1:0", 2).unwrap();
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    format!("http://127.0.0.1:{}/token", rx.recv().unwrap())
}

/// Form bodies with freshly minted assertions, reused round-robin (the servers run with replay protection off).
fn bodies() -> Arc<Vec<String>> {
    xua_gateway::saml::dsig::init().unwrap();
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    let identity = samples::sample_idp().unwrap();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    let out = (0..64)
        .map(|_| {
            let xml = samples::mint_assertion(
                profiles.default_profile(),
                &claims,
                &MintOptions::default(),
                &identity,
                OffsetDateTime::now_utc(),
            )
            .unwrap();
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
            serde_urlencoded::to_string([
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
                ("subject_token", token.as_str()),
            ])
            .unwrap()
        })
        .collect();
    Arc::new(out)
}

fn exchange(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bodies = bodies();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group("exchange");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    let memory = serve(Arc::new(MemorySink::default()));
    let grouped = serve(sqlite(dir.path(), "e2e-grouped.sqlite", 256));
    let single = serve(sqlite(dir.path(), "e2e-single.sqlite", 1));
    let cases = [
        ("memory_sink_16_clients", &memory, 16),
        ("sqlite_group_commit_16_clients", &grouped, 16),
        ("sqlite_fsync_per_record_16_clients", &single, 16),
        ("memory_sink_64_clients", &memory, 64),
        ("sqlite_group_commit_64_clients", &grouped, 64),
    ];
    for (name, url, clients) in cases {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..clients)
                        .map(|t| {
                            let (client, url, bodies) =
                                (client.clone(), url.clone(), bodies.clone());
                            let n = share(iters, clients, t) as usize;
                            tokio::spawn(async move {
                                for i in 0..n {
                                    let body = bodies[(t * 7 + i) % bodies.len()].clone();
                                    let res = client
                                        .post(&url)
                                        .header("Content-Type", "application/x-www-form-urlencoded")
                                        .body(body)
                                        .send()
                                        .await
                                        .unwrap();
                                    assert_eq!(res.status().as_u16(), 200);
                                    res.bytes().await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, audit_write, exchange);
criterion_main!(benches);
