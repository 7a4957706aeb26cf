//! The access-log reports' HTML pages in a real browser (Debian's Chromium through
//! `tests/browser/reports.mjs`): made by the binary from a generated log, opened as files, they make no
//! request at all, break no rule of their own policy, raise no error, tick off, fit a phone's width and
//! pass axe-core. Screenshots go to `target/report-*.png`. Needs what `tests/api/browser.rs` needs.

use std::process::Command;

use serde_json::Value;

use crate::browser::{chromium, missing};
use crate::helpers::*;
use crate::reports_cli::{audit, config_for, sample_log};

#[test]
fn the_report_pages_are_self_contained_in_a_real_browser() {
    if let Some(why) = missing() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the browser test cannot run under CI: {why}");
        }
        eprintln!(
            "\n*** SKIPPED the_report_pages_are_self_contained_in_a_real_browser: {why} ***\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let watch = write_temp(dir.path(), "watch.txt", log.watched.as_bytes());
    let config = config_for(&log, dir.path(), "");
    let page = |name: &str| dir.path().join(name);
    for (name, args) in [
        (
            "report-insight-nb.html",
            vec!["insight", "--patient", &log.patient, "--lang", "nb"],
        ),
        (
            "report-insight-en.html",
            vec!["insight", "--patient", &log.patient, "--lang", "en"],
        ),
        (
            "report-review-en.html",
            vec![
                "review",
                "--period",
                &log.period,
                "--seed",
                "42",
                "--sample",
                "10",
                "--lang",
                "en",
                "--watch-list",
                watch.to_str().unwrap(),
            ],
        ),
    ] {
        let file = page(name);
        let mut args = args.clone();
        args.extend(["--format", "html", "--out", file.to_str().unwrap()]);
        let out = audit(&config, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shots = repo().join("target");
    std::fs::create_dir_all(&shots).unwrap();
    let output = Command::new("node")
        .arg(repo().join("tests/browser/reports.mjs"))
        .arg(&shots)
        .args(
            [
                "report-insight-nb.html",
                "report-insight-en.html",
                "report-review-en.html",
            ]
            .map(page),
        )
        .env("CHROMIUM", chromium())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed: {stderr}\n{stdout}");
    let out: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the script's output is not JSON ({e}): {stdout}\n{stderr}"));
    assert!(
        out["error"].is_null(),
        "the browser script failed: {}",
        out["error"]
    );

    for (name, lang, boxes) in [
        ("report-insight-nb.html", "nb", 0),
        ("report-insight-en.html", "en", 0),
        ("report-review-en.html", "en", -1),
    ] {
        let p = &out["pages"][name];
        assert_eq!(
            p["requests"],
            Value::Array(vec![]),
            "{name} made requests: {p}"
        );
        assert_eq!(p["violations"], Value::Array(vec![]), "{name}: {p}");
        assert_eq!(p["console_errors"], Value::Array(vec![]), "{name}: {p}");
        assert_eq!(p["lang"], lang, "{name}");
        assert!(!p["title"].as_str().unwrap().is_empty(), "{name}");
        assert!(p["text_length"].as_u64().unwrap() > 300, "{name}: {p}");
        assert_eq!(
            p["overflows_narrow"], false,
            "{name} is wider than a phone: {p}"
        );
        assert_eq!(
            p["axe"],
            Value::Array(vec![]),
            "{name}: accessibility: {}",
            p["axe"]
        );
        let n = p["checkboxes"].as_i64().unwrap();
        if boxes >= 0 {
            assert_eq!(n, boxes, "{name}");
        } else {
            // Every finding and every sampled access can be ticked off.
            assert!(n > 10, "{name}: {p}");
        }
        assert_eq!(p["ticked"], n, "{name}");
    }
}
