//! The rules stage at library level: the fastlege override on the data model's example 8.1 (docs/norway-profile.md, "The fastlege rule") (decode the sample
//! claims, apply the rules for encode-xua with the sample register, encode XUA), value validation with the
//! field named, strict/lenient, the sample data in strict mode, and the real NHN tokens in lenient mode.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use xua_gateway::config::RulesConfig;
use xua_gateway::error::ErrorClass;
use xua_gateway::inspect::unverified::assertion_view;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::{Profile, ProfileSet, XuaInput, XuaOutput};
use xua_gateway::model::{AccessContext, Coded, FieldId};
use xua_gateway::rules::ident::HprNumber;
use xua_gateway::rules::{
    CodeTables, FastlegeRegister, FileRegister, OnUnavailable, RegisterAnswer, RegisterError,
    RegisterStats, RuleDirection, RuleSet, Rules, Severity, UnknownCodes,
};
use xua_gateway::saml::build::XuaValueOut;
use xua_gateway::saml::view::{SamlAttribute, SamlValue};

const HS_ATTR: &str = "urn:nhn:trust-framework:1.0:ext:care-relationship:healthcare-service";
const ACP_ATTR: &str = "urn:ihe:iti:xua:2012:acp";
const S8666: &str = "urn:oid:2.16.578.1.12.4.1.1.8666";
const S8663: &str = "urn:oid:2.16.578.1.12.4.1.1.8663";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn profiles() -> ProfileSet {
    ProfileSet::embedded("no-pjd").unwrap()
}

fn codes() -> Arc<CodeTables> {
    Arc::new(CodeTables::embedded().unwrap())
}

fn sample_register() -> Arc<FileRegister> {
    let text = std::fs::read_to_string(repo().join("samples/fastlege-register.toml")).unwrap();
    Arc::new(FileRegister::from_toml("samples/fastlege-register.toml", &text).unwrap())
}

fn config() -> RulesConfig {
    RulesConfig {
        synthetic_nin: true,
        ..RulesConfig::default()
    }
}

/// The stage as the sample configuration builds it, with `config` and `register`.
fn rules_with(config: &RulesConfig, register: Arc<dyn FastlegeRegister>) -> Rules {
    let codes = codes();
    let sets = RuleSet::embedded(&codes).unwrap();
    Rules::new(
        codes,
        sets,
        &config.settings(),
        register,
        Arc::new(RegisterStats::default()),
    )
    .unwrap()
}

/// The stage with the no-pjd rules file edited by `edit` (for rule variants the shipped file comments out).
fn rules_from_text(config: &RulesConfig, edit: impl Fn(String) -> String) -> Rules {
    let codes = codes();
    let text = edit(std::fs::read_to_string(repo().join("mappings/rules/no-pjd.toml")).unwrap());
    let set = RuleSet::from_toml("test-rules.toml", &text, &codes).unwrap();
    Rules::new(
        codes,
        vec![set],
        &config.settings(),
        sample_register(),
        Arc::new(RegisterStats::default()),
    )
    .unwrap()
}

fn sample_rules() -> Rules {
    rules_with(&config(), sample_register())
}

fn claims(name: &str) -> Map<String, Value> {
    let text = std::fs::read_to_string(repo().join("samples/claims").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn decode(profile: &Profile, claims: &Map<String, Value>) -> AccessContext {
    profile.decode_claims_unverified(claims).unwrap()
}

fn attribute<'a>(out: &'a XuaOutput, name: &str) -> Option<&'a str> {
    out.attributes
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.values.first())
        .map(|v| match v {
            XuaValueOut::Text { text, .. } => text.as_str(),
            XuaValueOut::Element(_) => panic!("the no-pjd profile writes escaped HL7 text"),
        })
}

/// Reads an encoded XUA output back through the profile (as a receiving party would).
fn read_back(profile: &Profile, out: &XuaOutput) -> AccessContext {
    let attributes: Vec<SamlAttribute> = out
        .attributes
        .iter()
        .map(|a| SamlAttribute {
            name: a.name.clone(),
            name_format: a.name_format.clone(),
            values: a
                .values
                .iter()
                .map(|v| match v {
                    XuaValueOut::Text { text, .. } => SamlValue::text(text.clone()),
                    XuaValueOut::Element(_) => panic!("escaped form expected"),
                })
                .collect(),
            ..SamlAttribute::default()
        })
        .collect();
    profile
        .decode_xua_unverified(XuaInput {
            name_id: out.name_id.as_deref(),
            name_qualifier: out.name_qualifier.as_deref(),
            attributes: &attributes,
        })
        .unwrap()
}

