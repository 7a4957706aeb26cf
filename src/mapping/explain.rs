//! Item-by-item accounts of how a profile reads a token, for the inspector: which model field each attribute
//! or claim fills, with the decoded value, and what the profile does not use.

use serde::Serialize;
use serde_json::{Map, Value};

use super::claims::{decode_field, lookup, path_label};
use super::xua::{codec_label, decode_value};
use super::{JwtCodec, Profile, UnknownPolicy, XuaInput, XuaSource};
use crate::error::shown;
use crate::model::{FieldPart, FieldValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// Read into the model.
    Mapped,
    /// Known to the profile and deliberately not used.
    Ignored,
    /// Not known to the profile (rejected or ignored per the profile's policy).
    Unknown,
    /// Known, but its value cannot be read.
    Invalid,
    /// A registered claim the gateway checks itself.
    Protocol,
}

/// One attribute or claim.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub status: ItemStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A value as a person reads it.
pub fn describe(value: &FieldValue) -> String {
    let opt = |label: &str, v: &Option<String>| {
        v.as_ref()
            .map(|s| format!(" {label}={s:?}"))
            .unwrap_or_default()
    };
    match value {
        FieldValue::Identifier(i) => format!(
            "{:?}{}{}{}",
            i.id,
            opt("system", &i.system),
            opt("name", &i.name),
            opt("authority", &i.authority)
        ),
        FieldValue::Coded(c) => format!(
            "{:?}{}{}{}",
            c.code,
            opt("system", &c.system),
            opt("text", &c.text),
            opt("assigner", &c.assigner)
        ),
        FieldValue::DecisionRef(d) => format!(
            "{:?}{}{}",
            d.id,
            d.user_selected
                .map(|b| format!(" user_selected={b}"))
                .unwrap_or_default(),
            opt("user_reason", &d.user_reason)
        ),
        FieldValue::Text(t) => format!("{t:?}"),
    }
}

fn target(field: crate::model::FieldId, part: FieldPart) -> String {
    if part == FieldPart::Whole {
        field.name().to_string()
    } else {
        format!("{}.{}", field.name(), part.name())
    }
}

impl Profile {
    /// How this profile reads each attribute (and the NameID) of an assertion.
    pub fn explain_xua(&self, input: XuaInput<'_>) -> Vec<ItemReport> {
        let mut out = Vec::new();
        for f in &self.xua_fields {
            let (value, source) = match f.source {
                XuaSource::NameId => (input.name_id, "Subject NameID"),
                XuaSource::NameQualifier => (input.name_qualifier, "NameID NameQualifier"),
                XuaSource::Attribute { .. } => continue,
            };
            if let Some(v) = value {
                out.push(ItemReport {
                    source: source.to_string(),
                    field: Some(target(f.field, f.part)),
                    status: ItemStatus::Mapped,
                    detail: "text".to_string(),
                    values: vec![format!("{v:?}")],
                });
            }
        }
        for attr in input.attributes {
            let name = attr.name.as_str();
            let mapping = self.xua_fields.iter().find_map(|f| match &f.source {
                XuaSource::Attribute { name: n, legacy } if n == name => Some((f, false)),
                XuaSource::Attribute { legacy, .. } if legacy.iter().any(|l| l == name) => {
                    Some((f, true))
                }
                _ => None,
            });
            let Some((f, legacy)) = mapping else {
                let (status, detail) = if self.xua.ignore.contains(name) {
                    (
                        ItemStatus::Ignored,
                        "known to the profile and not used".to_string(),
                    )
                } else {
                    let policy = match self.xua.unknown_attributes {
                        UnknownPolicy::Reject => "the profile rejects tokens carrying it",
                        UnknownPolicy::Ignore => "the profile ignores it",
                    };
                    (
                        ItemStatus::Unknown,
                        format!("not part of profile {}; {policy}", self.name),
                    )
                };
                out.push(ItemReport {
                    source: format!("attribute {}", shown(name)),
                    field: None,
                    status,
                    detail,
                    values: attr
                        .values
                        .iter()
                        .map(|v| format!("{:?}", v.text.trim()))
                        .collect(),
                });
                continue;
            };
            let mut values = Vec::new();
            let mut problem = None;
            for v in attr.values.iter().filter(|v| !v.nil) {
                match decode_value(f, v) {
                    Ok(decoded) => values.extend(decoded.iter().map(|d| match f.part {
                        FieldPart::Whole => describe(d),
                        _ => format!("{:?}", d.key()),
                    })),
                    Err(reason) => {
                        problem = Some(format!("invalid {} value: {reason}", codec_label(f.codec)))
                    }
                }
            }
            let nil = attr.values.iter().all(|v| v.nil);
            out.push(ItemReport {
                source: format!("attribute {}", shown(name)),
                field: Some(target(f.field, f.part)),
                status: if problem.is_some() {
                    ItemStatus::Invalid
                } else {
                    ItemStatus::Mapped
                },
                detail: problem.unwrap_or_else(|| {
                    let mut d = codec_label(f.codec).to_string();
                    if legacy {
                        d.push_str(", under an older attribute name");
                    }
                    if nil {
                        d.push_str(", empty (xsi:nil)");
                    }
                    if attr.name_format.is_some() {
                        d.push_str(", with NameFormat");
                    }
                    d
                }),
                values,
            });
        }
        out
    }

