//! The registers' answers as inspector items, one per rule that asked one (the fastlege rule, the HPR and
//! access-block checks), each with a stable id (`rules.<rule name>`). The items say what the exchange would
//! be told and no more: not why an authorization is not confirmed, not which block applies (those stay in
//! the access log of a real exchange).

use serde::Serialize;

use super::catalog::{self, Cite};
use super::Status;
use crate::rules::{CheckAnswer, CheckDecision, RegisterAnswer, RuleDecision};

#[derive(Debug, Clone, Serialize)]
pub struct RegisterItem {
    /// The catalog rule of the register asked: `rules.fastlege`, `rules.hpr-authorization`,
    /// `rules.access-block` (also `rule_id`, with the rule's `spec` and `spec_url`).
    pub id: String,
    #[serde(flatten)]
    pub cite: Cite,
    /// The rule's name as declared in `mappings/rules/`.
    pub rule: String,
    /// The register asked (`fastlege`, `hpr`, `blocks`).
    pub register: String,
    /// `listed`, `not-listed`, `confirmed`, `not-authorized`, `exempt`, `no-hpr-number`, `blocked`,
    /// `not-blocked`, `unavailable` or `not-asked`.
    pub answer: &'static str,
    pub status: Status,
    pub detail: String,
}

fn item(
    rule: &str,
    register: &str,
    answer: &'static str,
    status: Status,
    detail: String,
) -> RegisterItem {
    let cited = match register {
        crate::rules::BLOCKS => &catalog::ACCESS_BLOCK,
        crate::rules::HPR => &catalog::HPR_AUTHORIZATION,
        _ => &catalog::FASTLEGE,
    };
    RegisterItem {
        id: cited.id.to_string(),
        cite: Cite(cited),
        rule: rule.to_string(),
        register: register.to_string(),
        answer,
        status,
        detail,
    }
}

fn fastlege(d: &RuleDecision) -> RegisterItem {
    let (answer, status, detail) = match &d.register_answer {
        RegisterAnswer::Hit => (
            "listed",
            Status::Info,
            format!(
                "the practitioner is the patient's registered GP: {} is replaced",
                d.field
            ),
        ),
        RegisterAnswer::Miss => (
            "not-listed",
            Status::Info,
            "the practitioner is not the patient's registered GP".to_string(),
        ),
        RegisterAnswer::Unavailable(why) => (
            "unavailable",
            Status::Warn,
            format!("the register cannot answer ({why}); the value is kept"),
        ),
        RegisterAnswer::NotAsked(why) => ("not-asked", Status::Info, format!("not asked: {why}")),
    };
    item(&d.rule, "fastlege", answer, status, detail)
}

fn check(d: &CheckDecision) -> RegisterItem {
    let (answer, status, detail) = match &d.answer {
        CheckAnswer::Confirmed { .. } => (
            "confirmed",
            Status::Ok,
            "the HPR register confirms the practitioner's authorization".to_string(),
        ),
        CheckAnswer::NotAuthorized { .. } => (
            "not-authorized",
            Status::Fail,
            "the HPR register does not confirm the practitioner's authorization".to_string(),
        ),
        CheckAnswer::Exempt { .. } => (
            "exempt",
            Status::Info,
            "no HPR number; this deployment lets the practitioner's category through without one"
                .to_string(),
        ),
        CheckAnswer::NoHprNumber { .. } => (
            "no-hpr-number",
            Status::Fail,
            "no HPR number, and this deployment lets no such practitioner through".to_string(),
        ),
        CheckAnswer::Blocked { .. } => (
            "blocked",
            Status::Fail,
            "the patient has blocked this access".to_string(),
        ),
        CheckAnswer::NotBlocked { .. } => (
            "not-blocked",
            Status::Ok,
            "no block of the patient's applies".to_string(),
        ),
        CheckAnswer::Unavailable { reason } => (
            "unavailable",
            if d.refused {
                Status::Fail
            } else {
                Status::Warn
            },
            if d.refused {
                format!("the register cannot answer ({reason}); the policy refuses")
            } else {
                format!("the register cannot answer ({reason}); the policy lets it through")
            },
        ),
        CheckAnswer::NotAsked { reason } => {
            ("not-asked", Status::Info, format!("not asked: {reason}"))
        }
    };
    item(&d.rule, &d.register, answer, status, detail)
}

/// The items for what the rules stage asked, in the order it asked.
pub(super) fn items(rules: &[RuleDecision], checks: &[CheckDecision]) -> Vec<RegisterItem> {
    rules
        .iter()
        .map(fastlege)
        .chain(checks.iter().map(check))
        .collect()
}
