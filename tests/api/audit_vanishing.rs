//! An access log that disappears while the service runs is noticed: with its database deleted or replaced,
//! nothing is issued (503), `/readyz` fails and the log says why; and the next start on an empty or other
//! database is refused, because the chain head kept beside it says records existed. Moving the head file
//! aside is the deliberate way to start a new chain.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use time::OffsetDateTime;
use xua_gateway::audit::sqlite::{default_head_file, Settings, SqliteSink};
use xua_gateway::audit::{AuditRecord, AuditSink};
use xua_gateway::model::Direction;

use crate::binary::{write_config, Server};
use crate::config_strictness::serve_must_exit;
use crate::helpers::*;

fn remove_database(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn exchange(address: &str) -> (u16, serde_json::Value) {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now("fastlege.json"));
    let res = reqwest::blocking::Client::new()
        .post(format!("{address}/token"))
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", token.as_str()),
        ])
        .send()
        .unwrap();
    (res.status().as_u16(), res.json().unwrap())
}

#[test]
fn a_deleted_database_stops_issuing_and_a_new_chain_never_silently_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config = write_config(dir.path(), &db, "", "level = \"info\"");
    let mut server = Server::start(&config, &[]);
    let (status, body) = exchange(&server.address);
    assert_eq!(status, 200, "{body}");

    remove_database(&db);
    let (status, body) = exchange(&server.address);
    assert_eq!(status, 503, "a token without its record: {body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none());
    let ready = reqwest::blocking::get(format!("{}/readyz", server.address)).unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().unwrap();
    assert!(text.contains("was deleted"), "{text}");
    let logs = server.output();
    assert!(
        logs.lines()
            .any(|l| l.contains("ERROR") && l.contains("was deleted")),
        "{logs}"
    );
    server.kill();

    // The next start finds an empty database where the head file says a chain had been.
    let head = default_head_file(&db);
    assert!(head.exists());
    let (code, stderr) = serve_must_exit(&config, &[], dir.path());
    assert_ne!(code, 0);
    assert!(
        stderr.contains("holds no records") && stderr.contains(&head.display().to_string()),
        "{stderr}"
    );

    // Starting a new chain is a deliberate act: the head file moved aside (with the old log).
    remove_database(&db);
    std::fs::rename(&head, dir.path().join("old-chain.head")).unwrap();
    let server = Server::start(&config, &[]);
    let (status, body) = exchange(&server.address);
    assert_eq!(status, 200, "{body}");
}

fn record(request_id: &str) -> AuditRecord {
    AuditRecord::begin(
        Direction::SamlToJwt,
        OffsetDateTime::now_utc(),
        request_id,
        None,
    )
}

#[test]
fn a_replaced_database_is_refused_while_running_and_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let open = |path: &Path| {
        SqliteSink::open(
            path,
            Settings::default(),
            None,
            xua_gateway::clock::system(),
        )
    };
    let sink = Arc::new(open(&db).unwrap());
    for i in 0..3 {
        sink.write(&record(&format!("r{i}"))).unwrap();
    }
    assert!(sink.ready().is_ok());

    // Another, shorter chain moved over the path (a restored backup, a copy from elsewhere).
    let other = dir.path().join("other.sqlite");
    {
        let o = open(&other).unwrap();
        o.write(&record("x")).unwrap();
    }
    std::fs::rename(&other, &db).unwrap();
    let err = sink.write(&record("r3")).unwrap_err();
    assert!(err.0.contains("was replaced"), "{err}");
    assert!(sink.ready().unwrap_err().0.contains("was replaced"));
    drop(sink);

    // At the next start: a chain that does not reach the head (3 records) is refused, whether it is shorter
    // or as long with other records.
    let head = std::fs::read_to_string(default_head_file(&db)).unwrap();
    assert!(head.starts_with("3 "), "{head}");
    for (records, expected) in [(1, "ends at record 1"), (3, "record 3 is not the record")] {
        remove_database(&db);
        std::fs::remove_file(default_head_file(&db)).unwrap();
        {
            let fresh = open(&db).unwrap();
            for i in 0..records {
                fresh.write(&record(&format!("y{i}"))).unwrap();
            }
        }
        std::fs::write(default_head_file(&db), &head).unwrap();
        let err = open(&db).unwrap_err();
        assert!(err.0.contains(expected), "{err}");
    }
}
