//! Records elements on a tape with libxml2's namespace rules, from names and already-normalised values.
//! The reader feeds it what it parsed; our own assertions are written through it directly (no parse).

use std::borrow::Cow;

use super::chars::split_qname;
use super::tape::{Attr, Decl, Element, Item, NsRef, Tape, XML_NS};

const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

#[derive(Default)]
pub(super) struct TapeBuilder<'a> {
    pub(super) tape: Tape<'a>,
    /// Declarations in scope (indices into `tape.decls`), innermost last.
    scope: Vec<usize>,
    /// Open elements: (element id, scope length before its declarations).
    open: Vec<(usize, usize)>,
}

impl<'a> TapeBuilder<'a> {
    pub(super) fn is_open(&self) -> bool {
        !self.open.is_empty()
    }

    pub(super) fn text(&mut self, text: Cow<'a, str>) {
        if !text.is_empty() {
            self.tape.items.push(Item::Text(text));
        }
    }

    /// Opens an element. `attributes` are (name, normalised value), namespace declarations among them;
    /// `None` if a name is not one libxml2 accepts.
    pub(super) fn start(
        &mut self,
        name: &'a str,
        attributes: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>,
        empty: bool,
    ) -> Option<()> {
        let (prefix, local) = split_qname(name)?;
        let mark = self.scope.len();
        let decls_start = self.tape.decls.len();
        let attrs_start = self.tape.attrs.len();
        let mut pending: Vec<(Option<&'a str>, &'a str, Cow<'a, str>)> = Vec::new();
        for (key, value) in attributes {
            match split_qname(key)? {
                (None, "xmlns") => self.declare(None, value),
                (Some("xmlns"), declared) => self.declare(Some(declared), value),
                (p, l) => pending.push((p, l, value)),
            }
        }
        for i in decls_start..self.tape.decls.len() {
            self.scope.push(i);
        }
        let ns = match prefix {
            None => match self.lookup(None) {
                NsRef::Decl(i) if self.tape.decls.get(i).is_some_and(|d| !d.uri.is_empty()) => {
                    NsRef::Decl(i)
                }
                _ => NsRef::None,
            },
            Some(p) => self.lookup(Some(p)),
        };
        for (p, l, value) in pending {
            let ns = match p {
                None => NsRef::None,
                Some(p) => self.lookup(Some(p)),
            };
            self.tape.attrs.push(Attr {
                prefix: p,
                local: l,
                ns,
                value,
            });
        }
        let id = self.tape.elements.len();
        let start = self.tape.items.len();
        self.tape.elements.push(Element {
            parent: self.open.last().map(|&(parent, _)| parent),
            prefix,
            local,
            ns,
            decls: decls_start..self.tape.decls.len(),
            attrs: attrs_start..self.tape.attrs.len(),
            start,
            end: start,
        });
        self.tape.items.push(Item::Start(id));
        self.open.push((id, mark));
        if empty {
            self.end()?;
        }
        Some(())
    }

    pub(super) fn end(&mut self) -> Option<()> {
        let (id, mark) = self.open.pop()?;
        let end = self.tape.items.len();
        self.tape.items.push(Item::End);
        self.tape.elements.get_mut(id)?.end = end;
        self.scope.truncate(mark);
        Some(())
    }

    /// A namespace declaration, kept or dropped as libxml2 does (it only warns about the ones it drops).
    fn declare(&mut self, prefix: Option<&'a str>, uri: Cow<'a, str>) {
        let dropped = match prefix {
            None => uri == XML_NS || uri == XMLNS_NS,
            Some(p) => {
                p == "xml" || p == "xmlns" || uri == XML_NS || uri == XMLNS_NS || uri.is_empty()
            }
        };
        if !dropped {
            self.tape.decls.push(Decl { prefix, uri });
        }
    }

    /// The innermost declaration of `prefix` in scope (the element's own declarations included).
    fn lookup(&self, prefix: Option<&str>) -> NsRef {
        if prefix == Some("xml") {
            return NsRef::Xml;
        }
        self.scope
            .iter()
            .rev()
            .copied()
            .find(|&i| self.tape.decls.get(i).is_some_and(|d| d.prefix == prefix))
            .map_or(NsRef::None, NsRef::Decl)
    }
}