fn kx17(system: &str) -> Coded {
    Coded {
        code: "KX17".into(),
        text: Some("Fastlege, liste uten fast lege".into()),
        system: Some(system.into()),
        assigner: None,
    }
}

// ── the fastlege rule ───────────────────────────────────────────────────────────────────────────────────

#[test]
fn example_8_1_with_a_register_hit_gets_the_override() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = sample_rules();
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let before = ctx.clone();
    assert_eq!(
        rules.validator("no-pjd").unwrap().validate(&ctx),
        Ok(vec![])
    );
    let plain = profile.encode_xua(&ctx).unwrap();

    let decisions = rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();

    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!(d.rule, "fastlege");
    assert_eq!(d.field, FieldId::HealthcareService);
    assert_eq!(d.register_answer, RegisterAnswer::Hit);
    assert!(d.applied);
    assert_eq!(
        d.original, before.care_relationship.healthcare_service,
        "the original value is recorded"
    );
    assert_eq!(d.original.as_ref().unwrap().code, "KA01");
    assert_eq!(d.replacement, Some(kx17(S8666)));

    // The model changed in that one field only.
    let mut expected = before.clone();
    expected.care_relationship.healthcare_service = Some(kx17(S8666));
    assert_eq!(ctx, expected);

    // The XUA output carries KX17 in the healthcare-service attribute and is otherwise what it was.
    let out = profile.encode_xua(&ctx).unwrap();
    let hs = attribute(&out, HS_ATTR).unwrap();
    assert!(hs.contains(r#"code="KX17""#), "{hs}");
    assert!(hs.contains(&format!(r#"codeSystem="{S8666}""#)), "{hs}");
    assert!(
        hs.contains(r#"displayName="Fastlege, liste uten fast lege""#),
        "{hs}"
    );
    assert!(attribute(&plain, HS_ATTR)
        .unwrap()
        .contains(r#"code="KA01""#));
    let others = |o: &XuaOutput| {
        o.attributes
            .iter()
            .filter(|a| a.name != HS_ATTR)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&out), others(&plain));
    assert_eq!(out.name_id, plain.name_id);
    assert_eq!(
        read_back(profile, &out)
            .care_relationship
            .healthcare_service,
        Some(kx17(S8666))
    );

    let stats = rules.stats().snapshot();
    assert_eq!(
        (stats.lookups, stats.hits, stats.overrides_applied),
        (1, 1, 1)
    );
}

#[test]
fn a_physician_who_is_not_the_patients_gp_gets_no_override() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = sample_rules();
    let engine = rules.engine("no-pjd").unwrap();

    // The hospital physician (HPR 9144900) and their patient, whose GP is someone else.
    let mut ctx = decode(profile, &claims("hospital-physician.json"));
    let before = ctx.clone();
    let d = engine
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].register_answer, RegisterAnswer::Miss);
    assert!(!d[0].applied);
    assert_eq!(d[0].replacement, None);
    assert_eq!(d[0].original.as_ref().unwrap().code, "S03");
    assert_eq!(ctx, before);
    assert_eq!(
        profile.encode_xua(&ctx).unwrap(),
        profile.encode_xua(&before).unwrap()
    );

    // The GP of example 8.1 asking about a patient who is not on their list.
    let mut c = claims("fastlege.json");
    c["nhn:tillitsrammeverk:parameters"]["patients"][0]["identifier"]["id"] = json!("03128734502");
    let mut ctx = decode(profile, &c);
    let d = engine
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(d[0].register_answer, RegisterAnswer::Miss);
    assert_eq!(
        ctx.care_relationship.healthcare_service.unwrap().code,
        "KA01"
    );

    // A patient the register knows no GP for.
    let mut ctx = decode(profile, &claims("municipal-nurse.json"));
    let d = engine
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(d[0].register_answer, RegisterAnswer::Miss);
    assert_eq!(rules.stats().snapshot().misses, 3);
}

#[test]
fn the_other_directions_are_not_touched() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = sample_rules();
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let before = ctx.clone();
    for direction in [
        RuleDirection::DecodeXua,
        RuleDirection::EncodeJwt,
        RuleDirection::DecodeJwt,
    ] {
        let d = rules
            .engine("no-pjd")
            .unwrap()
            .apply(direction, &mut ctx, rules.register())
            .unwrap();
        assert!(d.is_empty(), "{direction}");
        assert!(!rules.engine("no-pjd").unwrap().has_rules_for(direction));
    }
    // What the SAML → JWT pipeline runs: validation, then decode-xua and encode-jwt rules.
    let outcome = rules
        .run(
            "no-pjd",
            &[RuleDirection::DecodeXua, RuleDirection::EncodeJwt],
            &mut ctx,
        )
        .unwrap();
    assert!(outcome.is_empty());
    assert_eq!(ctx, before);
    assert_eq!(
        rules.stats().snapshot().lookups,
        0,
        "the register is not asked"
    );

    // What the JWT → SAML pipeline will run.
    let outcome = rules
        .run(
            "no-pjd",
            &[RuleDirection::DecodeJwt, RuleDirection::EncodeXua],
            &mut ctx,
        )
        .unwrap();
    assert_eq!(outcome.decisions.len(), 1);
    assert!(outcome.decisions[0].applied);
}

#[test]
fn the_consent_policy_is_set_when_the_rule_says_so() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = rules_from_text(&config(), |t| {
        t.replace(
            "# [[rule.also]]\n# field = \"session.consent_policy\"\n# value = ",
            "[[rule.also]]\nfield = \"session.consent_policy\"\nvalue = ",
        )
    });
    let mut ctx = decode(profile, &claims("fastlege.json"));
    assert_eq!(ctx.session.consent_policy, None);
    let d = rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(d[0].also.len(), 1);
    assert_eq!(d[0].also[0].field, FieldId::ConsentPolicy);
    assert_eq!(d[0].also[0].original, None);
    let acp = "urn:oid:2.16.578.1.12.4.1.7.2.1.4";
    assert_eq!(ctx.session.consent_policy.as_deref(), Some(acp));
    let out = profile.encode_xua(&ctx).unwrap();
    assert_eq!(attribute(&out, ACP_ATTR), Some(acp));

    // Not the GP: no consent policy either.
    let mut ctx = decode(profile, &claims("hospital-physician.json"));
    rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(ctx.session.consent_policy, None);
    // The shipped rules file leaves it off.
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let rules = sample_rules();
    rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(ctx.session.consent_policy, None);
}

#[test]
fn the_replacement_code_system_and_code_are_configurable() {
    let profiles = profiles();
    let profile = profiles.default_profile();

    // Volven's system for KX17, by configuration.
    let mut cfg = config();
    cfg.fastlege.replacement_system = S8663.to_string();
    let rules = rules_with(&cfg, sample_register());
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let d = rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert_eq!(d[0].replacement, Some(kx17(S8663)));

    // The alternative LPFL (7750), by editing the rules file.
    let rules = rules_from_text(&config(), |t| {
        t.replace(
            "code = \"KX17\"\nsystem = \"urn:oid:2.16.578.1.12.4.1.1.8666\"",
            "code = \"LPFL\"\nsystem = \"urn:oid:2.16.578.1.12.4.1.1.7750\"",
        )
    });
    let mut ctx = decode(profile, &claims("fastlege.json"));
    rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    let hs = ctx.care_relationship.healthcare_service.unwrap();
    assert_eq!(
        (hs.code.as_str(), hs.text.as_deref()),
        ("LPFL", Some("Fastlege"))
    );

    // A system whose table has no KX17 is refused when the stage is built.
    let mut cfg = config();
    cfg.fastlege.replacement_system = "urn:oid:2.16.578.1.12.4.1.1.7750".to_string();
    let codes = codes();
    let err = Rules::new(
        codes.clone(),
        RuleSet::embedded(&codes).unwrap(),
        &cfg.settings(),
        sample_register(),
        Arc::new(RegisterStats::default()),
    )
    .unwrap_err();
    assert!(err.message.contains("KX17"), "{err}");
    assert!(err.message.contains("configuration"), "{err}");
}

/// A register that always fails, counting how often it was asked.
#[derive(Debug, Default)]
struct DownRegister {
    asked: AtomicUsize,
}

impl FastlegeRegister for DownRegister {
    fn gp_of(&self, _patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Err(RegisterError::Timeout)
    }

    fn kind(&self) -> &'static str {
        "test"
    }
}

