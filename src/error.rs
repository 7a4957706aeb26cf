//! Error classes shared by every stage of the pipeline.
//!
//! Each stage has its own error type; all of them map onto one small set of classes (the attack checklist's
//! vocabulary) so that HTTP responses, audit records and metrics speak the same language.

use std::fmt;

use serde::Serialize;

/// The class of a rejection. Stable strings: they appear in audit records, metrics and error responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorClass {
    /// Malformed input: not XML, not JSON, not base64, bad date.
    Parse,
    /// A construct or algorithm that is not allowed (DTD, XSLT transform, rsa-sha1, `alg: none`, `jku`).
    Forbidden,
    /// A size or complexity limit was exceeded.
    Limit,
    /// Ambiguous or wrapped structure (signature wrapping, duplicate IDs, two assertions).
    Struct,
    /// Signature missing, invalid, or made with an untrusted key.
    Sig,
    /// Outside the validity window.
    Time,
    /// Audience failure.
    Aud,
    /// Issuer failure.
    Iss,
    /// Subject confirmation failure.
    Subj,
    /// Already seen.
    Replay,
    /// Semantic claim or condition failure (missing or invalid values, unknown conditions; an authorization
    /// the HPR register does not confirm).
    Claim,
    /// The patient has blocked this access (a block in the access-block register). The refusal says only
    /// that a block exists; which one is in the access log.
    Blocked,
    /// The request itself is wrong (unsupported token type, missing parameter).
    Request,
    /// The target audience is not one we issue for.
    Target,
    /// A requested scope is not one the target allows (RFC 6749 `invalid_scope`).
    Scope,
    /// Something on our side failed (audit store, key); never the caller's fault.
    Internal,
    /// A dependency is unavailable (audit store full, register down with a reject policy).
    Unavailable,
    /// The client is unknown or its authentication failed (`invalid_client`, 401).
    Client,
    /// The authenticated client's exchange policy does not allow this (`unauthorized_client`).
    Policy,
    /// The DPoP proof is missing where required, malformed or invalid (`invalid_dpop_proof`).
    Proof,
    /// The DPoP proof lacks the server's current nonce (`use_dpop_nonce`, with a `DPoP-Nonce` header).
    Nonce,
    /// The subject token is sender-constrained and the request does not prove possession of its key or
    /// certificate (`invalid_grant`).
    Binding,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Parse => "PARSE",
            ErrorClass::Forbidden => "FORBIDDEN",
            ErrorClass::Limit => "LIMIT",
            ErrorClass::Struct => "STRUCT",
            ErrorClass::Sig => "SIG",
            ErrorClass::Time => "TIME",
            ErrorClass::Aud => "AUD",
            ErrorClass::Iss => "ISS",
            ErrorClass::Subj => "SUBJ",
            ErrorClass::Replay => "REPLAY",
            ErrorClass::Claim => "CLAIM",
            ErrorClass::Blocked => "BLOCKED",
            ErrorClass::Request => "REQUEST",
            ErrorClass::Target => "TARGET",
            ErrorClass::Scope => "SCOPE",
            ErrorClass::Internal => "INTERNAL",
            ErrorClass::Unavailable => "UNAVAILABLE",
            ErrorClass::Client => "CLIENT",
            ErrorClass::Policy => "POLICY",
            ErrorClass::Proof => "PROOF",
            ErrorClass::Nonce => "NONCE",
            ErrorClass::Binding => "BINDING",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Anything a stage can fail with. `message` is safe to show to the caller: it names what is wrong and never
/// contains token bytes, signature values or identifiers of persons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub class: ErrorClass,
    pub message: String,
}

impl Rejection {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for Rejection {}

/// Caller input repeated in a message (an issuer, an audience, a parameter name): control characters
/// dropped, cut at 80 characters (marked with `…` when cut), and then passed through the same redaction as
/// the logs (`redact::scrub_text`), so that a value shaped like a fødselsnummer is never
/// echoed, whatever field it was sent in. The one helper every message that echoes input goes through.
pub fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(MAX).collect();
    if s.chars().filter(|c| !c.is_control()).nth(MAX).is_some() {
        out.push('…');
    }
    crate::redact::scrub_text(&out).into_owned()
}

/// Shorthand constructors, one per class, so call sites read like the checklist.
macro_rules! rejection_ctor {
    ($($name:ident => $class:ident),* $(,)?) => {
        impl Rejection {
            $(pub fn $name(message: impl Into<String>) -> Self { Self::new(ErrorClass::$class, message) })*
        }
    };
}

rejection_ctor! {
    parse => Parse, forbidden => Forbidden, limit => Limit, structure => Struct, sig => Sig, time => Time,
    aud => Aud, iss => Iss, subj => Subj, replay => Replay, claim => Claim, blocked => Blocked,
    request => Request, target => Target, internal => Internal, unavailable => Unavailable, client => Client,
    policy => Policy, scope => Scope, proof => Proof, nonce => Nonce, binding => Binding,
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn echoed_input_is_cut_and_never_carries_a_fodselsnummer() {
        assert_eq!(shown("issuer 21868534521"), "issuer [fnr]");
        assert_eq!(
            shown("https://idp.example/21868534521/x"),
            "https://idp.example/[fnr]/x"
        );
        // Cut right after the number: still scrubbed (the cut happens first).
        let long = format!("{}21868534521{}", "a".repeat(69), "9".repeat(20));
        assert!(!shown(&long).contains("21868534521"), "{}", shown(&long));
        // Numbers without valid check digits, and longer runs, pass as they are (as in the logs).
        assert_eq!(
            shown("12345678901 218685345210"),
            "12345678901 218685345210"
        );
        assert_eq!(shown("a\u{7}b"), "ab");
    }
}
