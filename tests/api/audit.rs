//! The access log: one full record per attempt in the SQLite store, no token without a record, the hash
//! chain and `audit verify`, retention, `audit query`, and the `/metrics` and `/readyz` endpoints.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rusqlite::Connection;
use serde_json::Value;
use time::OffsetDateTime;
use xua_gateway::audit::sqlite::{self, Settings, SqliteSink};
use xua_gateway::audit::{AuditError, AuditRecord, AuditSink, MemorySink, OverrideAudit};
use xua_gateway::clock::{self, FixedClock};
use xua_gateway::config::LoadedConfig;
use xua_gateway::http::Application;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::model::Coded;
use xua_gateway::model::{Direction, Outcome};
use xua_gateway::observability::readiness::FnCheck;
use xua_gateway::startup::Gateway;

use crate::binary::{audit_cli, write_config};
use crate::helpers::*;

struct App {
    address: String,
    gateway: Arc<Gateway>,
    client: reqwest::Client,
}

async fn spawn_with(sink: Arc<dyn AuditSink>) -> App {
    let loaded = LoadedConfig::embedded().unwrap();
    let gateway = Arc::new(Gateway::build(loaded, clock::system(), Some(sink)).unwrap());
    let app = Application::build(gateway.clone(), "127.0.0.1:0", 1).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    App {
        address,
        gateway,
        client: reqwest::Client::new(),
    }
}

