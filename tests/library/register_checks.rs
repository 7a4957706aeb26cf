//! The HPR and access-block registers and the checks that ask them, at library level: the HTTP backends
//! against a real local server (custom pointers, RFC 3339 times, single identifiers, unknown scopes, the
//! negative cache), the `[[check]]` declarations of a rules file, and when the checks run.

use std::sync::Arc;
use std::time::Duration;

use time::macros::datetime;
use xua_gateway::config::RulesConfig;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::model::AccessContext;
use xua_gateway::rules::ident::HprNumber;
use xua_gateway::rules::{
    BlockFile, BlockHttp, BlockHttpSettings, BlockRegister, BlockScope, CheckAnswer,
    CheckRegisters, CodeTables, FileRegister, HprCheckSettings, HprFile, HprHttp, HprHttpSettings,
    HprPointers, HprRegister, HttpClientSettings, NotAuthorized, RegisterError, RegisterStats,
    Registered, RuleDirection, RuleSet, Rules,
};

use crate::registers::*;

fn client(url: String) -> HttpClientSettings {
    HttpClientSettings {
        url,
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_millis(1000),
        ..HttpClientSettings::default()
    }
}

fn hpr(n: &str) -> HprNumber {
    HprNumber::parse(n).unwrap()
}

#[test]
fn hpr_over_http_reads_custom_pointers_and_rfc3339_times() {
    let server = Registers::start();
    let settings = HprHttpSettings {
        client: client(server.url("hpr", "{hpr}")),
        pointers: HprPointers {
            authorizations: "/person/godkjenninger".into(),
            category: "/kategori/kode".into(),
            valid_from: "/gyldig/fra".into(),
            valid_to: "/gyldig/til".into(),
        },
    };
    let stats = Arc::new(RegisterStats::default());
    let reg = HprHttp::new(settings, stats.clone()).unwrap();
    let list = reg
        .authorizations(&hpr(NESTED_HPR))
        .unwrap()
        .answer
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].category, "LE");
    assert_eq!(
        list[0].validity.until,
        Some(datetime!(2099-01-01 00:00 UTC))
    );
    assert!(list[0].validity.holds_at(datetime!(2098-12-31 23:59 UTC)));
    assert!(!list[0].validity.holds_at(datetime!(2099-01-01 00:00 UTC)));
    // A register whose answer has another shape is unreadable, never "no authorizations".
    assert_eq!(
        reg.authorizations(&hpr(FASTLEGE_HPR)),
        Err(RegisterError::Malformed(
            "the answer has nothing at the configured pointer".into()
        ))
    );
    // 404 is a number the register does not know.
    assert_eq!(reg.authorizations(&hpr(UNKNOWN_HPR)).unwrap().answer, None);
    assert_eq!(stats.snapshot().http_errors, 1);

    // The default pointers read the documented shape; a bad pointer setting is refused.
    let reg = HprHttp::new(
        HprHttpSettings {
            client: client(server.url("hpr", "{hpr}")),
            pointers: HprPointers::default(),
        },
        Arc::new(RegisterStats::default()),
    )
    .unwrap();
    let list = reg
        .authorizations(&hpr(HOSPITAL_HPR))
        .unwrap()
        .answer
        .unwrap();
    assert_eq!(
        list.iter().map(|a| a.category.as_str()).collect::<Vec<_>>(),
        ["SP", "LE"]
    );
    assert!(HprHttp::new(
        HprHttpSettings {
            client: client(server.url("hpr", "{patient}")),
            pointers: HprPointers::default(),
        },
        Arc::new(RegisterStats::default()),
    )
    .unwrap_err()
    .contains("{hpr}"));
}

