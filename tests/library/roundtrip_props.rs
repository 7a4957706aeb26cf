//! Property tests: any model the Norwegian profile can carry survives model → XUA → model and
//! model → JWT claims → model unchanged (values with XML and JSON metacharacters included).

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use time::OffsetDateTime;
use xua_gateway::inspect::unverified::assertion_view;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::{Profile, ProfileSet, XuaInput};
use xua_gateway::model::{
    AccessContext, CareRelationship, Coded, DecisionRef, Identifier, Patient, Practitioner, Session,
};
use xua_gateway::saml::build::{self, AssertionSpec, AC_X509};

const FNR: &str = "urn:oid:2.16.578.1.12.4.1.4.1";
const HPR: &str = "urn:oid:2.16.578.1.12.4.1.4.4";
const ORG: &str = "urn:oid:2.16.578.1.12.4.1.4.101";
const HCID: &str = "urn:oid:2.16.578.1.12.4.1.7.1.1";

/// Free text with the characters that break naive XML and JSON writers, never blank at either end.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-zÆØÅæøå0-9][A-Za-zÆØÅæøå0-9 <>&\"'.,/:;=#-]{0,30}[A-Za-zÆØÅæøå0-9.]"
}

fn digits() -> impl Strategy<Value = String> {
    "[0-9]{7,11}"
}

fn system() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("urn:oid:2.16.578.1.12.4.1.1.9060".to_string()),
        Just("urn:oid:2.16.840.1.113883.1.11.20448".to_string()),
        Just("urn:AuditEventHL7Norway/CodeSystem/carerelation".to_string()),
        Just("https://terminology.example/cs/x".to_string()),
    ]
}

fn coded() -> impl Strategy<Value = Coded> {
    (
        "[A-Z0-9_]{1,10}",
        option::of(text()),
        option::of(system()),
        option::of(text()),
    )
        .prop_map(|(code, text, system, assigner)| Coded {
            code,
            text,
            system,
            assigner,
        })
}

fn org(system: &'static str) -> impl Strategy<Value = Identifier> {
    (digits(), option::of(text()), option::of(text())).prop_map(move |(id, name, authority)| {
        Identifier {
            id,
            name,
            system: Some(system.to_string()),
            authority,
        }
    })
}

fn department() -> impl Strategy<Value = Identifier> {
    (digits(), option::of(text()), option::of(text())).prop_map(|(id, name, authority)| {
        Identifier {
            id,
            name,
            system: Some("urn:oid:2.16.578.1.12.4.1.4.102".to_string()),
            authority,
        }
    })
}

