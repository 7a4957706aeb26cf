//! The one reading of the bytes: quick-xml events go through the pre-scan's rules (`prescan::Scanner`, the
//! same code the libxmlsec1 path runs first) and are recorded on the tape the way libxml2 would have built
//! its tree. What libxml2 refuses but the pre-scan lets through (invalid characters, names that are not
//! names, `<` in an attribute value, `]]>` in text, ...) is remembered and reported only after the pre-scan
//! and the issuer checks, which is where the libxmlsec1 path would have found it.

use std::borrow::Cow;

use quick_xml::events::Event;

use super::builder::TapeBuilder;
use super::chars::{has_invalid_char, is_name, is_xml_char, is_xml_space};
use super::tape::Tape;
use crate::error::Rejection;
use crate::saml::prescan::{self, Scanner, Shape, XmlLimits};

/// What one reading found.
pub(super) struct Reading<'a> {
    pub(super) shape: Shape,
    pub(super) tape: Tape<'a>,
    /// The first problem libxml2 would have refused the document for (reported after the issuer checks).
    pub(super) not_well_formed: Option<Rejection>,
}

fn not_well_formed() -> Rejection {
    Rejection::parse("document is not well-formed XML")
}

fn internal() -> Rejection {
    Rejection::internal("the document reader lost its place")
}

/// Reads `text` (already size-checked, UTF-8, without byte-order mark) once.
pub(super) fn read<'a>(text: &'a str, limits: &XmlLimits) -> Result<Reading<'a>, Rejection> {
    let mut reader = prescan::reader_of(text);
    let mut scanner = Scanner::new(limits);
    let mut builder = Builder {
        text,
        tape: TapeBuilder::default(),
        failed: has_invalid_char(text),
        events: 0,
    };
    loop {
        let before = usize::try_from(reader.buffer_position()).map_err(|_| internal())?;
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| prescan::read_error(&e))?;
        if matches!(event, Event::Eof) {
            break;
        }
        scanner.event(&resolved, &event)?;
        let after = usize::try_from(reader.buffer_position()).map_err(|_| internal())?;
        if !builder.failed && builder.record(&event, before, after).is_none() {
            builder.failed = true;
        }
        builder.events += 1;
    }
    let shape = scanner.finish()?;
    Ok(Reading {
        shape,
        not_well_formed: builder.failed.then(not_well_formed),
        tape: builder.tape.tape,
    })
}

struct Builder<'a> {
    text: &'a str,
    tape: TapeBuilder<'a>,
    /// Set at the first construct libxml2 refuses; the tape is not built further.
    failed: bool,
    events: usize,
}

impl<'a> Builder<'a> {
    /// Records one event; `None` when libxml2 would refuse the document here.
    fn record(&mut self, event: &Event<'_>, before: usize, after: usize) -> Option<()> {
        let raw = self.text.get(before..after)?;
        let inside = self.tape.is_open();
        match event {
            Event::Start(_) => self.start(raw.strip_prefix('<')?.strip_suffix('>')?, false),
            Event::Empty(_) => self.start(raw.strip_prefix('<')?.strip_suffix("/>")?, true),
            Event::End(_) => self.tape.end(),
            Event::Text(_) => {
                if raw.contains("]]>") {
                    return None;
                }
                if !inside {
                    return raw.chars().all(is_xml_space).then_some(());
                }
                self.tape.text(normalize_eols(raw));
                Some(())
            }
            Event::CData(_) => {
                let content = raw.strip_prefix("<![CDATA[")?.strip_suffix("]]>")?;
                if !inside {
                    return None;
                }
                self.tape.text(normalize_eols(content));
                Some(())
            }
            Event::GeneralRef(_) => {
                if !inside {
                    return None;
                }
                let c = resolve_reference(raw.strip_prefix('&')?.strip_suffix(';')?)?;
                self.tape.text(Cow::Owned(c.to_string()));
                Some(())
            }
            Event::Comment(_) => {
                let content = raw.strip_prefix("<!--")?.strip_suffix("-->")?;
                (!content.contains("--") && !content.ends_with('-')).then_some(())
            }
            Event::PI(_) => check_pi(raw.strip_prefix("<?")?.strip_suffix("?>")?),
            Event::Decl(_) => {
                let content = raw.strip_prefix("<?")?.strip_suffix("?>")?;
                if before == 0 && self.events == 0 {
                    check_decl(content)
                } else {
                    None
                }
            }
            // The pre-scan refuses a DOCTYPE; there is no other event.
            Event::DocType(_) | Event::Eof => None,
        }
    }

    fn start(&mut self, content: &'a str, empty: bool) -> Option<()> {
        let (name, raw_attributes) = tag_parts(content)?;
        let mut attributes = Vec::with_capacity(raw_attributes.len());
        for (key, raw) in raw_attributes {
            attributes.push((key, normalize_attribute(raw)?));
        }
        self.tape.start(name, attributes, empty)
    }
}

