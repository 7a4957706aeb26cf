//! A strict, namespace-resolved element tree of the signed bytes. This is the one parser claims are read
//! from: it sees exactly what the signature covered (the canonical pre-digest bytes), and refuses anything
//! an exc-c14n output cannot contain (DTDs, comments, processing instructions, entity references).

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use super::prescan::predefined_or_char;
use crate::error::Rejection;
use crate::ns;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Option<String>,
    pub local: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub ns: Option<String>,
    pub local: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    pub text: String,
    /// `xsi:type` resolved to (namespace, local name), when present.
    pub xsi_type: Option<(Option<String>, String)>,
    /// Namespace declarations on this element: (prefix, URI); the default namespace has an empty prefix.
    pub ns_decls: Vec<(String, String)>,
    /// Byte range of the element in the parsed text (start tag to end tag).
    pub span: (usize, usize),
}

/// How strict the tree parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// For signed bytes: nothing an exc-c14n output cannot contain.
    Strict,
    /// For the inspector: comments and processing instructions inside elements are skipped (and counted);
    /// a DTD is still refused.
    Lenient,
}

impl Node {
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(namespace) && self.local == local
    }

    /// An un-namespaced attribute (SAML's own attributes are unqualified).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub fn attr_ns(&self, namespace: &str, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == Some(namespace) && a.local == local)
            .map(|a| a.value.as_str())
    }

    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.is(namespace, local))
    }
}

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 8192;

fn resolved_ns(r: ResolveResult<'_>, what: &str) -> Result<Option<String>, Rejection> {
    match r {
        ResolveResult::Bound(n) => Ok(Some(n.as_ref().to_string())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(Rejection::structure(format!(
            "{what} uses a namespace prefix that is not declared inside the signed assertion"
        ))),
    }
}

fn node_from(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    mode: Mode,
) -> Result<Node, Rejection> {
    let (r, local) = reader.resolver().resolve_element(start.name());
    let mut node = Node {
        ns: resolved_ns(r, "an element name")?,
        local: local.as_ref().to_string(),
        ..Node::default()
    };
    // Seen (namespace, local name) pairs: one set, so an element with thousands of attributes costs one pass.
    let mut seen: std::collections::HashSet<(Option<String>, String)> =
        std::collections::HashSet::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|_| Rejection::parse("the assertion has a malformed attribute"))?;
        let key = attr.key;
        if let Some(binding) = key.as_namespace_binding() {
            let prefix = match binding {
                quick_xml::name::PrefixDeclaration::Default => String::new(),
                quick_xml::name::PrefixDeclaration::Named(p) => p.to_string(),
            };
            node.ns_decls.push((prefix, attr.value.to_string()));
            continue;
        }
        let (r, local) = reader.resolver().resolve_attribute(key);
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| {
                Rejection::forbidden("the assertion has an attribute with an undefined entity")
            })?
            .into_owned();
        let a = Attr {
            ns: resolved_ns(r, "an attribute name")?,
            local: local.as_ref().to_string(),
            value,
        };
        if !seen.insert((a.ns.clone(), a.local.clone())) {
            return Err(Rejection::parse(
                "the assertion repeats an attribute on one element",
            ));
        }
        if a.ns.as_deref() == Some(ns::XSI) && a.local == "type" {
            let (r, type_local) = reader.resolver().resolve_element(QName(a.value.trim()));
            let type_ns = match (resolved_ns(r, "an xsi:type value"), mode) {
                (Ok(n), _) => n,
                // The inspector still reads documents whose xsi:type prefixes are declared elsewhere.
                (Err(_), Mode::Lenient) => None,
                (Err(e), Mode::Strict) => return Err(e),
            };
            node.xsi_type = Some((type_ns, type_local.as_ref().to_string()));
        }
        node.attrs.push(a);
    }
    Ok(node)
}

/// Parses one element and its subtree, strictly.
pub(crate) fn parse(bytes: &[u8]) -> Result<Node, Rejection> {
    parse_with(bytes, Mode::Strict).map(|(node, _)| node)
}

/// Parses one element and its subtree; returns it and how many comments and processing instructions were
/// skipped (always 0 in strict mode, which refuses them).
pub(crate) fn parse_with(bytes: &[u8], mode: Mode) -> Result<(Node, usize), Rejection> {
    let mut skipped = 0usize;
    let text =
        std::str::from_utf8(bytes).map_err(|_| Rejection::parse("the assertion is not UTF-8"))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut reader = NsReader::from_reader(text.as_bytes());
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|_| Rejection::parse("the assertion is not well-formed XML"))?;
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(Rejection::structure(
                        "the document holds more than one root element",
                    ));
                }
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_NODES {
                    return Err(Rejection::limit("the assertion is too deep or too large"));
                }
                let mut node = node_from(&reader, s, mode)?;
                node.span = (before, after);
                if matches!(event, Event::Start(_)) {
                    stack.push(node);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(Rejection::parse("the assertion has an unmatched end tag"));
                };
                done.span.1 = after;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => match stack.last_mut() {
                Some(node) => node.text.push_str(&t.xml10_content()),
                None if t.xml10_content().trim().is_empty() => {}
                None => {
                    return Err(Rejection::parse(
                        "the assertion has text outside its element",
                    ))
                }
            },
            Event::CData(c) => match stack.last_mut() {
                Some(node) => node.text.push_str(&c.xml10_content()),
                None => {
                    return Err(Rejection::parse(
                        "the assertion has text outside its element",
                    ))
                }
            },
            Event::GeneralRef(r) => {
                let ch = predefined_or_char(&r)?;
                match stack.last_mut() {
                    Some(node) => node.text.push(ch),
                    None => {
                        return Err(Rejection::parse(
                            "the assertion has text outside its element",
                        ))
                    }
                }
            }
            Event::DocType(_) => return Err(Rejection::forbidden("a DOCTYPE is not allowed")),
            Event::Comment(_) | Event::PI(_) if mode == Mode::Lenient => skipped += 1,
            Event::Comment(_) if !stack.is_empty() => {
                return Err(Rejection::structure(
                    "a comment inside the assertion is not allowed",
                ))
            }
            Event::PI(_) => {
                return Err(Rejection::structure(
                    "processing instructions are not allowed",
                ))
            }
            Event::Comment(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(Rejection::parse("the assertion is truncated"));
    }
    root.map(|r| (r, skipped))
        .ok_or_else(|| Rejection::parse("no element found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(n: usize, repeat_last: bool) -> String {
        let mut attrs: String = (0..n).map(|i| format!(" a{i}=\"\"")).collect();
        if repeat_last {
            attrs.push_str(" a0=\"again\"");
        }
        format!("<e{attrs}/>")
    }

    #[test]
    fn thousands_of_attributes_are_read_and_a_repeated_one_is_still_refused() {
        let started = std::time::Instant::now();
        let (node, _) = parse_with(element(20_000, false).as_bytes(), Mode::Lenient).unwrap();
        eprintln!("20,000 attributes: {:?}", started.elapsed());
        assert_eq!(node.attrs.len(), 20_000);
        let err = parse_with(element(20_000, true).as_bytes(), Mode::Lenient).unwrap_err();
        assert_eq!(err.class, crate::error::ErrorClass::Parse, "{err}");
    }
}