/// Models whose every field the Norwegian profile carries in both transports.
fn model() -> impl Strategy<Value = AccessContext> {
    let practitioner = (
        (digits(), option::of(text()), option::of(text())),
        option::of((digits(), option::of(text()))),
        vec(coded(), 0..=1),
        option::of(org(ORG)),
        option::of(org(ORG)),
        option::of(department()),
    )
        .prop_map(
            |(
                (pid, name, authority),
                hpr,
                authorization,
                legal_entity,
                point_of_care,
                department,
            )| Practitioner {
                identifier: Some(Identifier {
                    id: pid,
                    name,
                    system: Some(FNR.into()),
                    authority,
                }),
                hpr_nr: hpr.map(|(id, authority)| Identifier {
                    id,
                    name: None,
                    system: Some(HPR.into()),
                    authority,
                }),
                authorization,
                legal_entity,
                point_of_care,
                department,
            },
        );
    let care = (
        option::of(coded()),
        vec(coded(), 0..=1),
        option::of(coded()),
        option::of((
            "[A-Za-z0-9-]{1,36}",
            option::of(any::<bool>()),
            option::of(text()),
        )),
    )
        .prop_map(
            |(healthcare_service, purpose_of_use, purpose_of_use_details, d)| CareRelationship {
                healthcare_service,
                purpose_of_use,
                purpose_of_use_details,
                decision_ref: d.map(|(id, user_selected, user_reason)| DecisionRef {
                    id,
                    user_selected,
                    user_reason,
                }),
            },
        );
    // NHN's XUA names no attribute for the display names of the patient's point of care and department.
    let unnamed = |i: Identifier| Identifier { name: None, ..i };
    let patient = option::of(("[0-9]{11}", option::of(org(ORG)), option::of(department())))
        .prop_map(move |p| {
            p.map(|(id, point_of_care, department)| Patient {
                identifier: Some(Identifier {
                    id,
                    name: None,
                    system: Some(FNR.into()),
                    authority: None,
                }),
                point_of_care: point_of_care.map(unnamed),
                department: department.map(unnamed),
            })
            .into_iter()
            .collect::<Vec<_>>()
        });
    let session = (
        option::of("[1-4]"),
        vec("[a-z_]{1,12}", 0..3),
        option::of("[a-f0-9-]{8,36}"),
    )
        .prop_map(|(security_level, scope, client_id)| Session {
            security_level,
            // A repeated scope says nothing new; the gateway keeps the first of each.
            scope: scope
                .iter()
                .enumerate()
                .filter(|(i, s)| !scope[..*i].contains(s))
                .map(|(_, s)| s.clone())
                .collect(),
            client_id,
            home_community_id: None,
            consent_policy: None,
            consent_document: None,
        });
    (practitioner, care, patient, session).prop_map(
        |(practitioner, care_relationship, patients, session)| AccessContext {
            practitioner,
            care_relationship,
            patients,
            session,
        },
    )
}

fn profile() -> Profile {
    ProfileSet::embedded("no-pjd")
        .unwrap()
        .default_profile()
        .clone()
}

fn through_xua(profile: &Profile, ctx: &AccessContext) -> AccessContext {
    let out = profile.encode_xua(ctx).unwrap();
    let now = OffsetDateTime::now_utc();
    let xml = build::assertion(
        &AssertionSpec {
            id: "_p",
            issuer: "https://issuer.example",
            issue_instant: now,
            not_on_or_after: now + time::Duration::minutes(5),
            audience: "urn:a",
            name_id: out.name_id.as_deref().unwrap(),
            name_qualifier: out.name_qualifier.as_deref(),
            authn_instant: now,
            authn_context_class: AC_X509,
        },
        &out.attributes,
    )
    .unwrap();
    let view = assertion_view(&xml).unwrap();
    profile
        .decode_xua_unverified(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })
        .unwrap()
}

fn through_jwt(profile: &Profile, ctx: &AccessContext) -> AccessContext {
    let claims = profile.encode_claims(ctx).unwrap();
    let wire = serde_json::to_vec(&claims).unwrap();
    profile
        .decode_claims_unverified(&serde_json::from_slice(&wire).unwrap())
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn model_survives_xua(ctx in model(), hcid in option::of(Just(HCID.to_string())), acp in option::of(Just("urn:oid:2.16.578.1.12.4.1.7.2.1.4".to_string()))) {
        let profile = profile();
        let mut ctx = ctx;
        ctx.session.consent_policy = acp;
        ctx.session.home_community_id = hcid;
        let back = through_xua(&profile, &ctx);
        // XUA always carries a home community: the table's default when the model has none.
        ctx.session.home_community_id.get_or_insert_with(|| HCID.to_string());
        prop_assert_eq!(back, ctx);
    }

    #[test]
    fn model_survives_jwt(ctx in model()) {
        let profile = profile();
        prop_assert_eq!(through_jwt(&profile, &ctx), ctx);
    }

    #[test]
    fn model_survives_jwt_then_xua_then_jwt(ctx in model()) {
        let profile = profile();
        let once = through_jwt(&profile, &ctx);
        let mut twice = through_xua(&profile, &once);
        twice.session.home_community_id = None;
        prop_assert_eq!(through_jwt(&profile, &twice), ctx);
    }
}