/// Splits a tag's content (between `<` and `>` or `/>`) into its name and raw `(name, value)` attributes,
/// with libxml2's syntax: white space before every attribute, optional white space around `=`, a quoted
/// value without `<`.
fn tag_parts(content: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let name_end = content.find(is_xml_space).unwrap_or(content.len());
    let (name, mut rest) = content.split_at_checked(name_end)?;
    let mut attributes = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(is_xml_space);
        if trimmed.is_empty() {
            return Some((name, attributes));
        }
        if trimmed.len() == rest.len() {
            // An attribute not preceded by white space.
            return None;
        }
        let key_end = trimmed.find(|c: char| is_xml_space(c) || c == '=')?;
        let (key, after_key) = trimmed.split_at_checked(key_end)?;
        let after_eq = after_key
            .trim_start_matches(is_xml_space)
            .strip_prefix('=')?
            .trim_start_matches(is_xml_space);
        let quote = after_eq.chars().next().filter(|&q| q == '"' || q == '\'')?;
        let body = after_eq.get(1..)?;
        let close = body.find(quote)?;
        let (value, tail) = body.split_at_checked(close)?;
        if value.contains('<') {
            return None;
        }
        attributes.push((key, value));
        rest = tail.get(1..)?;
    }
}

/// Line ends as XML 1.0 requires them: `\r\n` and a lone `\r` become `\n`.
fn normalize_eols(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// One character or predefined entity reference (without `&` and `;`), if libxml2 accepts it.
fn resolve_reference(name: &str) -> Option<char> {
    let code = if let Some(hex) = name.strip_prefix("#x") {
        parse_digits(hex, 16)?
    } else if let Some(decimal) = name.strip_prefix('#') {
        parse_digits(decimal, 10)?
    } else {
        return match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => None,
        };
    };
    char::from_u32(code).filter(|&c| is_xml_char(c))
}

fn parse_digits(digits: &str, radix: u32) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for c in digits.chars() {
        // libxml2 stops counting at 0x110000, which is not a character: the same verdict without overflow.
        value = value
            .saturating_mul(radix)
            .saturating_add(c.to_digit(radix)?)
            .min(0x11_0000);
    }
    Some(value)
}

/// An attribute value as libxml2 stores it: references resolved, each literal white space character (after
/// line-end normalisation) a space, characters from references kept as they are.
fn normalize_attribute(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        match c {
            '&' => {
                let end = rest.find(';')?;
                out.push(resolve_reference(rest.get(1..end)?)?);
                rest = rest.get(end + 1..)?;
                continue;
            }
            '\r' => {
                out.push(' ');
                rest = rest
                    .strip_prefix("\r\n")
                    .unwrap_or_else(|| rest.get(1..).unwrap_or(""));
                continue;
            }
            '\t' | '\n' => out.push(' '),
            other => out.push(other),
        }
        rest = rest.get(c.len_utf8()..)?;
    }
    Some(Cow::Owned(out))
}

/// A processing instruction libxml2 accepts: a name that is not `xml` (in any case), then white space or
/// nothing.
fn check_pi(content: &str) -> Option<()> {
    let target_end = content.find(is_xml_space).unwrap_or(content.len());
    let target = content.get(..target_end)?;
    if !is_name(target) || target.eq_ignore_ascii_case("xml") {
        return None;
    }
    Some(())
}

/// The XML declaration as libxml2 parses it: `xml`, white space, `version` = `1.` digits, then optionally
/// `encoding` (a name) and `standalone` (yes or no), each after white space. Which encoding is allowed is the
/// pre-scan's decision.
fn check_decl(content: &str) -> Option<()> {
    let rest = content.strip_prefix("xml")?;
    let rest = skip_required_space(rest)?;
    let (version, rest) = pseudo_attribute(rest, "version")?;
    let (major, minor) = version.split_once('.')?;
    if major.len() != 1
        || !major.bytes().all(|b| b.is_ascii_digit())
        || !minor.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if version != "1.0" && major != "1" {
        return None;
    }
    // Each further part needs white space before it.
    let (mut rest, mut spaced) = match skip_required_space(rest) {
        Some(after) => (after, true),
        None => (rest, false),
    };
    if spaced && rest.starts_with("encoding") {
        let (encoding, tail) = pseudo_attribute(rest, "encoding")?;
        let mut chars = encoding.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return None;
        }
        (rest, spaced) = match skip_required_space(tail) {
            Some(after) => (after, true),
            None => (tail, false),
        };
    }
    if rest.starts_with("standalone") {
        if !spaced {
            return None;
        }
        let (value, tail) = pseudo_attribute(rest, "standalone")?;
        if value != "yes" && value != "no" {
            return None;
        }
        rest = tail;
    }
    rest.trim_start_matches(is_xml_space)
        .is_empty()
        .then_some(())
}

fn skip_required_space(s: &str) -> Option<&str> {
    let trimmed = s.trim_start_matches(is_xml_space);
    (trimmed.len() < s.len()).then_some(trimmed)
}

/// `name S? = S? ("value" | 'value')`, returning the value and what follows.
fn pseudo_attribute<'s>(s: &'s str, name: &str) -> Option<(&'s str, &'s str)> {
    let rest = s
        .strip_prefix(name)?
        .trim_start_matches(is_xml_space)
        .strip_prefix('=')?
        .trim_start_matches(is_xml_space);
    let quote = rest.chars().next().filter(|&q| q == '"' || q == '\'')?;
    let body = rest.get(1..)?;
    let close = body.find(quote)?;
    Some((body.get(..close)?, body.get(close + 1..)?))
}
