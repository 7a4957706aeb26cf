//! Small XML trees: HL7 values inside a SAML AttributeValue, either as child elements or, as NHN sends them,
//! as escaped XML in the AttributeValue text (`&lt;Role xmlns="urn:hl7-org:v3" code="LE" .../&gt;`).
//!
//! The escaped form is a second XML document nested in the first; it is parsed here with the same rules as
//! the outer one: no DTD, no entities beyond the five predefined ones and character references, no
//! processing instructions, bounded size and depth.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An element with its attributes (local names, prefixes dropped), children and concatenated text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlFragment {
    pub name: String,
    pub namespace: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<XmlFragment>,
    pub text: String,
}

impl XmlFragment {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The value of the attribute with this local name (any prefix: `type` matches `xsi:type`).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == local)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, local: &str) -> Option<&XmlFragment> {
        self.children.iter().find(|c| c.name == local)
    }

    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.push((name.to_string(), value.into()));
        self
    }

    /// The fragment as XML text on its own (the escaped form inside an AttributeValue): it declares the `xsi`
    /// prefix where one of its attributes uses it.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out, None, false);
        out
    }

    /// The one writer of fragments, for the escaped form and for child elements of an assertion alike.
    /// Attribute keys are written as stored, so builders store qualified names (`xsi:type`). `xsi_in_scope`:
    /// the surrounding document already declares the `xsi` prefix.
    pub fn write_xml(&self, out: &mut String, parent_ns: Option<&str>, xsi_in_scope: bool) {
        out.push('<');
        out.push_str(&self.name);
        if self.namespace.as_deref() != parent_ns {
            if let Some(ns) = &self.namespace {
                out.push_str(" xmlns=\"");
                escape_into(ns, out);
                out.push('"');
            }
        }
        let uses_xsi = self.attributes.iter().any(|(k, _)| k.starts_with("xsi:"));
        if uses_xsi && !xsi_in_scope {
            out.push_str(" xmlns:xsi=\"");
            out.push_str(crate::ns::XSI);
            out.push('"');
        }
        for (k, v) in &self.attributes {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        escape_into(&self.text, out);
        for child in &self.children {
            child.write_xml(out, self.namespace.as_deref(), xsi_in_scope || uses_xsi);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// XML escaping for text and attribute values (both quotes, so the result fits either context).
pub fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
}

/// Why an escaped fragment was refused. Messages name the problem, never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentError(pub String);

const MAX_FRAGMENT_BYTES: usize = 8 * 1024;
const MAX_DEPTH: usize = 8;
const MAX_ELEMENTS: usize = 64;

/// Whether a text value holds an escaped XML element rather than plain text.
pub fn looks_like_xml(text: &str) -> bool {
    text.trim_start().starts_with('<')
}

/// Parses one element (with its subtree) from text. Undeclared prefixes (`xsi:type` without `xmlns:xsi`, as
/// NHN sends them) are tolerated because names are compared by local name only.
pub fn parse_escaped(text: &str) -> Result<XmlFragment, FragmentError> {
    if text.len() > MAX_FRAGMENT_BYTES {
        return Err(FragmentError(format!(
            "embedded XML is longer than {MAX_FRAGMENT_BYTES} bytes"
        )));
    }
    let mut reader = Reader::from_str(text.trim());
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<XmlFragment> = Vec::new();
    let mut root: Option<XmlFragment> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            FragmentError(format!(
                "embedded XML is not well-formed ({})",
                error_kind(&e)
            ))
        })?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(FragmentError(
                    "embedded XML has more than one root element".into(),
                ));
            }
            Event::Start(start) => {
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(FragmentError(
                        "embedded XML is nested too deep or too large".into(),
                    ));
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(FragmentError(
                        "embedded XML is nested too deep or too large".into(),
                    ));
                }
                let el = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(FragmentError(
                        "embedded XML has an unmatched end tag".into(),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => {
                        return Err(FragmentError(
                            "embedded XML has text outside its element".into(),
                        ))
                    }
                }
            }
            Event::CData(c) => {
                let s = c.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => {
                        return Err(FragmentError(
                            "embedded XML has text outside its element".into(),
                        ))
                    }
                }
            }
            Event::GeneralRef(r) => {
                let ch = resolve_reference(&r)?;
                match stack.last_mut() {
                    Some(el) => el.text.push(ch),
                    None => {
                        return Err(FragmentError(
                            "embedded XML has text outside its element".into(),
                        ))
                    }
                }
            }
            Event::Decl(_) => {}
            Event::Comment(_) => {
                return Err(FragmentError("embedded XML contains a comment".into()));
            }
            Event::PI(_) => {
                return Err(FragmentError(
                    "embedded XML contains a processing instruction".into(),
                ));
            }
            Event::DocType(_) => {
                return Err(FragmentError("embedded XML contains a DOCTYPE".into()));
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(FragmentError("embedded XML is truncated".into()));
    }
    root.ok_or_else(|| FragmentError("embedded XML has no element".into()))
}

fn error_kind(e: &quick_xml::Error) -> &'static str {
    match e {
        quick_xml::Error::Syntax(_) => "syntax error",
        quick_xml::Error::IllFormed(_) => "ill-formed",
        quick_xml::Error::Encoding(_) => "bad encoding",
        quick_xml::Error::Escape(_) => "bad escape",
        _ => "parse error",
    }
}

