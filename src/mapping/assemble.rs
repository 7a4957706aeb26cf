//! Building a model from several transport items, some of which may say the same thing twice.
//!
//! Real tokens repeat themselves (v1 and v2 attribute names side by side; `helseid://claims/hpr/hpr_number`
//! next to `practitioner.hpr_nr`). The first source in table order supplies a value; every later source that
//! is present must agree with it, or the input is rejected: two different answers to one question is exactly
//! the ambiguity an attacker would use.

use std::collections::BTreeMap;

use super::Profile;
use crate::error::Rejection;
use crate::model::{
    AccessContext, Coded, DecisionRef, FieldId, FieldKind, FieldPart, FieldValue, Identifier,
};

/// Longest value accepted in any field unless `[limits] max_value_chars` says otherwise.
pub const DEFAULT_MAX_VALUE_CHARS: usize = 1024;

pub struct Assembler<'p> {
    profile: &'p Profile,
    whole: BTreeMap<FieldId, (String, Vec<FieldValue>)>,
    parts: BTreeMap<(FieldId, FieldPart), (String, String)>,
}

/// Checks what every string from a token must satisfy before it enters the model.
pub fn check_text(what: &str, value: &str, max_chars: usize) -> Result<(), Rejection> {
    check_part(what, "", value, max_chars)
}