    /// How this profile reads each claim of a JWT payload.
    pub fn explain_claims(&self, claims: &Map<String, Value>) -> Vec<ItemReport> {
        let mut out = Vec::new();
        let mut covered: Vec<&str> = vec!["authorization_details"];
        for f in &self.jwt_fields {
            for (path, legacy) in f
                .claim
                .iter()
                .map(|p| (p, false))
                .chain(f.legacy.iter().map(|p| (p, true)))
            {
                if let Some(first) = path.first() {
                    covered.push(first.as_str());
                }
                let Some(value) = lookup(claims, path) else {
                    continue;
                };
                let what = path_label(path);
                let result = if f.part == FieldPart::Whole {
                    decode_field(f, value, &what, &self.jwt.system_aliases)
                        .map(|vals| vals.iter().map(describe).collect::<Vec<_>>())
                        .map_err(|e| e.message)
                } else {
                    match (f.codec, value) {
                        (JwtCodec::Bool, Value::Bool(b)) => Ok(vec![b.to_string()]),
                        (_, Value::String(s)) => Ok(vec![format!("{s:?}")]),
                        _ => Err(format!("claim {what} has the wrong JSON type")),
                    }
                };
                let (status, detail, values) = match result {
                    Ok(values) => (
                        ItemStatus::Mapped,
                        if legacy {
                            "read from a variant path".to_string()
                        } else {
                            format!("{:?}", f.codec).to_lowercase()
                        },
                        values,
                    ),
                    Err(e) => (ItemStatus::Invalid, e, Vec::new()),
                };
                out.push(ItemReport {
                    source: format!("claim {what}"),
                    field: Some(target(f.field, f.part)),
                    status,
                    detail,
                    values,
                });
            }
        }
        for (name, value) in claims {
            if covered.contains(&name.as_str()) {
                continue;
            }
            let registered =
                ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"].contains(&name.as_str());
            out.push(ItemReport {
                source: format!("claim {}", shown(name)),
                field: None,
                status: if registered {
                    ItemStatus::Protocol
                } else {
                    ItemStatus::Unknown
                },
                detail: if registered {
                    "checked by the gateway itself".to_string()
                } else {
                    format!("not used by profile {}", self.name)
                },
                values: match value {
                    Value::String(s) => vec![format!("{s:?}")],
                    Value::Number(n) => vec![n.to_string()],
                    _ => Vec::new(),
                },
            });
        }
        out
    }

    /// How many items of a token this profile maps (to pick the best-fitting profile for an inspection).
    pub fn fit(reports: &[ItemReport]) -> usize {
        reports
            .iter()
            .filter(|r| r.status == ItemStatus::Mapped)
            .count()
    }
}
