//! Chain formats across a schema upgrade: a database written before the client columns existed is migrated
//! on open, its old records still verify in their own format, and nothing can be slipped into them later.

use super::*;
use crate::model::Direction;

fn record(id: &str) -> AuditRecord {
    AuditRecord::begin(
        Direction::SamlToJwt,
        time::macros::datetime!(2026-01-31 10:00 UTC),
        id,
        None,
    )
}

/// A database as the previous build wrote it: format 1 columns, schema version 1, format 1 hashes.
fn write_version_1(path: &Path, ids: &[&str]) {
    write_old(path, 1, ids)
}

/// A database as an older build wrote it: that format's columns, schema version and hashes.
fn write_old(path: &Path, format: u8, ids: &[&str]) {
    let conn = connect(path, true).unwrap();
    let old = columns::columns_of(format);
    let mut ddl = String::from("CREATE TABLE audit_record (seq INTEGER PRIMARY KEY");
    for c in old {
        ddl.push_str(&format!(", {c}"));
    }
    ddl.push_str(
        ", prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE audit_anchor (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
          pruned_at TEXT NOT NULL);
        CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    );
    ddl.push_str(&format!(
        "INSERT INTO audit_meta VALUES ('schema_version', '{format}');"
    ));
    if format == 2 {
        ddl.push_str("INSERT INTO audit_meta VALUES ('chain_format_2_from', '1');");
    }
    conn.execute_batch(&ddl).unwrap();
    let mut prev = GENESIS;
    for (i, id) in ids.iter().enumerate() {
        let seq = i as i64 + 1;
        let mut cells = columns::cells(&record(id)).unwrap();
        cells.truncate(old.len());
        let hash = chain::link_as(format, &prev, seq, &cells);
        let marks = (1..=old.len() + 3)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO audit_record (seq, {}, prev_hash, hash) VALUES ({marks})",
            old.join(", ")
        );
        let (prev_hex, hash_hex) = (chain::to_hex(&prev), chain::to_hex(&hash));
        let mut params: Vec<&dyn ToSql> = vec![&seq];
        params.extend(cells.iter().map(|c| c as &dyn ToSql));
        params.push(&prev_hex);
        params.push(&hash_hex);
        conn.execute(&sql, params.as_slice()).unwrap();
        prev = hash;
    }
}

#[test]
fn a_version_1_log_verifies_before_and_after_migration_and_keeps_growing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    write_version_1(&path, &["old-1", "old-2"]);

    // `audit verify` on a database nothing has migrated yet.
    let report = verify(&connect(&path, false).unwrap()).unwrap();
    assert_eq!(
        (report.records, report.broken.clone()),
        (2, None),
        "{report:?}"
    );

    let sink = SqliteSink::open(&path, Settings::default(), None, crate::clock::system()).unwrap();
    let mut new = record("new-1");
    new.client_id = Some("TEST-ONLY-sample-client".into());
    new.client_auth = Some("private_key_jwt".into());
    new.dpop_jkt = Some("thumbprint".into());
    sink.write(&new).unwrap();
    drop(sink);

    let conn = connect(&path, false).unwrap();
    let report = verify(&conn).unwrap();
    assert_eq!(
        (report.records, report.broken.clone()),
        (3, None),
        "{report:?}"
    );
    let stored: Option<String> = conn
        .query_row(
            "SELECT client_id FROM audit_record WHERE seq = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored.as_deref(), Some("TEST-ONLY-sample-client"));

    // A value added afterwards to an old record's new column is caught.
    conn.execute(
        "UPDATE audit_record SET client_id = 'forged' WHERE seq = 1",
        [],
    )
    .unwrap();
    let broken = verify(&conn).unwrap().broken.unwrap();
    assert_eq!(broken.seq, 1);
    assert!(broken.reason.contains("client_id"), "{}", broken.reason);
    // And the new record's new columns are covered by its hash.
    conn.execute("UPDATE audit_record SET client_id = NULL WHERE seq = 1", [])
        .unwrap();
    conn.execute(
        "UPDATE audit_record SET client_id = 'someone-else' WHERE seq = 3",
        [],
    )
    .unwrap();
    assert_eq!(verify(&conn).unwrap().broken.map(|b| b.seq), Some(3));
}

#[test]
fn a_version_2_log_gets_the_soap_columns_and_its_records_keep_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    write_old(&path, 2, &["old-1", "old-2"]);
    assert_eq!(verify(&connect(&path, false).unwrap()).unwrap().records, 2);

    let sink = SqliteSink::open(&path, Settings::default(), None, crate::clock::system()).unwrap();
    let mut new = record("new-1");
    new.soap_action = Some("urn:ihe:iti:2007:CrossGatewayQuery".into());
    new.proxy_route = Some("/xca".into());
    new.upstream_status = Some(200);
    sink.write(&new).unwrap();
    drop(sink);

    let conn = connect(&path, false).unwrap();
    let f = formats(&conn).unwrap();
    assert_eq!((f.of(1), f.of(2), f.of(3)), (2, 2, 3));
    let report = verify(&conn).unwrap();
    assert_eq!((report.records, report.broken), (3, None));
    // The status is stored as an integer and covered by the hash.
    let status: i64 = conn
        .query_row(
            "SELECT upstream_status FROM audit_record WHERE seq = 3",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, 200);
    conn.execute(
        "UPDATE audit_record SET upstream_status = 500 WHERE seq = 3",
        [],
    )
    .unwrap();
    assert_eq!(verify(&conn).unwrap().broken.map(|b| b.seq), Some(3));
    conn.execute(
        "UPDATE audit_record SET upstream_status = 200 WHERE seq = 3",
        [],
    )
    .unwrap();
    // Nothing can be slipped into an old record's new column.
    conn.execute(
        "UPDATE audit_record SET proxy_route = '/elsewhere' WHERE seq = 2",
        [],
    )
    .unwrap();
    let broken = verify(&conn).unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2);
    assert!(broken.reason.contains("proxy_route"), "{}", broken.reason);
}

#[test]
fn a_fresh_log_is_the_current_format_from_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let sink = SqliteSink::open(&path, Settings::default(), None, crate::clock::system()).unwrap();
    sink.write(&record("r")).unwrap();
    drop(sink);
    let conn = connect(&path, false).unwrap();
    assert_eq!(formats(&conn).unwrap().of(1), chain::CURRENT);
    assert_eq!(verify(&conn).unwrap().broken, None);
    assert_eq!(columns::columns_of(3), COLUMNS);
    assert_eq!(columns::columns_of(2).last(), Some(&"actor_subject"));
    assert_eq!(columns::columns_of(1).last(), Some(&"record_json"));
}
