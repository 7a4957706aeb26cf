//! Builds the message the XCA proxy forwards: the client's envelope with every `wsse:Security` block it sent
//! removed and one of ours put in (a `wsu:Timestamp` and the gateway's signed assertion). Every other byte
//! (the XML declaration, the Envelope and Header tags with their prefixes, WS-Addressing blocks, the Body)
//! is copied as sent.
//!
//! The assertion is inserted as the signer produced it. Its exclusive-c14n signature stays valid in the new
//! context because exc-c14n renders only namespaces the assertion uses, and the signer declares those, plus
//! its InclusiveNamespaces prefixes, on the assertion itself. The one ancestor binding that could still change
//! the assertion's meaning is a default namespace (an unprefixed element would move into it), so the inserted
//! Security element undeclares the default namespace when one is in scope.

use std::ops::Range;

use time::OffsetDateTime;

use super::envelope::{BlockKind, Envelope};
use crate::error::Rejection;
use crate::ns;

/// The WS-Security Timestamp's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// xsd:dateTime in UTC to the second, as WS-Security's Basic Security Profile asks.
pub fn timestamp(t: OffsetDateTime) -> Result<String, Rejection> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt)
        .map_err(|_| Rejection::internal("cannot format a timestamp"))
}

/// The `wsse:Security` block the gateway sends.
fn security_block(
    env: &Envelope<'_>,
    assertion: &str,
    window: &Window,
) -> Result<String, Rejection> {
    let created = timestamp(window.created)?;
    let expires = timestamp(window.expires)?;
    let (soap_decl, soap_prefix) = match &env.header_soap_prefix {
        Some(p) => (String::new(), p.clone()),
        None => (
            format!(r#" xmlns:soapenv="{}""#, ns::SOAP12),
            "soapenv".to_string(),
        ),
    };
    let undeclare_default = if env.header_default_namespace {
        r#" xmlns="""#
    } else {
        ""
    };
    Ok(format!(
        concat!(
            r#"<wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}"{undeclare}{soap_decl} {p}:mustUnderstand="true">"#,
            r#"<wsu:Timestamp wsu:Id="TS-{id}"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>"#,
            "{assertion}</wsse:Security>"
        ),
        wsse = ns::WSSE,
        wsu = ns::WSU,
        undeclare = undeclare_default,
        soap_decl = soap_decl,
        p = soap_prefix,
        id = uuid::Uuid::new_v4(),
        created = created,
        expires = expires,
        assertion = assertion,
    ))
}

/// The outgoing envelope: `assertion` is the signer's output (UTF-8, one element, no XML declaration).
pub fn inject_security(
    env: &Envelope<'_>,
    assertion: &[u8],
    window: &Window,
) -> Result<Vec<u8>, Rejection> {
    let assertion = std::str::from_utf8(assertion)
        .map_err(|_| Rejection::internal("the signed assertion is not UTF-8"))?;
    let trimmed = assertion.trim_start();
    if !trimmed.starts_with('<') || trimmed.starts_with("<?") {
        return Err(Rejection::internal(
            "the signed assertion must be one element without an XML declaration",
        ));
    }
    if window.expires <= window.created {
        return Err(Rejection::internal(
            "the security header would expire before it is created",
        ));
    }
    let security = security_block(env, assertion, window)?;

    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut placed = false;
    for block in env.blocks_of(BlockKind::Security) {
        let replacement = if placed {
            String::new()
        } else {
            placed = true;
            security.clone()
        };
        edits.push((block.range.clone(), replacement));
    }
    if !placed {
        match &env.header {
            Some(header) => match &header.end_tag {
                Some(end) => edits.push((end.start..end.start, security)),
                None => {
                    // `<env:Header/>` becomes `<env:Header>...</env:Header>`.
                    let tag = std::str::from_utf8(env.slice(&header.start_tag))
                        .map_err(|_| Rejection::internal("the Header tag is not UTF-8"))?;
                    let open = tag
                        .strip_suffix("/>")
                        .ok_or_else(|| Rejection::internal("the empty Header tag is malformed"))?;
                    let name = qname_of(open);
                    edits.push((
                        header.start_tag.clone(),
                        format!("{open}>{security}</{name}>"),
                    ));
                }
            },
            None => {
                let name = match &env.prefix {
                    Some(p) => format!("{p}:Header"),
                    None => "Header".to_string(),
                };
                let at = env.envelope.start_tag.end;
                edits.push((at..at, format!("<{name}>{security}</{name}>")));
            }
        }
    }
    Ok(apply(env.as_bytes(), edits))
}

/// The element name at the start of a start tag's text (`<p:Header a="b"` → `p:Header`).
fn qname_of(open_tag: &str) -> &str {
    let rest = open_tag.strip_prefix('<').unwrap_or(open_tag);
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or(rest)
}

/// Applies non-overlapping edits (ranges of `input` replaced by text), copying every other byte.
pub(crate) fn apply(input: &[u8], mut edits: Vec<(Range<usize>, String)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let extra: usize = edits.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(input.len() + extra);
    let mut at = 0usize;
    for (range, text) in edits {
        if range.start < at {
            continue;
        }
        out.extend_from_slice(input.get(at..range.start).unwrap_or_default());
        out.extend_from_slice(text.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(input.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
#[path = "inject_tests.rs"]
mod tests;
