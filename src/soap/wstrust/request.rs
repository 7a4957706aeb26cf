//! Reads a WS-Trust 1.3 RequestSecurityToken (Issue). Known elements that would change what is issued
//! but that the gateway does not implement (Claims, UseKey, Renewing, a KeyType other than Bearer, ...) and
//! unknown elements are refused, never ignored; Lifetime is accepted and ignored (the gateway's policy sets
//! the lifetime, and the response states it).
//!
//! The subject token is in `wst:OnBehalfOf`, `wst14:ActAs` or the `wsse:Security` header: a
//! `saml:Assertion` or a `wsse:BinarySecurityToken` with ValueType `urn:ietf:params:oauth:token-type:jwt`.
//! When the body carries one and the header another, the body's is the subject and the header's is
//! reported as the requester's. WS-Security message signatures and Timestamps are not checked here.

use std::fmt;

use base64::Engine;

use super::cut::{carried_bindings, CutAssertion};
use crate::error::Rejection;
use crate::ns;
use crate::soap::envelope::{BlockKind, Envelope, HeaderBlock};
use crate::soap::uri;
use crate::soap::xml::{self, Cursor, Element, Item, SoapLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Saml2,
    Jwt,
}

/// The requested TokenType: what it means and the URI as the client wrote it (echoed in the response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedType {
    pub kind: TokenKind,
    pub uri: String,
}

impl RequestedType {
    fn parse(uri: &str) -> Result<Self, Rejection> {
        let kind = match uri {
            uri::TT_SAML2 | uri::TT_SAMLV20 | "urn:ietf:params:oauth:token-type:saml2" => {
                TokenKind::Saml2
            }
            uri::VT_JWT => TokenKind::Jwt,
            _ => {
                return Err(Rejection::request(
                    "the requested TokenType is not supported",
                ))
            }
        };
        Ok(Self {
            kind,
            uri: uri.to_string(),
        })
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum SubjectToken<'a> {
    Saml(CutAssertion<'a>),
    /// A compact JWS.
    Jwt(String),
}

impl fmt::Debug for SubjectToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectToken::Saml(a) => f.debug_tuple("Saml").field(a).finish(),
            SubjectToken::Jwt(j) => write!(f, "Jwt(<{} bytes>)", j.len()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    OnBehalfOf,
    ActAs,
    SecurityHeader,
}

/// A RequestSecurityToken with RequestType Issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest<'a> {
    pub token_type: Option<RequestedType>,
    /// `wsp:AppliesTo/wsa:EndpointReference/wsa:Address`: the audience asked for.
    pub applies_to: Option<String>,
    pub subject: SubjectToken<'a>,
    pub source: TokenSource,
    /// A token in the Security header when the subject came from the body.
    pub requester: Option<SubjectToken<'a>>,
    /// The RST's Context attribute, which the response must repeat.
    pub context: Option<String>,
    pub message_id: Option<String>,
}

/// The first header block that is marked mustUnderstand, is addressed to the gateway (no role, `next` or
/// `ultimateReceiver`) and is not one it processes (WS-Addressing, WS-Security). The endpoint answers it
/// with a MustUnderstand fault before anything else.
pub fn not_understood<'e>(env: &'e Envelope<'_>) -> Option<&'e HeaderBlock> {
    const NEXT: &str = "http://www.w3.org/2003/05/soap-envelope/role/next";
    const ULTIMATE: &str = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver";
    env.blocks.iter().find(|b| {
        b.must_understand
            && matches!(b.role.as_deref(), None | Some(NEXT) | Some(ULTIMATE))
            && (b.kind == BlockKind::Other && b.namespace != ns::WSA)
    })
}

/// An element's local name fit for an error message (schema names only; cut short; redacted as every echo
/// is, by `error::shown`).
fn shown(local: &str) -> String {
    let name: String = local
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(60)
        .collect();
    crate::error::shown(&name)
}

#[derive(Default)]
struct Found<'a> {
    request_type: Option<String>,
    token_type: Option<String>,
    applies_to: Option<String>,
    on_behalf_of: Option<SubjectToken<'a>>,
    act_as: Option<SubjectToken<'a>>,
    header_token: Option<SubjectToken<'a>>,
    context: Option<String>,
    seen: Vec<&'static str>,
}

