//! What the PostgreSQL stores cost, against the SQLite store and no access log at all, on one throw-away
//! PostgreSQL server with fsync on (started like the tests' one, `tests/support/postgres.rs`).
//!
//! - exchanges: the real HTTP server(s) in this process, SAML → JWT, 16 clients for a fixed time, with the
//!   memory sink, SQLite (group commit) and PostgreSQL (group commit, one chain) as the access log; one
//!   instance, then two instances sharing the database (two gateways, each with its own pools and writer).
//!   Replay protection is off here, since the clients re-send a set of assertions.
//! - replay: `check_and_insert` of fresh keys from 16 threads on one pool, then split over two pools.
//! - chain: records/s written by 32 threads through one writer, and through two writers taking turns at the
//!   chain head, with group commit and with one record per commit (where the lock's cost shows fully).
//!
//! `cargo bench --bench cluster` (prints Markdown tables; needs Debian's `postgresql`). Every case runs three
//! times, interleaved, and the median is shown; numbers are only comparable within one run, since client,
//! servers and PostgreSQL share the machine's cores.

#[path = "../tests/support/postgres.rs"]
mod pg;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use time::OffsetDateTime;

use common::no_replay_config;
use xua_gateway::audit::sqlite::{Settings as AuditSettings, SqliteSink};
use xua_gateway::audit::{AuditRecord, AuditSink, MemorySink};
use xua_gateway::clock;
use xua_gateway::config::database::DatabaseConfig;
use xua_gateway::http::Application;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::model::{Direction, Outcome};
use xua_gateway::replay::{ReplayCache, ReplayKey};
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;
use xua_gateway::store::postgres::audit::PgAuditSink;
use xua_gateway::store::postgres::replay::PgReplayCache;
use xua_gateway::store::postgres::{migrations, Database, Settings};

const CLIENTS: usize = 16;
const RUN: Duration = Duration::from_secs(4);
const WARM_UP: Duration = Duration::from_secs(1);

fn db(url: &str, pool: u32) -> Database {
    let settings = Settings::new(url, &DatabaseConfig::default()).with_pool_size(pool);
    let db = Database::open(&settings, "bench").unwrap();
    migrations::migrate(&db).unwrap();
    db
}

fn pg_sink(url: &str, max_batch: usize) -> Arc<dyn AuditSink> {
    // A long commit timeout: with one record per commit, 32 writers queue behind each other's fsync.
    let settings = AuditSettings {
        max_batch,
        commit_timeout: Duration::from_secs(120),
        ..AuditSettings::default()
    };
    Arc::new(PgAuditSink::open(db(url, 2), settings, None, clock::system()).unwrap())
}

fn sqlite_sink(dir: &std::path::Path) -> Arc<dyn AuditSink> {
    Arc::new(
        SqliteSink::open(
            &dir.join("audit.sqlite"),
            AuditSettings::default(),
            None,
            clock::system(),
        )
        .unwrap(),
    )
}

/// A gateway on its own port, thread and actix system; returns its `/token` URL.
fn serve(sink: Arc<dyn AuditSink>, workers: usize) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let gateway =
                Arc::new(Gateway::build(no_replay_config(), clock::system(), Some(sink)).unwrap());
            let app = Application::build(gateway, "127.0.0.1:0", workers).unwrap();
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    format!("http://127.0.0.1:{}/token", rx.recv().unwrap())
}

fn bodies() -> Arc<Vec<String>> {
    xua_gateway::saml::dsig::init().unwrap();
    let profiles = ProfileSet::embedded("no-pjd").unwrap();
    let identity = samples::sample_idp().unwrap();
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).unwrap();
    Arc::new(
        (0..64)
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
            .collect(),
    )
}

struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Measured {
    latencies.sort();
    Measured {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    }
}

/// CLIENTS clients spread round-robin over `urls` for WARM_UP + RUN; latencies of the RUN part.
fn load(rt: &tokio::runtime::Runtime, urls: &[String], bodies: &Arc<Vec<String>>) -> Measured {
    let client = reqwest::Client::new();
    rt.block_on(async {
        let start = Instant::now();
        let measure_from = start + WARM_UP;
        let end = measure_from + RUN;
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let (client, url, bodies) =
                    (client.clone(), urls[t % urls.len()].clone(), bodies.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut i = t * 7;
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let res = client
                            .post(&url)
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .body(bodies[i % bodies.len()].clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status().as_u16(), 200);
                        res.bytes().await.unwrap();
                        i += 1;
                        if sent >= measure_from {
                            latencies.push(sent.elapsed());
                        }
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        summarise(all, RUN)
    })
}

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
    r.output_token_id = Some("6b1f0c2e-3d4a-4b5c-8d6e-7f8091a2b3c4".into());
    r.context = Some(
        profiles
            .default_profile()
            .decode_claims_unverified(&claims)
            .unwrap(),
    );
    r
}

