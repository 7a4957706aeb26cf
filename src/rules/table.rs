//! The TOML schema of a rules file (`mappings/rules/*.toml`) and its compilation into a checked [`RuleSet`].
//!
//! A rules file belongs to one profile. It declares the value checks per model field (`[validation."field"]`),
//! the groups of which one must be present (`[[one_of]]`), the character sets free text may use, which check
//! an identifier gets by its system, the rules that change the model (`[[rule]]`, e.g. the fastlege
//! override) and the checks against registers that gate issuing (`[[check]]`: HPR, access blocks). Everything it names (fields, code systems, replacement codes) is checked here, so a typo stops
//! the gateway at start-up instead of silently disabling a check.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use toml::Spanned;

use super::checks::declared::{compile_check, CheckEntry};
use super::checks::Check;
use super::codes::CodeTables;
use super::declared::{compile_rule, RuleEntry};
use super::ident::IdKind;
use super::rule::{Rule, UnknownCodes};
use super::source::{field_path, whole_field, Source};
use crate::mapping::hl7::normalize_system;
use crate::mapping::MappingError;
use crate::model::{FieldId, FieldKind, FieldPart};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    ruleset: RulesetMeta,
    #[serde(default)]
    identifier_systems: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    charsets: BTreeMap<String, Spanned<CharsetEntry>>,
    #[serde(default)]
    validation: BTreeMap<String, Spanned<FieldEntry>>,
    #[serde(default)]
    one_of: Vec<Spanned<OneOfEntry>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleEntry>>,
    #[serde(default)]
    check: Vec<Spanned<CheckEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesetMeta {
    profile: String,
    #[serde(default)]
    unknown_codes: Option<Spanned<String>>,
    #[serde(default)]
    max_len: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharsetEntry {
    allowed: String,
    #[serde(default)]
    edges: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEntry {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    identifier: Option<OneOrMany>,
    #[serde(default)]
    codes: Option<Vec<String>>,
    #[serde(default)]
    max_len: Option<usize>,
    #[serde(default)]
    charset: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OneOfEntry {
    name: String,
    fields: Vec<String>,
}

/// What an identifier rule accepts: the kinds in the order written (`identifier = ["hpr", "nin"]`).
#[derive(Debug, Clone)]
pub(crate) struct IdentRule {
    pub kinds: Vec<IdKind>,
}

impl IdentRule {
    pub fn label(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The checks declared for one field or one part of a field.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldRule {
    pub required: bool,
    pub identifier: Option<IdentRule>,
    /// Allowed code systems (normalised); empty when the field has no code rule.
    pub codes: Vec<String>,
    pub max_len: Option<usize>,
    pub charset: Option<String>,
}

/// A character allow-list for free text.
#[derive(Debug, Clone)]
pub(crate) struct Charset {
    pub allowed: HashSet<char>,
    /// Characters allowed first and last; `None` means any allowed character.
    pub edges: Option<HashSet<char>>,
}

#[derive(Debug, Clone)]
pub(crate) struct OneOf {
    pub name: String,
    pub fields: Vec<FieldId>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ValidationSpec {
    pub default_max_len: usize,
    pub fields: HashMap<(FieldId, FieldPart), FieldRule>,
    pub one_of: Vec<OneOf>,
    pub identifier_systems: HashMap<String, IdKind>,
    pub charsets: HashMap<String, Charset>,
}

/// Longest free text when a rules file sets no `max_len` (the mapping engine's own hard cap is 1024).
pub const DEFAULT_MAX_LEN: usize = 256;

/// A checked rules file.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The profile the rules belong to.
    pub profile: String,
    /// Where the rules came from (file path or `embedded:...`), for messages.
    pub source: String,
    /// The profile's own default for unknown codes; configuration may override it per deployment.
    pub unknown_codes: UnknownCodes,
    pub(crate) validation: ValidationSpec,
    pub(crate) rules: Vec<Rule>,
    /// The checks against registers (`[[check]]`), run only when the deployment turns them on.
    pub(crate) checks: Vec<Check>,
}

impl RuleSet {
    /// Compiles one rules file; code systems it names must exist in `codes`.
    pub fn from_toml(file: &str, text: &str, codes: &CodeTables) -> Result<Self, MappingError> {
        compile(&Source { file, text }, codes)
    }

    /// The names of the rules this set declares, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// The names of the checks this set declares, with the register each asks (`hpr`, `blocks`), in order.
    pub fn check_names(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.checks.iter().map(|c| (c.name.as_str(), c.register()))
    }
}

/// Whether a plain string lives at this address (a text field, or a string part of a structured one).
pub(super) fn is_text_target(field: FieldId, part: FieldPart) -> bool {
    match part {
        FieldPart::Whole => field.kind() == FieldKind::Text,
        FieldPart::UserSelected => false,
        _ => true,
    }
}

fn parse_mode(src: &Source<'_>, value: &Spanned<String>) -> Result<UnknownCodes, MappingError> {
    UnknownCodes::parse(value.get_ref()).ok_or_else(|| {
        src.err(
            value.span(),
            format!(
                "unknown_codes must be \"strict\" or \"lenient\", not {:?}",
                value.get_ref()
            ),
        )
    })
}

fn compile(src: &Source<'_>, codes: &CodeTables) -> Result<RuleSet, MappingError> {
    let parsed: RulesFile = src.parse()?;
    if parsed.ruleset.profile.trim().is_empty() {
        return Err(src.whole("[ruleset] profile must name the profile these rules belong to"));
    }
    let unknown_codes = match &parsed.ruleset.unknown_codes {
        Some(v) => parse_mode(src, v)?,
        None => UnknownCodes::Strict,
    };
    let default_max_len = match &parsed.ruleset.max_len {
        Some(v) if *v.get_ref() == 0 => return Err(src.err(v.span(), "max_len must be at least 1")),
        Some(v) => *v.get_ref(),
        None => DEFAULT_MAX_LEN,
    };

    let mut spec = ValidationSpec {
        default_max_len,
        ..ValidationSpec::default()
    };

    for (system, kind) in &parsed.identifier_systems {
        let normalized = normalize_system(system);
        if normalized != *system {
            return Err(src.err(
                kind.span(),
                format!("write the identifier system as the model holds it: {normalized:?}"),
            ));
        }
        let k = match IdKind::parse(kind.get_ref()) {
            Some(IdKind::Nin) | None => {
                return Err(src.err(
                    kind.span(),
                    format!(
                        "identifier system {system} must map to one of fnr, dnr, hpr, orgnr, resh, not {:?}",
                        kind.get_ref()
                    ),
                ))
            }
            Some(k) => k,
        };
        spec.identifier_systems.insert(system.clone(), k);
    }

    for (name, entry) in &parsed.charsets {
        let e = entry.get_ref();
        let allowed: HashSet<char> = e.allowed.chars().collect();
        if allowed.is_empty() || allowed.iter().any(|c| c.is_control()) {
            return Err(src.err(
                entry.span(),
                format!("charset {name}: allowed must list printable characters"),
            ));
        }
        let edges = match &e.edges {
            None => None,
            Some(s) => {
                let edges: HashSet<char> = s.chars().collect();
                if edges.is_empty() || !edges.is_subset(&allowed) {
                    return Err(src.err(
                        entry.span(),
                        format!("charset {name}: edges must be a non-empty subset of allowed"),
                    ));
                }
                Some(edges)
            }
        };
        spec.charsets
            .insert(name.clone(), Charset { allowed, edges });
    }

    for (path, entry) in &parsed.validation {
        let span = entry.span();
        let e = entry.get_ref();
        let (field, part) = field_path(src, span.clone(), path)?;
        let mut rule = FieldRule {
            required: e.required,
            max_len: e.max_len,
            charset: e.charset.clone(),
            ..FieldRule::default()
        };
        if e.required && part != FieldPart::Whole {
            return Err(src.err(span, format!("{path}: required applies to a whole field")));
        }
        if let Some(ident) = &e.identifier {
            if part != FieldPart::Whole || field.kind() != FieldKind::Identifier {
                return Err(src.err(
                    span,
                    format!("{path}: identifier applies to a whole identifier field"),
                ));
            }
            let names = match ident {
                OneOrMany::One(n) => vec![n.clone()],
                OneOrMany::Many(v) => v.clone(),
            };
            if names.is_empty() {
                return Err(src.err(span, format!("{path}: identifier names no check")));
            }
            let mut kinds = Vec::new();
            for n in &names {
                let Some(k) = IdKind::parse(n) else {
                    return Err(src.err(
                        span,
                        format!(
                            "{path}: unknown identifier check {n:?}; known: {}",
                            IdKind::ALL.map(IdKind::name).join(", ")
                        ),
                    ));
                };
                kinds.push(k);
            }
            rule.identifier = Some(IdentRule { kinds });
        }
        if let Some(systems) = &e.codes {
            if part != FieldPart::Whole || field.kind() != FieldKind::Coded {
                return Err(src.err(
                    span,
                    format!("{path}: codes applies to a whole coded field"),
                ));
            }
            if systems.is_empty() {
                return Err(src.err(span, format!("{path}: codes lists no code system")));
            }
            for s in systems {
                let normalized = normalize_system(s);
                if !codes.has_system(&normalized) {
                    return Err(src.err(
                        span,
                        format!(
                            "{path}: no code table defines {s}; the tables define {}",
                            codes.systems().join(", ")
                        ),
                    ));
                }
                rule.codes.push(normalized);
            }
        }
        if (e.max_len.is_some() || e.charset.is_some()) && !is_text_target(field, part) {
            return Err(src.err(
                span,
                format!("{path}: max_len and charset apply to text, i.e. a text field or a part such as .name"),
            ));
        }
        if e.max_len == Some(0) {
            return Err(src.err(span, format!("{path}: max_len must be at least 1")));
        }
        if let Some(c) = &e.charset {
            if !spec.charsets.contains_key(c) {
                return Err(src.err(
                    span,
                    format!("{path}: charset {c:?} is not declared under [charsets]"),
                ));
            }
        }
        if !rule.required
            && rule.identifier.is_none()
            && rule.codes.is_empty()
            && rule.max_len.is_none()
            && rule.charset.is_none()
        {
            return Err(src.err(span, format!("the entry for {path} declares no check")));
        }
        spec.fields.insert((field, part), rule);
    }

    let mut one_of_names = HashSet::new();
    for entry in &parsed.one_of {
        let span = entry.span();
        let e = entry.get_ref();
        if e.name.trim().is_empty() || !one_of_names.insert(e.name.clone()) {
            return Err(src.err(span, "each [[one_of]] needs its own non-empty name"));
        }
        if e.fields.len() < 2 {
            return Err(src.err(span, "a [[one_of]] group names at least two fields"));
        }
        let fields = e
            .fields
            .iter()
            .map(|f| whole_field(src, span.clone(), f, None, "one_of"))
            .collect::<Result<Vec<_>, _>>()?;
        spec.one_of.push(OneOf {
            name: e.name.clone(),
            fields,
        });
    }

    let mut rules = Vec::new();
    let mut rule_names = BTreeSet::new();
    for entry in &parsed.rule {
        rules.push(compile_rule(src, entry, codes, &mut rule_names)?);
    }
    let mut checks = Vec::new();
    for entry in &parsed.check {
        checks.push(compile_check(src, entry, codes, &mut rule_names)?);
    }

    Ok(RuleSet {
        profile: parsed.ruleset.profile,
        source: src.file.to_string(),
        unknown_codes,
        validation: spec,
        rules,
        checks,
    })
}