/// Character references and the five predefined entities; anything else is refused (no DTD can define it).
fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, FragmentError> {
    if let Some(ch) = r
        .resolve_char_ref()
        .map_err(|_| FragmentError("embedded XML has an invalid character reference".into()))?
    {
        return Ok(ch);
    }
    let name: &str = r;
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(FragmentError(
            "embedded XML refers to an undefined entity".into(),
        )),
    }
}

fn local(name: &str) -> String {
    name.rsplit_once(':')
        .map(|(_, l)| l)
        .unwrap_or(name)
        .to_string()
}

/// Whether `name` is a QName: an NCName (letters of any script, digits, `.`, `-`, `_`; not starting with a
/// digit, `.` or `-`), or two joined by one `:`. The reader underneath only splits names at whitespace, so
/// without this a name could hold `=`, quotes, control characters or several colons, and a fragment the
/// gateway writes back out (by local name) would no longer be XML (the mapping_decoders fuzzer found both).
fn is_qname(name: &str) -> bool {
    let is_ncname = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|first| first.is_alphabetic() || first == '_')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '\u{B7}'))
    };
    match name.split_once(':') {
        None => is_ncname(name),
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
    }
}

fn element(start: &BytesStart<'_>) -> Result<XmlFragment, FragmentError> {
    if !is_qname(start.name().as_ref()) {
        return Err(FragmentError(
            "embedded XML has an element name that is not a qualified XML name".into(),
        ));
    }
    let mut el = XmlFragment::new(local(start.name().as_ref()));
    let prefix = start.name().prefix().map(|p| p.as_ref().to_string());
    for attr in start.attributes() {
        let attr =
            attr.map_err(|_| FragmentError("embedded XML has a malformed attribute".into()))?;
        let key = attr.key.as_ref();
        if !is_qname(key) {
            return Err(FragmentError(
                "embedded XML has an attribute name that is not a qualified XML name".into(),
            ));
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| FragmentError("embedded XML has an invalid attribute value".into()))?
            .into_owned();
        if key == "xmlns" {
            if prefix.is_none() {
                el.namespace = Some(value);
            }
            continue;
        }
        if let Some(p) = key.strip_prefix("xmlns:") {
            if prefix.as_deref() == Some(p) {
                el.namespace = Some(value);
            }
            continue;
        }
        let name = local(key);
        if el.attributes.iter().any(|(k, _)| *k == name) {
            return Err(FragmentError(format!(
                "embedded XML repeats the attribute {name:?}"
            )));
        }
        el.attributes.push((name, value));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nhn_role_with_undeclared_xsi() {
        let f = parse_escaped(r#"<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="LE" codeSystem="urn:oid:2.16.578.1.12.4.1.1.9060" displayName="Lege"/>"#).unwrap();
        assert_eq!(f.name, "Role");
        assert_eq!(f.namespace.as_deref(), Some("urn:hl7-org:v3"));
        assert_eq!(f.attr("type"), Some("CE"));
        assert_eq!(f.attr("code"), Some("LE"));
    }

    #[test]
    fn parses_nested_decision_ref() {
        let f = parse_escaped(
            r#"<decision-ref><id value="abc" /><user-selected value="True" /></decision-ref>"#,
        )
        .unwrap();
        assert_eq!(f.child("id").and_then(|c| c.attr("value")), Some("abc"));
        assert_eq!(
            f.child("user-selected").and_then(|c| c.attr("value")),
            Some("True")
        );
    }

    #[test]
    fn refuses_doctype_entities_comments_and_pis() {
        assert!(parse_escaped(r#"<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>"#).is_err());
        assert!(parse_escaped(r#"<x>&a;</x>"#).is_err());
        assert!(parse_escaped(r#"<x><!-- c --></x>"#).is_err());
        assert!(parse_escaped(r#"<x><?pi x?></x>"#).is_err());
        assert!(parse_escaped(r#"<x/><y/>"#).is_err());
        assert!(parse_escaped(r#"<x a="1" a="2"/>"#).is_err());
        assert!(parse_escaped(r#"<x>"#).is_err());
        assert!(parse_escaped(&format!("<x>{}</x>", "a".repeat(9000))).is_err());
        assert!(parse_escaped(&"<a>".repeat(20)).is_err());
    }

    #[test]
    fn refuses_names_that_are_not_qualified_xml_names() {
        assert!(parse_escaped("<R\u{0}\u{7f}xmlns=\"urn:hl7-org:v3\"/>").is_err());
        assert!(parse_escaped(r#"<1x/>"#).is_err());
        assert!(parse_escaped(r#"<x a"b="1"/>"#).is_err());
        assert!(parse_escaped(r#"<x urn:oid:2.16.578Name="1"/>"#).is_err());
        assert!(parse_escaped(r#"<a:b:c/>"#).is_err());
        assert!(parse_escaped(r#"<hl7:Role xsi:type="CE" code="LE"/>"#).is_ok());
        assert!(parse_escaped(r#"<Rolle-Ø attributt.x="1"/>"#).is_ok());
    }

    #[test]
    fn resolves_predefined_and_character_references() {
        let f = parse_escaped(r#"<x v="a&amp;b&#x41;">1&lt;2&#65;</x>"#).unwrap();
        assert_eq!(f.attr("v"), Some("a&bA"));
        assert_eq!(f.text, "1<2A");
    }
}
