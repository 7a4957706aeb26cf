//! JWT claims ⇄ model, driven by a profile's `jwt` entries.

use serde_json::{Map, Value};

use super::assemble::Assembler;
use super::hl7::normalize_system;
use super::xua::part_text;
use super::{JwtCodec, JwtField, Profile};
use crate::error::{shown, Rejection};
use crate::model::{AccessContext, Coded, DecisionRef, FieldPart, FieldValue, Identifier};

/// The claims a profile produces from a model (to be merged with the registered claims the issuer sets).
pub type ClaimsOutput = Map<String, Value>;

pub(super) fn path_label(path: &[String]) -> String {
    path.join("/")
}

fn insert_at(
    root: &mut Map<String, Value>,
    path: &[String],
    value: Value,
) -> Result<(), Rejection> {
    let clash = || {
        Rejection::internal(format!(
            "claim path {} clashes with another claim",
            path_label(path)
        ))
    };
    let Some((first, rest)) = path.split_first() else {
        return Err(clash());
    };
    let Some(second) = rest.first() else {
        root.insert(first.clone(), value);
        return Ok(());
    };
    let mut slot = root
        .entry(first.clone())
        .or_insert_with(|| container_for(second));
    for (i, seg) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let next_container = rest.get(i + 1).map(|s| container_for(s));
        slot = match slot {
            Value::Object(map) => {
                if last {
                    map.insert(seg.clone(), value);
                    return Ok(());
                }
                map.entry(seg.clone())
                    .or_insert_with(|| next_container.unwrap_or(Value::Null))
            }
            Value::Array(items) => {
                let index: usize = seg.parse().map_err(|_| clash())?;
                while items.len() <= index {
                    items.push(Value::Object(Map::new()));
                }
                let Some(item) = items.get_mut(index) else {
                    return Err(clash());
                };
                if last {
                    *item = value;
                    return Ok(());
                }
                if item.as_object().is_some_and(|m| m.is_empty()) {
                    if let Some(c) = next_container {
                        *item = c;
                    }
                }
                item
            }
            _ => return Err(clash()),
        };
    }
    Err(clash())
}

fn container_for(segment: &str) -> Value {
    if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
        Value::Array(Vec::new())
    } else {
        Value::Object(Map::new())
    }
}

pub(super) fn lookup<'v>(root: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut v = root.get(first)?;
    for seg in rest {
        v = match v {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn put(map: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        map.insert(key.to_string(), Value::String(v.clone()));
    }
}

fn identifier_json(i: &Identifier) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(i.id.clone()));
    put(&mut m, "name", &i.name);
    put(&mut m, "system", &i.system);
    put(&mut m, "authority", &i.authority);
    Value::Object(m)
}

fn coded_json(c: &Coded) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), Value::String(c.code.clone()));
    put(&mut m, "text", &c.text);
    put(&mut m, "system", &c.system);
    put(&mut m, "assigner", &c.assigner);
    Value::Object(m)
}

/// FHIR Coding: `{system, code, display}`, with the system as the profile's JWT side names it.
fn coding_json(c: &Coded, aliases: &[(String, String)]) -> Value {
    let mut m = Map::new();
    let system = c.system.as_ref().map(|s| {
        aliases
            .iter()
            .find(|(model, _)| model == s)
            .map(|(_, jwt)| jwt.clone())
            .unwrap_or_else(|| s.clone())
    });
    put(&mut m, "system", &system);
    m.insert("code".into(), Value::String(c.code.clone()));
    put(&mut m, "display", &c.text);
    Value::Object(m)
}

fn decision_ref_json(d: &DecisionRef) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(d.id.clone()));
    if let Some(b) = d.user_selected {
        m.insert("user_selected".into(), Value::Bool(b));
    }
    put(&mut m, "user_reason", &d.user_reason);
    Value::Object(m)
}

/// Reads an object's members strictly: every member must be known and a string.
struct Members<'a> {
    map: &'a Map<String, Value>,
    what: String,
}

