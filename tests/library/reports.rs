//! The access log's two reports on a generated log with known patterns (`reports::synthetic`), written
//! through the real stores, SQLite and PostgreSQL alike, and read back through the one `AuditLog`
//! interface: every planted pattern is flagged and nothing else is, the same seed draws the same sample,
//! the insight report holds exactly the patient's own accesses in words in both languages, and a tampered
//! record makes both reports refuse with its number.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use crate::pg::PgServer;
use xua_gateway::audit::log::{AuditLog, ReadError};
use xua_gateway::audit::sqlite::{Settings as AuditSettings, SqliteLog, SqliteSink};
use xua_gateway::audit::{AuditRecord, AuditSink};
use xua_gateway::config::database::DatabaseConfig;
use xua_gateway::model::Outcome;
use xua_gateway::reports::flags::FlagKind;
use xua_gateway::reports::period::Period;
use xua_gateway::reports::review::{self, Review, ReviewRequest};
use xua_gateway::reports::synthetic::{generate, Cast, Plan};
use xua_gateway::reports::tables::{Lang, Tables};
use xua_gateway::reports::{insight, PAGE_POLICY};
use xua_gateway::rules::CodeTables;
use xua_gateway::store::postgres::audit::PgAuditSink;
use xua_gateway::store::postgres::log::PgLog;
use xua_gateway::store::postgres::{migrations, Database, Settings};

/// A folder in memory where there is one (the log's fsyncs then cost nothing), else a temporary one.
pub fn scratch() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("xua-rep-")
            .tempdir_in("/dev/shm")
        {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn tables() -> (Tables, CodeTables) {
    let codes = CodeTables::embedded().unwrap();
    (Tables::embedded(&codes).unwrap(), codes)
}

/// Writes the small plan through `sink` in order and returns the records (record n is `records[n - 1]`).
fn fill(sink: &dyn AuditSink, tables: &Tables) -> (Vec<AuditRecord>, Cast) {
    let mut records = Vec::new();
    let cast = generate(&Plan::small(), &tables.zone, &mut |r| {
        sink.write(&r).unwrap();
        records.push(r);
    });
    (records, cast)
}

fn seq_of(records: &[AuditRecord], request_id: &str) -> i64 {
    records
        .iter()
        .position(|r| r.request_id == request_id)
        .map(|i| i as i64 + 1)
        .unwrap_or_else(|| panic!("no record {request_id}"))
}

fn seqs_where(records: &[AuditRecord], f: impl Fn(&AuditRecord) -> bool) -> Vec<i64> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| f(r))
        .map(|(i, _)| i as i64 + 1)
        .collect()
}

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-12-02 09:00 UTC)
}

fn request(tables: &Tables, cast: &Cast, seed: u64, lang: Lang) -> ReviewRequest {
    ReviewRequest {
        period: Period::parse(&Plan::small().review_period(), &tables.zone).unwrap(),
        seed,
        sample: 10,
        watch_list: BTreeSet::from([cast.watched.clone()]),
        lang,
    }
}

/// The findings as (flag, records), in the report's order.
fn found(review: &Review) -> Vec<(FlagKind, Vec<i64>)> {
    review
        .findings
        .iter()
        .map(|f| (f.flag, f.records()))
        .collect()
}

fn expected_findings(
    records: &[AuditRecord],
    tables: &Tables,
    cast: &Cast,
) -> Vec<(FlagKind, Vec<i64>)> {
    let one = |id: &str| vec![seq_of(records, id)];
    let snooper_day = seqs_where(records, |r| {
        r.outcome == Outcome::Issued
            && r.context
                .as_ref()
                .and_then(|c| c.practitioner.identifier.as_ref())
                .map(|i| i.id.as_str())
                == Some(cast.snooper.as_str())
            && tables.zone.local(r.time).date == cast.snoop_day
    });
    assert!(snooper_day.len() > 40, "{snooper_day:?}");
    let burst: Vec<i64> = (0..6)
        .map(|i| seq_of(records, &format!("planted-burst-{i}")))
        .collect();
    vec![
        (FlagKind::WatchList, one("planted-watched-0")),
        (FlagKind::SelfLookup, one("planted-self-0")),
        (FlagKind::UnusualVolume, snooper_day),
        (FlagKind::OutsideHours, one("planted-night-0")),
        (FlagKind::OutsideHours, one("planted-night-1")),
        (FlagKind::RefusalBurst, burst),
        (FlagKind::Emergency, one("planted-emergency-0")),
        (FlagKind::RuleOverride, one("planted-fastlege-0")),
    ]
}

