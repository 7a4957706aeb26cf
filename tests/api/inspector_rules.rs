//! Every item of an inspection report names a rule of the table (`src/inspect/catalog.rs`), and every rule of
//! the table is exercised by at least one input here: each input says which rules it is for, and its report
//! must carry them.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use xua_gateway::inspect::catalog::{self, PENDING, RULES};

use crate::helpers::*;

/// POST /inspect with the JSON request object.
pub async fn inspect_json(app: &TestApp, request: &Value) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .header("Content-Type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Every rule id in a report, from its checks, items and findings; each item also carries its citation.
pub fn rule_ids(report: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in report["tokens"].as_array().unwrap() {
        for list in ["checks", "items", "findings", "registers"] {
            let Some(entries) = t[list].as_array() else {
                // `registers` is left out when no register was asked.
                assert_eq!(list, "registers", "no {list} in {t}");
                continue;
            };
            for item in entries {
                let id = item["rule_id"].as_str().unwrap_or_else(|| {
                    panic!("a {list} entry without rule_id: {item}");
                });
                let rule = catalog::rule(id).unwrap_or_else(|| panic!("{id} is not in the table"));
                assert_eq!(item["spec"], rule.citation(), "{item}");
                assert_eq!(item["spec_url"], rule.url, "{item}");
                out.insert(id.to_string());
            }
        }
    }
    out
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// The sample claims with one change at a JSON pointer (`None` removes the member).
fn claims_with(pointer: &str, value: Option<Value>) -> Value {
    let mut claims = Value::Object(claims_file("fastlege.json"));
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let target = claims.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => target.insert(last.to_string(), v),
        None => target.remove(last),
    };
    claims
}

const ATTESTATION: &str = "/nhn:tillitsrammeverk:parameters";

fn with_attributes(xml: &str, attributes: &str) -> String {
    assert!(xml.contains("</saml:AttributeStatement>"));
    xml.replacen(
        "</saml:AttributeStatement>",
        &format!("{attributes}</saml:AttributeStatement>"),
        1,
    )
}

fn jwt_without_patient() -> String {
    let mut claims: Map<String, Value> = claims_file("fastlege.json");
    claims["nhn:tillitsrammeverk:parameters"]
        .as_object_mut()
        .unwrap()
        .remove("patients");
    xua_gateway::samples::mint_jwt(
        &claims,
        &xua_gateway::samples::JwtMintOptions::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
}

#[actix_web::test]
async fn every_rule_in_the_table_is_exercised_and_every_reported_rule_is_in_it() {
    let app = spawn_app().await;
    let valid = text(mint_now("fastlege.json"));
    let idp_cert =
        std::fs::read_to_string(repo().join("samples/keys/TEST-ONLY-idp.crt.pem")).unwrap();
    let jwks =
        std::fs::read_to_string(repo().join("samples/keys/TEST-ONLY-helseid.jwks.json")).unwrap();
    let jwt = mint_sample_jwt("municipal-nurse.json");

    // Tokens exchanged once, then inspected: the dry run finds them in the replay store.
    let exchanged_saml = mint_now("hospital-physician.json");
    let (status, body) = app.exchange_saml(&exchanged_saml, &[]).await;
    assert_eq!(status, 200, "{body}");
    let exchanged_jwt = mint_sample_jwt("municipal-nurse.json");
    let dpop_bound_jwt = xua_gateway::samples::mint_jwt(
        &claims_file("municipal-nurse.json"),
        &xua_gateway::samples::JwtMintOptions {
            cnf_jkt: Some(xua_gateway::samples::sample_dpop_thumbprint().unwrap()),
            ..Default::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let (status, body, _) = app.exchange_jwt(&exchanged_jwt, &[]).await;
    assert_eq!(status, 200, "{body}");

    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "a valid assertion",
            json!({ "token": valid }),
            vec![
                "saml.structure",
                "saml.signature",
                "saml.conditions.validity",
                "saml.conditions.audience",
                "saml.conditions.other",
                "saml.subject.confirmation",
                "saml.nameid",
                "xua.attribute.subject-id",
                "xua.attribute.organization",
                "xua.attribute.organization-id",
                "xua.attribute.home-community-id",
                "xua.attribute.npi",
                "xua.attribute.provider-identifier",
                "xua.attribute.role",
                "xua.attribute.purpose-of-use",
                "xua.attribute.resource-id",
                "pjd.attribute",
                "rules.hpr-authorization",
                "rules.access-block",
            ],
        ),
        (
            "the assertion with its issuer's certificate supplied",
            json!({ "token": valid, "key": idp_cert }),
            vec!["saml.signature", "saml.trust"],
        ),
        (
            "an assertion carrying consent and an attribute no table knows",
            json!({ "token": with_attributes(&valid,
                "<saml:Attribute Name=\"urn:ihe:iti:xua:2012:acp\"><saml:AttributeValue>urn:oid:2.16.578.1.12.4.1.7.2.1.4</saml:AttributeValue></saml:Attribute>\
                 <saml:Attribute Name=\"urn:example:not-in-any-table\"><saml:AttributeValue>x</saml:AttributeValue></saml:Attribute>") }),
            vec![
                "xua.attribute.consent",
                "xua.attribute.other",
                "profile.mapping",
            ],
        ),
        (
            "a comment inside the assertion",
            json!({ "token": with_attributes(&valid, "<!-- hidden -->") }),
            vec!["xml.comments", "xml.prescan"],
        ),
        (
            "XML that is not well-formed",
            json!({ "token": "<x" }),
            vec!["xml.parse"],
        ),
        (
            "an assertion with nothing in it",
            json!({ "token": "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>" }),
            vec!["saml.assertion"],
        ),
        (
            "neither XML nor a JWT",
            json!({ "token": "hello" }),
            vec!["input.format"],
        ),
        (
            "a sample JWT",
            json!({ "token": jwt }),
            vec![
                "jwt.format",
                "jwt.header",
                "jwt.typ",
                "jwt.signature",
                "jwt.validity",
                "jwt.audience",
                "jwt.claim.registered",
                "jwt.claim.access-token",
                "helseid.claim",
                "helseid.attestation",
                "rules.fastlege",
                "rules.hpr-authorization",
                "rules.access-block",
            ],
        ),
        (
            "the JWT with its issuer's JWKS supplied",
            json!({ "token": jwt, "key": jwks }),
            vec!["jwt.signature", "jwt.trust"],
        ),
        (
            "a JWT that names no patient",
            json!({ "token": jwt_without_patient() }),
            vec!["xua.attribute.resource-id", "exchange.dry-run"],
        ),
        (
            "an assertion that was exchanged before",
            json!({ "token": text(exchanged_saml) }),
            vec!["saml.replay"],
        ),
        (
            "a JWT that was exchanged before",
            json!({ "token": exchanged_jwt }),
            vec!["jwt.replay"],
        ),
        (
            "a DPoP-bound JWT, which an inspection cannot prove",
            json!({ "token": dpop_bound_jwt }),
            vec!["dpop.proof"],
        ),
        (
            "an IUA payload with extensions and a private claim, without sub",
            json!({ "token": json!({
                "iss": "https://iua.example", "aud": "https://xua-gateway.test.example", "exp": 4102444800u64,
                "extensions": { "ihe_iua": { "home_community_id": "urn:oid:1.2.3.4" } },
                "example_private_claim": "x"
            }).to_string(), "profile": "ihe-iua" }),
            vec!["iua.claim.extensions", "jwt.claim.other", "value.required"],
        ),
        (
            "a practitioner identifier that is no fødselsnummer",
            json!({ "token": claims_with(&format!("{ATTESTATION}/practitioner/identifier/id"), Some(json!("12345678901"))).to_string() }),
            vec!["no.identifier"],
        ),
        (
            "an authorization code not in Volven 9060",
            json!({ "token": claims_with(&format!("{ATTESTATION}/practitioner/authorization/code"), Some(json!("ZZZ"))).to_string() }),
            vec!["value.code"],
        ),
        (
            "a healthcare service from a system ATT-37 does not allow",
            json!({ "token": claims_with(&format!("{ATTESTATION}/care_relationship/healthcare_service/system"), Some(json!("urn:oid:1.2.3"))).to_string() }),
            vec!["no.att-37"],
        ),
        (
            "a purpose of use outside ATT-38 to ATT-41",
            json!({ "token": claims_with(&format!("{ATTESTATION}/care_relationship/purpose_of_use/code"), Some(json!("XYZ"))).to_string() }),
            vec!["no.att-38"],
        ),
        (
            "neither healthcare service nor purpose of use details",
            json!({ "token": claims_with(&format!("{ATTESTATION}/care_relationship/healthcare_service"), None).to_string() }),
            vec!["no.att-43"],
        ),
        (
            "purpose of use details with an unknown code",
            json!({ "token": claims_with(&format!("{ATTESTATION}/care_relationship/purpose_of_use_details"),
                Some(json!({ "code": "NOPE", "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation" }))).to_string() }),
            vec!["no.att-45"],
        ),
        (
            "a user reason with markup",
            json!({ "token": claims_with(&format!("{ATTESTATION}/care_relationship/decision_ref/user_reason"), Some(json!("<b>x</b>"))).to_string() }),
            vec!["value.charset"],
        ),
        (
            "a practitioner name longer than the rules allow",
            json!({ "token": claims_with(&format!("{ATTESTATION}/practitioner/identifier/name"), Some(json!("A".repeat(300)))).to_string() }),
            vec!["value.length"],
        ),
    ];

    let mut exercised = BTreeSet::new();
    for (what, request, expected) in &cases {
        let (status, report) = inspect_json(&app, request).await;
        assert_eq!(status, 200, "{what}: {report}");
        let ids = rule_ids(&report);
        for id in expected {
            assert!(ids.contains(*id), "{what}: no {id} in {ids:?}\n{report}");
        }
        for id in &ids {
            assert!(
                !PENDING.contains(&id.as_str()),
                "{what}: pending rule {id} reported"
            );
        }
        exercised.extend(expected.iter().map(|s| s.to_string()));
    }
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !PENDING.contains(id) && !exercised.contains(*id))
        .collect();
    assert!(missing.is_empty(), "rules no input exercises: {missing:?}");
    for id in PENDING {
        assert!(
            catalog::rule(id).is_some(),
            "pending {id} is not in the table"
        );
    }
    // The inspection issued nothing: the only access-log records are the two exchanges above.
    assert_eq!(app.records().len(), 2);
}

#[test]
fn rule_ids_are_unique_and_every_rule_cites_a_section() {
    let mut seen = BTreeSet::new();
    for r in RULES {
        assert!(seen.insert(r.id), "{} twice", r.id);
        assert!(
            !r.title.is_empty() && !r.spec.is_empty() && !r.section.is_empty(),
            "{r:?}"
        );
        assert!(
            r.url.is_empty() && PENDING.contains(&r.id) || r.url.starts_with("https://"),
            "{r:?}"
        );
        for (name, url) in r.also {
            assert!(!name.is_empty() && url.starts_with("https://"), "{r:?}");
        }
    }
}

#[actix_web::test]
async fn the_text_report_names_each_rule_and_its_section() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/inspect?format=text", app.address))
        .body(mint_now("fastlege.json"))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(
        text.contains("rule saml.signature · OASIS SAML 2.0 Core §5.4"),
        "{text}"
    );
    assert!(
        text.contains("rule xua.attribute.role · IHE ITI TF-2"),
        "{text}"
    );
}
