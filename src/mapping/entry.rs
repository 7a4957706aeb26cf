//! Compiling one `[[field]]` entry of a profile table: its XUA side and its JWT side, each checked against
//! the model field it names.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::{JwtCodec, JwtField, MappingError, OidForm, XuaCodec, XuaField, XuaSource};
use crate::model::{FieldId, FieldKind, FieldPart};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct XuaEntry {
    #[serde(default)]
    pub(super) source: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) legacy: Vec<String>,
    #[serde(default)]
    pub(super) encoding: Option<String>,
    #[serde(default)]
    pub(super) element: Option<String>,
    #[serde(default)]
    pub(super) text_fallback: bool,
    #[serde(default)]
    pub(super) separator: Option<String>,
    #[serde(default)]
    pub(super) oid_form: Option<String>,
    #[serde(default)]
    pub(super) name_format: Option<String>,
    #[serde(default)]
    pub(super) xsi_type: Option<String>,
    #[serde(default)]
    pub(super) default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JwtEntry {
    /// Where the value is written (and read).
    #[serde(default)]
    pub(super) claim: Option<Vec<String>>,
    /// Other places it is read from, never written (older or national variants).
    #[serde(default)]
    pub(super) legacy: Vec<Vec<String>>,
    pub(super) encoding: String,
}

/// Turns byte offsets into line numbers for error messages.
pub(super) struct Lines<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Lines<'_> {
    pub(super) fn err(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> MappingError {
        let line = if span.start == 0 && span.end == 0 {
            None
        } else {
            Some(
                self.text[..span.start.min(self.text.len())]
                    .matches('\n')
                    .count()
                    + 1,
            )
        };
        MappingError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }
}

pub(super) fn oid_form(
    lines: &Lines<'_>,
    value: &Spanned<String>,
) -> Result<OidForm, MappingError> {
    parse_oid_form(value.get_ref()).ok_or_else(|| {
        lines.err(
            value.span(),
            format!(
                "an OID form must be \"urn\" or \"bare\", not {:?}",
                value.get_ref()
            ),
        )
    })
}

pub(super) fn parse_oid_form(s: &str) -> Option<OidForm> {
    match s {
        "urn" => Some(OidForm::Urn),
        "bare" => Some(OidForm::Bare),
        _ => None,
    }
}

