//! XUA attributes ⇄ model, driven by a profile's `xua` entries.

use std::borrow::Cow;
use std::collections::HashMap;

use super::assemble::Assembler;
use super::hl7;
use super::{Profile, RepeatPolicy, UnknownPolicy, XuaCodec, XuaField, XuaSource};
use crate::error::{shown, Rejection};
use crate::model::{AccessContext, Coded, FieldPart, FieldValue, Identifier};
use crate::saml::build::{XuaAttributeOut, XuaValueOut};
use crate::saml::fragment::{looks_like_xml, parse_escaped, XmlFragment};
use crate::saml::view::{SamlAttribute, SamlValue};

/// JWT registered claim names (RFC 7519 §4.1) that no SAML attribute may carry.
const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// What the XUA decoder reads: the Subject's NameID and the attributes, all from the verified assertion.
#[derive(Debug, Clone, Copy)]
pub struct XuaInput<'a> {
    pub name_id: Option<&'a str>,
    pub name_qualifier: Option<&'a str>,
    pub attributes: &'a [SamlAttribute],
}

/// What the XUA encoder produces from a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XuaOutput {
    pub name_id: Option<String>,
    pub name_qualifier: Option<String>,
    pub attributes: Vec<XuaAttributeOut>,
}

// Borrowed when the assertion carries the element itself; owned only when escaped text had to be parsed.
fn fragment_of(value: &SamlValue) -> Result<Option<Cow<'_, XmlFragment>>, String> {
    match value.elements.len() {
        0 => {}
        1 if value.text.trim().is_empty() => return Ok(value.elements.first().map(Cow::Borrowed)),
        1 => return Err("it mixes text and an element".to_string()),
        _ => return Err("it has more than one element".to_string()),
    }
    if looks_like_xml(&value.text) {
        return parse_escaped(&value.text)
            .map(|f| Some(Cow::Owned(f)))
            .map_err(|e| e.0);
    }
    Ok(None)
}

pub(super) fn decode_value(f: &XuaField, value: &SamlValue) -> Result<Vec<FieldValue>, String> {
    let text_only = || -> Result<&str, String> {
        if value.elements.is_empty() {
            Ok(value.text.as_str())
        } else {
            Err("it has an element where text is expected".to_string())
        }
    };
    Ok(match f.codec {
        XuaCodec::Text => vec![FieldValue::Text(text_only()?.to_string())],
        XuaCodec::Oid => {
            let system = hl7::normalize_system(text_only()?);
            if !system.strip_prefix("urn:oid:").is_some_and(hl7::is_oid) {
                return Err("it is not an OID".to_string());
            }
            vec![FieldValue::Text(system)]
        }
        XuaCodec::List => text_only()?
            .split(f.separator.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| FieldValue::Text(s.to_string()))
            .collect(),
        XuaCodec::Ce => match fragment_of(value)? {
            Some(frag) => vec![FieldValue::Coded(hl7::ce_from_fragment(&frag)?)],
            None if f.text_fallback && !value.text.trim().is_empty() => {
                vec![FieldValue::Coded(Coded {
                    code: value.text.trim().to_string(),
                    ..Coded::default()
                })]
            }
            None => return Err("it is not an HL7 element".to_string()),
        },
        XuaCodec::Ii => match fragment_of(value)? {
            Some(frag) => vec![FieldValue::Identifier(hl7::ii_from_fragment(&frag)?)],
            None if f.text_fallback && !value.text.trim().is_empty() => {
                vec![FieldValue::Identifier(Identifier {
                    id: value.text.trim().to_string(),
                    ..Identifier::default()
                })]
            }
            None => return Err("it is not an HL7 element".to_string()),
        },
        XuaCodec::Cx => vec![FieldValue::Identifier(hl7::cx_parse(text_only()?)?)],
        XuaCodec::DecisionRef => match fragment_of(value)? {
            Some(frag) => vec![FieldValue::DecisionRef(hl7::decision_ref_from_fragment(
                &frag,
            )?)],
            None => return Err("it is not a decision-ref element".to_string()),
        },
    })
}

pub(super) fn codec_label(codec: XuaCodec) -> &'static str {
    match codec {
        XuaCodec::Text => "text",
        XuaCodec::Ce => "HL7 CE",
        XuaCodec::Ii => "HL7 II",
        XuaCodec::Cx => "CX",
        XuaCodec::DecisionRef => "decision-ref",
        XuaCodec::Oid => "OID",
        XuaCodec::List => "list",
    }
}

