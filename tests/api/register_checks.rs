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

pub(crate) fn assertion(claims: &Map<String, Value>) -> Vec<u8> {
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

pub(crate) fn checks(record: &AuditRecord) -> Value {
    serde_json::to_value(&record.checks).unwrap()
}

/// The decision of one check in a record.
pub(crate) fn decision(record: &AuditRecord, rule: &str) -> Value {
    checks(record)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["rule"] == rule)
        .cloned()
        .unwrap_or_else(|| panic!("no decision of {rule} in {:?}", record.checks))
}

/// The one refusal body the HPR check gives, whatever the register said.
pub(crate) fn not_confirmed() -> Value {
    json!({
        "error": "invalid_request",
        "error_description": "rule hpr-authorization: the HPR register does not confirm the practitioner's authorization",
        "error_class": "CLAIM",
    })
}

pub(crate) fn blocked() -> Value {
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
