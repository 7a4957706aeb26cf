//! `xua-gateway sample access-log`, `audit insight` and `audit review` as a user runs them: the binary on a
//! generated SQLite log, its outputs read back, each run found recorded in that same log, and a changed
//! record making both reports refuse with its number.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;

/// A generated log and who is who in it, as `sample access-log` reports.
pub struct SampleLog {
    pub path: PathBuf,
    pub records: i64,
    pub period: String,
    pub watched: String,
    pub patient: String,
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xua-gateway"))
}

fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
}

/// `sample access-log --out DIR/audit.sqlite`.
pub fn sample_log(dir: &Path) -> SampleLog {
    let path = dir.join("audit.sqlite");
    let out = run(binary().args(["sample", "access-log", "--out"]).arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let records = line_after(&text, "wrote ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    SampleLog {
        records,
        period: line_after(&text, "review period:").to_string(),
        watched: line_after(&text, "watch-listed patient:").to_string(),
        patient: line_after(&text, "patient for an insight report:").to_string(),
        path,
    }
}

/// A configuration whose `[audit]` is the sample log (written into `dir`).
pub fn config_for(log: &SampleLog, dir: &Path, extra: &str) -> PathBuf {
    let text = sample_config_text().replace(
        "path = \"xua-gateway-audit.sqlite\"",
        &format!("path = \"{}\"", log.path.display()),
    );
    assert!(text.contains(&log.path.display().to_string()));
    write_temp(dir, "config.toml", format!("{text}\n{extra}").as_bytes())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn audit(config: &Path, args: &[&str]) -> Output {
    run(binary().arg("audit").args(args).arg("--config").arg(config))
}

/// The last record of the SQLite log: (direction, outcome, patient_id, record_json).
fn last_row(path: &Path) -> (String, String, Option<String>, Value) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT direction, outcome, patient_id, record_json FROM audit_record ORDER BY seq DESC LIMIT 1",
        [],
        |r| {
            let json: String = r.get(3)?;
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, serde_json::from_str(&json).unwrap()))
        },
    )
    .unwrap()
}