impl App {
    async fn exchange(&self, xml: &[u8], request_id: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(xml);
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", token.as_str()),
        ];
        form.extend_from_slice(extra);
        let res = self
            .client
            .post(format!("{}/token", self.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Request-Id", request_id)
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

fn open_sink(path: &Path) -> Arc<SqliteSink> {
    Arc::new(SqliteSink::open(path, Settings::default(), None, clock::system()).unwrap())
}

/// One column of the only record with this request id (and proof that there is exactly one).
fn column(conn: &Connection, request_id: &str, name: &str) -> Option<String> {
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit_record WHERE request_id = ?1",
            [request_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "exactly one record for {request_id}");
    conn.query_row(
        &format!("SELECT CAST({name} AS TEXT) FROM audit_record WHERE request_id = ?1"),
        [request_id],
        |r| r.get(0),
    )
    .unwrap()
}

fn tampered(xml: &[u8]) -> Vec<u8> {
    String::from_utf8(xml.to_vec())
        .unwrap()
        .replace("21868534521", "14035234595")
        .into_bytes()
}

#[actix_web::test]
async fn accepted_and_rejected_exchanges_each_write_one_full_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let sink = open_sink(&db);
    let app = spawn_with(sink.clone()).await;

    let xml = mint_now("hospital-physician.json");
    let (status, body) = app
        .exchange(&xml, "accepted-1", &[("audience", "nhn:dokumentdeling")])
        .await;
    assert_eq!(status, 200, "{body}");
    let jti = payload(body["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = app
        .exchange(&tampered(&mint_now("fastlege.json")), "rejected-sig", &[])
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .exchange(
            &mint_now("fastlege.json"),
            "rejected-target",
            &[("audience", "https://elsewhere.example")],
        )
        .await;
    assert_eq!(status, 400);

    let conn = sqlite::connect(&db, false).unwrap();
    let col = |id: &str, name: &str| column(&conn, id, name);
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_record", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 3);

    // Accepted: who, affiliation, grounds, patient, period, tokens, request.
    let a = "accepted-1";
    let expect = [
        ("direction", "saml-to-jwt"),
        ("outcome", "issued"),
        ("input_issuer", "https://idp.test.xua-gateway.example"),
        ("output_audience", "nhn:dokumentdeling"),
        ("profile", "no-pjd"),
        ("client_address", "127.0.0.1"),
        ("practitioner_id", "30817534585"),
        ("practitioner_name", "TEST OVERLEGE MOE"),
        ("hpr_nr", "9144900"),
        ("legal_entity_id", "993467049"),
        ("legal_entity_name", "OSLO UNIVERSITETSSYKEHUS HF"),
        ("point_of_care_id", "874716782"),
        ("department_id", "705592"),
        ("department_name", "Anestesiologi Seksjon RH"),
        ("purpose_of_use_details", "BEHANDLER"),
        ("decision_ref_id", "30F4AB40-DBC2-41A7-8AC4-181AD3FDC25B"),
        ("decision_ref_user_selected", "1"),
        ("patient_id", "03128734502"),
    ];
    for (name, value) in expect {
        assert_eq!(col(a, name).as_deref(), Some(value), "column {name}");
    }
    assert_eq!(col(a, "output_token_id"), Some(jti));
    for name in [
        "time",
        "time_ms",
        "input_token_id",
        "output_expires",
        "authorization",
        "purpose_of_use",
        "healthcare_service",
        "record_json",
        "hash",
        "prev_hash",
    ] {
        assert!(col(a, name).is_some_and(|v| !v.is_empty()), "column {name}");
    }
    assert_eq!(col(a, "error_class"), None);
    assert_eq!(col(a, "healthcare_service_original"), None);
    // The JSON copy is the whole record, and reads back as one.
    let record: AuditRecord = serde_json::from_str(&col(a, "record_json").unwrap()).unwrap();
    assert_eq!(record.outcome, Outcome::Issued);
    assert_eq!(record.request_id, a);
    let ctx = record.context.unwrap();
    assert_eq!(
        ctx.practitioner.authorization[0].code,
        col(a, "authorization").unwrap()
    );

    // Rejected: the attempt, its class and where it came from; nothing issued.
    for (id, class) in [("rejected-sig", "SIG"), ("rejected-target", "TARGET")] {
        assert_eq!(col(id, "outcome").as_deref(), Some("rejected"));
        assert_eq!(col(id, "error_class").as_deref(), Some(class));
        assert!(col(id, "error").is_some());
        assert_eq!(col(id, "output_token_id"), None);
        assert_eq!(col(id, "output_expires"), None);
        assert_eq!(col(id, "client_address").as_deref(), Some("127.0.0.1"));
    }

    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records, 3);
}

fn sample_record(claims: &str, request_id: &str, time: OffsetDateTime) -> AuditRecord {
    let context = profiles()
        .default_profile()
        .decode_claims_unverified(&claims_file(claims))
        .unwrap();
    let mut r = AuditRecord::begin(Direction::SamlToJwt, time, request_id, Some("192.0.2.7"));
    r.outcome = Outcome::Issued;
    r.output_token_id = Some(format!("jti-{request_id}"));
    r.context = Some(context);
    r
}

/// Six records written through the store, which is then closed.
fn six_records(db: &Path) {
    let sink = open_sink(db);
    let now = OffsetDateTime::now_utc();
    for (i, claims) in [
        "fastlege.json",
        "municipal-nurse.json",
        "hospital-physician.json",
        "fastlege.json",
        "municipal-nurse.json",
        "hospital-physician.json",
    ]
    .iter()
    .enumerate()
    {
        sink.write(&sample_record(claims, &format!("r{}", i + 1), now))
            .unwrap();
    }
}

#[test]
fn a_tampered_audit_database_fails_verify_at_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    six_records(&db);
    let config = write_config(dir.path(), &db, "", "");

    let (ok, out, err) = audit_cli(&config, &["verify"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ok: 6 records verified; head is record 6"),
        "{out}"
    );

    // Someone changes whose records were accessed in record 4.
    let conn = Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE audit_record SET patient_id = '14035234595' WHERE seq = 4",
        [],
    )
    .unwrap();
    let (ok, out, err) = audit_cli(&config, &["verify"]);
    assert!(!ok, "verify must fail: {out}");
    assert!(out.contains("BROKEN at record 4:"), "{out}");
    assert!(out.contains("3 records before it verified"), "{out}");
    assert!(err.contains("broken at record 4"), "{err}");

    // Put it back: verifies again (the hash covers the value, not the act of writing).
    conn.execute(
        "UPDATE audit_record SET patient_id = '21868534521' WHERE seq = 4",
        [],
    )
    .unwrap();
    assert!(audit_cli(&config, &["verify"]).0);

    // Rewriting a record's JSON copy is caught too.
    conn.execute(
        "UPDATE audit_record SET record_json = replace(record_json, 'issued', 'rejected') WHERE seq = 2",
        [],
    )
    .unwrap();
    let (ok, out, _) = audit_cli(&config, &["verify"]);
    assert!(!ok);
    assert!(out.contains("BROKEN at record 2:"), "{out}");
    conn.execute(
        "UPDATE audit_record SET record_json = replace(record_json, 'rejected', 'issued') WHERE seq = 2",
        [],
    )
    .unwrap();

    // Removing a record in the middle is named as the gap.
    conn.execute("DELETE FROM audit_record WHERE seq = 5", [])
        .unwrap();
    let (ok, out, _) = audit_cli(&config, &["verify"]);
    assert!(!ok);
    assert!(
        out.contains("BROKEN at record 5: record 5 is missing"),
        "{out}"
    );
}

#[test]
fn a_flipped_byte_in_the_database_file_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    six_records(&db);
    // Fold the WAL into the main file so the bytes are where we look for them.
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&db).unwrap();
    // A letter of a practitioner's name (plain ASCII in a TEXT cell: the file stays a valid database).
    let needle = b"TEST OVERLEGE MOE";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the practitioner's name is stored");
    bytes[at + 5] = b'X';
    std::fs::write(&db, &bytes).unwrap();
    let config = write_config(dir.path(), &db, "", "");
    let (ok, out, _) = audit_cli(&config, &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("BROKEN at record 3:") || out.contains("BROKEN at record 6:"),
        "{out}"
    );
}