#[test]
fn an_unavailable_register_follows_the_policy_and_says_so() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let down = Arc::new(DownRegister::default());

    // keep: the input value goes out unchanged, and the decision records why.
    let rules = rules_with(&config(), down.clone());
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let before = ctx.clone();
    let outcome = rules
        .run("no-pjd", &[RuleDirection::EncodeXua], &mut ctx)
        .unwrap();
    assert_eq!(ctx, before);
    let d = &outcome.decisions[0];
    assert_eq!(
        d.register_answer,
        RegisterAnswer::Unavailable(RegisterError::Timeout)
    );
    assert!(!d.applied);
    assert_eq!(rules.stats().snapshot().kept_on_unavailable, 1);

    // reject: nothing is issued; the caller gets UNAVAILABLE (HTTP 503).
    let mut cfg = config();
    cfg.fastlege.on_unavailable = OnUnavailable::Reject;
    let rules = rules_with(&cfg, down.clone());
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let err = rules
        .run("no-pjd", &[RuleDirection::EncodeXua], &mut ctx)
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Unavailable);
    assert!(err.message.contains("rule fastlege"), "{err}");
    assert!(err.message.contains("did not answer in time"), "{err}");
    assert!(!err.message.contains("21868534521"));
    assert_eq!(rules.stats().snapshot().rejected_on_unavailable, 1);
    assert_eq!(down.asked.load(Ordering::SeqCst), 2);

    // The register is not asked when the model lacks what the condition needs.
    let mut ctx = decode(profile, &claims("fastlege.json"));
    ctx.patients.clear();
    let outcome = rules
        .run("no-pjd", &[RuleDirection::EncodeXua], &mut ctx)
        .unwrap();
    assert_eq!(
        outcome.decisions[0].register_answer,
        RegisterAnswer::NotAsked("patient.identifier is absent".into())
    );
    assert_eq!(down.asked.load(Ordering::SeqCst), 2);
}

