//! The checks against HPR and the access-block register over HTTP, end to end: the real gateway on a random
//! port asks a real local register server (`tests/support/registers.rs`). Each answer is checked three ways:
//! what the caller gets (status and error body: the class and the rule, nothing of what the register said),
//! the access-log record (the register's answer, the block's id) and `/metrics`.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use xua_gateway::audit::AuditRecord;
use xua_gateway::model::Outcome;
use xua_gateway::samples::{self, MintOptions};

use crate::helpers::*;
use crate::registers::*;

/// The sample configuration with all three registers over HTTP on `server`; `hpr` and `blocks` are extra
/// lines for their sections.
fn http_config(server: &Registers, hpr: &str, blocks: &str) -> String {
    let text = sample_config_text();
    let start = text.find("[rules.hpr]").unwrap();
    let end = text.find("[logging]").unwrap();
    let transport = "connect_timeout_ms = 500\ntimeout_ms = 1000\ncache_ttl_secs = 60\nnegative_cache_ttl_secs = 2";
    let sections = format!(
        "[rules.fastlege.http]\nurl = \"{}\"\nhpr_pointer = \"/gp/hprNumber\"\n\n\
         [rules.hpr]\nregister = \"http\"\n{hpr}\n\n[rules.hpr.http]\nurl = \"{}\"\n{transport}\n\n\
         [rules.blocks]\nregister = \"http\"\n{blocks}\n\n[rules.blocks.http]\nurl = \"{}\"\n{transport}\n\n",
        server.url("fastlege", "{patient}"),
        server.url("hpr", "{hpr}"),
        server.url("blocks", "{patient}"),
    );
    let text = format!("{}{sections}{}", &text[..start], &text[end..]);
    let fastlege = text.find("[rules.fastlege]").unwrap();
    format!(
        "{}{}",
        &text[..fastlege],
        text[fastlege..].replacen("register = \"file\"", "register = \"http\"", 1)
    )
}

struct Setup {
    app: TestApp,
    server: Registers,
    _dir: tempfile::TempDir,
}

async fn setup_with(hpr: &str, blocks: &str) -> Setup {
    let server = Registers::start();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with_text(&http_config(&server, hpr, blocks), dir.path()).await;
    Setup {
        app,
        server,
        _dir: dir,
    }
}

async fn setup() -> Setup {
    setup_with("", "").await
}

/// A sample's claims with its HPR number and patient replaced (`None` keeps the sample's).
fn claims(sample: &str, hpr: Option<&str>, patient: Option<&str>) -> Map<String, Value> {
    let mut c = claims_file(sample);
    let p = &mut c["nhn:tillitsrammeverk:parameters"];
    if let Some(hpr) = hpr {
        p["practitioner"]["hpr_nr"]["id"] = json!(hpr);
    }
    if let Some(patient) = patient {
        p["patients"][0]["identifier"]["id"] = json!(patient);
    }
    c
}

fn assertion(claims: &Map<String, Value>) -> Vec<u8> {
    samples::mint_assertion(
        profiles().default_profile(),
        claims,
        &MintOptions::default(),
        &sample_idp(),
        OffsetDateTime::now_utc(),
    )
    .unwrap()
}

fn jwt(claims: &Map<String, Value>) -> String {
    samples::mint_jwt(claims, &Default::default(), OffsetDateTime::now_utc()).unwrap()
}

impl Setup {
    /// SAML → JWT; the status, the body and the exchange's record.
    async fn saml(&self, claims: &Map<String, Value>) -> (u16, Value, AuditRecord) {
        let (status, body) = self.app.exchange_saml(&assertion(claims), &[]).await;
        (status, body, self.app.records().pop().unwrap())
    }

    /// JWT → SAML.
    async fn jwt(&self, claims: &Map<String, Value>) -> (u16, Value, AuditRecord) {
        let (status, body, _) = self.app.exchange_jwt(&jwt(claims), &[]).await;
        (status, body, self.app.records().pop().unwrap())
    }