#[test]
fn retention_prunes_old_records_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let old = OffsetDateTime::now_utc() - time::Duration::days(4000);
    let recent = OffsetDateTime::now_utc() - time::Duration::days(10);
    {
        let sink = open_sink(&db);
        for i in 0..4 {
            sink.write(&sample_record("fastlege.json", &format!("old{i}"), old))
                .unwrap();
        }
        for i in 0..3 {
            sink.write(&sample_record("fastlege.json", &format!("new{i}"), recent))
                .unwrap();
        }
    }
    // Opening with a 10-year retention prunes at start-up, from the writer thread.
    let settings = Settings {
        retention_days: 3650,
        ..Settings::default()
    };
    let clock = Arc::new(FixedClock(OffsetDateTime::now_utc()));
    let sink = SqliteSink::open(&db, settings, None, clock).unwrap();
    sink.write(&sample_record(
        "fastlege.json",
        "after",
        OffsetDateTime::now_utc(),
    ))
    .unwrap();
    drop(sink);

    let conn = sqlite::connect(&db, false).unwrap();
    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.records, 4, "3 recent + 1 written after pruning");
    assert_eq!(report.anchor.as_ref().map(|a| a.0), Some(4));
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(8));

    // A forged anchor does not let the first kept record verify.
    conn.execute("UPDATE audit_anchor SET hash = ?1", [&"00".repeat(32)])
        .unwrap();
    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken.map(|b| b.seq), Some(5));
}

#[derive(Debug)]
struct BrokenSink;

impl AuditSink for BrokenSink {
    fn write(&self, _: &AuditRecord) -> Result<(), AuditError> {
        Err(AuditError("disk full".into()))
    }
    fn ready(&self) -> Result<(), AuditError> {
        Err(AuditError("disk full".into()))
    }
    fn kind(&self) -> &'static str {
        "broken"
    }
}

#[actix_web::test]
async fn no_token_is_issued_when_the_record_cannot_be_written() {
    let app = spawn_with(Arc::new(BrokenSink)).await;
    let (status, body) = app.exchange(&mint_now("fastlege.json"), "nolog", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["error_class"], "UNAVAILABLE");
    assert!(body.get("access_token").is_none());
    assert!(
        !body.to_string().contains("disk full"),
        "internal detail leaked: {body}"
    );

    let (status, text) = app.get("/readyz").await;
    assert_eq!(status, 503, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["checks"]["audit"]["error"], "disk full");
    assert_eq!(ready["checks"]["keys"], "ok");
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "the process is up even when it cannot serve");
}

