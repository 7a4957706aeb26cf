//! The claims, read from exactly what the canonicaliser wrote for the digest. The element tree handed to
//! `extract::view_of` is the one `tree::parse` would build from those canonical bytes: names resolved
//! against the namespace declarations written in them (so an `xsi:type` prefix bound only outside the signed
//! Assertion stays unresolved and is refused), the same limits, the same errors.

use quick_xml::name::QName;

use super::c14n::{uri_as_read, Opened, Sink};
use crate::error::Rejection;
use crate::ns;
use crate::saml::tree::{Attr, Node};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
/// The element-tree parser's limits (`tree::parse`).
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 8192;
/// Namespace bindings a reader keeps in scope at once (quick-xml's default).
const MAX_BINDINGS: usize = 128;

enum Resolved {
    Bound(String),
    Unbound,
    Unknown,
}

/// Builds the element tree while the canonical form is written; the first problem is kept and the rest of
/// the input ignored (the digest is still computed to the end).
#[derive(Default)]
pub(super) struct TreeSink {
    stack: Vec<Node>,
    /// (prefix, value) bindings as a reader of the canonical bytes keeps them; `None` prefix is the default.
    bindings: Vec<(Option<String>, String)>,
    marks: Vec<usize>,
    root: Option<Node>,
    count: usize,
    error: Option<Rejection>,
}

impl TreeSink {
    /// The tree, or why the canonical bytes would not have parsed into one.
    pub(super) fn finish(self) -> Result<Node, Rejection> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.stack.is_empty() {
            return Err(Rejection::parse("the assertion is truncated"));
        }
        self.root
            .ok_or_else(|| Rejection::parse("no element found"))
    }

    fn resolve(&self, prefix: Option<&str>, element: bool) -> Resolved {
        match prefix {
            None if !element => Resolved::Unbound,
            None => match self.bindings.iter().rev().find(|(p, _)| p.is_none()) {
                Some((_, v)) if !v.is_empty() => Resolved::Bound(v.clone()),
                _ => Resolved::Unbound,
            },
            Some("xml") => Resolved::Bound(XML_NS.to_string()),
            Some("xmlns") => Resolved::Bound(XMLNS_NS.to_string()),
            Some(p) => match self
                .bindings
                .iter()
                .rev()
                .find(|(q, _)| q.as_deref() == Some(p))
            {
                Some((_, v)) if !v.is_empty() => Resolved::Bound(v.clone()),
                _ => Resolved::Unknown,
            },
        }
    }

    fn namespace(
        &self,
        prefix: Option<&str>,
        element: bool,
        what: &str,
    ) -> Result<Option<String>, Rejection> {
        match self.resolve(prefix, element) {
            Resolved::Bound(n) => Ok(Some(n)),
            Resolved::Unbound => Ok(None),
            Resolved::Unknown => Err(Rejection::structure(format!(
                "{what} uses a namespace prefix that is not declared inside the signed assertion"
            ))),
        }
    }

    fn open(&mut self, element: &Opened<'_>) -> Result<(), Rejection> {
        self.count += 1;
        if self.stack.len() >= MAX_DEPTH || self.count > MAX_NODES {
            return Err(Rejection::limit("the assertion is too deep or too large"));
        }
        self.marks.push(self.bindings.len());
        let mut node = Node::default();
        for (prefix, uri) in element.decls {
            let value = uri_as_read(uri).into_owned();
            node.ns_decls
                .push((prefix.unwrap_or_default().to_string(), value.clone()));
            self.bindings.push((prefix.map(str::to_string), value));
        }
        if self.bindings.len() > MAX_BINDINGS {
            return Err(Rejection::parse("the assertion is not well-formed XML"));
        }
        let (prefix, local) = split_first_colon(element.prefix, element.local);
        node.ns = self.namespace(prefix, true, "an element name")?;
        node.local = local.to_string();
        for (written_prefix, attr) in element.attrs {
            let (prefix, local) = split_first_colon(*written_prefix, attr.local);
            let a = Attr {
                ns: self.namespace(prefix, false, "an attribute name")?,
                local: local.to_string(),
                value: attr.value.to_string(),
            };
            if node
                .attrs
                .iter()
                .any(|b| b.ns == a.ns && b.local == a.local)
            {
                return Err(Rejection::parse(
                    "the assertion repeats an attribute on one element",
                ));
            }
            if a.ns.as_deref() == Some(ns::XSI) && a.local == "type" {
                let value = a.value.trim();
                let name = QName(value);
                let (type_local, type_prefix) = name.decompose();
                let type_ns = self.namespace(
                    type_prefix.map(|p| p.into_inner()),
                    true,
                    "an xsi:type value",
                )?;
                node.xsi_type = Some((type_ns, type_local.into_inner().to_string()));
            }
            node.attrs.push(a);
        }
        node.span = element.span;
        self.stack.push(node);
        Ok(())
    }
}

/// How a reader splits a written name: at its first colon.
fn split_first_colon<'s>(prefix: Option<&'s str>, local: &'s str) -> (Option<&'s str>, &'s str) {
    match prefix {
        Some(p) => (Some(p), local),
        None => match local.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, local),
        },
    }
}

impl Sink for TreeSink {
    fn start(&mut self, element: &Opened<'_>) {
        if self.error.is_some() {
            return;
        }
        if self.root.is_some() {
            self.error = Some(Rejection::structure(
                "the document holds more than one root element",
            ));
            return;
        }
        if let Err(e) = self.open(element) {
            self.error = Some(e);
        }
    }

    fn text(&mut self, text: &str) {
        if self.error.is_some() {
            return;
        }
        if let Some(node) = self.stack.last_mut() {
            node.text.push_str(text);
        }
    }

    fn end(&mut self, end_offset: usize) {
        if self.error.is_some() {
            return;
        }
        let Some(mut done) = self.stack.pop() else {
            self.error = Some(Rejection::parse("the assertion has an unmatched end tag"));
            return;
        };
        if let Some(mark) = self.marks.pop() {
            self.bindings.truncate(mark);
        }
        done.span.1 = end_offset;
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => self.root = Some(done),
        }
    }
}