impl<'a> Members<'a> {
    fn new(value: &'a Value, what: String, known: &[&str]) -> Result<Self, Rejection> {
        let Value::Object(map) = value else {
            return Err(Rejection::claim(format!("claim {what} must be an object")));
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Rejection::claim(format!(
                "claim {what} has the unknown member {:?}",
                shown(unknown)
            )));
        }
        Ok(Self { map, what })
    }

    fn opt(&self, key: &str) -> Result<Option<String>, Rejection> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Rejection::claim(format!(
                "claim {}.{key} must be a string",
                self.what
            ))),
        }
    }

    fn req(&self, key: &str) -> Result<String, Rejection> {
        self.opt(key)?
            .ok_or_else(|| Rejection::claim(format!("claim {} has no {key}", self.what)))
    }
}

fn identifier_from(v: &Value, what: String) -> Result<Identifier, Rejection> {
    let m = Members::new(v, what, &["id", "name", "system", "authority"])?;
    Ok(Identifier {
        id: m.req("id")?,
        name: m.opt("name")?,
        system: m.opt("system")?.map(|s| normalize_system(&s)),
        authority: m.opt("authority")?,
    })
}

fn coded_from(v: &Value, what: String) -> Result<Coded, Rejection> {
    let m = Members::new(v, what, &["code", "text", "system", "assigner"])?;
    Ok(Coded {
        code: m.req("code")?,
        text: m.opt("text")?,
        system: m.opt("system")?.map(|s| normalize_system(&s)),
        assigner: m.opt("assigner")?,
    })
}

fn coding_from(v: &Value, what: String, aliases: &[(String, String)]) -> Result<Coded, Rejection> {
    let m = Members::new(
        v,
        what,
        &["system", "version", "code", "display", "userSelected"],
    )?;
    let system = m.opt("system")?.map(|s| {
        aliases
            .iter()
            .find(|(_, jwt)| *jwt == s)
            .map(|(model, _)| model.clone())
            .unwrap_or_else(|| normalize_system(&s))
    });
    Ok(Coded {
        code: m.req("code")?,
        text: m.opt("display")?,
        system,
        assigner: None,
    })
}

fn decision_ref_from(v: &Value, what: String) -> Result<DecisionRef, Rejection> {
    let m = Members::new(v, what.clone(), &["id", "user_selected", "user_reason"])?;
    let user_selected = match m.map.get("user_selected") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(Rejection::claim(format!(
                "claim {what}.user_selected must be true or false"
            )))
        }
    };
    Ok(DecisionRef {
        id: m.req("id")?,
        user_selected,
        user_reason: m.opt("user_reason")?,
    })
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

impl Profile {
    /// Encodes the model as claims per this profile.
    pub fn encode_claims(&self, ctx: &AccessContext) -> Result<ClaimsOutput, Rejection> {
        let mut out = Map::new();
        for f in &self.jwt_fields {
            let values = ctx.field_values(f.field);
            if values.is_empty() {
                continue;
            }
            let Some(path) = &f.claim else {
                continue;
            };
            if let Some(value) = encode_field(f, &values, &self.jwt.system_aliases)? {
                insert_at(&mut out, path, value)?;
            }
        }
        Ok(out)
    }

