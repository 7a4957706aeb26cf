//! The strict SOAP 1.2 envelope scanner. It checks the message's shape (exactly one Envelope, at most one
//! Header before exactly one Body, nothing after the Envelope) and records the byte ranges a rewrite needs:
//! each header block, the Header's and Body's tags, the Body's child elements. Header blocks other than the
//! WS-Addressing Action and MessageID are not read, and the Body is not read at all: the route that needs a
//! body field reads it (see `soap::xca`, `soap::wstrust`).
//!
//! SOAP 1.1 is refused (REQUEST): IHE XCA/XDS.b and XUA require SOAP 1.2, and a 1.1 envelope differs in
//! fault format and mustUnderstand values the gateway would have to translate.

use std::ops::Range;

use super::xml::{self, Cursor, Element, Item, SoapLimits};
use crate::error::Rejection;
use crate::ns;

/// What a header block is, by namespace and local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `wsse:Security` (WS-Security 1.0 namespace).
    Security,
    Action,
    MessageId,
    To,
    ReplyTo,
    FaultTo,
    From,
    RelatesTo,
    /// Any other block (vendor context headers, WS-Addressing reference parameters...): passed on as is.
    Other,
}

impl BlockKind {
    fn of(namespace: &str, local: &str) -> Self {
        match (namespace, local) {
            (ns::WSSE, "Security") => BlockKind::Security,
            (ns::WSA, "Action") => BlockKind::Action,
            (ns::WSA, "MessageID") => BlockKind::MessageId,
            (ns::WSA, "To") => BlockKind::To,
            (ns::WSA, "ReplyTo") => BlockKind::ReplyTo,
            (ns::WSA, "FaultTo") => BlockKind::FaultTo,
            (ns::WSA, "From") => BlockKind::From,
            (ns::WSA, "RelatesTo") => BlockKind::RelatesTo,
            _ => BlockKind::Other,
        }
    }

    /// WS-Addressing 1.0 allows at most one of each of these per message.
    fn unique(self) -> bool {
        !matches!(
            self,
            BlockKind::Other | BlockKind::RelatesTo | BlockKind::Security
        )
    }
}

/// One child element of the Header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock {
    pub namespace: String,
    pub local: String,
    pub kind: BlockKind,
    /// The whole element, start tag to end tag.
    pub range: Range<usize>,
    /// `env:mustUnderstand` is "true" or "1".
    pub must_understand: bool,
    /// `env:role`, when given.
    pub role: Option<String>,
}

/// An element's tags: `end_tag` is None for a self-closing element (`start_tag` is then the whole element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementSpan {
    pub start_tag: Range<usize>,
    pub end_tag: Option<Range<usize>>,
}

impl ElementSpan {
    pub fn whole(&self) -> Range<usize> {
        match &self.end_tag {
            Some(end) => self.start_tag.start..end.end,
            None => self.start_tag.clone(),
        }
    }

    /// The bytes between the tags (empty at the start tag's end for a self-closing element).
    pub fn content(&self) -> Range<usize> {
        match &self.end_tag {
            Some(end) => self.start_tag.end..end.start,
            None => self.start_tag.end..self.start_tag.end,
        }
    }
}

/// A child element of the Body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyChild {
    pub namespace: Option<String>,
    pub local: String,
    pub range: Range<usize>,
}

/// A scanned SOAP 1.2 envelope: positions into the bytes it was scanned from, which it keeps.
#[derive(Clone)]
pub struct Envelope<'a> {
    input: &'a [u8],
    pub limits: SoapLimits,
    /// The Envelope element's prefix as the client wrote it (None: default namespace).
    pub prefix: Option<String>,
    pub envelope: ElementSpan,
    pub header: Option<ElementSpan>,
    /// A prefix bound to the SOAP 1.2 namespace where header blocks sit (None when only the default
    /// namespace is, or when the Header is absent and the Envelope uses the default namespace).
    pub header_soap_prefix: Option<String>,
    /// A (non-empty) default namespace is in scope where header blocks sit.
    pub header_default_namespace: bool,
    pub blocks: Vec<HeaderBlock>,
    pub body: ElementSpan,
    pub body_children: Vec<BodyChild>,
    /// The WS-Addressing Action, trimmed (senders pad it with newlines).
    pub action: Option<String>,
    pub message_id: Option<String>,
}

/// Debug leaves the message's bytes out: the Body names patients.
impl std::fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("bytes", &self.input.len())
            .field("prefix", &self.prefix)
            .field("header", &self.header)
            .field("blocks", &self.blocks)
            .field("body", &self.body)
            .field("body_children", &self.body_children)
            .field("action", &self.action)
            .field("message_id", &self.message_id)
            .finish()
    }
}

