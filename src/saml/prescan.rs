//! The first look at untrusted SAML bytes, before any DOM is built: limits, forbidden constructs, and the
//! document's shape. Everything rejected here never reaches libxml2 or xmlsec.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::error::Rejection;
use crate::ns;

/// Size and complexity limits for SAML input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
    pub max_attributes_per_element: usize,
    /// `saml:Attribute` elements in the document.
    pub max_saml_attributes: usize,
    /// Characters of text directly inside one `saml:NameID` or `saml:AttributeValue`.
    pub max_value_chars: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_depth: 64,
            max_elements: 4096,
            max_attributes_per_element: 64,
            max_saml_attributes: 128,
            max_value_chars: 1024,
        }
    }
}

/// Text is counted inside these SAML elements: they are where claim values come from.
fn holds_a_value(element: Option<&(Option<String>, String)>) -> bool {
    element.is_some_and(|(n, l)| {
        n.as_deref() == Some(ns::SAML) && (l == "AttributeValue" || l == "NameID")
    })
}

fn in_signature(path: &[(Option<String>, String)]) -> bool {
    path.iter()
        .any(|(n, l)| n.as_deref() == Some(ns::DSIG) && l == "Signature")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Assertion,
    Response,
}

/// The document's shape, read from unverified bytes: used only to choose the trust anchor and to reject,
/// never as a source of claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub root: Root,
    /// The Issuer of the (single) Assertion, to pick the issuer's certificate.
    pub assertion_issuer: Option<String>,
    pub response_issuer: Option<String>,
    /// Top-level StatusCode Value of a Response.
    pub response_status: Option<String>,
}

fn element_ns(resolved: &ResolveResult<'_>) -> Option<String> {
    match resolved {
        ResolveResult::Bound(ns) => Some(ns.as_ref().to_string()),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(_) => Some(String::from("\u{0}unknown-prefix")),
    }
}

/// The limits that bound what building a tree costs (size, depth, elements, attributes per element) alone, over a document that may hold what [`scan`] refuses (comments,
/// several assertions): the inspector runs them before it builds any tree. Malformed XML stops the count
/// (the tree then reports it).
pub fn check_limits(xml: &[u8], limits: &XmlLimits) -> Result<(), Rejection> {
    if xml.len() > limits.max_bytes {
        return Err(Rejection::limit(format!(
            "SAML input is larger than {} bytes",
            limits.max_bytes
        )));
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let (mut depth, mut elements) = (0usize, 0usize);
    let over = limits.max_attributes_per_element.saturating_add(1);
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(_) => return Ok(()),
        };
        match &event {
            Event::Start(s) | Event::Empty(s) => {
                elements += 1;
                let here = depth + 1;
                if matches!(event, Event::Start(_)) {
                    depth = here;
                }
                if here > limits.max_depth {
                    return Err(Rejection::limit(format!(
                        "SAML input is nested deeper than {} elements",
                        limits.max_depth
                    )));
                }
                if elements > limits.max_elements {
                    return Err(Rejection::limit(format!(
                        "SAML input has more than {} elements",
                        limits.max_elements
                    )));
                }
                if s.attributes().with_checks(false).take(over).count() == over {
                    return Err(Rejection::limit(format!(
                        "an element has more than {} attributes",
                        limits.max_attributes_per_element
                    )));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The size check, UTF-8 check and byte-order-mark removal every reading of SAML input starts with.
pub fn text_of<'x>(xml: &'x [u8], limits: &XmlLimits) -> Result<&'x str, Rejection> {
    if xml.len() > limits.max_bytes {
        return Err(Rejection::limit(format!(
            "SAML input is larger than {} bytes",
            limits.max_bytes
        )));
    }
    let text = std::str::from_utf8(xml).map_err(|_| Rejection::parse("SAML input is not UTF-8"))?;
    Ok(text.strip_prefix('\u{FEFF}').unwrap_or(text))
}

/// The reader every reading of SAML input uses, so that all of them see the same events.
pub fn reader_of(text: &str) -> NsReader<&[u8]> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader
}

/// A reader error, in the checklist's class.
pub fn read_error(e: &quick_xml::Error) -> Rejection {
    Rejection::parse(format!("SAML input is not well-formed XML ({})", kind(e)))
}

/// Scans the whole document once. Errors use the checklist's classes.
pub fn scan(xml: &[u8], limits: &XmlLimits) -> Result<Shape, Rejection> {
    let text = text_of(xml, limits)?;
    let mut reader = reader_of(text);
    let mut scanner = Scanner::new(limits);
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| read_error(&e))?;
        if matches!(event, Event::Eof) {
            break;
        }
        scanner.event(&resolved, &event)?;
    }
    scanner.finish()
}

