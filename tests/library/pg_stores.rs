//! The PostgreSQL stores against a real, throw-away PostgreSQL server (`tests/support/postgres.rs`): replay
//! decisions under concurrency from two pools (two instances), the purge, one chain written by two writers,
//! tampering found by record number, the schema check, export/import, and the database going away and back.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use time::OffsetDateTime;

use crate::pg::PgServer;
use xua_gateway::audit::sqlite::{self, Settings as AuditSettings, SqliteSink};
use xua_gateway::audit::{AuditRecord, AuditSink};
use xua_gateway::config::database::DatabaseConfig;
use xua_gateway::error::ErrorClass;
use xua_gateway::model::{Direction, Outcome};
use xua_gateway::replay::{ReplayCache, ReplayKey};
use xua_gateway::store::postgres::audit::PgAuditSink;
use xua_gateway::store::postgres::replay::PgReplayCache;
use xua_gateway::store::postgres::{migrations, read, Database, Settings};
use xua_gateway::store::transfer;

fn settings(url: &str, pool: u32) -> Settings {
    let config = DatabaseConfig {
        // Generous: CI runs these beside the HTTP tests on two cores.
        connect_timeout_ms: 3000,
        statement_timeout_ms: 2000,
        ..DatabaseConfig::default()
    };
    Settings::new(url, &config).with_pool_size(pool)
}

/// A pool on `url` with the schema migrated (as `db migrate` does).
fn database(url: &str, pool: u32) -> Database {
    let db = Database::open(&settings(url, pool), "test").unwrap();
    migrations::migrate(&db).unwrap();
    migrations::check(&db).unwrap();
    db
}

fn replay(url: &str, pool: u32, batch: u32) -> PgReplayCache {
    PgReplayCache::start(
        database(url, pool),
        xua_gateway::clock::system(),
        Duration::from_secs(3600),
        batch,
    )
    .unwrap()
}

fn sink(url: &str, max_batch: usize) -> PgAuditSink {
    let settings = AuditSettings {
        max_batch,
        commit_timeout: Duration::from_secs(5),
        ..AuditSettings::default()
    };
    PgAuditSink::open(
        database(url, 2),
        settings,
        None,
        xua_gateway::clock::system(),
    )
    .unwrap()
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn record(i: usize, time: OffsetDateTime) -> AuditRecord {
    let mut r = AuditRecord::begin(
        Direction::SamlToJwt,
        time,
        &format!("request-{i}"),
        Some("127.0.0.1"),
    );
    r.outcome = Outcome::Issued;
    r.output_token_id = Some(format!("token-{i}"));
    r
}

#[test]
fn migrate_is_idempotent_and_a_missing_or_newer_schema_is_refused() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let db = Database::open(&settings(&url, 1), "test").unwrap();
    let err = migrations::check(&db).unwrap_err().0;
    assert!(err.contains("db migrate"), "{err}");
    let err = PgAuditSink::open(
        Database::open(&settings(&url, 1), "test").unwrap(),
        AuditSettings::default(),
        None,
        xua_gateway::clock::system(),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(err.0.contains("audit_head"), "{err}");

    assert_eq!(
        migrations::migrate(&db).unwrap(),
        vec![migrations::current()]
    );
    assert_eq!(migrations::migrate(&db).unwrap(), Vec::<i32>::new());
    migrations::check(&db).unwrap();

    // Two migrations at once take turns under the advisory lock.
    let other = server.database();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let url = other.clone();
            std::thread::spawn(move || {
                let db = Database::open(&settings(&url, 1), "test").unwrap();
                migrations::migrate(&db).unwrap().len()
            })
        })
        .collect();
    let applied: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(applied, 1);

    server
        .client(url.rsplit('/').next().unwrap().split('?').next().unwrap())
        .batch_execute(
            "INSERT INTO schema_version (version, description) VALUES (99, 'from the future')",
        )
        .unwrap();
    let err = migrations::check(&db).unwrap_err().0;
    assert!(err.contains("version 99") && err.contains("newer"), "{err}");
    assert!(migrations::migrate(&db).is_err());
}