#[actix_web::test]
async fn a_commit_that_does_not_finish_in_time_issues_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let settings = Settings {
        commit_timeout: std::time::Duration::from_millis(300),
        ..Settings::default()
    };
    let sink = Arc::new(SqliteSink::open(&db, settings, None, clock::system()).unwrap());
    let app = spawn_with(sink).await;
    let (status, _) = app
        .exchange(&mint_now("fastlege.json"), "before", &[])
        .await;
    assert_eq!(status, 200);

    // Another process holds the write lock: the writer cannot commit.
    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let (status, body) = app
        .exchange(&mint_now("fastlege.json"), "stalled", &[])
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none());
    blocker.execute_batch("COMMIT;").unwrap();

    // Once the lock is gone, tokens flow again and the chain is whole. The stalled request's record may
    // land late (an access log may over-report a token that was never delivered, never under-report).
    let (status, _) = app.exchange(&mint_now("fastlege.json"), "after", &[]).await;
    assert_eq!(status, 200);
    let conn = sqlite::connect(&db, false).unwrap();
    assert_eq!(sqlite::verify(&conn).unwrap().broken, None);
}

#[actix_web::test]
async fn metrics_count_exchanges_and_time_every_stage() {
    let app = spawn_with(Arc::new(MemorySink::default())).await;
    let (status, _) = app.exchange(&mint_now("fastlege.json"), "m1", &[]).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .exchange(&tampered(&mint_now("fastlege.json")), "m2", &[])
        .await;
    assert_eq!(status, 400);
    app.gateway.pipeline().metrics().register_lookup(
        "fastlege",
        "file",
        xua_gateway::observability::metrics::RegisterOutcome::Listed,
    );
    app.gateway.pipeline().metrics().replay_cache_size(2);

    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"xua_exchanges_total{direction="saml-to-jwt",error_class="none",outcome="issued"} 1"#,
        r#"xua_exchanges_total{direction="saml-to-jwt",error_class="SIG",outcome="rejected"} 1"#,
        r#"xua_audit_write_duration_seconds_count{result="ok"} 2"#,
        r#"xua_register_lookups_total{backend="file",outcome="listed",register="fastlege"} 1"#,
        "xua_replay_cache_entries 2",
        r#"xua_http_requests_total{route="/token",status="200"} 1"#,
        r#"xua_http_requests_total{route="/token",status="400"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    for stage in ["verify", "decode", "encode", "sign", "audit"] {
        let line = format!(
            r#"xua_stage_duration_seconds_count{{direction="saml-to-jwt",stage="{stage}"}}"#
        );
        assert!(text.contains(&line), "missing {line}");
    }
    // Labels are fixed sets: no identifier, token id or request id ever becomes one.
    for leak in ["21868534521", "12837034688", "565501872", "m1", "jti"] {
        assert!(
            !text.contains(&format!("\"{leak}\"")),
            "{leak} appears as a label value"
        );
    }
}

#[actix_web::test]
async fn readiness_reports_registered_checks() {
    let app = spawn_with(Arc::new(MemorySink::default())).await;
    let (status, text) = app.get("/readyz").await;
    assert_eq!(status, 200, "{text}");
    app.gateway
        .readiness()
        .register(Arc::new(FnCheck::new("fastlege_register", || {
            Err("register unreachable and policy is reject".to_string())
        })));
    let (status, text) = app.get("/readyz").await;
    assert_eq!(status, 503);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["checks"]["fastlege_register"]["error"],
        "register unreachable and policy is reject"
    );
}

#[test]
fn audit_query_answers_the_patient_and_the_controller() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    six_records(&db);
    let config = write_config(dir.path(), &db, "", "");

    // The fastlege sample's patient: who looked (records 1 and 4, by the fastlege).
    let (ok, out, err) = audit_cli(
        &config,
        &["query", "--patient", "21868534521", "--format", "json"],
    );
    assert!(ok, "{err}");
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 4]
    );
    assert_eq!(
        rows[0]["record"]["context"]["practitioner"]["identifier"]["name"],
        "TEST FASTLEGE SVENDSEN"
    );

    // What one practitioner looked at, by HPR number or fødselsnummer.
    let (ok, out, _) = audit_cli(
        &config,
        &["query", "--practitioner", "9144900", "--format", "json"],
    );
    assert!(ok);
    assert_eq!(out.lines().count(), 2);
    let (_, out2, _) = audit_cli(
        &config,
        &["query", "--practitioner", "30817534585", "--format", "json"],
    );
    assert_eq!(out, out2);

    // Readable text for a patient's request.
    let (ok, out, _) = audit_cli(&config, &["query", "--patient", "03128734502"]);
    assert!(ok);
    assert!(
        out.contains("who:       TEST OVERLEGE MOE (id 30817534585, HPR 9144900"),
        "{out}"
    );
    assert!(
        out.contains("OSLO UNIVERSITETSSYKEHUS HF (993467049)"),
        "{out}"
    );
    assert!(out.contains("2 record(s)"), "{out}");

    // Time range.
    let (ok, out, _) = audit_cli(&config, &["query", "--since", "2100-01-01T00:00:00Z"]);
    assert!(ok);
    assert!(out.contains("0 record(s)"), "{out}");
    let (ok, out, _) = audit_cli(
        &config,
        &[
            "query",
            "--since",
            "2000-01-01T00:00:00Z",
            "--format",
            "json",
        ],
    );
    assert!(ok);
    assert_eq!(out.lines().count(), 6);

    // A filter is required; a bad time is refused.
    assert!(!audit_cli(&config, &["query"]).0);
    assert!(!audit_cli(&config, &["query", "--since", "yesterday"]).0);
}

