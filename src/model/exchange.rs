//! What the gateway does with one token: which way it translates, and whether it issued anything. Audit
//! records, metrics and logs label every attempt with these.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    SamlToJwt,
    JwtToSaml,
}

impl Direction {
    /// Stable label (audit column, metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SamlToJwt => "saml-to-jwt",
            Direction::JwtToSaml => "jwt-to-saml",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Issued,
    Rejected,
    /// The XCA proxy sent the request with the issued assertion to its upstream, which answered (the
    /// second record of a proxied request, beside the exchange's `issued` one).
    Forwarded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Rejected => "rejected",
            Outcome::Forwarded => "forwarded",
        }
    }
}