pub(super) fn compile_xua(
    lines: &Lines<'_>,
    span: std::ops::Range<usize>,
    field: FieldId,
    part: FieldPart,
    entry: &XuaEntry,
) -> Result<XuaField, MappingError> {
    let kind = field.kind();
    let source = match entry.source.as_deref() {
        Some(source @ ("nameid" | "nameid_qualifier")) => {
            if entry.name.is_some() || !entry.legacy.is_empty() || entry.encoding.is_some() {
                return Err(lines.err(
                    span,
                    "a field with source = \"nameid\" or \"nameid_qualifier\" takes no name, legacy or encoding",
                ));
            }
            if !is_string_target(kind, part) || field.is_list() {
                return Err(lines.err(
                    span,
                    format!("the NameID is text; it cannot fill {field} as a whole"),
                ));
            }
            if source == "nameid" {
                XuaSource::NameId
            } else {
                XuaSource::NameQualifier
            }
        }
        Some("attribute") | None => {
            let Some(name) = entry.name.clone().filter(|n| !n.trim().is_empty()) else {
                return Err(lines.err(span, "xua needs the attribute name (name = \"urn:...\")"));
            };
            XuaSource::Attribute {
                name,
                legacy: entry.legacy.clone(),
            }
        }
        Some(other) => {
            return Err(lines.err(
                span,
                format!("xua.source must be \"attribute\", \"nameid\" or \"nameid_qualifier\", not {other:?}"),
            ))
        }
    };

    let codec = match (&source, entry.encoding.as_deref()) {
        (XuaSource::NameId | XuaSource::NameQualifier, _) => XuaCodec::Text,
        (_, Some("text")) => XuaCodec::Text,
        (_, Some("hl7_ce")) => XuaCodec::Ce,
        (_, Some("hl7_ii")) => XuaCodec::Ii,
        (_, Some("cx")) => XuaCodec::Cx,
        (_, Some("decision_ref")) => XuaCodec::DecisionRef,
        (_, Some("oid")) => XuaCodec::Oid,
        (_, Some("list")) => XuaCodec::List,
        (_, Some(other)) => {
            return Err(lines.err(
                span,
                format!("unknown xua encoding {other:?}; known: text, hl7_ce, hl7_ii, cx, decision_ref, oid, list"),
            ))
        }
        (_, None) => return Err(lines.err(span, "xua needs an encoding")),
    };

    let fits = match codec {
        XuaCodec::Text | XuaCodec::Oid => {
            is_string_target(kind, part) && (!field.is_list() || codec == XuaCodec::Text)
        }
        XuaCodec::Ce => kind == FieldKind::Coded && part == FieldPart::Whole,
        XuaCodec::Ii | XuaCodec::Cx => kind == FieldKind::Identifier && part == FieldPart::Whole,
        XuaCodec::DecisionRef => kind == FieldKind::DecisionRef && part == FieldPart::Whole,
        XuaCodec::List => kind == FieldKind::Text && field.is_list(),
    };
    if !fits {
        return Err(lines.err(
            span,
            format!(
                "xua encoding {:?} does not fit the field {}{}",
                codec.name(),
                field,
                part_suffix(part)
            ),
        ));
    }
    if entry.text_fallback && !matches!(codec, XuaCodec::Ce | XuaCodec::Ii) {
        return Err(lines.err(span, "text_fallback applies to hl7_ce and hl7_ii only"));
    }
    if entry.separator.is_some() != (codec == XuaCodec::List) {
        return Err(lines.err(
            span,
            "separator is required for, and only for, the list encoding",
        ));
    }
    if entry.element.is_some() && !matches!(codec, XuaCodec::Ce | XuaCodec::Ii) {
        return Err(lines.err(span, "element applies to hl7_ce and hl7_ii only"));
    }
    let oid_form = match &entry.oid_form {
        None => None,
        Some(s) => match (codec, parse_oid_form(s)) {
            (XuaCodec::Oid, Some(form)) => Some(form),
            (XuaCodec::Oid, None) => {
                return Err(lines.err(
                    span,
                    format!("oid_form must be \"urn\" or \"bare\", not {s:?}"),
                ))
            }
            _ => return Err(lines.err(span, "oid_form applies to the oid encoding only")),
        },
    };
    if entry.default.is_some()
        && !(matches!(codec, XuaCodec::Text | XuaCodec::Oid) && part == FieldPart::Whole)
    {
        return Err(lines.err(span, "default applies to whole text fields only"));
    }

    Ok(XuaField {
        field,
        part,
        source,
        codec,
        element: entry.element.clone().unwrap_or_else(|| match codec {
            XuaCodec::Ii => "id".to_string(),
            _ => "CE".to_string(),
        }),
        text_fallback: entry.text_fallback,
        separator: entry.separator.clone().unwrap_or_default(),
        oid_form: oid_form.unwrap_or(OidForm::Urn),
        name_format: entry.name_format.clone(),
        xsi_type: entry.xsi_type.clone(),
        default: entry.default.clone(),
    })
}