#[test]
fn replay_is_atomic_across_two_pools_under_32_way_concurrency() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let a = Arc::new(replay(&url, 16, 1000));
    let b = Arc::new(replay(&url, 16, 1000));
    let now = t0();
    let until = now + time::Duration::minutes(5);
    for round in 0..5 {
        let key = ReplayKey::saml("https://idp.example", &format!("_same-{round}"));
        let barrier = Arc::new(Barrier::new(32));
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .check_and_insert(&key, until, now)
                        .map_err(|e| e.class)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(admitted, 1, "round {round}: {results:?}");
        assert!(results
            .iter()
            .all(|r| r.is_ok() || *r == Err(ErrorClass::Replay)));
    }
    // Distinct keys all pass, and each is then a replay at the other instance.
    let keys: Vec<ReplayKey> = (0..32)
        .map(|i| ReplayKey::jwt("iss", &format!("jti-{i}")))
        .collect();
    for k in &keys {
        a.check_and_insert(k, until, now).unwrap();
    }
    for k in &keys {
        assert_eq!(
            b.check_and_insert(k, until, now).map_err(|e| e.class),
            Err(ErrorClass::Replay)
        );
    }
}

#[test]
fn an_expired_entry_is_replaced_a_live_one_refused_and_release_forgets() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let a = replay(&url, 2, 1000);
    let b = replay(&url, 2, 1000);
    let now = t0();
    let key = ReplayKey::saml("idp", "_a");
    let until = now + time::Duration::minutes(5);
    a.check_and_insert(&key, until, now).unwrap();
    let again = b.check_and_insert(&key, until, now + time::Duration::minutes(4));
    assert_eq!(again.map_err(|e| e.class), Err(ErrorClass::Replay));
    // At `until` the entry may be replaced (the token itself is no longer acceptable).
    b.check_and_insert(&key, until + time::Duration::minutes(5), until)
        .unwrap();
    assert_eq!(
        a.check_and_insert(&key, until, until).map_err(|e| e.class),
        Err(ErrorClass::Replay)
    );
    // An already expired token takes no row, but a live entry still refuses it.
    let gone = ReplayKey::saml("idp", "_gone");
    a.check_and_insert(&gone, now, now).unwrap();
    assert_eq!(
        a.check_and_insert(&key, now, now).map_err(|e| e.class),
        Err(ErrorClass::Replay)
    );
    // release forgets only the released key, for every instance.
    let other = ReplayKey::jwt("i", "b");
    a.check_and_insert(&other, until, now).unwrap();
    a.release(&key);
    b.check_and_insert(&key, until, now).unwrap();
    assert!(b.check_and_insert(&other, until, now).is_err());
}

#[test]
fn expired_entries_are_purged_in_bounded_batches() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let cache = replay(&url, 2, 10);
    let now = t0();
    let soon = now + time::Duration::seconds(1);
    let later = now + time::Duration::hours(1);
    for i in 0..1500 {
        cache
            .check_and_insert(&ReplayKey::saml("idp", &format!("_short{i}")), soon, now)
            .unwrap();
    }
    for i in 0..20 {
        cache
            .check_and_insert(&ReplayKey::saml("idp", &format!("_long{i}")), later, now)
            .unwrap();
    }
    assert_eq!(cache.len(), 1520);
    let after = now + time::Duration::seconds(2);
    // One round runs at most MAX_BATCHES_PER_ROUND statements of purge_batch rows.
    let bound = u64::from(xua_gateway::store::postgres::replay::MAX_BATCHES_PER_ROUND) * 10;
    assert_eq!(cache.purge_expired(after).unwrap(), bound);
    assert_eq!(cache.purge_expired(after).unwrap(), 1500 - bound);
    assert_eq!(cache.purge_expired(after).unwrap(), 0);
    assert_eq!(cache.len(), 20);
    // The live ones are all still refused.
    for i in 0..20 {
        let r = cache.check_and_insert(&ReplayKey::saml("idp", &format!("_long{i}")), later, after);
        assert_eq!(r.map_err(|e| e.class), Err(ErrorClass::Replay));
    }
}