/// As [`check_text`] for the part `part` of the field `what`; the name is only put together for a message,
/// so a value that passes costs no allocation.
fn check_part(what: &str, part: &str, value: &str, max_chars: usize) -> Result<(), Rejection> {
    let name = || {
        if part.is_empty() {
            what.to_string()
        } else {
            format!("{what}.{part}")
        }
    };
    // Bytes bound characters from above: only a long value needs counting.
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(Rejection::limit(format!(
            "{} is longer than {max_chars} characters",
            name()
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
    {
        return Err(Rejection::claim(format!(
            "{} contains a control character",
            name()
        )));
    }
    Ok(())
}

fn check_value(what: &str, value: &FieldValue, max: usize) -> Result<(), Rejection> {
    let opt = |part: &str, v: &Option<String>| -> Result<(), Rejection> {
        match v {
            Some(s) => check_part(what, part, s, max),
            None => Ok(()),
        }
    };
    match value {
        FieldValue::Identifier(i) => {
            check_part(what, "id", &i.id, max)?;
            opt("name", &i.name)?;
            opt("system", &i.system)?;
            opt("authority", &i.authority)
        }
        FieldValue::Coded(c) => {
            check_part(what, "code", &c.code, max)?;
            opt("text", &c.text)?;
            opt("system", &c.system)?;
            opt("assigner", &c.assigner)
        }
        FieldValue::DecisionRef(d) => {
            check_part(what, "id", &d.id, max)?;
            opt("user_reason", &d.user_reason)
        }
        FieldValue::Text(t) => check_part(what, "", t, max),
    }
}

/// Surrounding whitespace is never part of a value: XML readers trim a NameID and HL7 attribute values, JSON
/// readers keep it, so a value that kept it would change on its way from one transport to the other (the
/// mapping_decoders fuzzer found an identifier that lost a leading space between a JWT and an assertion).
/// Every string is trimmed once, here, where it enters the model.
fn trim(s: &mut String) {
    let t = s.trim();
    if t.len() != s.len() {
        *s = t.to_string();
    }
}

fn trim_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        trim(s);
    }
}

fn trimmed(mut value: FieldValue) -> FieldValue {
    match &mut value {
        FieldValue::Identifier(i) => {
            trim(&mut i.id);
            trim_opt(&mut i.name);
            trim_opt(&mut i.system);
            trim_opt(&mut i.authority);
        }
        FieldValue::Coded(c) => {
            trim(&mut c.code);
            trim_opt(&mut c.text);
            trim_opt(&mut c.system);
            trim_opt(&mut c.assigner);
        }
        FieldValue::DecisionRef(d) => {
            trim(&mut d.id);
            trim_opt(&mut d.user_reason);
        }
        FieldValue::Text(t) => trim(t),
    }
    value
}

fn same_system(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Whether two values from different sources say the same thing (the richer one may add display text).
fn agree(a: &FieldValue, b: &FieldValue) -> bool {
    match (a, b) {
        (FieldValue::Identifier(a), FieldValue::Identifier(b)) => {
            a.id == b.id && same_system(&a.system, &b.system)
        }
        (FieldValue::Coded(a), FieldValue::Coded(b)) => {
            a.code == b.code && same_system(&a.system, &b.system)
        }
        (FieldValue::DecisionRef(a), FieldValue::DecisionRef(b)) => {
            a.id == b.id
                && (a.user_selected.is_none()
                    || b.user_selected.is_none()
                    || a.user_selected == b.user_selected)
        }
        (FieldValue::Text(a), FieldValue::Text(b)) => a == b,
        _ => false,
    }
}

fn fill(into: &mut Option<String>, from: &Option<String>) {
    if into.is_none() {
        into.clone_from(from);
    }
}

/// Adds what `b` knows and `a` does not.
fn enrich(a: &mut FieldValue, b: &FieldValue) {
    match (a, b) {
        (FieldValue::Identifier(a), FieldValue::Identifier(b)) => {
            fill(&mut a.name, &b.name);
            fill(&mut a.system, &b.system);
            fill(&mut a.authority, &b.authority);
        }
        (FieldValue::Coded(a), FieldValue::Coded(b)) => {
            fill(&mut a.text, &b.text);
            fill(&mut a.system, &b.system);
            fill(&mut a.assigner, &b.assigner);
        }
        (FieldValue::DecisionRef(a), FieldValue::DecisionRef(b)) => {
            if a.user_selected.is_none() {
                a.user_selected = b.user_selected;
            }
            fill(&mut a.user_reason, &b.user_reason);
        }
        _ => {}
    }
}

impl<'p> Assembler<'p> {
    pub fn new(profile: &'p Profile) -> Self {
        Self {
            profile,
            whole: BTreeMap::new(),
            parts: BTreeMap::new(),
        }
    }

    /// Whole values of a field from one source (an attribute name or a claim path).
    pub fn add_whole(
        &mut self,
        field: FieldId,
        source: &str,
        values: Vec<FieldValue>,
    ) -> Result<(), Rejection> {
        let mut values: Vec<FieldValue> = values.into_iter().map(trimmed).collect();
        for v in &values {
            check_value(field.name(), v, self.profile.max_value_chars)?;
        }
        // The same value twice from one source says nothing new (IHE allows repeating values).
        let mut unique: Vec<FieldValue> = Vec::with_capacity(values.len());
        for v in values.drain(..) {
            match unique.iter_mut().find(|u| agree(u, &v)) {
                Some(u) => enrich(u, &v),
                None => unique.push(v),
            }
        }
        let max = self.profile.max_values(field);
        if unique.len() > max {
            return Err(Rejection::claim(format!(
                "{source} carries {} values, but {field} takes {}",
                unique.len(),
                if max == 1 {
                    "one".to_string()
                } else {
                    format!("at most {max}")
                }
            )));
        }
        match self.whole.get_mut(&field) {
            None => {
                self.whole.insert(field, (source.to_string(), unique));
            }
            Some((first, existing)) => {
                let same = existing.len() == unique.len()
                    && unique.iter().all(|u| existing.iter().any(|e| agree(e, u)));
                if !same {
                    return Err(Rejection::claim(format!(
                        "{first} and {source} disagree about {field}"
                    )));
                }
                for e in existing.iter_mut() {
                    if let Some(u) = unique.iter().find(|u| agree(e, u)) {
                        enrich(e, u);
                    }
                }
            }
        }
        Ok(())
    }

    /// One string part of a field (`practitioner.identifier.name` from `subject-id`).
    pub fn add_part(
        &mut self,
        field: FieldId,
        part: FieldPart,
        source: &str,
        value: String,
    ) -> Result<(), Rejection> {
        let what = format!("{}.{}", field.name(), part.name());
        let value = value.trim().to_string();
        check_text(&what, &value, self.profile.max_value_chars)?;
        match self.parts.get(&(field, part)) {
            None => {
                self.parts
                    .insert((field, part), (source.to_string(), value));
                Ok(())
            }
            Some((_, existing)) if *existing == value => Ok(()),
            Some((first, _)) => Err(Rejection::claim(format!(
                "{first} and {source} disagree about {what}"
            ))),
        }
    }

    pub fn finish(mut self) -> Result<AccessContext, Rejection> {
        let mut ctx = AccessContext::default();
        let mut fields: Vec<FieldId> = self.whole.keys().copied().collect();
        fields.extend(self.parts.keys().map(|(f, _)| *f));
        fields.sort();
        fields.dedup();
        for field in fields {
            let (whole_source, mut values) = self.whole.remove(&field).unwrap_or_default();
            let parts: Vec<(FieldPart, String, String)> = self
                .parts
                .iter()
                .filter(|((f, _), _)| *f == field)
                .map(|((_, p), (s, v))| (*p, s.clone(), v.clone()))
                .collect();
            if !parts.is_empty() {
                if values.is_empty() {
                    values.push(empty_value(field.kind()));
                }
                let Some(value) = values.first_mut() else {
                    continue;
                };
                for (part, source, text) in parts {
                    apply_part(field, value, part, &source, &whole_source, text)?;
                }
                if value.key().is_empty() {
                    return Err(Rejection::claim(format!(
                        "{field} has details but no {}",
                        main_part_name(field.kind())
                    )));
                }
            }
            if let Some(system) = self.profile.default_system.get(&field) {
                for v in &mut values {
                    match v {
                        FieldValue::Identifier(i) if i.system.is_none() => {
                            i.system = Some(system.clone())
                        }
                        FieldValue::Coded(c) if c.system.is_none() => {
                            c.system = Some(system.clone())
                        }
                        _ => {}
                    }
                }
            }
            if !values.is_empty() {
                ctx.set_field_values(field, values);
            }
        }
        Ok(ctx)
    }
}

fn main_part_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Coded => "code",
        FieldKind::Text => "value",
        FieldKind::Identifier | FieldKind::DecisionRef => "id",
    }
}