#[test]
fn blocks_over_http_read_lists_and_single_identifiers_and_refuse_unknown_scopes() {
    let server = Registers::start();
    let reg = BlockHttp::new(
        BlockHttpSettings {
            client: client(server.url("blocks", "{patient}")),
            ..BlockHttpSettings::default()
        },
        Arc::new(RegisterStats::default()),
    )
    .unwrap();
    let blocks = reg.blocks(BLOCKS_ORGANISATION).unwrap().answer;
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].scope, blocks[0].who.as_slice()),
        (BlockScope::LegalEntity, &["993467049".to_string()][..])
    );
    assert_eq!(blocks[1].scope, BlockScope::PointOfCare);
    assert!(reg.blocks(UNBLOCKED_PATIENT).unwrap().answer.is_empty());
    assert!(reg.blocks(HOSPITAL_PATIENT).unwrap().answer.is_empty());
    // An unknown scope could be anything: the register is unreadable, and the policy decides.
    assert!(matches!(
        reg.blocks(ODD_SCOPE_PATIENT),
        Err(RegisterError::Malformed(why)) if why.contains("scope")
    ));
    assert_eq!(reg.blocks(FAILING_PATIENT), Err(RegisterError::Status(503)));
}

#[test]
fn negative_answers_expire_before_positive_ones() {
    let server = Registers::start();
    let mut settings = client(server.url("hpr", "{hpr}"));
    settings.cache_ttl = Duration::from_secs(30);
    settings.negative_ttl = Duration::from_millis(300);
    let stats = Arc::new(RegisterStats::default());
    let reg = HprHttp::new(
        HprHttpSettings {
            client: settings,
            pointers: HprPointers::default(),
        },
        stats.clone(),
    )
    .unwrap();
    for n in [FASTLEGE_HPR, UNKNOWN_HPR] {
        assert!(!reg.authorizations(&hpr(n)).unwrap().cached);
        assert!(reg.authorizations(&hpr(n)).unwrap().cached);
    }
    std::thread::sleep(Duration::from_millis(600));
    assert!(!reg.authorizations(&hpr(UNKNOWN_HPR)).unwrap().cached);
    assert!(reg.authorizations(&hpr(FASTLEGE_HPR)).unwrap().cached);
    assert_eq!(
        (
            server.requests("hpr", UNKNOWN_HPR),
            server.requests("hpr", FASTLEGE_HPR)
        ),
        (2, 1)
    );
    assert_eq!(stats.snapshot().cache_hits, 3);

    // A negative TTL longer than the cache's is a configuration mistake.
    let mut settings = client(server.url("hpr", "{hpr}"));
    settings.negative_ttl = settings.cache_ttl + Duration::from_secs(1);
    assert!(HprHttp::new(
        HprHttpSettings {
            client: settings,
            pointers: HprPointers::default(),
        },
        Arc::new(RegisterStats::default()),
    )
    .is_err());
}

fn sample_registers() -> CheckRegisters {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let hpr: Arc<dyn HprRegister> =
        Arc::new(HprFile::from_toml("hpr-register.toml", &read("hpr-register.toml")).unwrap());
    let blocks: Arc<dyn BlockRegister> = Arc::new(
        BlockFile::from_toml("block-register.toml", &read("block-register.toml")).unwrap(),
    );
    CheckRegisters {
        hpr: Registered::new(hpr, Arc::new(RegisterStats::default())),
        blocks: Registered::new(blocks, Arc::new(RegisterStats::default())),
    }
}

fn rules(config: &RulesConfig) -> Rules {
    let codes = Arc::new(CodeTables::embedded().unwrap());
    let sets = RuleSet::embedded(&codes).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let gp = std::fs::read_to_string(root.join("fastlege-register.toml")).unwrap();
    Rules::new(
        codes,
        sets,
        &config.settings(),
        Arc::new(FileRegister::from_toml("fastlege-register.toml", &gp).unwrap()),
        Arc::new(RegisterStats::default()),
    )
    .unwrap()
    .with_check_registers(sample_registers())
}

