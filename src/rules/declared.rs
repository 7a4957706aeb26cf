//! The `[[rule]]` entries of a rules file: declared rules that change the model (the fastlege override), and
//! the replacement codes they set, checked against the code tables.

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use super::codes::CodeTables;
use super::rule::{Condition, Rule, RuleDirection, SetCoded, SetText};
use super::source::whole_field;
use super::source::Source;
use crate::mapping::hl7::normalize_system;
use crate::mapping::MappingError;
use crate::model::{Coded, FieldKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleEntry {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) direction: Spanned<String>,
    pub(super) when: Spanned<ConditionEntry>,
    pub(super) set: Spanned<SetEntry>,
    #[serde(default)]
    pub(super) also: Vec<Spanned<AlsoEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConditionEntry {
    pub(super) registered_gp: RegisteredGpEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisteredGpEntry {
    pub(super) practitioner: String,
    #[serde(default)]
    pub(super) practitioner_systems: Vec<String>,
    pub(super) patient: String,
    #[serde(default)]
    pub(super) patient_systems: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetEntry {
    pub(super) field: String,
    pub(super) code: String,
    pub(super) system: String,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) assigner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlsoEntry {
    pub(super) field: String,
    pub(super) value: String,
}

fn systems_list(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    systems: &[String],
) -> Result<Vec<String>, MappingError> {
    systems
        .iter()
        .map(|s| {
            let n = normalize_system(s);
            if n.is_empty() {
                Err(src.err(span.clone(), "a system must not be empty"))
            } else {
                Ok(n)
            }
        })
        .collect()
}

pub(super) fn compile_rule(
    src: &Source<'_>,
    entry: &Spanned<RuleEntry>,
    codes: &CodeTables,
    names: &mut BTreeSet<String>,
) -> Result<Rule, MappingError> {
    let span = entry.span();
    let e = entry.get_ref();
    let name = e.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(src.err(
            span,
            "a rule needs a name of letters, digits, - and _ (it appears in audit records and configuration)",
        ));
    }
    if !names.insert(name.to_string()) {
        return Err(src.err(span, format!("rule {name} is declared twice")));
    }
    let direction = RuleDirection::parse(e.direction.get_ref()).ok_or_else(|| {
        src.err(
            e.direction.span(),
            format!(
                "rule {name}: direction must be one of decode-xua, encode-xua, decode-jwt, encode-jwt, not {:?}",
                e.direction.get_ref()
            ),
        )
    })?;

    let when_span = e.when.span();
    let gp = &e.when.get_ref().registered_gp;
    let condition = Condition::RegisteredGp {
        practitioner: whole_field(
            src,
            when_span.clone(),
            &gp.practitioner,
            Some(FieldKind::Identifier),
            "registered_gp.practitioner",
        )?,
        practitioner_systems: systems_list(src, when_span.clone(), &gp.practitioner_systems)?,
        patient: whole_field(
            src,
            when_span.clone(),
            &gp.patient,
            Some(FieldKind::Identifier),
            "registered_gp.patient",
        )?,
        patient_systems: systems_list(src, when_span, &gp.patient_systems)?,
    };

    let set_span = e.set.span();
    let s = e.set.get_ref();
    let field = whole_field(
        src,
        set_span.clone(),
        &s.field,
        Some(FieldKind::Coded),
        "set",
    )?;
    if field.is_list() {
        return Err(src.err(
            set_span,
            format!("rule {name}: set replaces a single-valued field; {field} holds several"),
        ));
    }
    let value = replacement(
        codes,
        name,
        &s.code,
        &s.system,
        s.text.clone(),
        s.assigner.clone(),
    )
    .map_err(|m| src.err(set_span, m))?;

    let mut also = Vec::new();
    for a in &e.also {
        let a_span = a.span();
        let a = a.get_ref();
        let field = whole_field(src, a_span.clone(), &a.field, Some(FieldKind::Text), "also")?;
        if field.is_list() || a.value.trim().is_empty() {
            return Err(src.err(
                a_span,
                format!("rule {name}: also sets one non-empty value of a single-valued text field"),
            ));
        }
        also.push(SetText {
            field,
            value: a.value.clone(),
        });
    }

    Ok(Rule {
        name: name.to_string(),
        description: e.description.clone(),
        direction,
        condition,
        set: SetCoded { field, value },
        also,
    })
}

/// The coded value a rule writes: the code must exist in its system's table, and the display text comes from
/// the table unless the rule gives one.
pub(crate) fn replacement(
    codes: &CodeTables,
    rule: &str,
    code: &str,
    system: &str,
    text: Option<String>,
    assigner: Option<String>,
) -> Result<Coded, String> {
    let system = normalize_system(system);
    let Some(table) = codes.system(&system) else {
        return Err(format!(
            "rule {rule}: no code table defines the replacement system {system}"
        ));
    };
    let Some(display) = table.display(code) else {
        return Err(format!(
            "rule {rule}: code {code:?} is not in the table of {system} ({})",
            table.file
        ));
    };
    Ok(Coded {
        code: code.to_string(),
        text: Some(text.unwrap_or_else(|| display.to_string())),
        system: Some(system),
        assigner,
    })
}
