//! Declared rules that change the model on its way through the pipeline, e.g. the fastlege override:
//! when encoding XUA, if the practitioner is the patient's registered GP, `healthcare_service` is replaced.
//!
//! A rule applies only in the direction it declares. Every rule evaluated yields a [`RuleDecision`] for the
//! audit record, whether it changed anything or not, so the access log shows the original value, what the
//! register said and which rule acted.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::codes::CodeTables;
use super::declared::replacement;
use super::ident::{identifier, HprNumber};
use super::register::{FastlegeRegister, RegisterError, RegisterStats};
use super::rule::{Condition, OnUnavailable, Rule, RuleDirection};
use super::table::RuleSet;
use crate::error::Rejection;
use crate::mapping::MappingError;
use crate::model::{AccessContext, Coded, FieldId, FieldValue};

/// What the fastlege register said about this request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "reason", rename_all = "kebab-case")]
pub enum RegisterAnswer {
    /// The practitioner is the patient's registered GP.
    Hit,
    /// The patient has another GP, or none.
    Miss,
    /// The register could not answer (timeout, error, overload); the reason names no person.
    Unavailable(RegisterError),
    /// The register was not asked because the model lacks what the condition needs.
    NotAsked(String),
}

/// A value a rule set in a text field beside its main replacement (e.g. the XUA consent policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextChange {
    pub field: FieldId,
    pub original: Option<String>,
    pub replacement: String,
}

/// One rule's evaluation, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDecision {
    pub rule: String,
    pub field: FieldId,
    /// The field's value before the rule (as the input had it).
    pub original: Option<Coded>,
    /// The value the rule wrote; `None` when it did not apply.
    pub replacement: Option<Coded>,
    pub register_answer: RegisterAnswer,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<TextChange>,
}

/// Deployment choices for the rules of one profile.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub on_unavailable: OnUnavailable,
    /// Replace the replacement's code system for the rules named here (`[rules.fastlege] replacement_system`):
    /// NHN sources disagree on the system of KX17 (docs/norway-profile.md, "The fastlege rule").
    pub replacement_systems: Vec<(String, String)>,
}

/// The rules of one profile, ready to run.
#[derive(Debug, Clone)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    on_unavailable: OnUnavailable,
    stats: Arc<RegisterStats>,
}

impl RuleEngine {
    /// Takes a profile's rules; replacement-system overrides are checked against the code tables here.
    pub fn new(
        set: &RuleSet,
        codes: &CodeTables,
        settings: &EngineSettings,
        stats: Arc<RegisterStats>,
    ) -> Result<Self, MappingError> {
        let mut rules = set.rules.clone();
        for (name, system) in &settings.replacement_systems {
            if let Some(rule) = rules.iter_mut().find(|r| r.name == *name) {
                let v = &rule.set.value;
                rule.set.value =
                    replacement(codes, name, &v.code, system, None, v.assigner.clone()).map_err(
                        |message| MappingError {
                            file: set.source.clone(),
                            line: None,
                            message: format!("{message} (asked for by the configuration)"),
                        },
                    )?;
            }
        }
        Ok(Self {
            rules,
            on_unavailable: settings.on_unavailable,
            stats,
        })
    }

    /// Whether any rule applies in `direction` (the pipeline may skip the call otherwise).
    pub fn has_rules_for(&self, direction: RuleDirection) -> bool {
        self.rules.iter().any(|r| r.direction == direction)
    }

    /// The rules, as `(name, direction, description)`, for listings such as an inspection report.
    pub fn rules(&self) -> impl Iterator<Item = (&str, RuleDirection, &str)> {
        self.rules
            .iter()
            .map(|r| (r.name.as_str(), r.direction, r.description.as_str()))
    }

    pub fn on_unavailable(&self) -> OnUnavailable {
        self.on_unavailable
    }

    pub fn stats(&self) -> &RegisterStats {
        &self.stats
    }

