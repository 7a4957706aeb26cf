//! The TOML schema of a profile file and its compilation into a checked [`Profile`](super::Profile).
//!
//! Every problem is reported with the file name and line, because a broken table must stop the gateway at
//! start-up with a message an integrator can act on.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::entry::{
    compile_jwt, compile_xua, known_attribute_names, oid_form, JwtEntry, Lines, XuaEntry,
};
use super::{
    JwtSettings, MappingError, Profile, RepeatPolicy, UnknownPolicy, XuaSettings, XuaSource,
};
use crate::model::{FieldId, FieldKind, FieldPart};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: ProfileMeta,
    #[serde(default)]
    xua: XuaSection,
    #[serde(default)]
    jwt: JwtSection,
    #[serde(default)]
    field: Vec<Spanned<FieldEntry>>,
    #[serde(default)]
    system_alias: Vec<SystemAlias>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileMeta {
    name: String,
    #[serde(default)]
    title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct XuaSection {
    #[serde(default)]
    emit_legacy: bool,
    #[serde(default = "default_hl7_form")]
    hl7_form: Spanned<String>,
    #[serde(default = "default_oid_form")]
    ce_system_form: Spanned<String>,
    #[serde(default = "default_oid_form")]
    ii_root_form: Spanned<String>,
    #[serde(default)]
    name_format: String,
    #[serde(default = "default_reject")]
    unknown_attributes: Spanned<String>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default = "default_reject")]
    repeated_attributes: Spanned<String>,
}

impl Default for XuaSection {
    fn default() -> Self {
        Self {
            emit_legacy: false,
            hl7_form: default_hl7_form(),
            ce_system_form: default_oid_form(),
            ii_root_form: default_oid_form(),
            name_format: String::new(),
            unknown_attributes: default_reject(),
            ignore: Vec::new(),
            repeated_attributes: default_reject(),
        }
    }
}