/// `threads` threads calling `op(thread, i)` for RUN, spread over the given targets; ops/s and latencies.
fn hammer<T: Send + Sync>(
    targets: &[T],
    threads: usize,
    op: impl Fn(&T, usize, usize) + Sync,
) -> Measured {
    let end = Instant::now() + RUN;
    let started = Instant::now();
    let all: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (target, op) = (&targets[t % targets.len()], &op);
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut i = 0;
                    while Instant::now() < end {
                        let sent = Instant::now();
                        op(target, t, i);
                        latencies.push(sent.elapsed());
                        i += 1;
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    summarise(all, started.elapsed())
}

/// The median round of a case (by throughput), so that one disturbed round on a shared machine does not
/// decide the number.
fn median(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    let mid = rounds.len() / 2;
    rounds.swap_remove(mid)
}

fn row(what: &str, m: &Measured, baseline: Option<f64>) {
    let ratio = baseline.map_or(String::from("1.00"), |b| format!("{:.2}", m.per_second / b));
    println!(
        "| {what} | {:.0} | {ratio} | {:.1} | {:.1} |",
        m.per_second, m.p50_ms, m.p99_ms
    );
}

/// Runs every case ROUNDS times, interleaved (case 1, case 2, ..., case 1, ...), and prints the median of
/// each with its ratio to the first case of the table.
/// A named case: runs one round (its number given) and measures it.
type Case<'a> = (String, Box<dyn Fn(usize) -> Measured + 'a>);

fn table(header: &str, cases: Vec<Case<'_>>) {
    println!("{header}");
    println!("|---|---:|---:|---:|---:|");
    let mut results: Vec<Vec<Measured>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (i, (_, case)) in cases.iter().enumerate() {
            results[i].push(case(round));
        }
    }
    let mut baseline = None;
    for ((name, _), rounds) in cases.iter().zip(results) {
        let m = median(rounds);
        row(name, &m, baseline);
        baseline.get_or_insert(m.per_second);
    }
    println!();
}

const ROUNDS: usize = 3;

fn main() {
    let Some(server) = pg::PgServer::start_with(true) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bodies = bodies();
    let record = record();

    let reference = dir.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    let sqlite = [sqlite_sink(&reference)];
    // The access log alone: records/s through one writer and through two writers sharing the chain head.
    let mut chain: Vec<Case<'_>> = Vec::new();
    for max_batch in [256, 1] {
        let url = server.database();
        let one = [pg_sink(&url, max_batch)];
        let url = server.database();
        let two = [pg_sink(&url, max_batch), pg_sink(&url, max_batch)];
        let record = &record;
        chain.push((
            format!("PostgreSQL, 1 writer, max_batch {max_batch}"),
            Box::new(move |_| hammer(&one, 32, |s, _, _| s.write(record).unwrap())),
        ));
        chain.push((
            format!("PostgreSQL, 2 writers (one chain), max_batch {max_batch}"),
            Box::new(move |_| hammer(&two, 32, |s, _, _| s.write(record).unwrap())),
        ));
    }
    chain.push((
        "SQLite, 1 writer, max_batch 256 (reference)".to_string(),
        Box::new(|_| hammer(&sqlite, 32, |s, _, _| s.write(&record).unwrap())),
    ));
    table(
        "| access log, 32 writing threads | records/s | × first row | p50 ms | p99 ms |",
        chain,
    );

    // Replay decisions: fresh keys from 16 threads, one pool, then two.
    let url = server.database();
    let cache = |size| {
        PgReplayCache::start(
            db(&url, size),
            clock::system(),
            Duration::from_secs(60),
            1000,
        )
        .unwrap()
    };
    let until = OffsetDateTime::now_utc() + time::Duration::minutes(15);
    let insert = |run: &'static str, round: usize| {
        move |c: &PgReplayCache, t: usize, i: usize| {
            let key = ReplayKey::jwt("bench", &format!("{run}-{round}-{t}-{i}"));
            c.check_and_insert(&key, until, OffsetDateTime::now_utc())
                .unwrap();
        }
    };
    let one_pool = [cache(16)];
    let two_pools = [cache(8), cache(8)];
    table(
        "| replay check_and_insert, 16 threads | checks/s | × first row | p50 ms | p99 ms |",
        vec![
            (
                "one pool (one instance)".to_string(),
                Box::new(|round| hammer(&one_pool, 16, insert("one", round))),
            ),
            (
                "two pools (two instances)".to_string(),
                Box::new(|round| hammer(&two_pools, 16, insert("two", round))),
            ),
        ],
    );

    // End to end over HTTP.
    let memory = [serve(Arc::new(MemorySink::default()), 2)];
    let sqlite = [serve(sqlite_sink(dir.path()), 2)];
    let url = server.database();
    let pg_one = [serve(pg_sink(&url, 256), 2)];
    let memory_two = [
        serve(Arc::new(MemorySink::default()), 1),
        serve(Arc::new(MemorySink::default()), 1),
    ];
    let url = server.database();
    let pg_two = [serve(pg_sink(&url, 256), 1), serve(pg_sink(&url, 256), 1)];
    let (rt, bodies) = (&rt, &bodies);
    table(
        &format!("| SAML → JWT, {CLIENTS} clients | exchanges/s | × first row | p50 ms | p99 ms |"),
        vec![
            (
                "no access log (memory sink), 1 instance".to_string(),
                Box::new(|_| load(rt, &memory, bodies)),
            ),
            (
                "SQLite, 1 instance".to_string(),
                Box::new(|_| load(rt, &sqlite, bodies)),
            ),
            (
                "PostgreSQL, 1 instance".to_string(),
                Box::new(|_| load(rt, &pg_one, bodies)),
            ),
            (
                "no access log (memory sink), 2 instances".to_string(),
                Box::new(|_| load(rt, &memory_two, bodies)),
            ),
            (
                "PostgreSQL, 2 instances, one chain".to_string(),
                Box::new(|_| load(rt, &pg_two, bodies)),
            ),
        ],
    );
}