fn head(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT max(seq) FROM audit_record", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_reports_from_the_command_line_on_a_sample_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    assert!(log.records > 1000, "{}", log.records);
    let watch = write_temp(
        dir.path(),
        "watch.txt",
        format!("# exposed\n{}\n", log.watched).as_bytes(),
    );
    let config = config_for(&log, dir.path(), "");

    // The insight report, JSON: only the patient's own accesses, in words, and the chain it verified.
    let out = audit(
        &config,
        &[
            "insight",
            "--patient",
            &log.patient,
            "--format",
            "json",
            "--lang",
            "en",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["patient"], log.patient.as_str());
    assert_eq!(report["accesses"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["refused"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["chain"]["verified"], true);
    assert_eq!(report["chain"]["head"], log.records);
    for a in report["accesses"].as_array().unwrap() {
        assert!(
            a["who"]["name"].as_str().unwrap().starts_with("TEST"),
            "{a}"
        );
        assert!(!a["why"]["purpose"].as_array().unwrap().is_empty());
    }
    // The request itself is the log's next record, about that patient, covering the head it read.
    let (direction, outcome, patient, json) = last_row(&log.path);
    assert_eq!(
        (direction.as_str(), outcome.as_str()),
        ("insight-report", "issued")
    );
    assert_eq!(patient.as_deref(), Some(log.patient.as_str()));
    assert_eq!(json["log_use"]["covers"]["seq"], log.records);
    assert_eq!(json["log_use"]["listed"], 4);

    // Text and HTML in bokmål, to a new file readable by its owner only.
    let page = dir.path().join("insight.html");
    let out = audit(
        &config,
        &[
            "insight",
            "--patient",
            &log.patient,
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("lang=\"nb\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&page).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let again = audit(
        &config,
        &[
            "insight",
            "--patient",
            &log.patient,
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ],
    );
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    assert_eq!(
        head(&log.path),
        log.records + 2,
        "a run that could not deliver is not recorded"
    );

    // The review: HTML with the seed and the head it covers; the same seed gives the same CSV sample.
    let review = |seed: &str, format: &str| {
        let out = audit(
            &config,
            &[
                "review",
                "--period",
                &log.period,
                "--seed",
                seed,
                "--sample",
                "10",
                "--watch-list",
                watch.to_str().unwrap(),
                "--lang",
                "en",
                "--format",
                format,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let covered = head(&log.path);
    let html = review("42", "html");
    assert!(html.contains("42") && html.contains(&covered.to_string()));
    assert!(html.matches("type=\"checkbox\"").count() > 10);
    let (direction, outcome, patient, json) = last_row(&log.path);
    assert_eq!(
        (direction.as_str(), outcome.as_str()),
        ("log-review", "issued")
    );
    assert_eq!(patient, None);
    assert_eq!(json["log_use"]["seed"], 42);
    assert_eq!(json["log_use"]["period"], log.period.as_str());
    let rows_of = |csv: &str| {
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let first = rows_of(&review("42", "csv"));
    let second = rows_of(&review("42", "csv"));
    let other = rows_of(&review("43", "csv"));
    assert_eq!(first[0][0], "report");
    assert!(
        first[0][3].contains("seed 42") && first[0][3].contains("chain head"),
        "{:?}",
        first[0]
    );
    // Each run adds its own record to the log, so the head moves; what was flagged and sampled does not.
    let items = |rows: &[Vec<String>]| rows.iter().skip(1).cloned().collect::<Vec<_>>();
    let sample = |rows: &[Vec<String>]| {
        rows.iter()
            .filter(|r| r[0] == "sample")
            .map(|r| r[4].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(items(&first), items(&second));
    assert_eq!(sample(&first).len(), 10);
    assert_ne!(sample(&first), sample(&other));
    assert!(
        first
            .iter()
            .any(|r| r[0] == "finding" && r[2] == "watch_list"),
        "{first:?}"
    );

    // Refusals: bad arguments, a missing log, then a changed record.
    for args in [
        vec!["insight", "--patient", "not a patient!"],
        vec!["insight", "--patient", &log.patient, "--lang", "de"],
        vec!["insight", "--patient", &log.patient, "--format", "pdf"],
        vec!["review", "--period", "2026-Q5"],
        vec!["review", "--period", &log.period, "--format", "xlsx"],
    ] {
        let out = audit(&config, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains("must"), "{args:?}: {}", stderr(&out));
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let missing = config_for(
        &SampleLog {
            path: dir.path().join("typo.sqlite"),
            ..sample_fields(&log)
        },
        &dir.path().join("sub"),
        "",
    );
    let out = audit(&missing, &["insight", "--patient", &log.patient]);
    assert!(!out.status.success());
    assert!(
        !dir.path().join("typo.sqlite").exists(),
        "a mistyped log is not created"
    );

    let conn = rusqlite::Connection::open(&log.path).unwrap();
    conn.execute(
        "UPDATE audit_record SET point_of_care_name = 'Elsewhere' WHERE seq = 100",
        [],
    )
    .unwrap();
    drop(conn);
    for args in [
        vec!["insight", "--patient", &log.patient],
        vec!["review", "--period", &log.period, "--seed", "1"],
    ] {
        let out = audit(&config, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stdout(&out).is_empty(), "no report: {}", stdout(&out));
        assert!(stderr(&out).contains("record 100"), "{}", stderr(&out));
        // The refused run is recorded too, naming the record.
        let (_, outcome, _, json) = last_row(&log.path);
        assert_eq!(outcome, "rejected");
        assert!(
            json["error"].as_str().unwrap().contains("record 100"),
            "{json}"
        );
    }
}

fn sample_fields(log: &SampleLog) -> SampleLog {
    SampleLog {
        path: log.path.clone(),
        records: log.records,
        period: log.period.clone(),
        watched: log.watched.clone(),
        patient: log.patient.clone(),
    }
}

#[test]
fn the_sample_log_is_written_to_a_new_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "audit.sqlite", b"precious");
    let out = run(binary().args(["sample", "access-log", "--out"]).arg(&path));
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}