pub(super) fn compile_jwt(
    lines: &Lines<'_>,
    span: std::ops::Range<usize>,
    field: FieldId,
    part: FieldPart,
    entry: &JwtEntry,
) -> Result<JwtField, MappingError> {
    if entry.claim.is_none() && entry.legacy.is_empty() {
        return Err(lines.err(
            span,
            "jwt needs a claim path (claim = [...]) or legacy paths to read",
        ));
    }
    const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
    let paths = entry
        .claim
        .iter()
        .map(|p| (p, true))
        .chain(entry.legacy.iter().map(|p| (p, false)));
    for (path, written) in paths {
        let Some(head) = path.first().filter(|_| path.iter().all(|s| !s.is_empty())) else {
            return Err(lines.err(
                span,
                "a jwt claim path must be a non-empty list of non-empty segments",
            ));
        };
        if head.chars().all(|c| c.is_ascii_digit()) {
            return Err(lines.err(
                span,
                "a jwt claim path must start with a claim name, not an array index",
            ));
        }
        // The gateway sets the registered claims itself; a table may read `sub` but never write any of them.
        if REGISTERED.contains(&head.as_str()) && (written || head != "sub" || path.len() > 1) {
            return Err(lines.err(
                span,
                format!(
                    "jwt.claim may not be the registered claim {:?}; the gateway sets it (legacy may read \"sub\")",
                    head
                ),
            ));
        }
    }
    let kind = field.kind();
    let codec = match entry.encoding.as_str() {
        "string" => JwtCodec::String,
        "identifier" => JwtCodec::Identifier,
        "coded" => JwtCodec::Coded,
        "coded_array" => JwtCodec::CodedArray,
        "coding" => JwtCodec::Coding,
        "coding_array" => JwtCodec::CodingArray,
        "decision_ref" => JwtCodec::DecisionRef,
        "space_list" => JwtCodec::SpaceList,
        "string_array" => JwtCodec::StringArray,
        "bool" => JwtCodec::Bool,
        "cx" => JwtCodec::Cx,
        other => {
            return Err(lines.err(
                span,
                format!(
                    "unknown jwt encoding {other:?}; known: string, identifier, coded, coded_array, coding, coding_array, decision_ref, space_list, string_array, bool, cx"
                ),
            ))
        }
    };
    let fits = match codec {
        JwtCodec::String => {
            is_string_target(kind, part) && !(part == FieldPart::Whole && field.is_list())
        }
        JwtCodec::Identifier | JwtCodec::Cx => {
            kind == FieldKind::Identifier && part == FieldPart::Whole
        }
        JwtCodec::Coded | JwtCodec::Coding => kind == FieldKind::Coded && part == FieldPart::Whole,
        JwtCodec::CodedArray | JwtCodec::CodingArray => {
            kind == FieldKind::Coded && part == FieldPart::Whole
        }
        JwtCodec::DecisionRef => kind == FieldKind::DecisionRef && part == FieldPart::Whole,
        JwtCodec::SpaceList | JwtCodec::StringArray => kind == FieldKind::Text && field.is_list(),
        JwtCodec::Bool => part == FieldPart::UserSelected,
    };
    if !fits {
        return Err(lines.err(
            span,
            format!(
                "jwt encoding {:?} does not fit the field {}{}",
                entry.encoding,
                field,
                part_suffix(part)
            ),
        ));
    }
    Ok(JwtField {
        field,
        part,
        claim: entry.claim.clone(),
        legacy: entry.legacy.clone(),
        codec,
    })
}

/// Whether a plain string can fill the target: a text field, or a string part of a structured field.
fn is_string_target(kind: FieldKind, part: FieldPart) -> bool {
    match part {
        FieldPart::Whole => kind == FieldKind::Text,
        FieldPart::UserSelected => false,
        _ => true,
    }
}

fn part_suffix(part: FieldPart) -> String {
    if part == FieldPart::Whole {
        String::new()
    } else {
        format!(".{}", part.name())
    }
}

/// The attribute names a profile knows, for the unknown-attribute check.
pub(super) fn known_attribute_names(
    fields: &[XuaField],
    ignore: &HashSet<String>,
) -> HashSet<String> {
    let mut names: HashSet<String> = ignore.clone();
    for f in fields {
        if let XuaSource::Attribute { name, legacy } = &f.source {
            names.insert(name.clone());
            names.extend(legacy.iter().cloned());
        }
    }
    names
}
