//! Value validation: what a rules file declares per field, applied to a decoded model.
//!
//! A finding names the field (or the part of it), the rule and the problem, never the value: the message
//! goes to the caller and into logs, and the value may be a person's identifier or an injection attempt.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::codes::CodeTables;
use super::ident::{self, IdKind};
use super::rule::UnknownCodes;
use super::table::{FieldRule, RuleSet, ValidationSpec};
use crate::error::Rejection;
use crate::model::{AccessContext, Coded, FieldId, FieldPart, FieldValue, Identifier};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The value is refused.
    Error,
    /// The value passes, but an operator should know (unknown codes in lenient mode).
    Warning,
}

/// One problem with one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// The model address: `practitioner.identifier.id`, `care_relationship.purpose_of_use`.
    pub field: String,
    /// The rule as the rules file names it: `nin`, `codes`, `max_len`, `charset user_reason`, `ATT-43`.
    pub rule: String,
    /// What is wrong, without the value.
    pub problem: String,
}

/// What [`Validator::validate`] returns when the values pass: findings of [`Severity::Warning`] only.
pub type Warning = Finding;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fails rule {}: {}",
            self.field, self.rule, self.problem
        )
    }
}

/// Deployment choices that are not part of a profile's rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationSettings {
    pub unknown_codes: UnknownCodes,
    /// Accept synthetic test fødselsnumre and D-numbers (month + 80, + 40, + 60). Never in production.
    pub synthetic_nin: bool,
}

/// The checks of one profile, ready to run.
#[derive(Debug, Clone)]
pub struct Validator {
    profile: String,
    spec: ValidationSpec,
    codes: Arc<CodeTables>,
    settings: ValidationSettings,
}

struct Collector<'a> {
    findings: Vec<Finding>,
    unknown: Severity,
    path: &'a str,
}

impl Collector<'_> {
    fn push(&mut self, severity: Severity, part: &str, rule: &str, problem: impl Into<String>) {
        let field = if part.is_empty() {
            self.path.to_string()
        } else {
            format!("{}.{part}", self.path)
        };
        self.findings.push(Finding {
            severity,
            field,
            rule: rule.to_string(),
            problem: problem.into(),
        });
    }

    fn error(&mut self, part: &str, rule: &str, problem: impl Into<String>) {
        self.push(Severity::Error, part, rule, problem)
    }

    fn unknown(&mut self, part: &str, rule: &str, problem: impl Into<String>) {
        self.push(self.unknown, part, rule, problem)
    }
}

impl Validator {
    pub fn new(set: &RuleSet, codes: Arc<CodeTables>, settings: ValidationSettings) -> Self {
        Self {
            profile: set.profile.clone(),
            spec: set.validation.clone(),
            codes,
            settings,
        }
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    pub fn settings(&self) -> ValidationSettings {
        self.settings
    }

    /// A bare fødselsnummer or D-number (the `patient` request parameter) as an identifier with the system
    /// this profile's `[identifier_systems]` gives its kind; refused when the profile declares none.
    pub fn national_identifier(&self, id: &str) -> Result<Identifier, &'static str> {
        let nin = ident::Nin::parse(id, self.settings.synthetic_nin)?;
        let kind = nin.kind();
        let mut systems: Vec<&String> = self
            .spec
            .identifier_systems
            .iter()
            .filter(|(_, k)| **k == kind)
            .map(|(system, _)| system)
            .collect();
        // A table that gives one kind two systems names its systems in order: take the first, always.
        systems.sort();
        let system = systems
            .first()
            .ok_or("this profile declares no identifier system for it")?;
        Ok(Identifier {
            id: nin.as_str().to_string(),
            system: Some((*system).clone()),
            ..Identifier::default()
        })
    }

    /// Checks a model. `Ok` carries the warnings (unknown codes in lenient mode); the first error, with the
    /// count of any others, becomes a `CLAIM` rejection.
    pub fn validate(&self, ctx: &AccessContext) -> Result<Vec<Warning>, Rejection> {
        let (errors, warnings): (Vec<Finding>, Vec<Finding>) = self
            .inspect(ctx)
            .into_iter()
            .partition(|f| f.severity == Severity::Error);
        match errors.split_first() {
            None => Ok(warnings),
            Some((first, [])) => Err(Rejection::claim(first.to_string())),
            Some((first, rest)) => Err(Rejection::claim(format!(
                "{first} (and {} more problem{})",
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ))),
        }
    }

    /// Every finding, errors and warnings, in field order: what an inspection report shows.
    pub fn inspect(&self, ctx: &AccessContext) -> Vec<Finding> {
        let unknown = match self.settings.unknown_codes {
            UnknownCodes::Strict => Severity::Error,
            UnknownCodes::Lenient => Severity::Warning,
        };
        let mut findings = Vec::new();
        for &field in FieldId::all() {
            let values = ctx.field_values(field);
            let mut c = Collector {
                findings: Vec::new(),
                unknown,
                path: field.name(),
            };
            let whole = self.spec.fields.get(&(field, FieldPart::Whole));
            if values.is_empty() && whole.is_some_and(|r| r.required) {
                c.error("", "required", "it is required but absent");
            }
            for value in &values {
                self.check_value(&mut c, field, whole, value);
            }
            findings.append(&mut c.findings);
        }
        for group in &self.spec.one_of {
            let present = group
                .fields
                .iter()
                .any(|f| !ctx.field_values(*f).is_empty());
            if !present {
                let names: Vec<&str> = group.fields.iter().map(|f| f.name()).collect();
                findings.push(Finding {
                    severity: Severity::Error,
                    field: names.join(" | "),
                    rule: group.name.clone(),
                    problem: "one of these fields must be present, and none is".to_string(),
                });
            }
        }
        findings
    }

