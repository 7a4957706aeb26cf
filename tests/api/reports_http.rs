//! `POST /audit/insight` over HTTP: the patient's insight report for a client that authenticated with a
//! PyJWT-signed `private_key_jwt` assertion and whose `[[clients]]` entry grants it; every refusal (no or a
//! failed authentication, a client without the grant, a bad form, a switched-off endpoint, a changed log
//! record) and every answer recorded as its own access-log record.

use serde_json::{json, Value};

use xua_gateway::audit::Event;
use xua_gateway::model::Outcome;

use crate::helpers::*;
use crate::oauth::*;
use crate::reports_cli::{config_for, sample_log, SampleLog};

const GRANT: &str =
    "id = \"TEST-ONLY-sample-client\"\nauth = \"private_key_jwt\"\ninsight_reports = true";

/// The sample configuration reading `log`, with the endpoint on and the sample client granted reports.
async fn portal(log: &SampleLog, dir: &std::path::Path, enabled: bool) -> TestApp {
    let config = config_for(
        log,
        dir,
        if enabled {
            "[insight]\nenabled = true\n"
        } else {
            ""
        },
    );
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "id = \"TEST-ONLY-sample-client\"\nauth = \"private_key_jwt\"",
        GRANT,
        1,
    );
    assert!(text.contains("insight_reports = true"));
    spawn_app_with_text(&text, dir).await
}

fn assertion() -> String {
    client_assertion(
        &sample_client_key(),
        SAMPLE_CLIENT_KID,
        SAMPLE_CLIENT,
        ENTITY_ID,
        json!({}),
    )
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn ask(app: &TestApp, form: &[(&str, &str)]) -> Reply {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/audit/insight", app.address))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    Reply {
        status,
        content_type,
        body: r.text().await.unwrap(),
    }
}

fn with_assertion<'a>(assertion: &'a str, rest: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(rest);
    form
}

#[actix_web::test]
async fn a_granted_client_gets_the_patients_report_in_each_language_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let app = portal(&log, dir.path(), true).await;
    for (lang, format, content_type, words) in [
        ("nb", "json", "application/json", "Lege"),
        ("en", "json", "application/json", "Doctor"),
        (
            "en",
            "text",
            "text/plain; charset=utf-8",
            "Regular GP service",
        ),
        ("nb", "html", "text/html; charset=utf-8", "Fastlegetjeneste"),
    ] {
        let a = assertion();
        let reply = ask(
            &app,
            &with_assertion(
                &a,
                &[
                    ("patient", &log.patient),
                    ("lang", lang),
                    ("format", format),
                ],
            ),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.content_type, content_type);
        assert!(reply.body.contains(&log.patient));
        assert!(
            reply.body.contains(words),
            "{lang} {format}: {}",
            reply.body
        );
        // Only this patient: the watch-listed one (another patient of the log) is nowhere.
        assert!(!reply.body.contains(&log.watched));
        if format == "json" {
            let report = reply.json();
            assert_eq!(report["language"], lang);
            assert_eq!(report["accesses"].as_array().unwrap().len(), 3);
            assert_eq!(report["refused"].as_array().unwrap().len(), 1);
            assert_eq!(report["chain"]["verified"], true);
            assert_eq!(report["chain"]["head"], log.records);
        }
        if format == "html" {
            assert!(reply.body.starts_with("<!DOCTYPE html>"));
            assert!(!reply.body.contains("<script") && !reply.body.contains("src="));
        }
        // The request is recorded: who asked (the authenticated client), for which patient, what it covered.
        let record = last_record(&app);
        assert_eq!(record.direction, Event::InsightReport);
        assert_eq!(record.outcome, Outcome::Issued);
        assert_eq!(record.client_id.as_deref(), Some(SAMPLE_CLIENT));
        assert_eq!(record.client_auth.as_deref(), Some("private_key_jwt"));
        let patient = record.context.as_ref().unwrap().patients[0]
            .identifier
            .as_ref()
            .unwrap();
        assert_eq!(patient.id, log.patient);
        let used = record.log_use.as_ref().unwrap();
        assert_eq!(used.covers.as_ref().unwrap().seq, log.records);
        assert_eq!(used.listed, 4);
        assert_eq!(used.format, format);
    }
    assert_eq!(app.records().len(), 4);
}

/// What is sent, and the status, error and error class expected.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);