impl Found<'_> {
    fn once(&mut self, what: &'static str) -> Result<(), Rejection> {
        if self.seen.contains(&what) {
            return Err(Rejection::structure(format!(
                "the RequestSecurityToken has more than one {what}"
            )));
        }
        self.seen.push(what);
        Ok(())
    }
}

/// Reads the Issue request from a scanned envelope.
pub fn read_issue<'a>(env: &Envelope<'a>) -> Result<IssueRequest<'a>, Rejection> {
    let child = env.body_child()?;
    match (child.namespace.as_deref(), child.local.as_str()) {
        (Some(ns::WST), "RequestSecurityToken") => {}
        (Some(ns::WST), "RequestSecurityTokenCollection") => {
            return Err(Rejection::request(
                "a RequestSecurityTokenCollection is not supported; send one RequestSecurityToken",
            ))
        }
        _ => {
            return Err(Rejection::request(
                "the Body is not a WS-Trust 1.3 RequestSecurityToken",
            ))
        }
    }
    if let Some(action) = env.action.as_deref() {
        if action != uri::ACTION_RST_ISSUE {
            return Err(Rejection::request(
                "the WS-Addressing Action is not the WS-Trust 1.3 Issue action",
            ));
        }
    }
    if env.blocks_of(BlockKind::Security).count() > 1 {
        return Err(Rejection::structure(
            "the message has more than one wsse:Security header",
        ));
    }
    let input = env.as_bytes();
    let (text, base) = xml::text_of(input, &env.limits)?;
    let mut cursor = Cursor::new(text, base, &env.limits);
    let mut found = Found::default();
    // depth 1 Envelope, 2 Header/Body, 3 header block / RST, 4 their children.
    let mut in_security = false;
    let mut in_rst = false;
    loop {
        match cursor.next()? {
            Item::Start(e) => match e.depth {
                3 if e.is(ns::WSSE, "Security") && !e.empty => in_security = true,
                3 if e.span.start == child.range.start => {
                    found.context = e.attr("Context")?;
                    in_rst = !e.empty;
                }
                3 if !e.empty => {
                    xml::skip_element(&mut cursor, e.depth)?;
                }
                4 if in_security => header_child(&mut cursor, input, e, &env.limits, &mut found)?,
                4 if in_rst => rst_child(&mut cursor, input, e, &env.limits, &mut found)?,
                _ => {}
            },
            Item::End { depth: 3, .. } => {
                in_security = false;
                in_rst = false;
            }
            Item::Eof => break,
            _ => {}
        }
    }
    finish(found, env.message_id.clone())
}

fn finish<'a>(found: Found<'a>, message_id: Option<String>) -> Result<IssueRequest<'a>, Rejection> {
    match found.request_type.as_deref() {
        Some(uri::WST_ISSUE) => {}
        Some(_) => {
            return Err(Rejection::request(
                "the RequestType is not Issue (only Issue is supported)",
            ))
        }
        None => {
            return Err(Rejection::request(
                "the RequestSecurityToken has no RequestType",
            ))
        }
    }
    let token_type = found
        .token_type
        .as_deref()
        .map(RequestedType::parse)
        .transpose()?;
    let (subject, source, requester) = match (found.on_behalf_of, found.act_as, found.header_token)
    {
        (Some(_), Some(_), _) => {
            return Err(Rejection::structure(
                "the RequestSecurityToken has both OnBehalfOf and ActAs",
            ))
        }
        (Some(t), None, header) => (t, TokenSource::OnBehalfOf, header),
        (None, Some(t), header) => (t, TokenSource::ActAs, header),
        (None, None, Some(t)) => (t, TokenSource::SecurityHeader, None),
        (None, None, None) => {
            return Err(Rejection::request(
                "the request carries no subject token (OnBehalfOf, ActAs or wsse:Security)",
            ))
        }
    };
    Ok(IssueRequest {
        token_type,
        applies_to: found.applies_to,
        subject,
        source,
        requester,
        context: found.context,
        message_id,
    })
}