/// The pre-scan as a state machine over reader events, so that a reader that does more with the same events
/// (the streaming verifier) applies exactly these rules. Feed every event but `Eof`, then call `finish`.
pub struct Scanner<'l> {
    limits: &'l XmlLimits,
    depth: usize,
    elements: usize,
    root: Option<Root>,
    root_closed: bool,
    assertions: usize,
    saml_attributes: usize,
    /// Characters of text so far in the innermost NameID/AttributeValue.
    value_chars: usize,
    /// Path of (namespace, local name) from the root, to know where Issuer and StatusCode sit.
    path: Vec<(Option<String>, String)>,
    shape_issuer: Option<String>,
    response_issuer: Option<String>,
    response_status: Option<String>,
    capture: Option<(bool, String)>,
}

impl<'l> Scanner<'l> {
    pub fn new(limits: &'l XmlLimits) -> Self {
        Scanner {
            limits,
            depth: 0,
            elements: 0,
            root: None,
            root_closed: false,
            assertions: 0,
            saml_attributes: 0,
            value_chars: 0,
            path: Vec::new(),
            shape_issuer: None,
            response_issuer: None,
            response_status: None,
            capture: None,
        }
    }

    /// True once the root element has been closed.
    pub fn root_closed(&self) -> bool {
        self.root_closed
    }