    /// Decodes claims (with `authorization_details` already lifted, see [`Profile::lifted_claims`]) into the
    /// model.
    pub(super) fn decode_lifted(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<AccessContext, Rejection> {
        let mut asm = Assembler::new(self);
        for f in &self.jwt_fields {
            for path in f.claim.iter().chain(f.legacy.iter()) {
                self.decode_path(f, path, claims, &mut asm)?;
            }
        }
        asm.finish()
    }

    fn decode_path(
        &self,
        f: &JwtField,
        path: &[String],
        claims: &Map<String, Value>,
        asm: &mut Assembler<'_>,
    ) -> Result<(), Rejection> {
        {
            let Some(value) = lookup(claims, path) else {
                return Ok(());
            };
            if value.is_null() {
                return Ok(());
            }
            let what = path_label(path);
            let source = format!("claim {what}");
            if f.part != FieldPart::Whole {
                let text = match (f.codec, value) {
                    (JwtCodec::String, Value::String(s)) => s.clone(),
                    (JwtCodec::Bool, Value::Bool(b)) => b.to_string(),
                    (JwtCodec::Bool, _) => {
                        return Err(Rejection::claim(format!("{source} must be true or false")))
                    }
                    _ => return Err(Rejection::claim(format!("{source} must be a string"))),
                };
                asm.add_part(f.field, f.part, &source, text)?;
                return Ok(());
            }
            let values = decode_field(f, value, &what, &self.jwt.system_aliases)?;
            if !values.is_empty() {
                asm.add_whole(f.field, &source, values)?;
            }
        }
        Ok(())
    }

    /// Trust-framework objects inside `authorization_details` (RFC 9396) are read as if they were top-level
    /// claims; `None` when there are none.
    pub(super) fn lifted_claims(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, Rejection> {
        let Some(details) = claims.get("authorization_details") else {
            return Ok(None);
        };
        let Value::Array(entries) = details else {
            return Err(Rejection::claim(
                "claim authorization_details must be an array",
            ));
        };
        let mut lifted: Option<Map<String, Value>> = None;
        for entry in entries {
            let Some(kind) = entry.get("type").and_then(Value::as_str) else {
                return Err(Rejection::claim(
                    "an authorization_details entry has no type",
                ));
            };
            if !self.jwt.rar_types.iter().any(|t| t == kind) {
                continue;
            }
            let map = lifted.get_or_insert_with(|| claims.clone());
            if map.contains_key(kind) {
                return Err(Rejection::claim(format!(
                    "{kind} is given both as a claim and in authorization_details (or twice there)"
                )));
            }
            let mut object = entry.clone();
            if let Value::Object(o) = &mut object {
                o.remove("type");
            }
            map.insert(kind.to_string(), object);
        }
        Ok(lifted)
    }
}

fn encode_field(
    f: &JwtField,
    values: &[FieldValue],
    aliases: &[(String, String)],
) -> Result<Option<Value>, Rejection> {
    let label = f.claim.as_deref().map(path_label).unwrap_or_default();
    let single = || -> Result<&FieldValue, Rejection> {
        match values {
            [one] => Ok(one),
            _ => Err(Rejection::claim(format!(
                "{} has {} values, but claim {} takes one",
                f.field,
                values.len(),
                label
            ))),
        }
    };
    if f.part != FieldPart::Whole {
        let Some(first) = values.first() else {
            return Ok(None);
        };
        return Ok(match f.codec {
            JwtCodec::Bool => part_text(first, f.part).map(|t| Value::Bool(t == "true")),
            _ => part_text(first, f.part).map(Value::String),
        });
    }
    let wrong = || {
        Rejection::internal(format!(
            "{} holds another kind of value than its claim encoding",
            f.field
        ))
    };
    Ok(Some(match f.codec {
        JwtCodec::String => match single()? {
            FieldValue::Text(t) => Value::String(t.clone()),
            _ => return Err(wrong()),
        },
        JwtCodec::Identifier => match single()? {
            FieldValue::Identifier(i) => identifier_json(i),
            _ => return Err(wrong()),
        },
        JwtCodec::Coded => match single()? {
            FieldValue::Coded(c) => coded_json(c),
            _ => return Err(wrong()),
        },
        JwtCodec::Coding => match single()? {
            FieldValue::Coded(c) => coding_json(c, aliases),
            _ => return Err(wrong()),
        },
        JwtCodec::Cx => match single()? {
            FieldValue::Identifier(i) => {
                Value::String(super::hl7::cx_format(i).map_err(|why| {
                    Rejection::claim(format!("{} cannot be written as CX: {why}", f.field))
                })?)
            }
            _ => return Err(wrong()),
        },
        JwtCodec::DecisionRef => match single()? {
            FieldValue::DecisionRef(d) => decision_ref_json(d),
            _ => return Err(wrong()),
        },
        JwtCodec::CodedArray | JwtCodec::CodingArray => Value::Array(
            values
                .iter()
                .map(|v| match (f.codec, v) {
                    (JwtCodec::CodedArray, FieldValue::Coded(c)) => Ok(coded_json(c)),
                    (_, FieldValue::Coded(c)) => Ok(coding_json(c, aliases)),
                    _ => Err(wrong()),
                })
                .collect::<Result<_, _>>()?,
        ),
        JwtCodec::SpaceList => {
            let items: Vec<&str> = values.iter().map(FieldValue::key).collect();
            if items.iter().any(|i| i.contains(' ')) {
                return Err(Rejection::claim(format!(
                    "{} has a value containing a space",
                    f.field
                )));
            }
            Value::String(items.join(" "))
        }
        JwtCodec::StringArray => Value::Array(
            values
                .iter()
                .map(|v| Value::String(v.key().to_string()))
                .collect(),
        ),
        JwtCodec::Bool => return Err(wrong()),
    }))
}

pub(super) fn decode_field(
    f: &JwtField,
    value: &Value,
    what: &str,
    aliases: &[(String, String)],
) -> Result<Vec<FieldValue>, Rejection> {
    let string = |v: &Value| -> Result<String, Rejection> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| Rejection::claim(format!("claim {what} must be a string")))
    };
    Ok(match f.codec {
        JwtCodec::String => vec![FieldValue::Text(string(value)?)],
        JwtCodec::Identifier => vec![FieldValue::Identifier(identifier_from(
            value,
            what.to_string(),
        )?)],
        JwtCodec::Coded => vec![FieldValue::Coded(coded_from(value, what.to_string())?)],
        JwtCodec::Coding => vec![FieldValue::Coded(coding_from(
            value,
            what.to_string(),
            aliases,
        )?)],
        JwtCodec::Cx => {
            let text = value
                .as_str()
                .ok_or_else(|| Rejection::claim(format!("claim {what} must be a CX string")))?;
            vec![FieldValue::Identifier(super::hl7::cx_parse(text).map_err(
                |why| Rejection::claim(format!("claim {what} has an invalid CX value: {why}")),
            )?)]
        }
        JwtCodec::DecisionRef => vec![FieldValue::DecisionRef(decision_ref_from(
            value,
            what.to_string(),
        )?)],
        // Profiles disagree on arrays versus single objects (docs/ihe-profiles.md, "Switzerland: CH:XUA and CH:IUA"); accept both.
        JwtCodec::CodedArray => one_or_many(value)
            .into_iter()
            .map(|v| coded_from(v, what.to_string()).map(FieldValue::Coded))
            .collect::<Result<_, _>>()?,
        JwtCodec::CodingArray => one_or_many(value)
            .into_iter()
            .map(|v| coding_from(v, what.to_string(), aliases).map(FieldValue::Coded))
            .collect::<Result<_, _>>()?,
        // `scope` is a space-separated string (RFC 8693) but HelseID sends an array; accept both.
        JwtCodec::SpaceList | JwtCodec::StringArray => match value {
            Value::String(s) => s
                .split_whitespace()
                .map(|s| FieldValue::Text(s.to_string()))
                .collect(),
            Value::Array(items) => items
                .iter()
                .map(|v| string(v).map(FieldValue::Text))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Rejection::claim(format!(
                    "claim {what} must be a string or an array of strings"
                )))
            }
        },
        JwtCodec::Bool => return Err(Rejection::internal("a bool claim addresses a whole field")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_builds_nested_objects_and_arrays() {
        let mut m = Map::new();
        let p = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        insert_at(
            &mut m,
            &p(&["a", "patients", "0", "identifier"]),
            Value::from("x"),
        )
        .unwrap();
        insert_at(&mut m, &p(&["a", "patients", "0", "poc"]), Value::from("y")).unwrap();
        insert_at(&mut m, &p(&["a", "b"]), Value::from(1)).unwrap();
        assert_eq!(
            Value::Object(m.clone()),
            serde_json::json!({"a": {"patients": [{"identifier": "x", "poc": "y"}], "b": 1}})
        );
        assert_eq!(
            lookup(&m, &p(&["a", "patients", "0", "poc"])),
            Some(&Value::from("y"))
        );
        assert!(insert_at(&mut m, &p(&["a", "b", "c"]), Value::from(2)).is_err());
    }
}