/// A child of `wsse:Security`: a subject token, or something the gateway does not read (Timestamp,
/// Signature, a certificate BinarySecurityToken, ...).
fn header_child<'a>(
    cursor: &mut Cursor<'_>,
    input: &'a [u8],
    e: Element<'_>,
    limits: &SoapLimits,
    found: &mut Found<'a>,
) -> Result<(), Rejection> {
    let token = if e.is(ns::SAML, "Assertion") {
        Some(SubjectToken::Saml(cut(cursor, input, &e)?))
    } else if e.is(ns::WSSE, "BinarySecurityToken")
        && e.attr("ValueType")?.as_deref() == Some(uri::VT_JWT)
    {
        Some(SubjectToken::Jwt(jwt(cursor, &e, limits)?))
    } else {
        if !e.empty {
            xml::skip_element(cursor, e.depth)?;
        }
        None
    };
    if let Some(token) = token {
        if found.header_token.is_some() {
            return Err(Rejection::structure(
                "the wsse:Security header holds more than one token",
            ));
        }
        found.header_token = Some(token);
    }
    Ok(())
}

/// A child of the RequestSecurityToken.
fn rst_child<'a>(
    cursor: &mut Cursor<'_>,
    input: &'a [u8],
    e: Element<'_>,
    limits: &SoapLimits,
    found: &mut Found<'a>,
) -> Result<(), Rejection> {
    let namespace = e.namespace.as_deref();
    match (namespace, e.local.as_str()) {
        (Some(ns::WST), "RequestType") => {
            found.once("RequestType")?;
            found.request_type = Some(text(cursor, &e, "the RequestType", limits)?);
        }
        (Some(ns::WST), "TokenType") => {
            found.once("TokenType")?;
            found.token_type = Some(text(cursor, &e, "the TokenType", limits)?);
        }
        (Some(ns::WST), "KeyType") => {
            found.once("KeyType")?;
            if text(cursor, &e, "the KeyType", limits)? != uri::WST_BEARER {
                return Err(Rejection::request("only the Bearer KeyType is supported"));
            }
        }
        (Some(ns::WST), "Lifetime") => {
            found.once("Lifetime")?;
            if !e.empty {
                xml::skip_element(cursor, e.depth)?;
            }
        }
        (Some(ns::WSP | ns::WSP15), "AppliesTo") => {
            found.once("AppliesTo")?;
            found.applies_to = Some(applies_to(cursor, &e, limits)?);
        }
        (Some(ns::WST), "OnBehalfOf") => {
            found.once("OnBehalfOf")?;
            found.on_behalf_of = Some(wrapped_token(cursor, input, &e, limits)?);
        }
        (Some(ns::WST14), "ActAs") => {
            found.once("ActAs")?;
            found.act_as = Some(wrapped_token(cursor, input, &e, limits)?);
        }
        (Some(ns::WST), "Claims") => {
            return Err(Rejection::request("wst:Claims are not supported"))
        }
        (Some(ns::WST | ns::WST14), local) => {
            return Err(Rejection::request(format!(
                "the RequestSecurityToken element {} is not supported",
                shown(local)
            )))
        }
        (_, local) => {
            return Err(Rejection::request(format!(
                "the RequestSecurityToken holds an element the gateway does not know ({})",
                shown(local)
            )))
        }
    }
    Ok(())
}

fn text(
    cursor: &mut Cursor<'_>,
    e: &Element<'_>,
    what: &str,
    limits: &SoapLimits,
) -> Result<String, Rejection> {
    if e.empty {
        return Err(Rejection::request(format!("{what} is empty")));
    }
    let (value, _) = xml::simple_text(cursor, what, limits)?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(Rejection::request(format!("{what} is empty")));
    }
    Ok(value)
}

/// `wsp:AppliesTo` holding one `wsa:EndpointReference` with one `wsa:Address`.
fn applies_to(
    cursor: &mut Cursor<'_>,
    e: &Element<'_>,
    limits: &SoapLimits,
) -> Result<String, Rejection> {
    let bad =
        || Rejection::request("AppliesTo must hold one wsa:EndpointReference with an Address");
    if e.empty {
        return Err(bad());
    }
    let mut address = None;
    let mut references = 0usize;
    loop {
        match cursor.next()? {
            Item::Start(c) if c.depth == e.depth + 1 => {
                if !c.is(ns::WSA, "EndpointReference") || c.empty {
                    return Err(bad());
                }
                references += 1;
            }
            Item::Start(c) if c.depth == e.depth + 2 => {
                if c.is(ns::WSA, "Address") {
                    if address.is_some() {
                        return Err(bad());
                    }
                    address = Some(text(cursor, &c, "the AppliesTo Address", limits)?);
                } else if !c.empty {
                    // ReferenceParameters, Metadata: part of an EPR, not of the audience.
                    xml::skip_element(cursor, c.depth)?;
                }
            }
            Item::End { depth, .. } if depth == e.depth => break,
            Item::Text(t) if !t.trim().is_empty() => return Err(bad()),
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
            _ => {}
        }
    }
    if references != 1 {
        return Err(bad());
    }
    address.ok_or_else(bad)
}