#[test]
fn two_writers_append_to_one_chain_that_verifies() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let a: Arc<dyn AuditSink> = Arc::new(sink(&url, 256));
    let b: Arc<dyn AuditSink> = Arc::new(sink(&url, 256));
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let s = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for i in 0..50 {
                    s.write(&record(t * 1000 + i, t0())).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let db = database(&url, 1);
    let report = read::verify(&db).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records, 800, "{report:?}");
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(800));
    // Every record is there exactly once.
    let mut client = server.client(url.rsplit('/').next().unwrap().split('?').next().unwrap());
    let distinct: i64 = client
        .query_one(
            "SELECT count(DISTINCT output_token_id) FROM audit_record",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(distinct, 800);
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

#[test]
fn a_tampered_removed_or_truncated_record_is_found_by_number() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    {
        let s = sink(&url, 1);
        for i in 0..20 {
            s.write(&record(i, t0())).unwrap();
        }
    }
    let db = database(&url, 1);
    let mut client = server.client(&db_name(&url));
    assert_eq!(read::verify(&db).unwrap().broken, None);

    client
        .batch_execute("UPDATE audit_record SET patient_id = '13116900216' WHERE seq = 7")
        .unwrap();
    let broken = read::verify(&db).unwrap().broken.unwrap();
    assert_eq!(broken.seq, 7, "{}", broken.reason);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
    client
        .batch_execute("UPDATE audit_record SET patient_id = NULL WHERE seq = 7")
        .unwrap();
    assert_eq!(read::verify(&db).unwrap().broken, None);

    client
        .batch_execute("DELETE FROM audit_record WHERE seq = 20")
        .unwrap();
    let broken = read::verify(&db).unwrap().broken.unwrap();
    assert_eq!(broken.seq, 20, "{}", broken.reason);
    assert!(broken.reason.contains("head"), "{}", broken.reason);

    client
        .batch_execute("DELETE FROM audit_record WHERE seq = 5")
        .unwrap();
    let report = read::verify(&db).unwrap();
    assert_eq!(report.broken.as_ref().map(|b| b.seq), Some(5));
    assert_eq!(report.records, 4);
}

#[test]
fn retention_pruning_keeps_an_anchor_and_the_rest_verifies() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let old = t0() - time::Duration::days(400);
    {
        let s = sink(&url, 16);
        for i in 0..30 {
            s.write(&record(i, if i < 20 { old } else { t0() }))
                .unwrap();
        }
    }
    let db = database(&url, 1);
    let cutoff = t0() - time::Duration::days(365);
    let cutoff_ms = i64::try_from(cutoff.unix_timestamp_nanos() / 1_000_000).unwrap();
    let now = xua_gateway::clock::rfc3339(t0());
    assert_eq!(read::prune(&db, cutoff_ms, &now, 15).unwrap(), 15);
    assert_eq!(read::prune(&db, cutoff_ms, &now, 15).unwrap(), 5);
    assert_eq!(read::prune(&db, cutoff_ms, &now, 15).unwrap(), 0);
    let report = read::verify(&db).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.anchor.as_ref().map(|a| a.0), Some(20));
    assert_eq!(report.records, 10);
    // New records continue the chain after pruning.
    sink(&url, 1).write(&record(99, t0())).unwrap();
    assert_eq!(read::verify(&db).unwrap().head.map(|h| h.0), Some(31));
}

#[test]
fn pruning_while_another_instance_commits_never_removes_fresh_records() {
    // Retention runs when an instance's writer starts and then every so often, while other instances
    // commit: a prune that began on an empty log must not take a record committed while it ran. The
    // window is between two of its statements, so the race is run many times on an emptied log.
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let db = Arc::new(database(&url, 2));
    let cutoff = t0() - time::Duration::days(365);
    let cutoff_ms = i64::try_from(cutoff.unix_timestamp_nanos() / 1_000_000).unwrap();
    let now = xua_gateway::clock::rfc3339(t0());
    let s = sink(&url, 1);
    let mut client = server.client(&name);
    for round in 0..40 {
        client
            .batch_execute(
                "TRUNCATE audit_record; DELETE FROM audit_anchor; \
                 UPDATE audit_head SET seq = 0, hash = repeat('0', 64)",
            )
            .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pruner = {
            let (db, stop, now) = (db.clone(), stop.clone(), now.clone());
            std::thread::spawn(move || {
                let mut pruned = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    pruned += read::prune(&db, cutoff_ms, &now, 1000).unwrap();
                }
                pruned
            })
        };
        std::thread::sleep(Duration::from_millis(5));
        s.write(&record(round, t0())).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            pruner.join().unwrap(),
            0,
            "round {round}: a fresh record was pruned"
        );
        let report = read::verify(&db).unwrap();
        assert_eq!((report.records, report.anchor), (1, None), "round {round}");
    }
}