#[test]
fn a_fodselsnummer_in_the_hpr_field_is_not_looked_up() {
    // Helsenorge's tokens put the fødselsnummer in provider-identifier when there is no HPR number.
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = sample_rules();
    let mut ctx = decode(profile, &claims("fastlege.json"));
    let hpr = ctx.practitioner.hpr_nr.as_mut().unwrap();
    hpr.id = "12837034688".into();
    hpr.system = Some("urn:oid:2.16.578.1.12.4.1.4.1".into());
    let d = rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, &mut ctx, rules.register())
        .unwrap();
    assert!(matches!(d[0].register_answer, RegisterAnswer::NotAsked(_)));
    assert_eq!(rules.stats().snapshot().lookups, 0);
}

#[test]
fn decisions_serialise_for_the_audit_record() {
    let profiles = profiles();
    let rules = sample_rules();
    let mut ctx = decode(profiles.default_profile(), &claims("fastlege.json"));
    let outcome = rules
        .run("no-pjd", &[RuleDirection::EncodeXua], &mut ctx)
        .unwrap();
    let v = serde_json::to_value(&outcome).unwrap();
    assert_eq!(
        v,
        json!({"decisions": [{
            "rule": "fastlege",
            "field": "care_relationship.healthcare_service",
            "original": {"code": "KA01", "text": "Fastlegetjeneste",
                         "system": "urn:oid:2.16.578.1.12.4.1.1.8663",
                         "assigner": "https://www.helsedirektoratet.no/"},
            "replacement": {"code": "KX17", "text": "Fastlege, liste uten fast lege", "system": S8666},
            "register_answer": {"answer": "hit"},
            "applied": true
        }]})
    );
    let unavailable =
        serde_json::to_value(RegisterAnswer::Unavailable(RegisterError::Timeout)).unwrap();
    assert_eq!(
        unavailable,
        json!({"answer": "unavailable", "reason": "the register did not answer in time"})
    );
}

// ── validation ─────────────────────────────────────────────────────────────────────────────────────────

#[test]
fn the_samples_and_expected_outputs_validate_in_strict_mode() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let rules = sample_rules();
    let v = rules.validator("no-pjd").unwrap();
    assert_eq!(v.settings().unknown_codes, UnknownCodes::Strict);
    for dir in ["samples/claims", "samples/expected"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let claims: Map<String, Value> =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let ctx = decode(profile, &claims);
            assert_eq!(v.inspect(&ctx), vec![], "{}", path.display());
        }
    }
    // Without the synthetic-number setting, the Tenor numbers in the samples are refused.
    let strict = rules_with(&RulesConfig::default(), sample_register());
    let err = strict
        .validator("no-pjd")
        .unwrap()
        .validate(&decode(profile, &claims("fastlege.json")))
        .unwrap_err();
    assert_eq!(
        err.message,
        "practitioner.identifier.id fails rule nin: it is a synthetic test number (month + 80), which this deployment does not accept (and 1 more problem)"
    );
}