impl<'a> Envelope<'a> {
    pub fn as_bytes(&self) -> &'a [u8] {
        self.input
    }

    /// The input as text (it was checked to be UTF-8), BOM included when there was one.
    pub fn as_str(&self) -> &'a str {
        std::str::from_utf8(self.input).unwrap_or_default()
    }

    pub fn slice(&self, range: &Range<usize>) -> &'a [u8] {
        self.input.get(range.clone()).unwrap_or_default()
    }

    pub fn blocks_of(&self, kind: BlockKind) -> impl Iterator<Item = &HeaderBlock> {
        self.blocks.iter().filter(move |b| b.kind == kind)
    }

    /// The Body's single child element; a Body that is empty or holds several is refused.
    pub fn body_child(&self) -> Result<&BodyChild, Rejection> {
        match self.body_children.as_slice() {
            [one] => Ok(one),
            [] => Err(Rejection::structure("the SOAP Body is empty")),
            _ => Err(Rejection::structure(
                "the SOAP Body holds more than one element",
            )),
        }
    }
}

/// Scans `input` (UTF-8, limits from `limits`) as a SOAP 1.2 envelope.
pub fn scan<'a>(input: &'a [u8], limits: &SoapLimits) -> Result<Envelope<'a>, Rejection> {
    let (text, base) = xml::text_of(input, limits)?;
    let mut cursor = Cursor::new(text, base, limits);
    let root = match cursor.next()? {
        Item::Start(e) => e,
        _ => return Err(Rejection::parse("the SOAP message has no Envelope")),
    };
    check_root(&root)?;
    let prefix = root.start.name().prefix().map(|p| p.as_ref().to_string());
    let envelope_start = root.span.clone();
    if root.empty {
        return Err(Rejection::structure("the SOAP Envelope has no Body"));
    }
    let envelope_prefix_binding = soap_prefix(&cursor.bindings(), prefix.as_deref());
    let mut header_default_namespace = has_default(&cursor.bindings());

    let mut header: Option<ElementSpan> = None;
    let mut header_soap_prefix = envelope_prefix_binding;
    let mut blocks = Vec::new();
    let mut body: Option<ElementSpan> = None;
    let mut body_children = Vec::new();
    let mut action = None;
    let mut message_id = None;
    let envelope_end;
    loop {
        match cursor.next()? {
            Item::Start(e) if e.is(ns::SOAP12, "Header") => {
                if header.is_some() {
                    return Err(Rejection::structure(
                        "the SOAP Envelope has more than one Header",
                    ));
                }
                if body.is_some() {
                    return Err(Rejection::structure(
                        "the SOAP Header must come before the Body",
                    ));
                }
                header_soap_prefix = soap_prefix(&cursor.bindings(), prefix.as_deref());
                header_default_namespace = has_default(&cursor.bindings());
                let start_tag = e.span.clone();
                let end_tag = if e.empty {
                    None
                } else {
                    Some(read_header(
                        &mut cursor,
                        limits,
                        &mut blocks,
                        &mut action,
                        &mut message_id,
                    )?)
                };
                header = Some(ElementSpan { start_tag, end_tag });
            }
            Item::Start(e) if e.is(ns::SOAP12, "Body") => {
                if body.is_some() {
                    return Err(Rejection::structure(
                        "the SOAP Envelope has more than one Body",
                    ));
                }
                let start_tag = e.span.clone();
                let end_tag = if e.empty {
                    None
                } else {
                    Some(read_body(&mut cursor, &mut body_children)?)
                };
                body = Some(ElementSpan { start_tag, end_tag });
            }
            Item::Start(_) => {
                return Err(Rejection::structure(if body.is_some() {
                    "the SOAP Envelope has an element after the Body"
                } else {
                    "the SOAP Envelope holds an element other than Header and Body"
                }))
            }
            Item::Text(t) if !t.trim().is_empty() => {
                return Err(Rejection::structure("the SOAP Envelope holds text"))
            }
            Item::Text(_) | Item::Comment => {}
            Item::End { span, .. } => {
                envelope_end = span;
                break;
            }
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        }
    }
    // Only whitespace and comments may follow; the cursor refuses anything else.
    loop {
        if let Item::Eof = cursor.next()? {
            break;
        }
    }
    let body = body.ok_or_else(|| Rejection::structure("the SOAP Envelope has no Body"))?;
    Ok(Envelope {
        input,
        limits: *limits,
        prefix,
        envelope: ElementSpan {
            start_tag: envelope_start,
            end_tag: Some(envelope_end),
        },
        header,
        header_soap_prefix,
        header_default_namespace,
        blocks,
        body,
        body_children,
        action,
        message_id,
    })
}

