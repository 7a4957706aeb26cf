//! Strict JSON for token segments: duplicate member names are an error (two parsers could otherwise read
//! different claims from one token), nesting is bounded, and the top level must be an object.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How deep objects and arrays may nest in a token segment.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    Duplicate(String),
    TooDeep,
    NotAnObject,
    Invalid,
}

struct Seed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(A::Error::custom("\u{0}too-deep"));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed {
            depth: self.depth + 1,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(A::Error::custom("\u{0}too-deep"));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let shown: String = key.chars().filter(|c| !c.is_control()).take(40).collect();
                return Err(A::Error::custom(format!("\u{0}duplicate:{shown}")));
            }
            let value = map.next_value_seed(Seed {
                depth: self.depth + 1,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Parses a JSON object strictly.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed { depth: 0 }.deserialize(&mut de).map_err(|e| {
        let msg = e.to_string();
        if let Some(rest) = msg.strip_prefix("\u{0}duplicate:") {
            JsonError::Duplicate(rest.split(" at line").next().unwrap_or(rest).to_string())
        } else if msg.starts_with("\u{0}too-deep") {
            JsonError::TooDeep
        } else {
            JsonError::Invalid
        }
    })?;
    de.end().map_err(|_| JsonError::Invalid)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_depth_and_shape() {
        assert!(parse_object(br#"{"a":1,"b":{"c":[1,2]}}"#).is_ok());
        assert_eq!(
            parse_object(br#"{"sub":"alice","sub":"admin"}"#),
            Err(JsonError::Duplicate("sub".into()))
        );
        assert_eq!(
            parse_object(br#"{"x":{"a":1,"a":2}}"#),
            Err(JsonError::Duplicate("a".into()))
        );
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::TooDeep));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::TooDeep));
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotAnObject));
        assert_eq!(parse_object(br#"{"a":1} x"#), Err(JsonError::Invalid));
        assert_eq!(parse_object(br#"{"exp":1e400}"#), Err(JsonError::Invalid));
        assert_eq!(
            parse_object(b"{\"a\":\"\\ud800\"}"),
            Err(JsonError::Invalid)
        );
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonError::Invalid));
    }
}