#[test]
fn a_sqlite_log_moves_to_postgres_with_its_chain() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    {
        let s = SqliteSink::open(
            &path,
            AuditSettings::default(),
            None,
            xua_gateway::clock::system(),
        )
        .unwrap();
        let old = t0() - time::Duration::days(400);
        for i in 0..40 {
            s.write(&record(i, if i < 10 { old } else { t0() }))
                .unwrap();
        }
    }
    // Pruned first, so the export carries an anchor.
    let mut conn = sqlite::connect(&path, false).unwrap();
    let cutoff =
        i64::try_from((t0() - time::Duration::days(365)).unix_timestamp_nanos() / 1_000_000)
            .unwrap();
    assert_eq!(sqlite::prune(&mut conn, cutoff, "now", 100).unwrap(), 10);
    let before = sqlite::verify(&conn).unwrap();
    assert_eq!(before.broken, None);
    drop(conn);

    let export = dir.path().join("audit.jsonl");
    let exported = transfer::export(&path, &export).unwrap();
    assert_eq!(exported.records, 30);
    assert_eq!(exported.head, before.head);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the export is readable by others: {mode:o}"
        );
    }
    assert!(
        transfer::export(&path, &export).is_err(),
        "an export overwrote a file"
    );

    let url = server.database();
    let db = database(&url, 1);
    let imported = transfer::import(&db, &export, "now").unwrap();
    assert_eq!(imported.head, before.head);
    let after = read::verify(&db).unwrap();
    assert_eq!(after.broken, None);
    assert_eq!(after.records, 30);
    assert_eq!(after.head, before.head);
    assert_eq!(after.anchor, before.anchor);
    // The cluster goes on writing the same chain.
    sink(&url, 1).write(&record(1000, t0())).unwrap();
    let continued = read::verify(&db).unwrap();
    assert_eq!(continued.broken, None);
    assert_eq!(continued.head.map(|h| h.0), Some(41));
    // Only into an empty log.
    let err = transfer::import(&db, &export, "now").unwrap_err().0;
    assert!(err.contains("empty"), "{err}");

    // A changed line is refused by number, and nothing is imported.
    let text = std::fs::read_to_string(&export).unwrap();
    let tampered: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 5 {
                l.replace("request-", "request-X")
            } else {
                l.to_string()
            }
        })
        .collect();
    let bad = dir.path().join("tampered.jsonl");
    std::fs::write(&bad, tampered.join("\n")).unwrap();
    let url2 = server.database();
    let db2 = database(&url2, 1);
    let err = transfer::import(&db2, &bad, "now").unwrap_err().0;
    assert!(err.contains("line 6"), "{err}");
    let report = read::verify(&db2).unwrap();
    assert_eq!((report.records, report.anchor), (0, None));
}

#[test]
fn the_database_going_away_gives_unavailable_and_coming_back_needs_no_restart() {
    let Some(mut server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let cache = replay(&url, 4, 1000);
    let log = sink(&url, 16);
    let now = t0();
    let until = now + time::Duration::minutes(5);
    cache
        .check_and_insert(&ReplayKey::saml("i", "before"), until, now)
        .unwrap();
    log.write(&record(1, now)).unwrap();
    assert!(cache.ready().is_ok() && log.ready().is_ok());

    server.stop();
    let r = cache.check_and_insert(&ReplayKey::saml("i", "during"), until, now);
    assert_eq!(r.map_err(|e| e.class), Err(ErrorClass::Unavailable));
    assert!(
        log.write(&record(2, now)).is_err(),
        "a record was acknowledged with the database down"
    );
    let why = cache.ready().unwrap_err();
    assert!(why.contains("PostgreSQL"), "{why}");
    assert!(log.ready().is_err());

    server.restart();
    PgServer::eventually(Duration::from_secs(20), "the stores recover", || {
        cache.ready().is_ok() && log.ready().is_ok()
    });
    cache
        .check_and_insert(&ReplayKey::saml("i", "after"), until, now)
        .unwrap();
    assert_eq!(
        cache
            .check_and_insert(&ReplayKey::saml("i", "before"), until, now)
            .map_err(|e| e.class),
        Err(ErrorClass::Replay)
    );
    log.write(&record(3, now)).unwrap();
    let db = database(&url, 1);
    let report = read::verify(&db).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records, 2);
}
