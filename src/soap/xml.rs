//! The one strict reader every SOAP module walks untrusted bytes with: limits checked while reading, no
//! DOCTYPE, no entities beyond the predefined ones, no processing instructions (SOAP 1.2 Part 1 §5 forbids
//! them), well-formedness, and the byte span of every element so a rewrite can keep all other bytes.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use crate::error::Rejection;

/// Size and complexity limits for a SOAP message (the root part of an MTOM package counts alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoapLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes_per_element: usize,
    /// Namespace declarations in scope at once.
    pub max_namespace_bindings: usize,
    /// Characters of one value the gateway reads (Action, a query slot value, an RST field, a JWT).
    pub max_value_chars: usize,
}

impl Default for SoapLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 64,
            max_elements: 16 * 1024,
            max_attributes_per_element: 64,
            max_namespace_bindings: 256,
            max_value_chars: 16 * 1024,
        }
    }
}

/// A namespace-resolved element start (`<a ...>` or `<a .../>`).
pub(crate) struct Element<'i> {
    pub namespace: Option<String>,
    pub local: String,
    /// Bytes of the start tag (or of the whole empty element).
    pub span: Range<usize>,
    pub empty: bool,
    /// 1 for the root element.
    pub depth: usize,
    pub start: BytesStart<'i>,
}

impl Element<'_> {
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.namespace.as_deref() == Some(namespace) && self.local == local
    }

    /// An unqualified attribute's value, normalised and unescaped.
    pub fn attr(&self, name: &str) -> Result<Option<String>, Rejection> {
        for attr in self.start.attributes() {
            let attr =
                attr.map_err(|_| Rejection::parse("the SOAP message has a malformed attribute"))?;
            if attr.key.as_ref() == name {
                let value = attr
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|_| {
                        Rejection::parse("the SOAP message has a malformed attribute value")
                    })?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    /// The namespace declarations written on this start tag: (prefix or None for the default, URI).
    pub fn declarations(&self) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        for attr in self.start.attributes().flatten() {
            let Some(decl) = attr.key.as_namespace_binding() else {
                continue;
            };
            let uri = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map(Cow::into_owned)
                .unwrap_or_default();
            match decl {
                PrefixDeclaration::Default => out.push((None, uri)),
                PrefixDeclaration::Named(p) => out.push((Some(p.to_string()), uri)),
            }
        }
        out
    }
}

pub(crate) enum Item<'i> {
    Start(Element<'i>),
    /// An end tag; `span` covers `</a>`, `depth` is the closed element's depth.
    End {
        span: Range<usize>,
        depth: usize,
    },
    /// Character data (text, CDATA or a resolved reference), decoded.
    Text(Cow<'i, str>),
    /// A comment inside the root element (outside it comments are skipped).
    Comment,
    Eof,
}

/// Strict pull reader over UTF-8 text. Everything outside the root element except an XML declaration,
/// whitespace and comments is refused, and so is a second root.
pub(crate) struct Cursor<'i> {
    reader: NsReader<&'i [u8]>,
    limits: SoapLimits,
    depth: usize,
    elements: usize,
    root_seen: bool,
    root_closed: bool,
    /// Offset of `text` within the caller's bytes (a BOM is skipped).
    base: usize,
}