/// Everything the reports must do, on one store.
fn reports_work_on(log: &dyn AuditLog, records: &[AuditRecord], cast: &Cast) {
    let (tables, codes) = tables();

    // Every planted pattern is flagged, and nothing else is.
    let review = review::build(
        log,
        &tables,
        &codes,
        &request(&tables, cast, 42, Lang::En),
        now(),
    )
    .unwrap();
    assert_eq!(found(&review), expected_findings(records, &tables, cast));
    let planted = seqs_where(records, |r| r.request_id.starts_with("planted-"));
    let flagged: BTreeSet<i64> = review.findings.iter().flat_map(|f| f.records()).collect();
    for s in &planted {
        assert!(flagged.contains(s), "planted record {s} is not flagged");
    }
    assert!(review.chain.verified);
    assert_eq!(review.chain.head, Some(records.len() as i64));
    assert_eq!(
        review.counts.refusals as usize,
        seqs_where(records, |r| {
            r.outcome == Outcome::Rejected && tables.zone.local(r.time).date.month() == 11
        })
        .len()
    );
    let burst = review
        .findings
        .iter()
        .find(|f| f.flag == FlagKind::RefusalBurst)
        .unwrap();
    assert_eq!(
        burst.detail.as_deref(),
        Some("6 refused attempts within 10 minutes")
    );

    // The same seed draws the same sample; another seed another one; both from the period's accesses.
    let again = review::build(
        log,
        &tables,
        &codes,
        &request(&tables, cast, 42, Lang::Nb),
        now(),
    )
    .unwrap();
    let sample = |r: &Review| r.sample.iter().map(|i| i.record).collect::<Vec<_>>();
    assert_eq!(sample(&review).len(), 10);
    assert_eq!(sample(&review), sample(&again));
    let other = review::build(
        log,
        &tables,
        &codes,
        &request(&tables, cast, 43, Lang::En),
        now(),
    )
    .unwrap();
    assert_ne!(sample(&review), sample(&other));
    for s in sample(&review) {
        let r = &records[(s - 1) as usize];
        assert_eq!(r.outcome, Outcome::Issued);
        assert_eq!(tables.zone.local(r.time).date.month(), 11);
    }
    assert_eq!(
        again.findings.len(),
        review.findings.len(),
        "the language changes words only"
    );
    assert_eq!(
        again.findings[0].title,
        "Oppslag på en pasient på overvåkingslisten"
    );

    // The insight report: exactly the patient's granted accesses, newest first, refusals apart, in words.
    let accepted = seqs_where(records, |r| {
        r.outcome == Outcome::Issued && patient(r) == Some(cast.insight_patient.as_str())
    });
    let refused = seqs_where(records, |r| {
        r.outcome == Outcome::Rejected && patient(r) == Some(cast.insight_patient.as_str())
    });
    assert_eq!((accepted.len(), refused.len()), (3, 1));
    let fastlege = seq_of(records, "planted-fastlege-0");
    for (lang, doctor, treatment, gp_service, service) in [
        (
            Lang::Nb,
            "Lege",
            "Behandling",
            "Fastlegetjeneste",
            "Dokumentdeling i Norsk helsenett",
        ),
        (
            Lang::En,
            "Doctor",
            "Treatment",
            "Regular GP service",
            "Document sharing in the Norwegian Health Network",
        ),
    ] {
        let report =
            insight::build(log, &tables, &codes, &cast.insight_patient, lang, now()).unwrap();
        let mut listed: Vec<i64> = report.accesses.iter().map(|a| a.record).collect();
        assert!(
            listed.windows(2).all(|w| w[0] > w[1]),
            "newest first: {listed:?}"
        );
        listed.sort();
        assert_eq!(listed, accepted);
        assert_eq!(
            report.refused.iter().map(|r| r.record).collect::<Vec<_>>(),
            refused
        );
        for a in &report.accesses {
            assert!(a.who.name.starts_with("TEST HELSEPERSONELL"), "{a:?}");
            assert!(a.who.hpr.is_some());
            for c in &a.who.category {
                assert!(
                    !["LE", "SP"].contains(&c.as_str()),
                    "a code, not a word: {c}"
                );
            }
            assert!(
                a.organisation.is_some() && a.point_of_care.is_some(),
                "{a:?}"
            );
            assert!(!a.why.purpose.is_empty());
            for p in &a.why.purpose {
                assert!(!["TREAT", "COC"].contains(&p.as_str()), "{p}");
            }
            let s = a.why.service.as_deref().unwrap();
            assert!(!["KA01", "S03", "S08", "KP02"].contains(&s), "{s}");
            assert_eq!(a.received_by, service);
            assert!(a.valid_until.is_some());
            assert_eq!(a.why.as_regular_gp, a.record == fastlege, "{a:?}");
        }
        let gp = report
            .accesses
            .iter()
            .find(|a| a.record == fastlege)
            .unwrap();
        assert_eq!(gp.who.category, vec![doctor]);
        assert_eq!(gp.why.purpose, vec![treatment]);
        assert_eq!(gp.why.service.as_deref(), Some(gp_service));
        let refusal = &report.refused[0];
        assert!(
            refusal.reason.len() > 20 && !refusal.reason.contains("hpr_nr"),
            "{refusal:?}"
        );
        // No other patient's identifier, and no practitioner's national identity number, in any format.
        for format in [
            insight::Format::Json,
            insight::Format::Text,
            insight::Format::Html,
        ] {
            let out = insight::render(&report, &tables, format);
            assert!(out.contains(&cast.insight_patient));
            assert!(
                !out.contains("20005"),
                "another patient's identifier in {format:?}"
            );
            assert!(
                !out.contains("00001000"),
                "a practitioner's identity number in {format:?}"
            );
        }
        self_contained(&insight::render(&report, &tables, insight::Format::Html));
    }
    let html = review::render(&review, &tables, review::Format::Html).unwrap();
    self_contained(&html);
    assert_eq!(
        html.matches("type=\"checkbox\"").count(),
        review.findings.len() + 10
    );
    let csv = review::render(&review, &tables, review::Format::Csv).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(
        rows[0][3].contains("seed 42")
            && rows[0][3].contains(&format!("chain head {}", records.len()))
    );
    let items: usize = review.findings.iter().map(|f| f.items.len()).sum();
    assert_eq!(rows.len(), 1 + items + 10);
}