fn check_root(root: &Element<'_>) -> Result<(), Rejection> {
    match (root.namespace.as_deref(), root.local.as_str()) {
        (Some(ns::SOAP12), "Envelope") => Ok(()),
        (Some(ns::SOAP11), "Envelope") => Err(Rejection::request(
            "the message is a SOAP 1.1 envelope; only SOAP 1.2 is supported",
        )),
        (_, "Envelope") => Err(Rejection::structure(
            "the Envelope is not in the SOAP 1.2 namespace",
        )),
        _ => Err(Rejection::structure(
            "the message's root element is not a SOAP Envelope",
        )),
    }
}

/// A prefix bound to SOAP 1.2 in `bindings`, preferring `preferred`.
fn soap_prefix(bindings: &[(Option<String>, String)], preferred: Option<&str>) -> Option<String> {
    let bound = |p: &str| {
        bindings
            .iter()
            .any(|(q, uri)| q.as_deref() == Some(p) && uri == ns::SOAP12)
    };
    if let Some(p) = preferred.filter(|p| bound(p)) {
        return Some(p.to_string());
    }
    bindings
        .iter()
        .find(|(q, uri)| q.is_some() && uri == ns::SOAP12)
        .and_then(|(q, _)| q.clone())
}

fn has_default(bindings: &[(Option<String>, String)]) -> bool {
    bindings
        .iter()
        .any(|(p, uri)| p.is_none() && !uri.is_empty())
}

/// Reads the Header's children up to its end tag, whose span it returns.
fn read_header(
    cursor: &mut Cursor<'_>,
    limits: &SoapLimits,
    blocks: &mut Vec<HeaderBlock>,
    action: &mut Option<String>,
    message_id: &mut Option<String>,
) -> Result<Range<usize>, Rejection> {
    loop {
        let e = match cursor.next()? {
            Item::Start(e) => e,
            Item::End { span, .. } => return Ok(span),
            Item::Text(t) if !t.trim().is_empty() => {
                return Err(Rejection::structure("the SOAP Header holds text"))
            }
            Item::Text(_) | Item::Comment => continue,
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        };
        let Some(namespace) = e.namespace.clone() else {
            return Err(Rejection::structure(
                "a SOAP header block is not namespace-qualified",
            ));
        };
        let kind = BlockKind::of(&namespace, &e.local);
        if kind.unique() && blocks.iter().any(|b: &HeaderBlock| b.kind == kind) {
            return Err(Rejection::structure(format!(
                "the SOAP Header has more than one WS-Addressing {}",
                e.local
            )));
        }
        let must_understand = match cursor.ns_attr(&e, ns::SOAP12, "mustUnderstand")?.as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(_) => {
                return Err(Rejection::parse(
                    "a SOAP mustUnderstand attribute is not a boolean",
                ))
            }
        };
        let role = cursor.ns_attr(&e, ns::SOAP12, "role")?;
        let end = if e.empty {
            if matches!(kind, BlockKind::Action | BlockKind::MessageId) {
                return Err(Rejection::structure(format!(
                    "the WS-Addressing {} is empty",
                    e.local
                )));
            }
            e.span.end
        } else if matches!(kind, BlockKind::Action | BlockKind::MessageId) {
            let what = if kind == BlockKind::Action {
                "the WS-Addressing Action"
            } else {
                "the WS-Addressing MessageID"
            };
            let (value, end) = xml::simple_text(cursor, what, limits)?;
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(Rejection::structure(format!("{what} is empty")));
            }
            if kind == BlockKind::Action {
                *action = Some(value);
            } else {
                *message_id = Some(value);
            }
            end.end
        } else {
            xml::skip_element(cursor, e.depth)?.end
        };
        blocks.push(HeaderBlock {
            namespace,
            local: e.local.clone(),
            kind,
            range: e.span.start..end,
            must_understand,
            role,
        });
    }
}

/// Records the Body's child elements without reading them; returns the Body end tag's span.
fn read_body(
    cursor: &mut Cursor<'_>,
    children: &mut Vec<BodyChild>,
) -> Result<Range<usize>, Rejection> {
    loop {
        match cursor.next()? {
            Item::Start(e) => {
                let end = if e.empty {
                    e.span.end
                } else {
                    xml::skip_element(cursor, e.depth)?.end
                };
                children.push(BodyChild {
                    namespace: e.namespace.clone(),
                    local: e.local.clone(),
                    range: e.span.start..end,
                });
            }
            Item::End { span, .. } => return Ok(span),
            Item::Text(t) if !t.trim().is_empty() => {
                return Err(Rejection::structure("the SOAP Body holds text"))
            }
            Item::Text(_) | Item::Comment => {}
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
        }
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