/// UTF-8 text of `bytes` after the size check, without a BOM, and the BOM's length.
pub(crate) fn text_of<'b>(
    bytes: &'b [u8],
    limits: &SoapLimits,
) -> Result<(&'b str, usize), Rejection> {
    if bytes.len() > limits.max_bytes {
        return Err(Rejection::limit(format!(
            "the SOAP message is larger than {} bytes",
            limits.max_bytes
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Rejection::parse("the SOAP message is not UTF-8"))?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    })
}

impl<'i> Cursor<'i> {
    /// `text` must come from [`text_of`]; `base` is the BOM length it returned.
    pub fn new(text: &'i str, base: usize, limits: &SoapLimits) -> Self {
        let mut reader = NsReader::from_str(text);
        reader.config_mut().check_end_names = true;
        reader.config_mut().expand_empty_elements = false;
        reader
            .resolver_mut()
            .set_max_namespace_bindings(limits.max_namespace_bindings);
        Self {
            reader,
            limits: *limits,
            depth: 0,
            elements: 0,
            root_seen: false,
            root_closed: false,
            base,
        }
    }

    /// Namespace bindings in scope now (after the last start tag, including its own declarations).
    pub fn bindings(&self) -> Vec<(Option<String>, String)> {
        self.reader
            .resolver()
            .bindings()
            .map(|(p, ns)| {
                let prefix = match p {
                    PrefixDeclaration::Default => None,
                    PrefixDeclaration::Named(p) => Some(p.to_string()),
                };
                (prefix, ns.as_ref().to_string())
            })
            .collect()
    }

    /// The value of `element`'s attribute in namespace `namespace` with local name `local`, whatever its
    /// prefix. `element` must be the last start read.
    pub fn ns_attr(
        &self,
        element: &Element<'_>,
        namespace: &str,
        local: &str,
    ) -> Result<Option<String>, Rejection> {
        for attr in element.start.attributes() {
            let attr =
                attr.map_err(|_| Rejection::parse("the SOAP message has a malformed attribute"))?;
            let (resolved, name) = self.reader.resolver().resolve_attribute(attr.key);
            let bound = matches!(resolved, ResolveResult::Bound(ns) if ns.as_ref() == namespace);
            if bound && name.as_ref() == local {
                let value = attr
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|_| {
                        Rejection::parse("the SOAP message has a malformed attribute value")
                    })?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    pub fn next(&mut self) -> Result<Item<'i>, Rejection> {
        loop {
            let before = self.position();
            let (resolved, event) = self.reader.read_resolved_event().map_err(|e| {
                Rejection::parse(format!(
                    "the SOAP message is not well-formed XML ({})",
                    kind(&e)
                ))
            })?;
            let namespace = match resolved {
                ResolveResult::Bound(ns) => Some(ns.as_ref().to_string()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(_) => {
                    return Err(Rejection::parse(
                        "the SOAP message uses an undeclared namespace prefix",
                    ))
                }
            };
            let after = self.position();
            match event {
                Event::Start(start) => return self.start(start, namespace, before..after, false),
                Event::Empty(start) => return self.start(start, namespace, before..after, true),
                Event::End(_) => {
                    let depth = self.depth;
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.root_closed = true;
                    }
                    return Ok(Item::End {
                        span: before..after,
                        depth,
                    });
                }
                Event::Text(t) => {
                    let content = t.xml10_content();
                    if self.depth == 0 {
                        if !content.trim().is_empty() {
                            return Err(Rejection::parse(if self.root_closed {
                                "the SOAP message has content after the Envelope"
                            } else {
                                "the SOAP message has text outside the Envelope"
                            }));
                        }
                        continue;
                    }
                    return Ok(Item::Text(content));
                }
                Event::CData(c) => {
                    if self.depth == 0 {
                        return Err(Rejection::parse(
                            "the SOAP message has text outside the Envelope",
                        ));
                    }
                    return Ok(Item::Text(Cow::Owned(c.xml10_content().into_owned())));
                }
                Event::GeneralRef(r) => {
                    let ch = reference(&r)?;
                    return Ok(Item::Text(Cow::Owned(ch.to_string())));
                }
                Event::DocType(_) => {
                    return Err(Rejection::forbidden(
                        "a DOCTYPE is not allowed in a SOAP message",
                    ))
                }
                Event::PI(_) => {
                    return Err(Rejection::forbidden(
                        "processing instructions are not allowed in a SOAP message",
                    ))
                }
                Event::Decl(decl) => {
                    if let Some(Ok(enc)) = decl.encoding() {
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(Rejection::parse("the SOAP message must be UTF-8"));
                        }
                    }
                }
                Event::Comment(_) if self.root_closed => {
                    return Err(Rejection::structure(
                        "the SOAP message has content after the Envelope",
                    ))
                }
                Event::Comment(_) if self.depth > 0 => return Ok(Item::Comment),
                Event::Comment(_) => {}
                Event::Eof => {
                    if !self.root_seen {
                        return Err(Rejection::parse("the SOAP message has no Envelope"));
                    }
                    if !self.root_closed {
                        return Err(Rejection::parse("the SOAP message is truncated"));
                    }
                    return Ok(Item::Eof);
                }
            }
        }
    }

    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position())
            .unwrap_or(usize::MAX)
            .saturating_add(self.base)
    }

    fn start(
        &mut self,
        start: BytesStart<'i>,
        namespace: Option<String>,
        span: Range<usize>,
        empty: bool,
    ) -> Result<Item<'i>, Rejection> {
        if self.depth == 0 && self.root_seen {
            return Err(Rejection::structure(
                "the SOAP message has content after the Envelope",
            ));
        }
        self.root_seen = true;
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(Rejection::limit(format!(
                "the SOAP message has more than {} elements",
                self.limits.max_elements
            )));
        }
        let depth = self.depth + 1;
        if depth > self.limits.max_depth {
            return Err(Rejection::limit(format!(
                "the SOAP message is nested deeper than {} elements",
                self.limits.max_depth
            )));
        }
        let mut count = 0usize;
        for attr in start.attributes() {
            let attr =
                attr.map_err(|_| Rejection::parse("the SOAP message has a malformed attribute"))?;
            count += 1;
            if count > self.limits.max_attributes_per_element {
                return Err(Rejection::limit(format!(
                    "an element has more than {} attributes",
                    self.limits.max_attributes_per_element
                )));
            }
            check_references_in_attribute(&attr.value)?;
        }
        if namespace
            .as_deref()
            .is_some_and(|n| crate::ns::XINCLUDE_ALL.contains(&n))
        {
            return Err(Rejection::forbidden("XInclude is not allowed"));
        }
        let local = start.local_name().as_ref().to_string();
        if empty {
            if depth == 1 {
                self.root_closed = true;
            }
        } else {
            self.depth = depth;
        }
        Ok(Item::Start(Element {
            namespace,
            local,
            span,
            empty,
            depth,
            start,
        }))
    }
}