impl Profile {
    /// Decodes the attributes of a verified assertion into the model.
    pub(crate) fn decode_xua(&self, input: XuaInput<'_>) -> Result<AccessContext, Rejection> {
        let known = &self.known_attributes;
        let mut by_name: HashMap<&str, Vec<&SamlAttribute>> = HashMap::new();
        for attr in input.attributes {
            by_name.entry(attr.name.as_str()).or_default().push(attr);
        }
        // Checked in document order, so the same input is always refused for the same reason (the map's
        // iteration order is random per process; the fuzzer found two runs naming different attributes).
        // The JWT's registered claims come from the verified assertion's own fields (Issuer, NameID,
        // Conditions), never from an attribute. An attribute named like one is an attempt to set one, so it is
        // refused whatever the profile says about unknown names.
        if let Some(attr) = input.attributes.iter().find(|a| {
            REGISTERED_CLAIMS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(a.name.trim()))
        }) {
            return Err(Rejection::claim(format!(
                "attribute {} is named like a registered JWT claim; those are set by the gateway only",
                shown(&attr.name)
            )));
        }
        for attr in input.attributes {
            let name = attr.name.as_str();
            let count = by_name.get(name).map_or(0, Vec::len);
            if count > 1 && self.xua.repeated_attributes == RepeatPolicy::Reject {
                return Err(Rejection::structure(format!(
                    "attribute {} appears {} times",
                    shown(name),
                    count
                )));
            }
            if !known.contains(name) && self.xua.unknown_attributes == UnknownPolicy::Reject {
                return Err(Rejection::claim(format!(
                    "attribute {} is not part of profile {}",
                    shown(name),
                    self.name
                )));
            }
        }