/// Applies `edit` to the fastlege sample's trust-framework object and validates it.
fn invalid(
    rules: &Rules,
    edit: impl Fn(&mut Value),
) -> Result<Vec<xua_gateway::rules::Warning>, xua_gateway::error::Rejection> {
    let profiles = profiles();
    let mut c = claims("fastlege.json");
    edit(&mut c["nhn:tillitsrammeverk:parameters"]);
    let ctx = decode(profiles.default_profile(), &c);
    rules.validator("no-pjd").unwrap().validate(&ctx)
}

#[test]
fn invalid_values_are_rejected_with_the_field_named_and_not_the_value() {
    let rules = sample_rules();
    let long_name = "A".repeat(201);
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "12837034689",
            Box::new(|p| p["practitioner"]["identifier"]["id"] = json!("12837034689")),
            "practitioner.identifier.id fails rule nin: the second check digit is wrong",
        ),
        (
            "21868534531",
            Box::new(|p| p["patients"][0]["identifier"]["id"] = json!("21868534531")),
            "patient.identifier.id fails rule nin: the first check digit is wrong",
        ),
        (
            "2186853452",
            Box::new(|p| p["patients"][0]["identifier"]["id"] = json!("2186853452")),
            "patient.identifier.id fails rule nin: it is not 11 digits",
        ),
        (
            // a valid fødselsnummer declared as a D-number
            "03128734502",
            Box::new(|p| {
                p["patients"][0]["identifier"] =
                    json!({"id": "03128734502", "system": "urn:oid:2.16.578.1.12.4.1.4.2"})
            }),
            "patient.identifier.id fails rule nin: it is not a D-number",
        ),
        (
            // a D-number (day + 40) with a wrong check digit
            "43128734680",
            Box::new(|p| {
                p["patients"][0]["identifier"] =
                    json!({"id": "43128734680", "system": "urn:oid:2.16.578.1.12.4.1.4.2"})
            }),
            "patient.identifier.id fails rule nin: the second check digit is wrong",
        ),
        (
            "100100674",
            Box::new(|p| p["practitioner"]["legal_entity"]["id"] = json!("100100674")),
            "practitioner.legal_entity.id fails rule orgnr: the check digit is wrong",
        ),
        (
            "10010067",
            Box::new(|p| p["practitioner"]["point_of_care"]["id"] = json!("10010067")),
            "practitioner.point_of_care.id fails rule orgnr: it is not 9 digits",
        ),
        (
            "56550187X",
            Box::new(|p| p["practitioner"]["hpr_nr"]["id"] = json!("56550187X")),
            "practitioner.hpr_nr.id fails rule hpr: it is not 1 to 9 digits",
        ),
        (
            "705592",
            Box::new(|p| {
                p["practitioner"]["department"] =
                    json!({"id": "705592", "system": "urn:oid:2.16.578.1.12.4.1.4.1"})
            }),
            "practitioner.department.system fails rule resh/orgnr: the identifier system is that of a fnr number",
        ),
        (
            "TREATX",
            Box::new(|p| p["care_relationship"]["purpose_of_use"]["code"] = json!("TREATX")),
            "care_relationship.purpose_of_use.code fails rule codes: the code is not in the table of urn:oid:2.16.840.1.113883.1.11.20448 (PurposeOfUse)",
        ),
        (
            "ZZ",
            Box::new(|p| p["practitioner"]["authorization"]["code"] = json!("ZZ")),
            "practitioner.authorization.code fails rule codes: the code is not in the table of urn:oid:2.16.578.1.12.4.1.1.9060 (Kategori helsepersonell)",
        ),
        (
            "8662",
            Box::new(|p| {
                p["care_relationship"]["healthcare_service"]["system"] =
                    json!("urn:oid:2.16.578.1.12.4.1.1.8662")
            }),
            "care_relationship.healthcare_service.system fails rule codes: the code system is not one this field allows",
        ),
        (
            "<script>",
            Box::new(|p| {
                p["care_relationship"]["decision_ref"]["user_reason"] =
                    json!("Akutt <script>alert(1)</script>")
            }),
            "care_relationship.decision_ref.user_reason fails rule charset user_reason: character 7 is not in the allow-list",
        ),
        (
            // a leading '-' (formula injection in a spreadsheet of the access log)
            "-2 Innlagt",
            Box::new(|p| {
                p["care_relationship"]["decision_ref"]["user_reason"] = json!("-2 Innlagt")
            }),
            "care_relationship.decision_ref.user_reason fails rule charset user_reason: its first character is one the allow-list does not permit at the start",
        ),
        (
            "AAAAAAAAAA",
            Box::new(move |p| p["practitioner"]["identifier"]["name"] = json!(long_name)),
            "practitioner.identifier.name fails rule max_len: it is 201 characters long, more than the 200 allowed",
        ),
        (
            "Lorem",
            Box::new(|p| {
                p["care_relationship"]["healthcare_service"]["text"] = json!("Lorem-".repeat(50))
            }),
            "care_relationship.healthcare_service.text fails rule max_len: it is 300 characters long, more than the 256 allowed",
        ),
        (
            "KA01",
            Box::new(|p| {
                p["care_relationship"]
                    .as_object_mut()
                    .unwrap()
                    .remove("healthcare_service");
            }),
            "care_relationship.healthcare_service | care_relationship.purpose_of_use_details fails rule ATT-43: one of these fields must be present, and none is",
        ),
        (
            "TREAT",
            Box::new(|p| {
                p["care_relationship"]
                    .as_object_mut()
                    .unwrap()
                    .remove("purpose_of_use");
            }),
            "care_relationship.purpose_of_use fails rule required: it is required but absent",
        ),
    ];
    for (value, edit, expected) in cases {
        let err = invalid(&rules, edit).unwrap_err();
        assert_eq!(err.class, ErrorClass::Claim, "{expected}");
        assert!(
            err.message.starts_with(expected),
            "expected {expected:?}\n     got {:?}",
            err.message
        );
        assert!(
            !err.message.contains(value),
            "the message repeats the value: {}",
            err.message
        );
    }

    // Allowed: letters (with æøå), digits, inner spaces and the listed punctuation.
    assert_eq!(
        invalid(&rules, |p| {
            p["care_relationship"]["decision_ref"]["user_reason"] =
                json!("Pasienten er innlagt på akuttmottak (avd. 3), se notat 12")
        }),
        Ok(vec![])
    );
    // A valid D-number under the D-number system; a valid patient with purpose_of_use_details only.
    assert_eq!(
        invalid(&rules, |p| {
            p["patients"][0]["identifier"] =
                json!({"id": "43128734687", "system": "urn:oid:2.16.578.1.12.4.1.4.2"});
        })
        .map_err(|e| e.message),
        Ok(vec![])
    );
    assert_eq!(
        invalid(&rules, |p| {
            let c = p["care_relationship"].as_object_mut().unwrap();
            c.remove("healthcare_service");
            c.insert(
                "purpose_of_use_details".into(),
                json!({"code": "BEHANDLER", "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation"}),
            );
        }),
        Ok(vec![])
    );
}