#[test]
fn audit_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.sqlite");
    let config = write_config(dir.path(), &db, "", "");
    let (ok, _, err) = audit_cli(&config, &["verify"]);
    assert!(!ok);
    assert!(err.contains("cannot open the audit database"), "{err}");
    assert!(!db.exists());
}

#[test]
fn the_fastlege_override_lands_in_its_own_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let sink = open_sink(&db);
    let mut r = sample_record("fastlege.json", "gp", OffsetDateTime::now_utc());
    let ctx = r.context.as_mut().unwrap();
    let original = ctx.care_relationship.healthcare_service.replace(Coded {
        code: "KX17".into(),
        text: Some("Fastlege, liste uten fast lege".into()),
        system: None,
        assigner: None,
    });
    r.fastlege = Some(OverrideAudit {
        rule: "fastlege".into(),
        original,
        register_answer: "listed".into(),
    });
    sink.write(&r).unwrap();
    drop(sink);
    let conn = sqlite::connect(&db, false).unwrap();
    assert_eq!(
        column(&conn, "gp", "healthcare_service").as_deref(),
        Some("KX17")
    );
    assert_eq!(
        column(&conn, "gp", "healthcare_service_original").as_deref(),
        Some("KA01")
    );
    assert_eq!(
        column(&conn, "gp", "fastlege_rule").as_deref(),
        Some("fastlege")
    );
    assert_eq!(
        column(&conn, "gp", "register_answer").as_deref(),
        Some("listed")
    );
}

#[test]
fn audit_settings_are_checked_at_start_up() {
    let sample = std::fs::read_to_string(repo().join("samples/config.toml")).unwrap();
    let loaded = LoadedConfig::parse(&sample, xua_gateway::config::Origin::Embedded).unwrap();
    assert_eq!(loaded.config.audit.retention_days, 3650);
    assert_eq!(
        loaded.config.audit.store,
        xua_gateway::config::AuditStore::Sqlite
    );
    for (from, to) in [
        ("max_batch = 256", "max_batch = 0"),
        ("queue_capacity = 4096", "queue_capacity = 0"),
        ("commit_timeout_ms = 10000", "commit_timeout_ms = 0"),
        ("store = \"sqlite\"", "store = \"postgres\""),
        (
            "retention_days = 3650",
            "retention_days = 3650\nretention = 1",
        ),
    ] {
        assert!(sample.contains(from), "{from}");
        let text = sample.replace(from, to);
        assert!(
            LoadedConfig::parse(&text, xua_gateway::config::Origin::Embedded).is_err(),
            "{to} must be refused"
        );
    }
}

#[test]
fn pruning_in_chunks_keeps_the_chain_verifiable_after_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let old = OffsetDateTime::now_utc() - time::Duration::days(30);
    {
        let sink = open_sink(&db);
        for i in 0..5 {
            sink.write(&sample_record("fastlege.json", &format!("old{i}"), old))
                .unwrap();
        }
        sink.write(&sample_record(
            "fastlege.json",
            "new",
            OffsetDateTime::now_utc(),
        ))
        .unwrap();
    }
    let mut conn = sqlite::connect(&db, false).unwrap();
    let cutoff = (OffsetDateTime::now_utc() - time::Duration::days(1)).unix_timestamp() * 1000;
    let mut pruned = Vec::new();
    loop {
        let n = sqlite::prune(&mut conn, cutoff, "2026-01-01T00:00:00Z", 2).unwrap();
        let report = sqlite::verify(&conn).unwrap();
        assert_eq!(report.broken, None, "after pruning {n}: {report:?}");
        if n == 0 {
            break;
        }
        pruned.push((n, report.anchor.unwrap().0));
    }
    assert_eq!(pruned, vec![(2, 2), (2, 4), (1, 5)]);
    assert_eq!(sqlite::verify(&conn).unwrap().records, 1);
}