/// Collects the text of a simple element whose start was just read, refusing child elements and
/// comments (which could split the value) and values over the limit. Returns the text and the end tag's span.
pub(crate) fn simple_text(
    cursor: &mut Cursor<'_>,
    what: &str,
    limits: &SoapLimits,
) -> Result<(String, Range<usize>), Rejection> {
    let mut value = String::new();
    loop {
        match cursor.next()? {
            Item::Text(t) => {
                value.push_str(&t);
                if value.chars().count() > limits.max_value_chars {
                    return Err(Rejection::limit(format!(
                        "{what} is longer than {} characters",
                        limits.max_value_chars
                    )));
                }
            }
            Item::End { span, .. } => return Ok((value, span)),
            Item::Start(_) => {
                return Err(Rejection::structure(format!(
                    "{what} must hold text, not elements"
                )))
            }
            Item::Comment => {
                return Err(Rejection::structure(format!(
                    "{what} must not contain comments"
                )))
            }
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        }
    }
}

/// Reads past the element whose start was just read (at `depth`), returning its end tag's span.
pub(crate) fn skip_element(
    cursor: &mut Cursor<'_>,
    depth: usize,
) -> Result<Range<usize>, Rejection> {
    loop {
        match cursor.next()? {
            Item::End { span, depth: d } if d == depth => return Ok(span),
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
            _ => {}
        }
    }
}

fn kind(e: &quick_xml::Error) -> &'static str {
    match e {
        quick_xml::Error::Syntax(_) => "syntax error",
        quick_xml::Error::IllFormed(_) => "ill-formed",
        quick_xml::Error::Encoding(_) => "bad encoding",
        quick_xml::Error::Escape(_) => "bad escape",
        quick_xml::Error::Namespace(_) => "namespace error",
        _ => "parse error",
    }
}

fn reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, Rejection> {
    if let Some(ch) = r
        .resolve_char_ref()
        .map_err(|_| Rejection::parse("the SOAP message has an invalid character reference"))?
    {
        return Ok(ch);
    }
    match r.as_ref() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(Rejection::forbidden(
            "the SOAP message refers to an entity (only the predefined ones are allowed)",
        )),
    }
}

fn check_references_in_attribute(raw: &str) -> Result<(), Rejection> {
    let mut rest = raw;
    while let Some((_, after)) = rest.split_once('&') {
        let Some((name, tail)) = after.split_once(';') else {
            return Err(Rejection::parse(
                "the SOAP message has an unterminated reference in an attribute",
            ));
        };
        let ok = matches!(name, "lt" | "gt" | "amp" | "quot" | "apos")
            || name
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || name
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(Rejection::forbidden(
                "the SOAP message refers to an entity (only the predefined ones are allowed)",
            ));
        }
        rest = tail;
    }
    Ok(())
}

/// XML escaping for text and attribute values, dropping characters XML 1.0 cannot carry.
pub fn escape(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r')
                || ('\u{20}'..='\u{D7FF}').contains(&c)
                || ('\u{E000}'..='\u{FFFD}').contains(&c)
                || c >= '\u{10000}'
        })
        .collect();
    let mut out = String::with_capacity(clean.len());
    crate::saml::fragment::escape_into(&clean, &mut out);
    out
}