    /// `xua_register_lookups_total` for a register and outcome (HTTP backend).
    async fn lookups(&self, register: &str, outcome: &str) -> u64 {
        let text = get(&self.app, "/metrics").await.1;
        let prefix = format!(
            "xua_register_lookups_total{{backend=\"http\",outcome=\"{outcome}\",register=\"{register}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |v| v.trim().parse().unwrap())
    }
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn checks(record: &AuditRecord) -> Value {
    serde_json::to_value(&record.checks).unwrap()
}

/// The decision of one check in a record.
fn decision(record: &AuditRecord, rule: &str) -> Value {
    checks(record)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == rule)
        .cloned()
        .unwrap_or_else(|| panic!("no decision of {rule} in {:?}", record.checks))
}

/// The one refusal body the HPR check gives, whatever the register said.
fn not_confirmed() -> Value {
    json!({
        "error": "invalid_request",
        "error_description": "rule hpr-authorization: the HPR register does not confirm the practitioner's authorization",
        "error_class": "CLAIM",
    })
}

fn blocked() -> Value {
    json!({
        "error": "invalid_request",
        "error_description": "rule access-block: the patient has blocked this access",
        "error_class": "BLOCKED",
    })
}

#[actix_web::test]
async fn hpr_confirmed_over_http_issues_and_is_audited_and_counted() {
    let s = setup().await;
    for sample in [
        "fastlege.json",
        "hospital-physician.json",
        "municipal-nurse.json",
    ] {
        let (status, body, record) = s.saml(&claims(sample, None, None)).await;
        assert_eq!(status, 200, "{sample}: {body}");
        assert_eq!(record.outcome, Outcome::Issued);
        let code = claims_file(sample)["nhn:tillitsrammeverk:parameters"]["practitioner"]
            ["authorization"]["code"]
            .clone();
        assert_eq!(
            decision(&record, "hpr-authorization"),
            json!({"rule": "hpr-authorization", "register": "hpr", "backend": "http",
                   "answer": "confirmed", "categories": [code], "refused": false})
        );
        assert_eq!(decision(&record, "access-block")["answer"], "not-blocked");
    }
    assert_eq!(s.lookups("hpr", "confirmed").await, 3);
    assert_eq!(s.lookups("blocks", "not-blocked").await, 3);
    assert_eq!(s.server.requests("hpr", FASTLEGE_HPR), 1);
}

#[actix_web::test]
async fn hpr_lapsed_wrong_category_and_unknown_number_are_refused_alike() {
    let s = setup().await;
    let cases = [
        (LAPSED_HPR, "lapsed", Some("LE")),
        (NURSE_ONLY_HPR, "other-category", Some("LE")),
        (UNKNOWN_HPR, "unknown-hpr-number", None),
    ];
    for (hpr, why, category) in cases {
        let (status, body, record) = s.saml(&claims("fastlege.json", Some(hpr), None)).await;
        assert_eq!(status, 400, "{hpr}");
        // The same body for every reason: nothing tells the caller which it was.
        assert_eq!(body, not_confirmed(), "{hpr}");
        assert_eq!(record.outcome, Outcome::Rejected);
        assert_eq!(
            record.error_class,
            Some(xua_gateway::error::ErrorClass::Claim)
        );
        let d = decision(&record, "hpr-authorization");
        assert_eq!(d["answer"], "not-authorized", "{d}");
        assert_eq!(d["why"], why, "{d}");
        assert_eq!(d["category"].as_str(), category, "{d}");
        assert_eq!(d["refused"], true);
        // A refused exchange asks no further register: the block register is not asked about the patient.
        assert_eq!(checks(&record).as_array().unwrap().len(), 1);
        assert!(record.output_token_id.is_none());
    }
    assert_eq!(s.lookups("hpr", "not-authorized").await, 3);
    assert_eq!(s.server.requests("blocks", FASTLEGE_PATIENT), 0);
}

#[actix_web::test]
async fn blocks_for_the_practitioner_the_organisation_and_everyone_except_refuse() {
    let s = setup().await;
    let cases = [
        // The hospital physician, blocked by name; by their legal entity; and by "everyone except the GP".
        (
            "hospital-physician.json",
            BLOCKS_PRACTITIONER,
            BLOCK_ON_PRACTITIONER,
            "practitioner",
        ),
        (
            "hospital-physician.json",
            BLOCKS_ORGANISATION,
            BLOCK_ON_LEGAL_ENTITY,
            "legal-entity",
        ),
        (
            "municipal-nurse.json",
            BLOCKS_ORGANISATION,
            "HTTP-SPERRE-0003",
            "point-of-care",
        ),
        (
            "hospital-physician.json",
            BLOCKS_ALL_BUT_GP,
            BLOCK_ON_ALL_BUT_GP,
            "everyone-except",
        ),
    ];
    let mut asked = Vec::new();
    for (sample, patient, block, scope) in cases {
        let (status, body, record) = s.saml(&claims(sample, None, Some(patient))).await;
        assert_eq!(status, 400, "{sample} {patient}");
        assert_eq!(body, blocked(), "{sample} {patient}");
        assert!(!body.to_string().contains("SPERRE"));
        assert_eq!(
            record.error_class,
            Some(xua_gateway::error::ErrorClass::Blocked)
        );
        assert_eq!(
            decision(&record, "hpr-authorization")["answer"],
            "confirmed"
        );
        let mut d = decision(&record, "access-block");
        // A patient asked about before is answered from the cache (one answer serves every practitioner).
        let cached = d.as_object_mut().unwrap().remove("cached");
        assert_eq!(cached.is_some(), asked.contains(&patient), "{patient}");
        asked.push(patient);
        assert_eq!(
            d,
            json!({"rule": "access-block", "register": "blocks", "backend": "http",
                   "answer": "blocked", "block": block, "scope": scope, "refused": true})
        );
    }
    assert_eq!(s.server.requests("blocks", BLOCKS_ORGANISATION), 1);
    // The GP is the one the last block lets through; the fastlege sample's own patient has no blocks.
    let (status, body, record) = s
        .saml(&claims("fastlege.json", None, Some(BLOCKS_ALL_BUT_GP)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        decision(&record, "access-block"),
        json!({"rule": "access-block", "register": "blocks", "backend": "http",
               "answer": "not-blocked", "blocks": 1, "cached": true, "refused": false})
    );
    assert_eq!(s.lookups("blocks", "blocked").await, 4);
    assert_eq!(s.lookups("blocks", "not-blocked").await, 1);
}

#[actix_web::test]
async fn timeouts_5xx_and_malformed_answers_are_unavailable_and_refuse_under_reject() {
    let s = setup().await;
    let hpr_cases = [
        (SLOW_HPR, "the register did not answer in time"),
        (FAILING_HPR, "the register answered with HTTP status 500"),
        (
            GARBLED_HPR,
            "the register's answer is malformed: the answer is not JSON",
        ),
    ];
    for (hpr, reason) in hpr_cases {
        let started = std::time::Instant::now();
        let (status, body, record) = s.saml(&claims("fastlege.json", Some(hpr), None)).await;
        assert_eq!(status, 503, "{hpr}: {body}");
        assert_eq!(body["error_class"], "UNAVAILABLE");
        assert!(started.elapsed() < std::time::Duration::from_millis(2400));
        let d = decision(&record, "hpr-authorization");
        assert_eq!(
            d,
            json!({"rule": "hpr-authorization", "register": "hpr", "backend": "http",
                   "answer": "unavailable", "reason": reason, "refused": true})
        );
        assert!(!body.to_string().contains(hpr));
    }
    let block_cases = [
        (SLOW_PATIENT, "the register did not answer in time"),
        (FAILING_PATIENT, "the register answered with HTTP status 503"),
        (
            ODD_SCOPE_PATIENT,
            "the register's answer is malformed: a block's scope must be practitioner, point-of-care, legal-entity or everyone-except",
        ),
        (GARBLED_PATIENT, "the register's answer is malformed: the answer is not JSON"),
    ];
    for (patient, reason) in block_cases {
        let (status, body, record) = s.saml(&claims("fastlege.json", None, Some(patient))).await;
        assert_eq!(status, 503, "{patient}: {body}");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(decision(&record, "access-block")["reason"], reason);
        assert!(!body.to_string().contains(patient));
    }
    assert_eq!(s.lookups("hpr", "timeout").await, 1);
    assert_eq!(s.lookups("hpr", "error").await, 2);
    assert_eq!(s.lookups("blocks", "timeout").await, 1);
    assert_eq!(s.lookups("blocks", "error").await, 3);
    let text = get(&s.app, "/metrics").await.1;
    assert!(text.contains(r#"xua_register_errors_total{backend="http",register="hpr"} 3"#));
    assert!(text.contains(r#"xua_register_errors_total{backend="http",register="blocks"} 4"#));
    // Errors are not cached: the next exchange asks again.
    s.saml(&claims("fastlege.json", Some(FAILING_HPR), None))
        .await;
    assert_eq!(s.server.requests("hpr", FAILING_HPR), 2);
}

#[actix_web::test]
async fn keep_lets_an_unavailable_register_through_and_the_record_says_so() {
    let s = setup_with("on_unavailable = \"keep\"", "on_unavailable = \"keep\"").await;
    let (status, body, record) = s
        .saml(&claims(
            "fastlege.json",
            Some(FAILING_HPR),
            Some(FAILING_PATIENT),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    for rule in ["hpr-authorization", "access-block"] {
        let d = decision(&record, rule);
        assert_eq!(
            (d["answer"].as_str(), d["refused"].as_bool()),
            (Some("unavailable"), Some(false))
        );
    }
}

#[actix_web::test]
async fn cached_answers_are_audited_and_counted_and_negative_ones_expire_sooner() {
    let s = setup().await;
    // Positive answers: a confirmed authorization, a patient whose blocks (one) do not apply to the GP.
    let gp = claims("fastlege.json", None, Some(BLOCKS_ALL_BUT_GP));
    let first = s.saml(&gp).await.2;
    assert!(!decision(&first, "hpr-authorization")
        .as_object()
        .unwrap()
        .contains_key("cached"));
    let (status, _, second) = s.saml(&gp).await;
    assert_eq!(status, 200);
    assert_eq!(decision(&second, "hpr-authorization")["cached"], true);
    assert_eq!(decision(&second, "access-block")["cached"], true);
    assert_eq!(s.server.requests("hpr", FASTLEGE_HPR), 1);
    assert_eq!(s.server.requests("blocks", BLOCKS_ALL_BUT_GP), 1);
    assert_eq!(s.lookups("hpr", "cache-hit").await, 1);
    assert_eq!(s.lookups("blocks", "cache-hit").await, 1);

    // Negative answers (an unknown number; a patient without blocks) live 2 s, positive ones 60 s.
    let unknown = claims("fastlege.json", Some(UNKNOWN_HPR), None);
    s.saml(&unknown).await;
    let (_, _, again) = s.saml(&unknown).await;
    assert_eq!(decision(&again, "hpr-authorization")["cached"], true);
    assert_eq!(s.server.requests("hpr", UNKNOWN_HPR), 1);
    let unblocked = claims("fastlege.json", None, Some(UNBLOCKED_PATIENT));
    s.saml(&unblocked).await;
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_, _, expired) = s.saml(&unknown).await;
    assert!(decision(&expired, "hpr-authorization")
        .get("cached")
        .is_none());
    assert_eq!(s.server.requests("hpr", UNKNOWN_HPR), 2);
    let (_, _, expired) = s.saml(&unblocked).await;
    assert!(decision(&expired, "access-block").get("cached").is_none());
    assert_eq!(s.server.requests("blocks", UNBLOCKED_PATIENT), 2);
    // ...while the confirmed authorization is still served from the cache.
    let (_, _, still) = s.saml(&gp).await;
    assert_eq!(decision(&still, "hpr-authorization")["cached"], true);
    assert_eq!(decision(&still, "access-block")["cached"], true);
    assert_eq!(s.server.requests("hpr", FASTLEGE_HPR), 1);
    assert_eq!(s.server.requests("blocks", BLOCKS_ALL_BUT_GP), 1);
}

#[actix_web::test]
async fn both_directions_are_checked_and_all_three_registers_answer_in_one_record() {
    let s = setup().await;
    // JWT → SAML with the fastlege sample: the fastlege rule (over HTTP too), HPR and blocks in one record.
    let (status, body, record) = s.jwt(&claims("fastlege.json", None, None)).await;
    assert_eq!(status, 200, "{body}");
    let rules = serde_json::to_value(record.rules.as_ref().unwrap()).unwrap();
    assert_eq!(rules["decisions"][0]["rule"], "fastlege");
    assert_eq!(rules["decisions"][0]["register_answer"]["answer"], "hit");
    assert_eq!(rules["decisions"][0]["applied"], true);
    assert_eq!(
        decision(&record, "hpr-authorization")["answer"],
        "confirmed"
    );
    assert_eq!(decision(&record, "access-block")["answer"], "not-blocked");
    assert_eq!(s.server.requests("fastlege", FASTLEGE_PATIENT), 1);
    let text = get(&s.app, "/metrics").await.1;
    for line in [
        r#"xua_register_lookups_total{backend="http",outcome="listed",register="fastlege"} 1"#,
        r#"xua_register_lookups_total{backend="http",outcome="confirmed",register="hpr"} 1"#,
        r#"xua_register_lookups_total{backend="http",outcome="not-blocked",register="blocks"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}");
    }

    // Either direction refuses a lapsed authorization and a block, with the same bodies.
    for jwt_in in [false, true] {
        let lapsed = claims("fastlege.json", Some(LAPSED_HPR), None);
        let held = claims("hospital-physician.json", None, Some(BLOCKS_PRACTITIONER));
        for (c, expected, rule) in [
            (lapsed, not_confirmed(), "hpr-authorization"),
            (held, blocked(), "access-block"),
        ] {
            let (status, body, record) = if jwt_in {
                s.jwt(&c).await
            } else {
                s.saml(&c).await
            };
            assert_eq!((status, &body), (400, &expected), "jwt in: {jwt_in}");
            assert_eq!(decision(&record, rule)["refused"], true);
            assert_eq!(
                record.direction,
                if jwt_in {
                    xua_gateway::model::Direction::JwtToSaml
                } else {
                    xua_gateway::model::Direction::SamlToJwt
                }
            );
        }
    }
}

#[actix_web::test]
async fn readyz_lists_every_configured_register() {
    let s = setup().await;
    let (status, text) = get(&s.app, "/readyz").await;
    assert_eq!(status, 200, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    for check in ["fastlege_register", "hpr_register", "block_register"] {
        assert_eq!(ready["checks"][check], "ok", "{text}");
    }
    // Every HPR lookup failing under reject: not ready.
    s.saml(&claims("fastlege.json", Some(FAILING_HPR), None))
        .await;
    let (status, text) = get(&s.app, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert!(ready["checks"]["hpr_register"]["error"]
        .as_str()
        .unwrap()
        .contains("policy is reject"));
    assert_eq!(ready["checks"]["block_register"], "ok");
}

// ── the sample configuration (file backends) ─────────────────────────────────────────────────────────────

#[actix_web::test]
async fn the_sample_configuration_refuses_the_lapsed_and_the_blocked_samples() {
    let app = spawn_app().await;
    for sample in [
        "fastlege.json",
        "hospital-physician.json",
        "municipal-nurse.json",
    ] {
        let (status, body) = app.exchange_saml(&mint_now(sample), &[]).await;
        assert_eq!(status, 200, "{sample}: {body}");
        let record = app.records().pop().unwrap();
        assert_eq!(decision(&record, "hpr-authorization")["backend"], "file");
    }
    let (status, body) = app
        .exchange_saml(&mint_now("lapsed-authorization.json"), &[])
        .await;
    assert_eq!((status, body), (400, not_confirmed()));
    let d = decision(&app.records().pop().unwrap(), "hpr-authorization");
    assert_eq!(
        (d["why"].as_str(), d["backend"].as_str()),
        (Some("lapsed"), Some("file"))
    );
    let (status, body) = app
        .exchange_saml(&mint_now("blocked-patient.json"), &[])
        .await;
    assert_eq!((status, body), (400, blocked()));
    let d = decision(&app.records().pop().unwrap(), "access-block");
    assert_eq!(d["block"], "TEST-ONLY-SPERRE-0001");
    let (status, _, _) = app
        .exchange_jwt(&mint_sample_jwt("blocked-patient.json"), &[])
        .await;
    assert_eq!(status, 400);
}

/// The sample configuration text with one replacement.
async fn sample_app_with(from: &str, to: &str, dir: &std::path::Path) -> TestApp {
    let text = sample_config_text();
    assert!(text.contains(from), "{from}");
    spawn_app_with_text(&text.replacen(from, to, 1), dir).await
}

#[actix_web::test]
async fn a_practitioner_without_an_hpr_number_is_refused_unless_the_configuration_allows_it() {
    let mut admin = claims_file("fastlege.json");
    let p = admin["nhn:tillitsrammeverk:parameters"]["practitioner"]
        .as_object_mut()
        .unwrap();
    p.remove("hpr_nr");
    p.remove("authorization");
    let mut other = claims_file("fastlege.json");
    other["nhn:tillitsrammeverk:parameters"]["practitioner"]
        .as_object_mut()
        .unwrap()
        .remove("hpr_nr");
    other["nhn:tillitsrammeverk:parameters"]["practitioner"]["authorization"] =
        json!({"code": "XX", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"});

    let strict = spawn_app().await;
    let (status, body) = strict.exchange_saml(&assertion(&admin), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "rule hpr-authorization: the practitioner has no HPR number, and this deployment lets no such practitioner through"
    );
    assert_eq!(
        decision(&strict.records().pop().unwrap(), "hpr-authorization"),
        json!({"rule": "hpr-authorization", "register": "hpr", "backend": "file",
               "answer": "no-hpr-number", "categories": [], "refused": true})
    );

    let dir = tempfile::tempdir().unwrap();
    let lenient = sample_app_with(
        "allow_without_hpr_number = []",
        "allow_without_hpr_number = [\"none\"]",
        dir.path(),
    )
    .await;
    let (status, body) = lenient.exchange_saml(&assertion(&admin), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        decision(&lenient.records().pop().unwrap(), "hpr-authorization")["answer"],
        "exempt"
    );
    // "none" lets through a token without an authorization, not one claiming a category.
    let (status, _) = lenient.exchange_saml(&assertion(&other), &[]).await;
    assert_eq!(status, 400);

    // A code that is not in Volven 9060 stops start-up.
    let text = sample_config_text().replacen(
        "allow_without_hpr_number = []",
        "allow_without_hpr_number = [\"ADMIN\"]",
        1,
    );
    std::fs::write(dir.path().join("bad.toml"), text).unwrap();
    let loaded =
        xua_gateway::config::LoadedConfig::from_file(&dir.path().join("bad.toml")).unwrap();
    let err = xua_gateway::startup::Gateway::build(loaded, xua_gateway::clock::system(), None)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADMIN") && err.contains("9060"), "{err}");
}

#[actix_web::test]
async fn the_checks_direction_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let app = sample_app_with(
        "# direction = [\"encode-jwt\", \"encode-xua\"]",
        "direction = [\"encode-xua\"]",
        dir.path(),
    )
    .await;
    // Only when issuing XUA: the lapsed practitioner gets a JWT, not an assertion.
    let (status, body) = app
        .exchange_saml(&mint_now("lapsed-authorization.json"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(app
        .records()
        .pop()
        .unwrap()
        .checks
        .iter()
        .all(|d| d.rule != "hpr-authorization"));
    let (status, _, _) = app
        .exchange_jwt(&mint_sample_jwt("lapsed-authorization.json"), &[])
        .await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn the_inspector_reports_each_registers_answer_with_its_rule_id() {
    let app = spawn_app().await;
    let inspect = |xml: Vec<u8>| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(format!("{}/inspect", app.address))
                .body(xml)
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    let items = |report: &Value| -> Vec<(String, String)> {
        report["tokens"][0]["registers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_string(),
                    i["answer"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let ok = inspect(mint_now("fastlege.json")).await;
    assert_eq!(ok["accepted"], true, "{ok}");
    assert_eq!(
        items(&ok),
        vec![
            (
                "rules.hpr-authorization".to_string(),
                "confirmed".to_string()
            ),
            ("rules.access-block".to_string(), "not-blocked".to_string()),
        ]
    );
    let lapsed = inspect(mint_now("lapsed-authorization.json")).await;
    assert_eq!(lapsed["accepted"], false);
    assert_eq!(
        items(&lapsed),
        vec![(
            "rules.hpr-authorization".to_string(),
            "not-authorized".to_string()
        )]
    );
    let held = inspect(mint_now("blocked-patient.json")).await;
    assert_eq!(held["accepted"], false);
    assert!(
        held["verdict"].as_str().unwrap().contains("BLOCKED"),
        "{held}"
    );
    assert_eq!(
        items(&held)[1],
        ("rules.access-block".to_string(), "blocked".to_string())
    );
    // The report says what the exchange would be told, not which block or why.
    let text = held.to_string() + &lapsed.to_string();
    for secret in ["SPERRE", "lapsed", "2023-12-31", "\"why\"", "\"block\""] {
        assert!(!text.contains(secret), "{secret} in the inspector's report");
    }
    // The inspector audits nothing.
    assert!(app.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_never_reach_the_ordinary_log() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite");
    let config =
        crate::binary::write_config(dir.path(), &db, "", "format = \"text\"\nlevel = \"info\"");
    let mut server = crate::binary::Server::start(&config, &[("RUST_LOG", "trace")]);
    let client = reqwest::Client::new();
    for sample in ["blocked-patient.json", "lapsed-authorization.json"] {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mint_now(sample));
        let res = client
            .post(format!("{}/token", server.address))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token_type", TT_SAML2),
                ("subject_token", token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    let logs = server.output();
    server.kill();
    assert!(logs.contains("exchange rejected"), "{logs}");
    for secret in [
        "TEST-ONLY-SPERRE",
        "access-block",
        "blocked this access",
        "19916210070",
        "9144900",
        "4456789",
        "lapsed",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} in the ordinary log:\n{logs}"
        );
    }
    // The access log has the block's id.
    let conn = xua_gateway::audit::sqlite::connect(&db, false).unwrap();
    let json: String = conn
        .query_row(
            "SELECT record_json FROM audit_record WHERE error_class = 'BLOCKED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(json.contains("TEST-ONLY-SPERRE-0001"), "{json}");
}