        let mut asm = Assembler::new(self);
        for f in &self.xua_fields {
            match &f.source {
                XuaSource::NameId | XuaSource::NameQualifier => {
                    let (value, source) = if f.source == XuaSource::NameId {
                        (input.name_id, "Subject NameID")
                    } else {
                        (input.name_qualifier, "NameID NameQualifier")
                    };
                    if let Some(value) = value {
                        if f.part == FieldPart::Whole {
                            asm.add_whole(
                                f.field,
                                source,
                                vec![FieldValue::Text(value.to_string())],
                            )?;
                        } else {
                            asm.add_part(f.field, f.part, source, value.to_string())?;
                        }
                    }
                }
                XuaSource::Attribute { name, legacy } => {
                    for attr_name in std::iter::once(name).chain(legacy.iter()) {
                        let Some(attrs) = by_name.get(attr_name.as_str()) else {
                            continue;
                        };
                        let mut values = Vec::new();
                        for value in attrs.iter().flat_map(|a| a.values.iter()) {
                            if value.nil {
                                continue;
                            }
                            let decoded = decode_value(f, value).map_err(|reason| {
                                Rejection::claim(format!(
                                    "attribute {} has an invalid {} value: {reason}",
                                    shown(attr_name),
                                    codec_label(f.codec)
                                ))
                            })?;
                            values.extend(decoded);
                        }
                        if values.is_empty() {
                            continue;
                        }
                        let source = format!("attribute {}", shown(attr_name));
                        if f.part == FieldPart::Whole {
                            asm.add_whole(f.field, &source, values)?;
                        } else {
                            if values.len() > 1 {
                                return Err(Rejection::claim(format!(
                                    "{source} carries {} values, but {}.{} takes one",
                                    values.len(),
                                    f.field,
                                    f.part.name()
                                )));
                            }
                            let text = values
                                .into_iter()
                                .next()
                                .map(|v| v.key().to_string())
                                .unwrap_or_default();
                            asm.add_part(f.field, f.part, &source, text)?;
                        }
                    }
                }
            }
        }
        asm.finish()
    }

    /// Encodes the model as XUA attributes (and the NameID) per this profile.
    pub fn encode_xua(&self, ctx: &AccessContext) -> Result<XuaOutput, Rejection> {
        self.encode_xua_inner(ctx, None)
    }

    /// As [`Profile::encode_xua`], writing `codeSystemName` on coded values from the code tables (IHE XUA
    /// requires it on Role).
    pub fn encode_xua_named(
        &self,
        ctx: &AccessContext,
        names: &dyn super::SystemNames,
    ) -> Result<XuaOutput, Rejection> {
        self.encode_xua_inner(ctx, Some(names))
    }

    fn encode_xua_inner(
        &self,
        ctx: &AccessContext,
        names: Option<&dyn super::SystemNames>,
    ) -> Result<XuaOutput, Rejection> {
        let mut out = XuaOutput::default();
        for f in &self.xua_fields {
            let values = ctx.field_values(f.field);
            let texts: Vec<XuaValueOut> = if f.codec == XuaCodec::List {
                let items: Vec<&str> = values.iter().map(FieldValue::key).collect();
                if items.iter().any(|i| i.contains(f.separator.as_str())) {
                    return Err(Rejection::claim(format!(
                        "{} has a value containing the list separator",
                        f.field
                    )));
                }
                if items.is_empty() {
                    Vec::new()
                } else {
                    vec![self.text_out(f, items.join(f.separator.as_str()))]
                }
            } else if f.part == FieldPart::Whole {
                let mut encoded = Vec::with_capacity(values.len());
                for v in &values {
                    encoded.extend(self.encode_value(f, v, names)?);
                }
                if encoded.is_empty() {
                    if let Some(default) = &f.default {
                        encoded.push(self.text_out(f, default.clone()));
                    }
                }
                encoded
            } else {
                values
                    .first()
                    .and_then(|v| part_text(v, f.part))
                    .map(|t| vec![self.text_out(f, t)])
                    .unwrap_or_default()
            };
            if texts.is_empty() {
                continue;
            }
            match &f.source {
                XuaSource::NameId | XuaSource::NameQualifier => {
                    let text = texts.into_iter().find_map(|t| match t {
                        XuaValueOut::Text { text, .. } => Some(text),
                        XuaValueOut::Element(_) => None,
                    });
                    if f.source == XuaSource::NameId {
                        out.name_id = text;
                    } else {
                        out.name_qualifier = text;
                    }
                }
                XuaSource::Attribute { name, legacy } => {
                    let name_format = f
                        .name_format
                        .clone()
                        .or_else(|| self.xua.name_format.clone());
                    let names =
                        std::iter::once(name).chain(legacy.iter().filter(|_| self.xua.emit_legacy));
                    for n in names {
                        out.attributes.push(XuaAttributeOut {
                            name: n.clone(),
                            name_format: name_format.clone(),
                            values: texts.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn text_out(&self, f: &XuaField, text: String) -> XuaValueOut {
        let text = if f.codec == XuaCodec::Oid {
            hl7::system_out(&text, f.oid_form)
        } else {
            text
        };
        XuaValueOut::Text {
            text,
            xsi_type: f.xsi_type.clone(),
        }
    }

    fn element_out(&self, fragment: XmlFragment) -> XuaValueOut {
        if self.xua.hl7_as_element {
            XuaValueOut::Element(fragment)
        } else {
            XuaValueOut::Text {
                text: fragment.to_xml(),
                xsi_type: None,
            }
        }
    }

    fn encode_value(
        &self,
        f: &XuaField,
        value: &FieldValue,
        names: Option<&dyn super::SystemNames>,
    ) -> Result<Vec<XuaValueOut>, Rejection> {
        let invalid = |reason: String| {
            Rejection::claim(format!(
                "{} cannot be written as {}: {reason}",
                f.field,
                codec_label(f.codec)
            ))
        };
        Ok(match (f.codec, value) {
            (XuaCodec::Text, FieldValue::Text(t)) => vec![self.text_out(f, t.clone())],
            // The JWT side may carry any string here; XUA readers (this gateway's decoder included) take only
            // an OID, so anything else is refused rather than issued (a mapping_decoders fuzzer finding).
            (XuaCodec::Oid, FieldValue::Text(t)) => {
                let system = hl7::normalize_system(t);
                if !system.strip_prefix("urn:oid:").is_some_and(hl7::is_oid) {
                    return Err(invalid("it is not an OID".to_string()));
                }
                vec![self.text_out(f, system)]
            }
            (XuaCodec::Ce, FieldValue::Coded(c)) => {
                vec![self.element_out(hl7::ce_to_fragment(
                    c,
                    &f.element,
                    c.system
                        .as_deref()
                        .and_then(|s| names.and_then(|n| n.system_name(s))),
                    self.xua.ce_system_form,
                ))]
            }
            (XuaCodec::Ii, FieldValue::Identifier(i)) => {
                vec![self.element_out(hl7::ii_to_fragment(i, &f.element, self.xua.ii_root_form))]
            }
            (XuaCodec::Cx, FieldValue::Identifier(i)) => {
                vec![self.text_out(f, hl7::cx_format(i).map_err(invalid)?)]
            }
            (XuaCodec::DecisionRef, FieldValue::DecisionRef(d)) => {
                vec![self.element_out(hl7::decision_ref_to_fragment(d))]
            }
            _ => return Err(invalid("the model holds another kind of value".to_string())),
        })
    }
}

pub(super) fn part_text(value: &FieldValue, part: FieldPart) -> Option<String> {
    match (value, part) {
        (FieldValue::Identifier(i), FieldPart::Id) => Some(i.id.clone()),
        (FieldValue::Identifier(i), FieldPart::Name) => i.name.clone(),
        (FieldValue::Identifier(i), FieldPart::System) => i.system.clone(),
        (FieldValue::Identifier(i), FieldPart::Authority) => i.authority.clone(),
        (FieldValue::Coded(c), FieldPart::Code) => Some(c.code.clone()),
        (FieldValue::Coded(c), FieldPart::Text) => c.text.clone(),
        (FieldValue::Coded(c), FieldPart::System) => c.system.clone(),
        (FieldValue::Coded(c), FieldPart::Assigner) => c.assigner.clone(),
        (FieldValue::DecisionRef(d), FieldPart::Id) => Some(d.id.clone()),
        (FieldValue::DecisionRef(d), FieldPart::UserReason) => d.user_reason.clone(),
        (FieldValue::DecisionRef(d), FieldPart::UserSelected) => {
            d.user_selected.map(|b| b.to_string())
        }
        _ => None,
    }
}