fn default_hl7_form() -> Spanned<String> {
    Spanned::new(0..0, "escaped".to_string())
}
fn default_oid_form() -> Spanned<String> {
    Spanned::new(0..0, "urn".to_string())
}
fn default_reject() -> Spanned<String> {
    Spanned::new(0..0, "reject".to_string())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtSection {
    #[serde(default)]
    rar_types: Vec<String>,
    /// The model field whose value the gateway writes as `sub` (SAML → JWT).
    #[serde(default)]
    subject: Option<Spanned<String>>,
    /// The claim that says when the user authenticated (seconds since the epoch); it becomes the
    /// assertion's AuthnInstant (JWT → SAML).
    #[serde(default)]
    authn_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEntry {
    model: Spanned<String>,
    #[serde(default)]
    default_system: Option<String>,
    #[serde(default)]
    max: Option<usize>,
    #[serde(default)]
    xua: Option<Spanned<XuaEntry>>,
    #[serde(default)]
    jwt: Option<Spanned<JwtEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemAlias {
    /// The code system as the model (and XUA) names it, e.g. `urn:oid:2.16.840.1.113883.5.8`.
    model: String,
    /// The same system as JWT Codings name it, e.g. `http://terminology.hl7.org/CodeSystem/v3-ActReason`.
    jwt: String,
}

/// Parses and checks one profile file.
pub fn compile(file: &str, text: &str) -> Result<Profile, MappingError> {
    let lines = Lines { file, text };
    let parsed: ProfileFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().to_string();
        let mut err = lines.err(span.clone(), message);
        if err.line.is_none() && span.start == 0 {
            err.line = Some(1);
        }
        err
    })?;

    if parsed.profile.name.trim().is_empty() {
        return Err(lines.err(0..0, "[profile] name must not be empty"));
    }

    let xua_settings = XuaSettings {
        emit_legacy: parsed.xua.emit_legacy,
        hl7_as_element: match parsed.xua.hl7_form.get_ref().as_str() {
            "escaped" => false,
            "element" => true,
            other => {
                return Err(lines.err(
                    parsed.xua.hl7_form.span(),
                    format!("xua.hl7_form must be \"escaped\" or \"element\", not {other:?}"),
                ))
            }
        },
        ce_system_form: oid_form(&lines, &parsed.xua.ce_system_form)?,
        ii_root_form: oid_form(&lines, &parsed.xua.ii_root_form)?,
        name_format: non_empty(parsed.xua.name_format),
        unknown_attributes: match parsed.xua.unknown_attributes.get_ref().as_str() {
            "reject" => UnknownPolicy::Reject,
            "ignore" => UnknownPolicy::Ignore,
            other => {
                return Err(lines.err(
                    parsed.xua.unknown_attributes.span(),
                    format!(
                        "xua.unknown_attributes must be \"reject\" or \"ignore\", not {other:?}"
                    ),
                ))
            }
        },
        ignore: parsed.xua.ignore.into_iter().collect(),
        repeated_attributes: match parsed.xua.repeated_attributes.get_ref().as_str() {
            "reject" => RepeatPolicy::Reject,
            "merge" => RepeatPolicy::Merge,
            other => {
                return Err(lines.err(
                    parsed.xua.repeated_attributes.span(),
                    format!(
                        "xua.repeated_attributes must be \"reject\" or \"merge\", not {other:?}"
                    ),
                ))
            }
        },
    };

    let mut xua_fields = Vec::new();
    let mut jwt_fields = Vec::new();
    let mut default_system: HashMap<FieldId, String> = HashMap::new();
    let mut max: HashMap<FieldId, usize> = HashMap::new();
    let mut seen_attrs: HashMap<String, String> = HashMap::new();
    let mut seen_claims: Vec<(Vec<String>, std::ops::Range<usize>)> = Vec::new();
    let mut nameid_seen = false;
    let mut qualifier_seen = false;

    for entry in &parsed.field {
        let span = entry.span();
        let entry = entry.get_ref();
        let model = entry.model.get_ref();
        let Some((field, part)) = FieldId::parse_path(model) else {
            let known: Vec<&str> = FieldId::all().iter().map(|f| f.name()).collect();
            return Err(lines.err(
                entry.model.span(),
                format!(
                    "unknown model field {model:?}; known fields are {} (optionally followed by a part such as .id or .name)",
                    known.join(", ")
                ),
            ));
        };
        if part != FieldPart::Whole && field.is_list() {
            return Err(lines.err(
                entry.model.span(),
                format!("{field} holds several values; a table cannot address a part of it"),
            ));
        }
        if let Some(system) = &entry.default_system {
            if part != FieldPart::Whole
                || !matches!(field.kind(), FieldKind::Identifier | FieldKind::Coded)
            {
                return Err(lines.err(
                    entry.model.span(),
                    "default_system applies to a whole identifier or coded field only",
                ));
            }
            if default_system.insert(field, system.clone()).is_some() {
                return Err(lines.err(
                    entry.model.span(),
                    format!("default_system for {field} given twice"),
                ));
            }
        }
        if let Some(m) = entry.max {
            if !field.is_list() || part != FieldPart::Whole || m == 0 {
                return Err(lines.err(
                    entry.model.span(),
                    "max applies to a whole field that holds several values, and must be at least 1",
                ));
            }
            max.insert(field, m);
        }
        if entry.xua.is_none()
            && entry.jwt.is_none()
            && entry.default_system.is_none()
            && entry.max.is_none()
        {
            return Err(lines.err(
                span,
                format!("the entry for {model} says nothing (no xua, jwt, default_system or max)"),
            ));
        }

        if let Some(xua) = &entry.xua {
            let xspan = xua.span();
            let compiled = compile_xua(&lines, xspan.clone(), field, part, xua.get_ref())?;
            match &compiled.source {
                XuaSource::NameId => {
                    if nameid_seen {
                        return Err(lines.err(xspan, "only one field may take the Subject NameID"));
                    }
                    nameid_seen = true;
                }
                XuaSource::NameQualifier => {
                    if qualifier_seen {
                        return Err(
                            lines.err(xspan, "only one field may take the NameID's NameQualifier")
                        );
                    }
                    qualifier_seen = true;
                }
                XuaSource::Attribute { name, legacy } => {
                    for n in std::iter::once(name).chain(legacy.iter()) {
                        if let Some(other) = seen_attrs.insert(n.clone(), model.clone()) {
                            return Err(lines.err(
                                xspan.clone(),
                                format!("attribute {n:?} is already mapped to {other}; an attribute maps to one field"),
                            ));
                        }
                    }
                }
            }
            xua_fields.push(compiled);
        }

        if let Some(jwt) = &entry.jwt {
            let jspan = jwt.span();
            let compiled = compile_jwt(&lines, jspan.clone(), field, part, jwt.get_ref())?;
            for path in compiled.claim.iter().chain(compiled.legacy.iter()) {
                for (other, _) in &seen_claims {
                    if other.iter().zip(path.iter()).all(|(a, b)| a == b) {
                        return Err(lines.err(
                            jspan.clone(),
                            format!(
                                "claim path {path:?} overlaps the path {other:?} of another field"
                            ),
                        ));
                    }
                }
            }
            for path in compiled.claim.iter().chain(compiled.legacy.iter()) {
                seen_claims.push((path.clone(), jspan.clone()));
            }
            jwt_fields.push(compiled);
        }
    }

    for name in &xua_settings.ignore {
        if seen_attrs.contains_key(name) {
            return Err(lines.err(
                0..0,
                format!("attribute {name:?} is both mapped and in xua.ignore"),
            ));
        }
    }

    let known_attributes = known_attribute_names(&xua_fields, &xua_settings.ignore);
    let subject = match parsed.jwt.subject {
        None => None,
        Some(name) => Some(FieldId::from_name(name.get_ref()).ok_or_else(|| {
            lines.err(
                name.span(),
                format!(
                    "jwt.subject {:?} is not a field of the model",
                    name.get_ref()
                ),
            )
        })?),
    };
    Ok(Profile {
        name: parsed.profile.name,
        title: parsed.profile.title,
        source: file.to_string(),
        xua: xua_settings,
        jwt: JwtSettings {
            rar_types: parsed.jwt.rar_types,
            subject,
            authn_time_claim: parsed.jwt.authn_time,
            system_aliases: parsed
                .system_alias
                .into_iter()
                .map(|a| (super::hl7::normalize_system(&a.model), a.jwt))
                .collect(),
        },
        xua_fields,
        jwt_fields,
        default_system,
        max,
        known_attributes,
        max_value_chars: super::assemble::DEFAULT_MAX_VALUE_CHARS,
    })
}

pub(super) fn non_empty(s: String) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::compile;

    const HEAD: &str = "[profile]\nname = \"t\"\n";

    fn err(body: &str) -> String {
        let text = format!("{HEAD}{body}");
        compile("mappings/profiles/t.toml", &text)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_shipped_profile_compiles() {
        let text = include_str!("../../mappings/profiles/no-pjd.toml");
        let p = compile("no-pjd.toml", text).unwrap();
        assert_eq!(p.name, "no-pjd");
        assert!(p.xua_fields.len() > 20);
    }

    #[test]
    fn unknown_model_field_names_file_and_line() {
        let e = err("\n[[field]]\nmodel = \"practitioner.shoe_size\"\njwt = { claim = [\"x\"], encoding = \"string\" }\n");
        assert!(
            e.starts_with(
                "mappings/profiles/t.toml:5: unknown model field \"practitioner.shoe_size\""
            ),
            "{e}"
        );
    }

    #[test]
    fn encoding_that_does_not_fit_the_field_names_the_line() {
        let e = err("[[field]]\nmodel = \"patient.identifier\"\nxua = { name = \"urn:x\", encoding = \"hl7_ce\" }\n");
        assert!(e.starts_with("mappings/profiles/t.toml:5:"), "{e}");
        assert!(
            e.contains("does not fit the field patient.identifier"),
            "{e}"
        );
    }

    #[test]
    fn toml_syntax_errors_and_unknown_keys_name_the_line() {
        let e = err("[[field]]\nmodel = \"patient.identifier\"\nxua = { name = \"urn:x\", encoding = \"cx\", colour = 1 }\n");
        assert!(e.starts_with("mappings/profiles/t.toml:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = err("[[field]\n");
        assert!(e.starts_with("mappings/profiles/t.toml:3:"), "{e}");
    }

    #[test]
    fn one_attribute_cannot_feed_two_fields_and_registered_claims_are_refused() {
        let e = err(concat!(
            "[[field]]\nmodel = \"session.client_id\"\nxua = { name = \"urn:a\", encoding = \"text\" }\n",
            "[[field]]\nmodel = \"session.security_level\"\nxua = { name = \"urn:b\", legacy = [\"urn:a\"], encoding = \"text\" }\n",
        ));
        assert!(
            e.contains("attribute \"urn:a\" is already mapped to session.client_id"),
            "{e}"
        );
        let e = err("[[field]]\nmodel = \"session.client_id\"\njwt = { claim = [\"sub\"], encoding = \"string\" }\n");
        assert!(e.contains("registered claim \"sub\""), "{e}");
    }
}