#[actix_web::test]
async fn every_refused_request_is_recorded_and_gives_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let app = portal(&log, dir.path(), true).await;
    let p = log.patient.as_str();
    let used = assertion();
    let first = ask(&app, &with_assertion(&used, &[("patient", p)])).await;
    assert_eq!(first.status, 200, "{}", first.body);

    let fresh = [assertion(), assertion(), assertion(), assertion()];
    let cases: Vec<Case> = vec![
        (
            "an unregistered client",
            vec![("patient", p), ("client_id", "nobody")],
            401,
            "invalid_client",
            "CLIENT",
        ),
        (
            "a replayed assertion",
            with_assertion(&used, &[("patient", p)]),
            401,
            "invalid_client",
            "CLIENT",
        ),
        (
            "a client without the grant (the public none client, by name)",
            vec![("patient", p), ("client_id", "TEST-ONLY-open-client")],
            403,
            "access_denied",
            "FORBIDDEN",
        ),
        (
            "no client authentication (the configured anonymous client)",
            vec![("patient", p)],
            403,
            "access_denied",
            "FORBIDDEN",
        ),
        (
            "an unknown language",
            with_assertion(&fresh[0], &[("patient", p), ("lang", "de")]),
            400,
            "invalid_request",
            "REQUEST",
        ),
        (
            "an unknown format",
            with_assertion(&fresh[1], &[("patient", p), ("format", "pdf")]),
            400,
            "invalid_request",
            "REQUEST",
        ),
        (
            "no patient",
            with_assertion(&fresh[2], &[]),
            400,
            "invalid_request",
            "REQUEST",
        ),
        (
            "not a patient identifier",
            with_assertion(&fresh[3], &[("patient", "1 OR 1=1")]),
            400,
            "invalid_request",
            "REQUEST",
        ),
    ];
    for (what, form, status, error, class) in cases {
        let before = app.records().len();
        let reply = ask(&app, &form).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        let body = reply.json();
        assert_eq!(body["error"], error, "{what}");
        assert_eq!(body["error_class"], class, "{what}");
        assert!(
            !reply.body.contains(p),
            "{what}: the patient's identifier in an error"
        );
        assert!(body.get("accesses").is_none());
        let records = app.records();
        assert_eq!(records.len(), before + 1, "{what}: recorded once");
        let record = records.last().unwrap();
        assert_eq!(record.direction, Event::InsightReport, "{what}");
        assert_eq!(record.outcome, Outcome::Rejected, "{what}");
        assert_eq!(
            record
                .error_class
                .map(|c| c.as_str().to_string())
                .as_deref(),
            Some(class)
        );
        assert!(record.log_use.as_ref().unwrap().covers.is_none(), "{what}");
    }
    assert_eq!(
        app.records()[1].client_id.as_deref(),
        Some("nobody"),
        "the claimed client"
    );
    assert_eq!(
        app.records()[1].client_auth,
        None,
        "it did not authenticate"
    );
    assert_eq!(
        app.records()[3].client_id.as_deref(),
        Some("TEST-ONLY-open-client")
    );

    // Not a form, an unknown or a repeated parameter: refused before anything is read.
    let client = reqwest::Client::new();
    for body in ["patient=1&patient=2", "patient=1&debug=1", "\u{0}\u{1}"] {
        let r = client
            .post(format!("{}/audit/insight", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body:?}");
    }
    // Asked with GET (a query string would put the patient in URLs): POST only, and the patient not repeated.
    let r = client
        .get(format!("{}/audit/insight?patient={p}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert!(!r.text().await.unwrap().contains(p));

    // A changed record: the report is refused, naming the record, and the refusal is recorded.
    let conn = rusqlite::Connection::open(&log.path).unwrap();
    conn.execute(
        "UPDATE audit_record SET practitioner_name = 'X' WHERE seq = 7",
        [],
    )
    .unwrap();
    drop(conn);
    let a = assertion();
    let reply = ask(&app, &with_assertion(&a, &[("patient", p)])).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error_class"], "INTERNAL");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("record 7"),
        "{body}"
    );
    let record = last_record(&app);
    assert_eq!(record.outcome, Outcome::Rejected);
    assert!(record.error.as_deref().unwrap().contains("record 7"));
}

#[actix_web::test]
async fn the_endpoint_is_off_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let app = portal(&log, dir.path(), false).await;
    let a = assertion();
    let reply = ask(&app, &with_assertion(&a, &[("patient", &log.patient)])).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("[insight] enabled"));
    assert!(app.records().is_empty());
}

#[test]
fn a_client_that_proves_nothing_cannot_be_granted_reports() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let config = config_for(&log, dir.path(), "[insight]\nenabled = true\n");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "auth = \"none\"\n",
        "auth = \"none\"\ninsight_reports = true\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let loaded = xua_gateway::config::LoadedConfig::from_file(&config).unwrap();
    let err = xua_gateway::startup::Gateway::build(loaded, xua_gateway::clock::system(), None)
        .expect_err("refused at start-up")
        .to_string();
    assert!(err.contains("insight_reports"), "{err}");
}