    fn check_value(
        &self,
        c: &mut Collector<'_>,
        field: FieldId,
        whole: Option<&FieldRule>,
        value: &FieldValue,
    ) {
        match value {
            FieldValue::Identifier(i) => {
                if let Some(rule) = whole.and_then(|r| r.identifier.as_ref()) {
                    self.check_identifier(c, &rule.kinds, &rule.label(), i);
                }
                self.check_text(c, field, FieldPart::Id, Some(&i.id));
                self.check_text(c, field, FieldPart::Name, i.name.as_deref());
                self.check_text(c, field, FieldPart::System, i.system.as_deref());
                self.check_text(c, field, FieldPart::Authority, i.authority.as_deref());
            }
            FieldValue::Coded(v) => {
                if let Some(rule) = whole.filter(|r| !r.codes.is_empty()) {
                    self.check_code(c, &rule.codes, v);
                }
                self.check_text(c, field, FieldPart::Code, Some(&v.code));
                self.check_text(c, field, FieldPart::Text, v.text.as_deref());
                self.check_text(c, field, FieldPart::System, v.system.as_deref());
                self.check_text(c, field, FieldPart::Assigner, v.assigner.as_deref());
            }
            FieldValue::DecisionRef(d) => {
                self.check_text(c, field, FieldPart::Id, Some(&d.id));
                self.check_text(c, field, FieldPart::UserReason, d.user_reason.as_deref());
            }
            FieldValue::Text(t) => self.check_text(c, field, FieldPart::Whole, Some(t)),
        }
    }

    fn check_identifier(
        &self,
        c: &mut Collector<'_>,
        kinds: &[IdKind],
        label: &str,
        i: &Identifier,
    ) {
        let synthetic = self.settings.synthetic_nin;
        match i.system.as_deref() {
            Some(system) => match self.spec.identifier_systems.get(system) {
                Some(&specific) => match kinds.iter().find(|k| k.accepts(specific)) {
                    Some(asked) => {
                        if let Err(problem) = ident::check(specific, &i.id, synthetic) {
                            c.error("id", asked.name(), problem);
                        }
                    }
                    None => c.error(
                        "system",
                        label,
                        format!(
                            "the identifier system is that of a {} number, which this field does not take",
                            specific.name()
                        ),
                    ),
                },
                None => c.unknown(
                    "system",
                    label,
                    "the identifier system is not one the rules know, so the identifier cannot be checked",
                ),
            },
            None => {
                let mut first_problem = None;
                for k in kinds {
                    match ident::check(*k, &i.id, synthetic) {
                        Ok(()) => return,
                        Err(p) => {
                            first_problem.get_or_insert((*k, p));
                        }
                    }
                }
                if let Some((k, problem)) = first_problem {
                    c.error("id", k.name(), problem);
                }
            }
        }
    }

    fn check_code(&self, c: &mut Collector<'_>, allowed: &[String], v: &Coded) {
        let Some(system) = v.system.as_deref() else {
            c.unknown(
                "system",
                "codes",
                "the code has no code system, so it cannot be checked",
            );
            return;
        };
        if !allowed.iter().any(|a| a == system) {
            c.unknown(
                "system",
                "codes",
                format!(
                    "the code system is not one this field allows ({})",
                    allowed.join(", ")
                ),
            );
            return;
        }
        if !self.codes.contains(system, &v.code) {
            let name = self
                .codes
                .system_name(system)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            c.unknown(
                "code",
                "codes",
                format!("the code is not in the table of {system}{name}"),
            );
        }
    }

    fn check_text(
        &self,
        c: &mut Collector<'_>,
        field: FieldId,
        part: FieldPart,
        text: Option<&str>,
    ) {
        let Some(text) = text else {
            return;
        };
        let rule = self.spec.fields.get(&(field, part));
        let max = rule
            .and_then(|r| r.max_len)
            .unwrap_or(self.spec.default_max_len);
        let part_name = part.name();
        let len = text.chars().count();
        if len > max {
            c.error(
                part_name,
                "max_len",
                format!("it is {len} characters long, more than the {max} allowed"),
            );
        }
        let Some(name) = rule.and_then(|r| r.charset.as_deref()) else {
            return;
        };
        let Some(charset) = self.spec.charsets.get(name) else {
            return;
        };
        let rule_name = format!("charset {name}");
        if text.is_empty() {
            c.error(part_name, &rule_name, "it is empty");
            return;
        }
        if let Some(pos) = text.chars().position(|ch| !charset.allowed.contains(&ch)) {
            c.error(
                part_name,
                &rule_name,
                format!("character {} is not in the allow-list", pos + 1),
            );
            return;
        }
        if let Some(edges) = &charset.edges {
            let first = text.chars().next().is_some_and(|ch| edges.contains(&ch));
            let last = text
                .chars()
                .next_back()
                .is_some_and(|ch| edges.contains(&ch));
            if !first || !last {
                c.error(
                    part_name,
                    &rule_name,
                    format!(
                        "its {} character is one the allow-list does not permit at the {}",
                        if first { "last" } else { "first" },
                        if first { "end" } else { "start" }
                    ),
                );
            }
        }
    }
}
