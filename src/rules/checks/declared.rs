//! The `[[check]]` entries of a rules file: which register a check asks, which model fields it reads, and
//! where it runs (by default when issuing, in both directions: `encode-jwt` and `encode-xua`).

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use super::super::codes::CodeTables;
use super::super::rule::RuleDirection;
use super::super::source::whole_field;
use super::super::source::Source;
use super::{BlockCheck, Check, CheckKind, HprCheck};
use crate::mapping::hl7::normalize_system;
use crate::mapping::MappingError;
use crate::model::{FieldId, FieldKind};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckEntry {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    direction: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    hpr_authorization: Option<Spanned<HprEntry>>,
    #[serde(default)]
    access_block: Option<Spanned<BlockEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HprEntry {
    practitioner: String,
    #[serde(default)]
    practitioner_systems: Vec<String>,
    authorization: String,
    authorization_system: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockEntry {
    patient: String,
    #[serde(default)]
    patient_systems: Vec<String>,
    practitioner: OneOrMany,
    point_of_care: OneOrMany,
    legal_entity: OneOrMany,
}

/// The directions a check runs in when its entry names none: whenever the gateway issues.
pub(crate) const WHEN_ISSUING: [RuleDirection; 2] =
    [RuleDirection::EncodeJwt, RuleDirection::EncodeXua];

/// Reads a list of direction names (a rules file's `direction`, or configuration's override).
pub(crate) fn directions(names: &[&str]) -> Result<Vec<RuleDirection>, String> {
    if names.is_empty() {
        return Err("a check needs at least one direction".to_string());
    }
    names
        .iter()
        .map(|n| {
            RuleDirection::parse(n).ok_or_else(|| {
                format!("direction must be one of decode-xua, encode-xua, decode-jwt, encode-jwt, not {n:?}")
            })
        })
        .collect()
}

fn systems(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    list: &[String],
) -> Result<Vec<String>, MappingError> {
    list.iter()
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

fn identifier_fields(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    paths: &OneOrMany,
    what: &str,
) -> Result<Vec<FieldId>, MappingError> {
    paths
        .items()
        .into_iter()
        .map(|p| whole_field(src, span.clone(), p, Some(FieldKind::Identifier), what))
        .collect()
}

pub(crate) fn compile_check(
    src: &Source<'_>,
    entry: &Spanned<CheckEntry>,
    codes: &CodeTables,
    names: &mut BTreeSet<String>,
) -> Result<Check, MappingError> {
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
            "a check needs a name of letters, digits, - and _ (it appears in refusals and audit records)",
        ));
    }
    if !names.insert(name.to_string()) {
        return Err(src.err(span, format!("rule {name} is declared twice")));
    }
    let directions = match &e.direction {
        None => WHEN_ISSUING.to_vec(),
        Some(d) => directions(&d.get_ref().items())
            .map_err(|m| src.err(d.span(), format!("check {name}: {m}")))?,
    };
    let kind = match (&e.hpr_authorization, &e.access_block) {
        (Some(h), None) => {
            let hs = h.span();
            let h = h.get_ref();
            let system = normalize_system(&h.authorization_system);
            if !codes.has_system(&system) {
                return Err(src.err(
                    hs,
                    format!("check {name}: no code table defines the authorization system {system}"),
                ));
            }
            CheckKind::HprAuthorization(HprCheck {
                practitioner: whole_field(
                    src,
                    hs.clone(),
                    &h.practitioner,
                    Some(FieldKind::Identifier),
                    "hpr_authorization.practitioner",
                )?,
                practitioner_systems: systems(src, hs.clone(), &h.practitioner_systems)?,
                authorization: whole_field(
                    src,
                    hs,
                    &h.authorization,
                    Some(FieldKind::Coded),
                    "hpr_authorization.authorization",
                )?,
                authorization_system: system,
            })
        }
        (None, Some(b)) => {
            let bs = b.span();
            let b = b.get_ref();
            CheckKind::AccessBlock(BlockCheck {
                patient: whole_field(
                    src,
                    bs.clone(),
                    &b.patient,
                    Some(FieldKind::Identifier),
                    "access_block.patient",
                )?,
                patient_systems: systems(src, bs.clone(), &b.patient_systems)?,
                practitioner: identifier_fields(
                    src,
                    bs.clone(),
                    &b.practitioner,
                    "access_block.practitioner",
                )?,
                point_of_care: identifier_fields(
                    src,
                    bs.clone(),
                    &b.point_of_care,
                    "access_block.point_of_care",
                )?,
                legal_entity: identifier_fields(
                    src,
                    bs,
                    &b.legal_entity,
                    "access_block.legal_entity",
                )?,
            })
        }
        _ => {
            return Err(src.err(
                span,
                format!("check {name}: declare exactly one of [check.hpr_authorization] and [check.access_block]"),
            ))
        }
    };
    Ok(Check {
        name: name.to_string(),
        description: e.description.clone(),
        directions,
        kind,
    })
}
