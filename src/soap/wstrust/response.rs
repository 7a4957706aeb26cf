//! WS-Trust 1.3 responses: a RequestSecurityTokenResponseCollection (what XUA X-Assertion Providers send,
//! with Action `.../RSTRC/IssueFinal`) or a single RequestSecurityTokenResponse (`.../RSTR/Issue`), and
//! WS-Trust faults.
//!
//! An issued assertion is inserted as the signer produced it (see `soap::inject` for why its signature
//! stays valid); the envelope declares no default namespace.

use base64::Engine;
use time::OffsetDateTime;

use crate::error::{ErrorClass, Rejection};
use crate::ns;
use crate::soap::fault::{Code, Fault, Subcode};
use crate::soap::inject::timestamp;
use crate::soap::uri;
use crate::soap::xml::escape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedToken<'a> {
    /// The signed assertion (UTF-8, no XML declaration) and its ID, for the token references.
    Saml {
        assertion: &'a [u8],
        id: Option<&'a str>,
    },
    /// A compact JWS, sent base64-encoded in a BinarySecurityToken.
    Jwt(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueResponse<'a> {
    pub token: IssuedToken<'a>,
    /// The TokenType URI (the request's, when it gave one).
    pub token_type: &'a str,
    pub applies_to: Option<&'a str>,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    /// The request's Context attribute.
    pub context: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseShape {
    Collection,
    Single,
}

/// The whole SOAP 1.2 response envelope. `relates_to` is the request's MessageID.
pub fn response_envelope(
    response: &IssueResponse<'_>,
    shape: ResponseShape,
    relates_to: Option<&str>,
) -> Result<String, Rejection> {
    if response.expires <= response.created {
        return Err(Rejection::internal(
            "the issued token would expire before it is created",
        ));
    }
    let action = match shape {
        ResponseShape::Collection => uri::ACTION_RSTRC_ISSUE_FINAL,
        ResponseShape::Single => uri::ACTION_RSTR_ISSUE,
    };
    let token = requested_token(&response.token)?;
    let mut out = String::with_capacity(token.len() + 2048);
    out.push_str(&format!(
        concat!(
            r#"<soapenv:Envelope xmlns:soapenv="{soap}" xmlns:wsa="{wsa}" xmlns:wst="{wst}" xmlns:wsu="{wsu}" "#,
            r#"xmlns:wsse="{wsse}" xmlns:wsse11="{wsse11}" xmlns:wsp="{wsp}">"#,
            "<soapenv:Header><wsa:Action>{action}</wsa:Action>"
        ),
        soap = ns::SOAP12,
        wsa = ns::WSA,
        wst = ns::WST,
        wsu = ns::WSU,
        wsse = ns::WSSE,
        wsse11 = ns::WSSE11,
        wsp = ns::WSP,
        action = action,
    ));
    if let Some(id) = relates_to.filter(|id| plain(id, 256)) {
        out.push_str(&format!("<wsa:RelatesTo>{}</wsa:RelatesTo>", escape(id)));
    }
    out.push_str("</soapenv:Header><soapenv:Body>");
    if shape == ResponseShape::Collection {
        out.push_str("<wst:RequestSecurityTokenResponseCollection>");
    }
    out.push_str("<wst:RequestSecurityTokenResponse");
    if let Some(context) = response.context {
        out.push_str(&format!(r#" Context="{}""#, escape(context)));
    }
    out.push('>');
    out.push_str(&format!(
        "<wst:TokenType>{}</wst:TokenType>",
        escape(response.token_type)
    ));
    out.push_str("<wst:RequestedSecurityToken>");
    out.push_str(&token);
    out.push_str("</wst:RequestedSecurityToken>");
    if let IssuedToken::Saml { id: Some(id), .. } = response.token {
        let reference = format!(
            concat!(
                r#"<wsse:SecurityTokenReference wsse11:TokenType="{tt}">"#,
                r#"<wsse:KeyIdentifier ValueType="{vt}">{id}</wsse:KeyIdentifier></wsse:SecurityTokenReference>"#
            ),
            tt = uri::TT_SAMLV20,
            vt = uri::SAMLID,
            id = escape(id),
        );
        out.push_str(&format!(
            "<wst:RequestedAttachedReference>{reference}</wst:RequestedAttachedReference>"
        ));
        out.push_str(&format!(
            "<wst:RequestedUnattachedReference>{reference}</wst:RequestedUnattachedReference>"
        ));
    }
    if let Some(audience) = response.applies_to {
        out.push_str(&format!(
            "<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>",
            escape(audience)
        ));
    }
    out.push_str(&format!(
        "<wst:Lifetime><wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires></wst:Lifetime>",
        timestamp(response.created)?,
        timestamp(response.expires)?
    ));
    out.push_str("</wst:RequestSecurityTokenResponse>");
    if shape == ResponseShape::Collection {
        out.push_str("</wst:RequestSecurityTokenResponseCollection>");
    }
    out.push_str("</soapenv:Body></soapenv:Envelope>");
    Ok(out)
}

fn requested_token(token: &IssuedToken<'_>) -> Result<String, Rejection> {
    match token {
        IssuedToken::Saml { assertion, .. } => {
            let text = std::str::from_utf8(assertion)
                .map_err(|_| Rejection::internal("the signed assertion is not UTF-8"))?;
            let trimmed = text.trim_start();
            if !trimmed.starts_with('<') || trimmed.starts_with("<?") {
                return Err(Rejection::internal(
                    "the signed assertion must be one element without an XML declaration",
                ));
            }
            Ok(text.to_string())
        }
        IssuedToken::Jwt(jwt) => {
            if !plain(jwt, 64 * 1024) {
                return Err(Rejection::internal("the issued JWT is not a compact JWS"));
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(jwt.as_bytes());
            Ok(format!(
                r#"<wsse:BinarySecurityToken ValueType="{}" EncodingType="{}">{}</wsse:BinarySecurityToken>"#,
                uri::VT_JWT,
                uri::WSSE_BASE64,
                encoded
            ))
        }
    }
}

fn plain(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'&')
}

/// The WS-Trust fault for a rejection: Code Sender (Receiver for our own failures), Subcode the WS-Trust
/// fault (InvalidRequest, FailedAuthentication, InvalidScope, RequestFailed), and under it the gateway's
/// error class.
pub fn fault_for(rejection: &Rejection) -> Fault {
    let (code, trust) = match rejection.class {
        ErrorClass::Sig
        | ErrorClass::Iss
        | ErrorClass::Time
        | ErrorClass::Aud
        | ErrorClass::Subj
        | ErrorClass::Replay
        | ErrorClass::Client
        | ErrorClass::Proof
        | ErrorClass::Nonce
        | ErrorClass::Binding => (Code::Sender, "FailedAuthentication"),
        ErrorClass::Target | ErrorClass::Policy | ErrorClass::Scope => {
            (Code::Sender, "InvalidScope")
        }
        ErrorClass::Internal | ErrorClass::Unavailable => (Code::Receiver, "RequestFailed"),
        ErrorClass::Parse
        | ErrorClass::Forbidden
        | ErrorClass::Limit
        | ErrorClass::Struct
        | ErrorClass::Claim
        // A block is the policy refusing this request, as RFC 8693's invalid_request on /token.
        | ErrorClass::Blocked
        | ErrorClass::Request => (Code::Sender, "InvalidRequest"),
    };
    Fault {
        code,
        subcodes: vec![
            Subcode {
                namespace: ns::WST,
                prefix: "wst",
                local: trust.to_string(),
            },
            Subcode::class(rejection.class),
        ],
        reason: rejection.message.clone(),
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