/// OnBehalfOf / ActAs: exactly one token element.
fn wrapped_token<'a>(
    cursor: &mut Cursor<'_>,
    input: &'a [u8],
    e: &Element<'_>,
    limits: &SoapLimits,
) -> Result<SubjectToken<'a>, Rejection> {
    let what = shown(&e.local);
    if e.empty {
        return Err(Rejection::request(format!("{what} holds no token")));
    }
    let mut token = None;
    loop {
        match cursor.next()? {
            Item::Start(c) => {
                if token.is_some() {
                    return Err(Rejection::structure(format!(
                        "{what} holds more than one token"
                    )));
                }
                token = Some(if c.is(ns::SAML, "Assertion") {
                    SubjectToken::Saml(cut(cursor, input, &c)?)
                } else if c.is(ns::WSSE, "BinarySecurityToken") {
                    if c.attr("ValueType")?.as_deref() != Some(uri::VT_JWT) {
                        return Err(Rejection::request(format!(
                            "the BinarySecurityToken in {what} is not a JWT"
                        )));
                    }
                    SubjectToken::Jwt(jwt(cursor, &c, limits)?)
                } else if c.is(ns::WSSE, "SecurityTokenReference") {
                    return Err(Rejection::request(format!(
                        "{what} by reference is not supported; include the token"
                    )));
                } else {
                    return Err(Rejection::request(format!(
                        "{what} must hold a SAML 2.0 assertion or a JWT BinarySecurityToken"
                    )));
                });
            }
            Item::End { .. } => break,
            Item::Text(t) if !t.trim().is_empty() => {
                return Err(Rejection::structure(format!("{what} holds text")))
            }
            Item::Eof => return Err(Rejection::parse("the SOAP message is truncated")),
            _ => {}
        }
    }
    token.ok_or_else(|| Rejection::request(format!("{what} holds no token")))
}

/// Cuts out the assertion whose start tag was just read, with the ancestor bindings it relies on.
fn cut<'a>(
    cursor: &mut Cursor<'_>,
    input: &'a [u8],
    e: &Element<'_>,
) -> Result<CutAssertion<'a>, Rejection> {
    let carried = carried_bindings(cursor.bindings(), &e.declarations());
    let end = if e.empty {
        e.span.end
    } else {
        xml::skip_element(cursor, e.depth)?.end
    };
    let name_end = e.span.start + 1 + e.start.name().as_ref().len();
    Ok(CutAssertion::new(
        input,
        e.span.start..end,
        name_end,
        carried,
    ))
}

/// The compact JWT in a BinarySecurityToken: base64 of it (WS-Security's default EncodingType), or the
/// compact form itself when no EncodingType is given (a compact JWT cannot be mistaken for base64: '.').
fn jwt(cursor: &mut Cursor<'_>, e: &Element<'_>, limits: &SoapLimits) -> Result<String, Rejection> {
    let encoding = e.attr("EncodingType")?;
    let value = text(cursor, e, "the JWT BinarySecurityToken", limits)?;
    let compact = match encoding.as_deref() {
        None if value.contains('.') => value,
        None | Some(uri::WSSE_BASE64) => {
            let cleaned: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map_err(|_| Rejection::parse("the JWT BinarySecurityToken is not base64"))?;
            String::from_utf8(bytes)
                .map_err(|_| Rejection::parse("the JWT BinarySecurityToken is not a JWT"))?
        }
        Some(_) => {
            return Err(Rejection::request(
                "the BinarySecurityToken's EncodingType is not supported",
            ))
        }
    };
    let segments: Vec<&str> = compact.split('.').collect();
    let url_safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if segments.len() != 3
        || segments.iter().take(2).any(|s| s.is_empty())
        || !segments.iter().all(|s| url_safe(s))
    {
        return Err(Rejection::parse(
            "the BinarySecurityToken does not hold a compact JWS",
        ));
    }
    Ok(compact)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
