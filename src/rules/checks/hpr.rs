//! The HPR check: the practitioner's HPR number must hold a valid authorization of every category the token
//! claims, at the exchange's time.

use time::OffsetDateTime;

use super::super::ident::identifier;
use super::super::ident::HprNumber;
use super::super::register::{Authorization, HprRegister, RegisterStats};
use super::super::rule::OnUnavailable;
use super::Registered;
use super::{
    unavailable, Check, CheckAnswer, CheckDecision, Evaluated, HprCheck, NotAuthorized, NONE,
};
use crate::error::Rejection;
use crate::model::{AccessContext, FieldValue};

pub(super) fn evaluate(
    check: &Check,
    spec: &HprCheck,
    register: &Registered<dyn HprRegister>,
    policy: OnUnavailable,
    allow_without: &[String],
    ctx: &AccessContext,
    now: OffsetDateTime,
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
    let claimed: Vec<(String, Option<String>)> = ctx
        .field_values(spec.authorization)
        .into_iter()
        .filter_map(|v| match v {
            FieldValue::Coded(c) => Some((c.code.trim().to_string(), c.system)),
            _ => None,
        })
        .collect();
    let codes = || claimed.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();

    // NHN's XUA provider-identifier carries the fødselsnummer when there is no HPR number: another system,
    // or a value that is not an HPR number, is no HPR number.
    let number = identifier(ctx, spec.practitioner, &spec.practitioner_systems)
        .ok()
        .and_then(|i| HprNumber::parse(i.id.trim()).ok());
    let Some(number) = number else {
        let exempt = if claimed.is_empty() {
            allow_without.iter().any(|a| a == NONE)
        } else {
            claimed
                .iter()
                .all(|(c, _)| allow_without.iter().any(|a| a == c))
        };
        if exempt {
            return (
                decision(
                    CheckAnswer::Exempt {
                        categories: codes(),
                    },
                    false,
                    false,
                ),
                None,
            );
        }
        let refusal = Rejection::claim(format!(
            "rule {}: the practitioner has no HPR number, and this deployment lets no such practitioner through",
            check.name
        ));
        return (
            decision(
                CheckAnswer::NoHprNumber {
                    categories: codes(),
                },
                false,
                true,
            ),
            Some(refusal),
        );
    };

    RegisterStats::bump(&register.stats.lookups);
    let looked = match register.register.authorizations(&number) {
        Ok(l) => l,
        Err(e) => return unavailable(check, backend, e, policy, &register.stats),
    };
    let answer = judge(spec, looked.answer.as_deref(), &claimed, now);
    let refused = matches!(answer, CheckAnswer::NotAuthorized { .. });
    // The same words for every reason: whether the authorization lapsed or never existed stays in the
    // access log.
    let refusal = refused.then(|| {
        Rejection::claim(format!(
            "rule {}: the HPR register does not confirm the practitioner's authorization",
            check.name
        ))
    });
    (decision(answer, looked.cached, refused), refusal)
}

fn judge(
    spec: &HprCheck,
    listed: Option<&[Authorization]>,
    claimed: &[(String, Option<String>)],
    now: OffsetDateTime,
) -> CheckAnswer {
    let refuse = |why, category: Option<&str>| CheckAnswer::NotAuthorized {
        why,
        category: category.map(str::to_string),
    };
    let Some(listed) = listed else {
        return refuse(NotAuthorized::UnknownHprNumber, None);
    };
    if listed.is_empty() {
        return refuse(NotAuthorized::NoAuthorization, None);
    }
    if claimed.is_empty() {
        return if listed.iter().any(|a| a.validity.holds_at(now)) {
            CheckAnswer::Confirmed {
                categories: Vec::new(),
            }
        } else {
            refuse(NotAuthorized::Lapsed, None)
        };
    }
    for (code, system) in claimed {
        // A category of another code system cannot be one the register lists.
        if system
            .as_deref()
            .is_some_and(|s| s != spec.authorization_system)
        {
            return refuse(NotAuthorized::OtherCategory, Some(code));
        }
        let mut of_category = listed.iter().filter(|a| a.category == *code).peekable();
        if of_category.peek().is_none() {
            return refuse(NotAuthorized::OtherCategory, Some(code));
        }
        if !of_category.any(|a| a.validity.holds_at(now)) {
            return refuse(NotAuthorized::Lapsed, Some(code));
        }
    }
    CheckAnswer::Confirmed {
        categories: claimed.iter().map(|(c, _)| c.clone()).collect(),
    }
}