fn empty_value(kind: FieldKind) -> FieldValue {
    match kind {
        FieldKind::Identifier => FieldValue::Identifier(Identifier::default()),
        FieldKind::Coded => FieldValue::Coded(Coded::default()),
        FieldKind::DecisionRef => FieldValue::DecisionRef(DecisionRef::default()),
        FieldKind::Text => FieldValue::Text(String::new()),
    }
}

fn set_part(
    slot: &mut String,
    text: String,
    what: &str,
    source: &str,
    whole_source: &str,
) -> Result<(), Rejection> {
    if slot.is_empty() || *slot == text {
        *slot = text;
        Ok(())
    } else {
        Err(Rejection::claim(format!(
            "{whole_source} and {source} disagree about {what}"
        )))
    }
}

fn set_opt_part(
    slot: &mut Option<String>,
    text: String,
    what: &str,
    source: &str,
    whole_source: &str,
) -> Result<(), Rejection> {
    match slot {
        Some(existing) if *existing != text => Err(Rejection::claim(format!(
            "{whole_source} and {source} disagree about {what}"
        ))),
        _ => {
            *slot = Some(text);
            Ok(())
        }
    }
}

fn apply_part(
    field: FieldId,
    value: &mut FieldValue,
    part: FieldPart,
    source: &str,
    whole_source: &str,
    text: String,
) -> Result<(), Rejection> {
    let what = format!("{}.{}", field.name(), part.name());
    let w = what.as_str();
    match (value, part) {
        (FieldValue::Identifier(i), FieldPart::Id) => {
            set_part(&mut i.id, text, w, source, whole_source)
        }
        (FieldValue::Identifier(i), FieldPart::Name) => {
            set_opt_part(&mut i.name, text, w, source, whole_source)
        }
        (FieldValue::Identifier(i), FieldPart::System) => set_opt_part(
            &mut i.system,
            super::hl7::normalize_system(&text),
            w,
            source,
            whole_source,
        ),
        (FieldValue::Identifier(i), FieldPart::Authority) => {
            set_opt_part(&mut i.authority, text, w, source, whole_source)
        }
        (FieldValue::Coded(c), FieldPart::Code) => {
            set_part(&mut c.code, text, w, source, whole_source)
        }
        (FieldValue::Coded(c), FieldPart::Text) => {
            set_opt_part(&mut c.text, text, w, source, whole_source)
        }
        (FieldValue::Coded(c), FieldPart::System) => set_opt_part(
            &mut c.system,
            super::hl7::normalize_system(&text),
            w,
            source,
            whole_source,
        ),
        (FieldValue::Coded(c), FieldPart::Assigner) => {
            set_opt_part(&mut c.assigner, text, w, source, whole_source)
        }
        (FieldValue::DecisionRef(d), FieldPart::Id) => {
            set_part(&mut d.id, text, w, source, whole_source)
        }
        (FieldValue::DecisionRef(d), FieldPart::UserReason) => {
            set_opt_part(&mut d.user_reason, text, w, source, whole_source)
        }
        (FieldValue::DecisionRef(d), FieldPart::UserSelected) => {
            let b = super::hl7::parse_bool(&text)
                .map_err(|e| Rejection::claim(format!("{what}: {e}")))?;
            match d.user_selected {
                Some(existing) if existing != b => Err(Rejection::claim(format!(
                    "{whole_source} and {source} disagree about {what}"
                ))),
                _ => {
                    d.user_selected = Some(b);
                    Ok(())
                }
            }
        }
        _ => Err(Rejection::internal(format!(
            "{what} is not a part of {field}"
        ))),
    }
}
