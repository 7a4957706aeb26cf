//! The access-block check: none of the blocks the patient has placed may apply to this practitioner, point
//! of care or legal entity (a block for everyone except named ones applies unless it names one of them).

use super::super::ident::identifier;
use super::super::register::{Block, BlockRegister, BlockScope, RegisterStats};
use super::super::rule::OnUnavailable;
use super::{unavailable, BlockCheck, Check, CheckAnswer, CheckDecision, Evaluated, Registered};
use crate::error::Rejection;
use crate::model::{AccessContext, FieldId, FieldValue};

/// The identifiers the model holds in `fields` (every patient's, for patient fields).
fn ids(ctx: &AccessContext, fields: &[FieldId]) -> Vec<String> {
    fields
        .iter()
        .flat_map(|f| ctx.field_values(*f))
        .filter_map(|v| match v {
            FieldValue::Identifier(i) if !i.id.trim().is_empty() => Some(i.id.trim().to_string()),
            _ => None,
        })
        .collect()
}

/// The patients asked about: each patient's identifier of an accepted system.
fn patients(ctx: &AccessContext, spec: &BlockCheck) -> Result<Vec<String>, String> {
    if spec.patient != FieldId::PatientIdentifier {
        return identifier(ctx, spec.patient, &spec.patient_systems)
            .map(|i| vec![i.id.trim().to_string()]);
    }
    let mut out = Vec::new();
    for p in &ctx.patients {
        let mut one = AccessContext::default();
        one.patients.push(p.clone());
        out.push(
            identifier(&one, spec.patient, &spec.patient_systems)?
                .id
                .trim()
                .to_string(),
        );
    }
    if out.is_empty() {
        return Err(format!("{} is absent", spec.patient));
    }
    Ok(out)
}

struct Asking {
    practitioner: Vec<String>,
    point_of_care: Vec<String>,
    legal_entity: Vec<String>,
}

impl Asking {
    fn named_in(&self, who: &[String], ids: &[String]) -> bool {
        ids.iter().any(|i| who.contains(i))
    }

    fn blocked_by(&self, b: &Block) -> bool {
        match b.scope {
            BlockScope::Practitioner => self.named_in(&b.who, &self.practitioner),
            BlockScope::PointOfCare => self.named_in(&b.who, &self.point_of_care),
            BlockScope::LegalEntity => self.named_in(&b.who, &self.legal_entity),
            BlockScope::EveryoneExcept => {
                !(self.named_in(&b.who, &self.practitioner)
                    || self.named_in(&b.who, &self.point_of_care)
                    || self.named_in(&b.who, &self.legal_entity))
            }
        }
    }
}

pub(super) fn evaluate(
    check: &Check,
    spec: &BlockCheck,
    register: &Registered<dyn BlockRegister>,
    policy: OnUnavailable,
    ctx: &AccessContext,
) -> Evaluated {
    let backend = register.register.kind();
    let decision = |answer: CheckAnswer, cached: bool, refused: bool| CheckDecision {
        rule: check.name.clone(),
        register: check.register().to_string(),
        backend: backend.to_string(),
        answer,
        cached,
        refused,
    };
    // A token without a patient names no one whose blocks could apply; the decision says so.
    let patients = match patients(ctx, spec) {
        Ok(p) => p,
        Err(reason) => {
            return (
                decision(CheckAnswer::NotAsked { reason }, false, false),
                None,
            )
        }
    };
    let asking = Asking {
        practitioner: ids(ctx, &spec.practitioner),
        point_of_care: ids(ctx, &spec.point_of_care),
        legal_entity: ids(ctx, &spec.legal_entity),
    };
    let mut cached = true;
    let mut listed = 0;
    for patient in &patients {
        RegisterStats::bump(&register.stats.lookups);
        let looked = match register.register.blocks(patient) {
            Ok(l) => l,
            Err(e) => return unavailable(check, backend, e, policy, &register.stats),
        };
        cached &= looked.cached;
        listed += looked.answer.len();
        if let Some(b) = looked.answer.iter().find(|b| asking.blocked_by(b)) {
            // Only that a block exists reaches the caller; its id and scope go to the access log.
            let refusal = Rejection::blocked(format!(
                "rule {}: the patient has blocked this access",
                check.name
            ));
            let answer = CheckAnswer::Blocked {
                block: b.id.clone(),
                scope: b.scope,
            };
            return (decision(answer, looked.cached, true), Some(refusal));
        }
    }
    (
        decision(CheckAnswer::NotBlocked { blocks: listed }, cached, false),
        None,
    )
}
