//! Reading tokens that have not been verified: the one place that does.
//!
//! The pipeline only ever decodes what verified (`Profile::decode_assertion`, `Profile::decode_jwt`), and the
//! step-by-step verification internals are private to their modules. The inspector must also show what an
//! unverifiable token says, and the fuzzers must compare readings; both come through here, so every read of
//! unverified content is visible at a glance. Nothing read here may be issued.

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::Rejection;
use crate::jwt::{self, JwtLimits};
use crate::mapping::{Profile, XuaInput};
use crate::model::AccessContext;
use crate::ns;
use crate::saml::dsig::TrustAnchor;
use crate::saml::tree::{self, Mode, Node};
use crate::saml::view::AssertionView;

/// What kind of input a body holds.
pub enum Kind<'a> {
    Xml(&'a str),
    Jwt(&'a str),
    Payload(Map<String, Value>),
    Unknown(&'static str),
}

pub fn classify(input: &[u8]) -> Kind<'_> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Kind::Unknown("the input is not UTF-8 text");
    };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let trimmed = text.trim();
    if trimmed.starts_with('<') {
        return Kind::Xml(text);
    }
    if trimmed.starts_with('{') {
        return match jwt::json::parse_object(trimmed.as_bytes()) {
            Ok(map) => Kind::Payload(map),
            Err(_) => Kind::Unknown("the input looks like JSON but is not a valid JSON object"),
        };
    }
    let jws_alphabet = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b'=');
    if jws_alphabet && trimmed.bytes().filter(|b| *b == b'.').count() >= 2 {
        return Kind::Jwt(trimmed);
    }
    Kind::Unknown("the input is neither XML, a compact JWT nor a JSON payload")
}

/// The element tree of a document, strictly or leniently (comments and processing instructions skipped and
/// counted).
pub fn parse_tree(bytes: &[u8], mode: Mode) -> Result<(Node, usize), Rejection> {
    tree::parse_with(bytes, mode)
}

/// The gateway's view of an assertion read from bytes, without checking any signature.
pub fn assertion_view(bytes: &[u8]) -> Result<AssertionView, Rejection> {
    crate::saml::extract::assertion_view(bytes)
}

/// The view of an assertion element of a tree.
pub fn view_of(node: &Node) -> Result<AssertionView, Rejection> {
    crate::saml::extract::view_of(node)
}

/// A profile's model of XUA attributes that did not necessarily verify.
pub fn decode_xua(profile: &Profile, input: XuaInput<'_>) -> Result<AccessContext, Rejection> {
    profile.decode_xua(input)
}

/// A profile's model of claims that did not necessarily verify.
pub fn decode_claims(
    profile: &Profile,
    claims: &Map<String, Value>,
) -> Result<AccessContext, Rejection> {
    profile.decode_claims(claims)
}

/// The two decoders above as methods of a profile, for tests and fuzzers that hold raw attributes or
/// claims; the names say what they are.
pub trait DecodeUnverified {
    fn decode_xua_unverified(&self, input: XuaInput<'_>) -> Result<AccessContext, Rejection>;
    fn decode_claims_unverified(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<AccessContext, Rejection>;
}

impl DecodeUnverified for Profile {
    fn decode_xua_unverified(&self, input: XuaInput<'_>) -> Result<AccessContext, Rejection> {
        self.decode_xua(input)
    }

    fn decode_claims_unverified(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<AccessContext, Rejection> {
        self.decode_claims(claims)
    }
}

/// A compact JWT split and decoded (size, shape, canonical base64url, strict JSON), nothing verified.
pub fn jwt_parts<'t>(token: &'t str, limits: &JwtLimits) -> Result<jwt::Parts<'t>, Rejection> {
    jwt::split(token, limits)
}

pub(super) type Found<'a> = (&'a Node, Vec<String>, Vec<&'a Node>);

/// Every SAML assertion in a tree, with its path and ancestors (an assertion inside another is not looked
/// into).
pub(super) fn find_assertions<'a>(
    node: &'a Node,
    ancestors: &mut Vec<&'a Node>,
    out: &mut Vec<Found<'a>>,
) {
    if node.is(ns::SAML, "Assertion") {
        let mut path: Vec<String> = ancestors.iter().map(|a| a.local.clone()).collect();
        path.push(node.local.clone());
        out.push((node, path, ancestors.clone()));
        return;
    }
    ancestors.push(node);
    for c in &node.children {
        find_assertions(c, ancestors, out);
    }
    ancestors.pop();
}

/// The assertion's bytes taken out of its envelope, with the namespace declarations it inherits written onto
/// its start tag (exc-c14n renders only the visibly used ones, so the digest is unaffected).
pub(super) fn extracted(text: &str, node: &Node, ancestors: &[&Node]) -> Vec<u8> {
    let (start, end) = node.span;
    let Some(element) = text.get(start..end) else {
        return Vec::new();
    };
    let mut inherited: Vec<(String, String)> = Vec::new();
    for a in ancestors.iter().rev() {
        for (prefix, uri) in &a.ns_decls {
            let shadowed = node.ns_decls.iter().any(|(p, _)| p == prefix)
                || inherited.iter().any(|(p, _)| p == prefix);
            if !shadowed {
                inherited.push((prefix.clone(), uri.clone()));
            }
        }
    }
    let Some(name_end) = element.find(|c: char| c.is_whitespace() || c == '>' || c == '/') else {
        return element.as_bytes().to_vec();
    };
    let (name, rest) = element.split_at(name_end);
    let mut out = String::with_capacity(element.len() + 256);
    out.push_str(name);
    for (prefix, uri) in inherited {
        let mut escaped = String::new();
        crate::saml::fragment::escape_into(&uri, &mut escaped);
        if prefix.is_empty() {
            out.push_str(&format!(" xmlns=\"{escaped}\""));
        } else {
            out.push_str(&format!(" xmlns:{prefix}=\"{escaped}\""));
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

/// The certificate in the assertion's ds:KeyInfo (for information: the inspector never trusts it).
pub(super) fn keyinfo_certificate(node: &Node) -> Result<TrustAnchor, Rejection> {
    let cert = node
        .children
        .iter()
        .find(|c| c.is(ns::DSIG, "Signature"))
        .and_then(|s| s.children.iter().find(|c| c.is(ns::DSIG, "KeyInfo")))
        .and_then(|k| k.children.iter().find(|c| c.is(ns::DSIG, "X509Data")))
        .and_then(|x| {
            x.children
                .iter()
                .find(|c| c.is(ns::DSIG, "X509Certificate"))
        })
        .ok_or_else(|| Rejection::sig("the assertion carries no X509Certificate"))?;
    let b64: String = cert.text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| Rejection::sig("its X509Certificate is not base64"))?;
    let x509 = openssl::x509::X509::from_der(&der)
        .map_err(|_| Rejection::sig("its X509Certificate is not a certificate"))?;
    let pem = x509
        .to_pem()
        .map_err(|_| Rejection::sig("its certificate cannot be read"))?;
    TrustAnchor::from_cert_pem(&pem)
}