    /// Runs the rules declared for `direction` on `ctx`, in file order. A register that cannot answer under
    /// the `reject` policy fails the exchange with `UNAVAILABLE`; under `keep` the value stays as it was and
    /// the decision says why.
    pub fn apply(
        &self,
        direction: RuleDirection,
        ctx: &mut AccessContext,
        register: &dyn FastlegeRegister,
    ) -> Result<Vec<RuleDecision>, Rejection> {
        let mut decisions = Vec::new();
        for rule in self.rules.iter().filter(|r| r.direction == direction) {
            decisions.push(self.apply_one(rule, ctx, register)?);
        }
        Ok(decisions)
    }

    fn apply_one(
        &self,
        rule: &Rule,
        ctx: &mut AccessContext,
        register: &dyn FastlegeRegister,
    ) -> Result<RuleDecision, Rejection> {
        let original = ctx
            .field_values(rule.set.field)
            .into_iter()
            .find_map(|v| match v {
                FieldValue::Coded(c) => Some(c),
                _ => None,
            });
        let answer = match &rule.condition {
            Condition::RegisteredGp {
                practitioner,
                practitioner_systems,
                patient,
                patient_systems,
            } => {
                let gp = identifier(ctx, *practitioner, practitioner_systems);
                let pat = identifier(ctx, *patient, patient_systems);
                match (gp, pat) {
                    (Err(reason), _) | (_, Err(reason)) => RegisterAnswer::NotAsked(reason),
                    (Ok(gp), Ok(pat)) => {
                        // The register answers with an HPR number; what the model holds must be one too to
                        // be compared with it.
                        match HprNumber::parse(gp.id.trim()) {
                            Ok(gp) => self.ask(register, &gp, pat.id.trim()),
                            Err(_) => RegisterAnswer::NotAsked(format!(
                                "{practitioner} is not an HPR number"
                            )),
                        }
                    }
                }
            }
        };

        let mut decision = RuleDecision {
            rule: rule.name.clone(),
            field: rule.set.field,
            original,
            replacement: None,
            register_answer: answer,
            applied: false,
            also: Vec::new(),
        };
        match &decision.register_answer {
            RegisterAnswer::Hit => {
                ctx.set_field_values(
                    rule.set.field,
                    vec![FieldValue::Coded(rule.set.value.clone())],
                );
                for set in &rule.also {
                    let before = ctx
                        .field_values(set.field)
                        .into_iter()
                        .find_map(|v| match v {
                            FieldValue::Text(t) => Some(t),
                            _ => None,
                        });
                    ctx.set_field_values(set.field, vec![FieldValue::Text(set.value.clone())]);
                    decision.also.push(TextChange {
                        field: set.field,
                        original: before,
                        replacement: set.value.clone(),
                    });
                }
                decision.replacement = Some(rule.set.value.clone());
                decision.applied = true;
                RegisterStats::bump(&self.stats.overrides_applied);
            }
            RegisterAnswer::Unavailable(reason) => match self.on_unavailable {
                OnUnavailable::Keep => RegisterStats::bump(&self.stats.kept_on_unavailable),
                OnUnavailable::Reject => {
                    RegisterStats::bump(&self.stats.rejected_on_unavailable);
                    return Err(Rejection::unavailable(format!(
                        "rule {}: the fastlege register cannot answer ({reason}), and the policy is to reject; nothing is issued, try again later",
                        rule.name
                    )));
                }
            },
            RegisterAnswer::Miss | RegisterAnswer::NotAsked(_) => {}
        }
        Ok(decision)
    }

    fn ask(
        &self,
        register: &dyn FastlegeRegister,
        hpr: &HprNumber,
        patient: &str,
    ) -> RegisterAnswer {
        RegisterStats::bump(&self.stats.lookups);
        match register.gp_of(patient) {
            Ok(Some(gp)) if gp == *hpr => {
                RegisterStats::bump(&self.stats.hits);
                RegisterAnswer::Hit
            }
            Ok(_) => {
                RegisterStats::bump(&self.stats.misses);
                RegisterAnswer::Miss
            }
            Err(e) => {
                RegisterStats::bump(&self.stats.unavailable);
                RegisterAnswer::Unavailable(e)
            }
        }
    }
}