fn context(sample: &str) -> AccessContext {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/claims")
        .join(sample);
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ProfileSet::embedded("no-pjd")
        .unwrap()
        .default_profile()
        .decode_claims_unverified(&claims)
        .unwrap()
}

#[test]
fn checks_run_when_turned_on_once_per_exchange_and_as_of_its_time() {
    let now = datetime!(2026-03-01 12:00 UTC);
    let both = [RuleDirection::DecodeXua, RuleDirection::EncodeJwt];
    // Off unless configured: the rules files declare them, a deployment turns them on.
    let off = rules(&RulesConfig::default());
    let out = off.check("no-pjd", &both, &context("lapsed-authorization.json"), now);
    assert!(out.decisions.is_empty() && out.verdict.is_ok());

    let text = "[hpr]\nregister = \"file\"\n[blocks]\nregister = \"file\"\n";
    let config: RulesConfig = toml::from_str(text).unwrap();
    let on = rules(&config);
    assert_eq!(
        on.checks("no-pjd")
            .map(|(n, r, ..)| (n, r))
            .collect::<Vec<_>>(),
        [("hpr-authorization", "hpr"), ("access-block", "blocks")]
    );
    assert_eq!(on.checks("ihe-iua").count(), 0);
    let out = on.check("no-pjd", &both, &context("fastlege.json"), now);
    assert!(out.verdict.is_ok());
    assert_eq!(
        out.decisions.len(),
        2,
        "each check once: {:?}",
        out.decisions
    );
    // Only decoding: not a direction the checks declare.
    let out = on.check(
        "no-pjd",
        &[RuleDirection::DecodeXua],
        &context("fastlege.json"),
        now,
    );
    assert!(out.decisions.is_empty());

    // The lapsed sample was authorized in 2020, not now.
    let lapsed = context("lapsed-authorization.json");
    let then = on.check("no-pjd", &both, &lapsed, datetime!(2020-06-01 12:00 UTC));
    assert!(then.verdict.is_ok());
    let out = on.check("no-pjd", &both, &lapsed, now);
    assert_eq!(
        out.verdict.unwrap_err().class,
        xua_gateway::error::ErrorClass::Claim
    );
    assert_eq!(
        out.decisions[0].answer,
        CheckAnswer::NotAuthorized {
            why: NotAuthorized::Lapsed,
            category: Some("LE".into())
        }
    );
    // A date is the day in Norway: the last valid day ends at 22:00 UTC in summer, 23:00 in winter; the
    // earlier is taken.
    let edge = on.check("no-pjd", &both, &lapsed, datetime!(2023-12-31 21:59 UTC));
    assert!(edge.verdict.is_ok());
    let edge = on.check("no-pjd", &both, &lapsed, datetime!(2023-12-31 22:00 UTC));
    assert!(edge.verdict.is_err());

    // A token claiming no category is confirmed by any valid authorization.
    let mut any = context("hospital-physician.json");
    any.practitioner.authorization.clear();
    let out = on.check("no-pjd", &both, &any, now);
    assert_eq!(
        out.decisions[0].answer,
        CheckAnswer::Confirmed { categories: vec![] }
    );
    // A nurse's licence that ended long ago does not confirm a claim to be a nurse today.
    let mut nurse = context("hospital-physician.json");
    nurse.practitioner.authorization[0].code = "SP".into();
    let out = on.check("no-pjd", &both, &nurse, now);
    assert!(matches!(
        out.decisions[0].answer,
        CheckAnswer::NotAuthorized {
            why: NotAuthorized::Lapsed,
            ..
        }
    ));
}