#[cfg(unix)]
#[test]
fn the_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let sink = open_sink(&db);
    sink.write(&sample_record(
        "fastlege.json",
        "p",
        OffsetDateTime::now_utc(),
    ))
    .unwrap();
    for name in ["audit.sqlite", "audit.sqlite-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
    }
}

#[test]
fn a_request_refused_before_the_pipeline_can_be_audited_too() {
    let sink = Arc::new(MemorySink::default());
    let gateway = Gateway::build(
        LoadedConfig::embedded().unwrap(),
        clock::system(),
        Some(sink.clone()),
    )
    .unwrap();
    let request = xua_gateway::pipeline::ExchangeRequest {
        request_id: "refused-1".into(),
        client_address: Some("192.0.2.9".into()),
        ..Default::default()
    };
    let r = gateway.pipeline().refuse(
        Direction::SamlToJwt,
        &request,
        xua_gateway::error::Rejection::parse("subject_token is not base64url"),
    );
    assert_eq!(r.class.as_str(), "PARSE");
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, Outcome::Rejected);
    assert_eq!(records[0].request_id, "refused-1");
    assert_eq!(records[0].client_address.as_deref(), Some("192.0.2.9"));
    assert_eq!(
        records[0].error.as_deref(),
        Some("subject_token is not base64url")
    );
}

#[test]
fn two_stores_on_one_file_extend_one_chain() {
    // As when `xua-gateway translate` runs beside `serve` with the same configuration.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let a = open_sink(&db);
    let b = open_sink(&db);
    std::thread::scope(|s| {
        for (name, sink) in [("a", &a), ("b", &b)] {
            s.spawn(move || {
                for i in 0..20 {
                    sink.write(&sample_record(
                        "fastlege.json",
                        &format!("{name}{i}"),
                        OffsetDateTime::now_utc(),
                    ))
                    .unwrap();
                }
            });
        }
    });
    drop((a, b));
    let conn = sqlite::connect(&db, false).unwrap();
    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records, 40);
}

#[actix_web::test]
async fn a_failed_commit_issues_no_token_and_readiness_recovers_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let app = spawn_with(open_sink(&db)).await;
    let admin = Connection::open(&db).unwrap();
    // The database starts refusing writes (as with a full disk), the chain's table and the rest alike.
    admin
        .execute_batch(
            "CREATE TRIGGER refuse_records BEFORE INSERT ON audit_record
               BEGIN SELECT RAISE(ABORT, 'refused'); END;
             CREATE TRIGGER refuse_meta BEFORE INSERT ON audit_meta
               BEGIN SELECT RAISE(ABORT, 'refused'); END;
             CREATE TRIGGER refuse_meta_update BEFORE UPDATE ON audit_meta
               BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let (status, body) = app
        .exchange(&mint_now("fastlege.json"), "refused", &[])
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("access_token").is_none());
    let (status, text) = app.get("/readyz").await;
    assert_eq!(status, 503, "{text}");

    // Writable again: readiness comes back without waiting for traffic, and tokens flow.
    admin
        .execute_batch(
            "DROP TRIGGER refuse_records; DROP TRIGGER refuse_meta; DROP TRIGGER refuse_meta_update;",
        )
        .unwrap();
    let (status, text) = app.get("/readyz").await;
    assert_eq!(status, 200, "{text}");
    let (status, _) = app
        .exchange(&mint_now("fastlege.json"), "accepted", &[])
        .await;
    assert_eq!(status, 200);
    let conn = sqlite::connect(&db, false).unwrap();
    let report = sqlite::verify(&conn).unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.records, 1, "the refused batch left nothing behind");
}