fn patient(r: &AuditRecord) -> Option<&str> {
    r.context
        .as_ref()?
        .patients
        .first()?
        .identifier
        .as_ref()
        .map(|i| i.id.as_str())
}

/// Nothing in the page can make a request: no element that loads, no URL, and a policy that forbids it.
pub fn self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "<form", "src=", "href=",
        "url(", "@import", "http:", "https:",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad}");
    }
    assert!(
        html.contains(&format!(
            "content=\"{}\"",
            PAGE_POLICY.replace('\'', "&apos;")
        )),
        "the page's own policy"
    );
}

/// Both reports refuse a log with a changed record, naming it.
fn tampered_log_is_refused(log: &dyn AuditLog, cast: &Cast, seq: i64) {
    let (tables, codes) = tables();
    let err =
        insight::build(log, &tables, &codes, &cast.insight_patient, Lang::Nb, now()).unwrap_err();
    assert!(
        matches!(&err, ReadError::Broken(b) if b.seq == seq),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("record {seq} ")), "{err}");
    let err = review::build(
        log,
        &tables,
        &codes,
        &request(&tables, cast, 1, Lang::Nb),
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ReadError::Broken(b) if b.seq == seq),
        "{err}"
    );
}

#[test]
fn the_reports_on_the_sqlite_store() {
    let dir = scratch();
    let path = dir.path().join("audit.sqlite");
    let (tables, _) = tables();
    let sink = SqliteSink::open(
        &path,
        AuditSettings {
            retention_days: 0,
            ..AuditSettings::default()
        },
        None,
        xua_gateway::clock::system(),
    )
    .unwrap();
    let (records, cast) = fill(&sink, &tables);
    drop(sink);
    let log = SqliteLog::open(&path).unwrap();
    reports_work_on(&log, &records, &cast);

    let k = seq_of(&records, "insight-1");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE audit_record SET point_of_care_name = 'Elsewhere' WHERE seq = ?1",
        [k],
    )
    .unwrap();
    tampered_log_is_refused(&log, &cast, k);
}

#[test]
fn a_missing_sqlite_log_is_not_created() {
    let dir = scratch();
    let path = dir.path().join("typo.sqlite");
    assert!(SqliteLog::open(&path).is_err());
    assert!(!path.exists());
}

#[test]
fn the_reports_on_the_postgres_store() {
    let Some(server) = PgServer::start() else {
        return;
    };
    let url = server.database();
    let config = DatabaseConfig {
        statement_timeout_ms: 5000,
        ..DatabaseConfig::default()
    };
    let open = || {
        let db = Database::open(&Settings::new(&url, &config).with_pool_size(2), "test").unwrap();
        migrations::migrate(&db).unwrap();
        db
    };
    let (tables, _) = tables();
    let sink = PgAuditSink::open(
        open(),
        AuditSettings {
            retention_days: 0,
            commit_timeout: Duration::from_secs(5),
            ..AuditSettings::default()
        },
        None,
        xua_gateway::clock::system(),
    )
    .unwrap();
    let (records, cast) = fill(&sink, &tables);
    drop(sink);
    let log = PgLog::new(open());
    reports_work_on(&log, &records, &cast);

    let k = seq_of(&records, "planted-watched-0");
    let name = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    server.with_client(&name, |c| {
        c.execute(
            "UPDATE audit_record SET patient_id = '29999999902' WHERE seq = $1",
            &[&k],
        )
        .unwrap();
    });
    tampered_log_is_refused(&log, &cast, k);
}