#[test]
fn several_problems_are_counted_in_one_message() {
    let rules = sample_rules();
    let err = invalid(&rules, |p| {
        p["practitioner"]["legal_entity"]["id"] = json!("100100674");
        p["care_relationship"]["purpose_of_use"]["code"] = json!("NOPE");
    })
    .unwrap_err();
    assert!(err.message.ends_with("(and 1 more problem)"), "{err}");
    let profiles = profiles();
    let mut c = claims("fastlege.json");
    c["nhn:tillitsrammeverk:parameters"]["practitioner"]["legal_entity"]["id"] = json!("100100674");
    let findings = rules
        .validator("no-pjd")
        .unwrap()
        .inspect(&decode(profiles.default_profile(), &c));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].field, "practitioner.legal_entity.id");
    assert_eq!(findings[0].rule, "orgnr");
    assert_eq!(findings[0].severity, Severity::Error);
}

#[test]
fn unknown_codes_pass_with_a_warning_in_lenient_mode() {
    let mut cfg = config();
    cfg.unknown_codes
        .insert("no-pjd".into(), UnknownCodes::Lenient);
    let lenient = rules_with(&cfg, sample_register());
    let edit = |p: &mut Value| {
        p["care_relationship"]["healthcare_service"] =
            json!({"code": "KA99", "system": "urn:oid:2.16.578.1.12.4.1.1.8663"});
        p["practitioner"]["department"] =
            json!({"id": "resh:121313", "system": "resh:x.x.x.x.x.x.x"});
    };
    let warnings = invalid(&lenient, edit).unwrap();
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "practitioner.department.system fails rule resh/orgnr: the identifier system is not one the rules know, so the identifier cannot be checked",
            "care_relationship.healthcare_service.code fails rule codes: the code is not in the table of urn:oid:2.16.578.1.12.4.1.1.8663 (Tjenestetyper for kommunal helse- og omsorgstjeneste mv.)",
        ]
    );
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    // Strict (the default) rejects the same values; lenient does not relax the other checks.
    assert!(invalid(&sample_rules(), edit).is_err());
    assert!(
        invalid(&lenient, |p| p["practitioner"]["legal_entity"]["id"] =
            json!("1"))
        .is_err()
    );
}