#[test]
fn the_configuration_decides_who_passes_without_an_hpr_number() {
    let now = datetime!(2026-03-01 12:00 UTC);
    let mut ctx = context("municipal-nurse.json");
    ctx.practitioner.hpr_nr = None;
    let config = RulesConfig::default();
    let settings = |allow: &[&str]| {
        let mut s = config.settings();
        s.checks.hpr = Some(HprCheckSettings {
            allow_without_hpr_number: allow.iter().map(|a| a.to_string()).collect(),
            ..HprCheckSettings::default()
        });
        s
    };
    let codes = Arc::new(CodeTables::embedded().unwrap());
    let build = |allow: &[&str]| {
        Rules::new(
            codes.clone(),
            RuleSet::embedded(&codes).unwrap(),
            &settings(allow),
            Arc::new(xua_gateway::rules::NoRegister),
            Arc::new(RegisterStats::default()),
        )
    };
    let dirs = [RuleDirection::EncodeXua];
    let refused = build(&[]).unwrap().check("no-pjd", &dirs, &ctx, now);
    assert!(matches!(
        refused.decisions[0].answer,
        CheckAnswer::NoHprNumber { .. }
    ));
    let exempt = build(&["SP"]).unwrap().check("no-pjd", &dirs, &ctx, now);
    assert!(exempt.verdict.is_ok());
    assert_eq!(
        exempt.decisions[0].answer,
        CheckAnswer::Exempt {
            categories: vec!["SP".into()]
        }
    );
    // With an HPR number but no register configured, the check finds it unavailable and rejects.
    let ctx = context("municipal-nurse.json");
    let out = build(&[]).unwrap().check("no-pjd", &dirs, &ctx, now);
    assert_eq!(
        out.verdict.unwrap_err().class,
        xua_gateway::error::ErrorClass::Unavailable
    );
    assert_eq!(
        out.decisions[0].answer,
        CheckAnswer::Unavailable {
            reason: RegisterError::NotConfiguredFor("HPR".into())
        }
    );
    assert!(build(&["ZZ"]).unwrap_err().message.contains("ZZ"));
}

#[test]
fn a_rules_files_checks_are_checked_at_load_time() {
    let codes = CodeTables::embedded().unwrap();
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/rules/no-pjd.toml"),
    )
    .unwrap();
    let set = RuleSet::from_toml("no-pjd.toml", &base, &codes).unwrap();
    assert_eq!(
        set.check_names().collect::<Vec<_>>(),
        [("hpr-authorization", "hpr"), ("access-block", "blocks")]
    );
    let cases = [
        ("[[check]]\nname = \"fastlege\"\n[check.access_block]\npatient = \"patient.identifier\"\npractitioner = \"practitioner.hpr_nr\"\npoint_of_care = \"practitioner.point_of_care\"\nlegal_entity = \"practitioner.legal_entity\"\n", "declared twice"),
        ("[[check]]\nname = \"x\"\n", "exactly one"),
        ("[[check]]\nname = \"x\"\ndirection = \"sideways\"\n[check.hpr_authorization]\npractitioner = \"practitioner.hpr_nr\"\nauthorization = \"practitioner.authorization\"\nauthorization_system = \"urn:oid:2.16.578.1.12.4.1.1.9060\"\n", "sideways"),
        ("[[check]]\nname = \"x\"\n[check.hpr_authorization]\npractitioner = \"practitioner.authorization\"\nauthorization = \"practitioner.authorization\"\nauthorization_system = \"urn:oid:2.16.578.1.12.4.1.1.9060\"\n", "not a field of kind"),
        ("[[check]]\nname = \"x\"\n[check.hpr_authorization]\npractitioner = \"practitioner.hpr_nr\"\nauthorization = \"practitioner.authorization\"\nauthorization_system = \"urn:oid:1.2.3\"\n", "no code table"),
        ("[[check]]\nname = \"x\"\nregister = \"hpr\"\n", "unknown field"),
    ];
    for (extra, expected) in cases {
        let text = format!("{base}\n{extra}");
        let err = RuleSet::from_toml("no-pjd.toml", &text, &codes).unwrap_err();
        assert!(err.message.contains(expected), "{expected}: {err}");
        assert!(err.line.is_some(), "{err}");
    }
}