    pub fn event(
        &mut self,
        resolved: &ResolveResult<'_>,
        event: &Event<'_>,
    ) -> Result<(), Rejection> {
        let limits = self.limits;
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if self.root_closed {
                    return Err(Rejection::structure(
                        "SAML input has more than one root element",
                    ));
                }
                self.elements += 1;
                self.depth += 1;
                if self.depth > limits.max_depth {
                    return Err(Rejection::limit(format!(
                        "SAML input is nested deeper than {} elements",
                        limits.max_depth
                    )));
                }
                if self.elements > limits.max_elements {
                    return Err(Rejection::limit(format!(
                        "SAML input has more than {} elements",
                        limits.max_elements
                    )));
                }
                // Counting stops one past the limit: an element with 20,000 attributes costs no more.
                let over = limits.max_attributes_per_element.saturating_add(1);
                if start.attributes().with_checks(false).take(over).count() == over {
                    return Err(Rejection::limit(format!(
                        "an element has more than {} attributes",
                        limits.max_attributes_per_element
                    )));
                }
                for attr in start.attributes() {
                    let attr =
                        attr.map_err(|_| Rejection::parse("SAML input has a malformed attribute"))?;
                    if attr.value.contains('&') {
                        check_references_in_attribute(&attr.value)?;
                    }
                }
                let namespace = element_ns(resolved);
                let local = start.local_name().as_ref().to_string();
                if namespace
                    .as_deref()
                    .is_some_and(|n| ns::XINCLUDE_ALL.contains(&n))
                {
                    return Err(Rejection::forbidden("XInclude is not allowed"));
                }
                if namespace.as_deref().is_some_and(|n| n.starts_with('\u{0}')) {
                    return Err(Rejection::parse(
                        "SAML input uses an undeclared namespace prefix",
                    ));
                }
                if let Some(n) = &namespace {
                    if n.chars()
                        .any(|c| c.is_control() || (c as u32) >= 0x80 && (c as u32) < 0xA0)
                    {
                        return Err(Rejection::parse(
                            "SAML input declares an invalid namespace URI",
                        ));
                    }
                }
                let is_saml = namespace.as_deref() == Some(ns::SAML);
                if is_saml && local == "Attribute" {
                    self.saml_attributes += 1;
                    if self.saml_attributes > limits.max_saml_attributes {
                        return Err(Rejection::limit(format!(
                            "SAML input has more than {} attributes (saml:Attribute)",
                            limits.max_saml_attributes
                        )));
                    }
                }
                if local == "Assertion" && !is_saml {
                    return Err(Rejection::structure(
                        "an element named Assertion is not in the SAML 2.0 assertion namespace",
                    ));
                }
                if is_saml && local == "EncryptedAssertion" {
                    return Err(Rejection::structure(
                        "encrypted assertions are not supported",
                    ));
                }
                if is_saml && local == "Assertion" {
                    self.assertions += 1;
                    if self.assertions > 1 {
                        return Err(Rejection::structure(
                            "the document holds more than one Assertion",
                        ));
                    }
                }
                if self.path.is_empty() {
                    self.root =
                        Some(match (namespace.as_deref(), local.as_str()) {
                            (Some(ns::SAML), "Assertion") => Root::Assertion,
                            (Some(ns::SAMLP), "Response") => Root::Response,
                            _ => return Err(Rejection::structure(
                                "the root element must be a SAML 2.0 Assertion or a samlp:Response",
                            )),
                        });
                }
                // Issuer directly under the Assertion (self.root or Response child), or under the Response.
                let parent = self.path.last().map(|(n, l)| (n.as_deref(), l.as_str()));
                if is_saml && local == "Issuer" {
                    match parent {
                        Some((Some(ns::SAML), "Assertion")) if is_start => {
                            self.capture = Some((true, String::new()))
                        }
                        Some((Some(ns::SAMLP), "Response")) if self.path.len() == 1 && is_start => {
                            self.capture = Some((false, String::new()))
                        }
                        _ => {}
                    }
                }
                if namespace.as_deref() == Some(ns::SAMLP)
                    && local == "StatusCode"
                    && self.path.len() == 2
                    && self
                        .path
                        .get(1)
                        .is_some_and(|(n, l)| n.as_deref() == Some(ns::SAMLP) && l == "Status")
                {
                    let value = start
                        .try_get_attribute("Value")
                        .ok()
                        .flatten()
                        .map(|a| a.value.to_string());
                    self.response_status = value;
                }
                if is_start {
                    self.path.push((namespace, local));
                    if holds_a_value(self.path.last()) {
                        self.value_chars = 0;
                    }
                } else {
                    self.depth -= 1;
                    if self.path.is_empty() {
                        self.root_closed = true;
                    }
                }
            }
            Event::End(_) => {
                if let Some((for_assertion, text)) = self.capture.take() {
                    let text = text.trim().to_string();
                    if for_assertion {
                        self.shape_issuer.get_or_insert(text);
                    } else {
                        self.response_issuer.get_or_insert(text);
                    }
                }
                self.depth = self.depth.saturating_sub(1);
                self.path.pop();
                if self.path.is_empty() {
                    self.root_closed = true;
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if self.path.is_empty() && !content.trim().is_empty() {
                    return Err(Rejection::parse(
                        "SAML input has text outside the root element",
                    ));
                }
                count_value(
                    &self.path,
                    &mut self.value_chars,
                    content.chars().count(),
                    limits,
                )?;
                if let Some((_, buf)) = self.capture.as_mut() {
                    buf.push_str(&content);
                }
            }
            Event::CData(c) => {
                if self.path.is_empty() {
                    return Err(Rejection::parse(
                        "SAML input has text outside the root element",
                    ));
                }
                count_value(
                    &self.path,
                    &mut self.value_chars,
                    c.xml10_content().chars().count(),
                    limits,
                )?;
                if let Some((_, buf)) = self.capture.as_mut() {
                    buf.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let ch = predefined_or_char(r)?;
                count_value(&self.path, &mut self.value_chars, 1, limits)?;
                if let Some((_, buf)) = self.capture.as_mut() {
                    buf.push(ch);
                }
            }
            Event::DocType(_) => {
                return Err(Rejection::forbidden(
                    "a DOCTYPE is not allowed in SAML input",
                ))
            }
            // Inside the Signature it is the signature that is malformed (a comment in DigestValue is
            // CVE-2025-29775's truncation), which is how the signature module classes it too.
            Event::Comment(_) if in_signature(&self.path) => {
                return Err(Rejection::sig(
                    "comments are not allowed inside ds:Signature",
                ))
            }
            Event::Comment(_) if !self.path.is_empty() => return Err(Rejection::structure(
                "comments are not allowed inside the SAML document (they can split signed text)",
            )),
            Event::PI(_) if !self.path.is_empty() || !self.root_closed && self.root.is_none() => {
                return Err(Rejection::structure(
                    "processing instructions are not allowed in SAML input",
                ))
            }
            Event::Decl(decl) => {
                if let Some(Ok(enc)) = decl.encoding() {
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return Err(Rejection::parse("SAML input must be UTF-8"));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) | Event::Eof => {}
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Shape, Rejection> {
        let Some(root) = self.root else {
            return Err(Rejection::parse("SAML input has no root element"));
        };
        if !self.root_closed {
            return Err(Rejection::parse("SAML input is truncated"));
        }
        if self.assertions == 0 {
            return Err(Rejection::structure("the Response holds no Assertion"));
        }
        Ok(Shape {
            root,
            assertion_issuer: self.shape_issuer,
            response_issuer: self.response_issuer,
            response_status: self.response_status,
        })
    }
}

/// Adds `chars` to the running length of the current value when the innermost element holds one.
fn count_value(
    path: &[(Option<String>, String)],
    value_chars: &mut usize,
    chars: usize,
    limits: &XmlLimits,
) -> Result<(), Rejection> {
    if !holds_a_value(path.last()) {
        return Ok(());
    }
    *value_chars += chars;
    if *value_chars > limits.max_value_chars {
        return Err(Rejection::limit(format!(
            "a NameID or AttributeValue is longer than {} characters",
            limits.max_value_chars
        )));
    }
    Ok(())
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

pub(super) fn predefined_or_char(r: &quick_xml::events::BytesRef<'_>) -> Result<char, Rejection> {
    if let Some(ch) = r
        .resolve_char_ref()
        .map_err(|_| Rejection::parse("SAML input has an invalid character reference"))?
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
        _ => Err(Rejection::forbidden(
            "SAML input refers to an entity (only the predefined ones are allowed)",
        )),
    }
}

fn check_references_in_attribute(raw: &str) -> Result<(), Rejection> {
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        let after = &rest[start + 1..];
        let Some(end) = after.find(';') else {
            return Err(Rejection::parse(
                "SAML input has an unterminated reference in an attribute",
            ));
        };
        let name = &after[..end];
        let ok = matches!(name, "lt" | "gt" | "amp" | "quot" | "apos")
            || name
                .strip_prefix("#x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || name
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(Rejection::forbidden(
                "SAML input refers to an entity (only the predefined ones are allowed)",
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}