// ── tables ─────────────────────────────────────────────────────────────────────────────────────────────

#[test]
fn embedded_tables_match_the_mappings_folder() {
    let listed = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()))
            .collect();
        v.sort();
        v
    };
    let mut codes: Vec<String> = xua_gateway::rules::codes::embedded_files()
        .map(str::to_string)
        .collect();
    codes.sort();
    assert_eq!(codes, listed("mappings/codes"));
    let mut profiles: Vec<String> = xua_gateway::mapping::embedded_profile_files()
        .map(str::to_string)
        .collect();
    profiles.sort();
    assert_eq!(profiles, listed("mappings/profiles"));
    let mut rules: Vec<String> = xua_gateway::rules::embedded_rule_files()
        .map(str::to_string)
        .collect();
    rules.sort();
    assert_eq!(rules, listed("mappings/rules"));

    // Loading the folder gives the same tables as the embedded copy.
    let from_dir = CodeTables::load_dir(&repo().join("mappings/codes")).unwrap();
    let embedded = CodeTables::embedded().unwrap();
    assert_eq!(from_dir.systems(), embedded.systems());
    let sets = RuleSet::load_dir(&repo().join("mappings/rules"), &from_dir).unwrap();
    assert_eq!(sets.len(), 2);
    let names: Vec<Vec<&str>> = sets.iter().map(|s| s.rule_names().collect()).collect();
    assert!(names.contains(&vec!["fastlege"]), "{names:?}");
    assert!(
        names.contains(&vec![]),
        "the ihe-iua rules change nothing: {names:?}"
    );
}

#[test]
fn code_lookups_for_the_encoders() {
    let codes = codes();
    assert_eq!(
        codes.system_name("urn:oid:2.16.578.1.12.4.1.1.9060"),
        Some("Kategori helsepersonell")
    );
    assert_eq!(
        codes.display("urn:oid:2.16.840.1.113883.1.11.20448", "TREAT"),
        Some("Treatment")
    );
    assert_eq!(
        codes.display(
            "urn:AuditEventHL7Norway/CodeSystem/carerelation",
            "BEHANDLER"
        ),
        Some("Bruker har behandlingsansvar for pasienten")
    );
    assert_eq!(
        codes.display("urn:oid:1.0.14265.1", "13"),
        Some("Subject of care uses")
    );
    assert!(codes.contains("urn:oid:2.16.578.1.12.4.1.1.8254", "FLE"));
    assert!(codes.contains("urn:oid:2.16.578.1.12.4.1.1.7750", "LPFL"));
    assert!(!codes.contains("urn:oid:2.16.578.1.12.4.1.1.7750", "KX17"));
}

#[test]
fn broken_rules_files_name_file_line_and_problem() {
    let codes = codes();
    let base = std::fs::read_to_string(repo().join("mappings/rules/no-pjd.toml")).unwrap();
    let line_of =
        |text: &str, needle: &str| text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    let cases: Vec<(String, &str, &str)> = vec![
        (
            base.replace(
                "[validation.\"practitioner.authorization\"]",
                "[validation.\"practitioner.authorisation\"]",
            ),
            "[validation.\"practitioner.authorisation\"]",
            "unknown model field \"practitioner.authorisation\"",
        ),
        (
            base.replace(
                "codes = [\"urn:oid:2.16.578.1.12.4.1.1.9060\"]",
                "codes = [\"urn:oid:2.16.578.1.12.4.1.1.9061\"]",
            ),
            "[validation.\"practitioner.authorization\"]",
            "no code table defines urn:oid:2.16.578.1.12.4.1.1.9061",
        ),
        (
            base.replace(
                "identifier = \"nin\"            # TR ATT-10",
                "identifier = \"fødselsnummer\" #",
            ),
            "[validation.\"practitioner.identifier\"]",
            "unknown identifier check \"fødselsnummer\"",
        ),
        (
            base.replace("code = \"KX17\"", "code = \"KX71\""),
            "[rule.set]",
            "code \"KX71\" is not in the table",
        ),
        (
            base.replace("direction = \"encode-xua\"", "direction = \"encode-saml\""),
            "direction = \"encode-saml\"",
            "direction must be one of decode-xua, encode-xua, decode-jwt, encode-jwt",
        ),
        (
            base.replace("charset = \"user_reason\"", "charset = \"user-reason\""),
            "[validation.\"care_relationship.decision_ref.user_reason\"]",
            "charset \"user-reason\" is not declared",
        ),
    ];
    for (text, at, message) in cases {
        let err = RuleSet::from_toml("rules.toml", &text, &codes).unwrap_err();
        assert_eq!(err.file, "rules.toml");
        assert!(err.message.contains(message), "{err}");
        let line = err.line.unwrap();
        let want = line_of(&text, at);
        assert!(
            line == want || line == want + 1,
            "{err}: expected line {want}"
        );
    }
}

// ── the real NHN tokens, inspected in lenient mode ──────────────────────────────────────────────────────

#[test]
fn the_nhn_corpus_in_lenient_mode() {
    let profiles = profiles();
    let profile = profiles.default_profile();
    let mut cfg = config();
    cfg.unknown_codes
        .insert("no-pjd".into(), UnknownCodes::Lenient);
    let rules = rules_with(&cfg, sample_register());
    let validator = rules.validator("no-pjd").unwrap();
    let mut report = String::new();
    let mut by_file = std::collections::BTreeMap::new();
    for file in [
        "IT_SamlToken_KJ01.xml",
        "SamlToken01.xml",
        "SamlToken02.xml",
        "IT_SamlToken_HN01.xml",
    ] {
        let Some(xml) = crate::corpus_file::read(&format!("nhn/{file}")) else {
            return;
        };
        let view = assertion_view(&xml).unwrap();
        let ctx = profile
            .decode_xua_unverified(XuaInput {
                name_id: view.name_id.as_deref(),
                name_qualifier: view.name_id_qualifier.as_deref(),
                attributes: &view.attributes,
            })
            .unwrap();
        let findings = validator.inspect(&ctx);
        report.push_str(&format!("{file}: {} finding(s)\n", findings.len()));
        for f in &findings {
            report.push_str(&format!("  {:?}: {f}\n", f.severity));
            // Findings never carry the identifiers the token holds.
            for id in ["06828399789", "29698496140", "17855599120", "29844697323"] {
                assert!(!f.to_string().contains(id), "{f}");
            }
        }
        by_file.insert(file, findings);
    }
    eprintln!("{report}");

    let shown = |file: &str| -> Vec<String> {
        by_file[file]
            .iter()
            .map(|f| format!("{:?}: {f}", f.severity))
            .collect()
    };
    // HelseID's Kjernejournal token: its patient number's month (69) is NAV's synthetic month + 60, accepted
    // with synthetic numbers on, as here.
    assert_eq!(shown("IT_SamlToken_KJ01.xml"), Vec::<String>::new());
    assert_eq!(shown("SamlToken01.xml"), shown("IT_SamlToken_KJ01.xml"));
    // The short SOAP token carries the practitioner's identity only: no organisation, purpose or grounds.
    assert_eq!(
        shown("SamlToken02.xml"),
        vec![
            "Error: practitioner.legal_entity fails rule required: it is required but absent",
            "Error: practitioner.point_of_care fails rule required: it is required but absent",
            "Error: care_relationship.purpose_of_use fails rule required: it is required but absent",
            "Error: care_relationship.decision_ref fails rule required: it is required but absent",
            "Error: care_relationship.healthcare_service | care_relationship.purpose_of_use_details fails rule ATT-43: one of these fields must be present, and none is",
        ]
    );
    // Helsenorge's citizen token is not a PJD v2 health-professional token: ISO 14265 purpose of use (a
    // warning in lenient mode), no healthcare service or details, no decision reference.
    let hn = shown("IT_SamlToken_HN01.xml");
    assert!(
        hn.contains(&"Warning: care_relationship.purpose_of_use.system fails rule codes: the code system is not one this field allows (urn:oid:2.16.840.1.113883.1.11.20448)".to_string()),
        "{hn:?}"
    );
    assert!(hn.iter().any(|f| f.contains("fails rule ATT-43")), "{hn:?}");
    assert!(
        hn.iter()
            .any(|f| f.contains("care_relationship.decision_ref fails rule required")),
        "{hn:?}"
    );
}
