//! A declared rule as the engine runs it, and the small vocabularies rules files and configuration share:
//! where a rule applies, what happens when its register cannot answer, how unknown codes are treated.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Coded, FieldId};

/// Where in the pipeline a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleDirection {
    /// After decoding a XUA assertion.
    DecodeXua,
    /// Before encoding a XUA assertion.
    EncodeXua,
    /// After decoding a JWT.
    DecodeJwt,
    /// Before encoding a JWT.
    EncodeJwt,
}

impl RuleDirection {
    pub fn name(self) -> &'static str {
        match self {
            RuleDirection::DecodeXua => "decode-xua",
            RuleDirection::EncodeXua => "encode-xua",
            RuleDirection::DecodeJwt => "decode-jwt",
            RuleDirection::EncodeJwt => "encode-jwt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RuleDirection::DecodeXua,
            RuleDirection::EncodeXua,
            RuleDirection::DecodeJwt,
            RuleDirection::EncodeJwt,
        ]
        .into_iter()
        .find(|d| d.name() == s)
    }
}

impl fmt::Display for RuleDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens when the register cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Keep the input's value (the decision records that the register was unavailable).
    #[default]
    Keep,
    /// Refuse the exchange with `UNAVAILABLE` (HTTP 503): nothing is issued.
    Reject,
}

/// Whether a code that is not in the code tables is refused or passed with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownCodes {
    /// Refuse (production).
    #[default]
    Strict,
    /// Pass, with a warning in the audit record (test events, inspection).
    Lenient,
}

impl UnknownCodes {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(Self::Strict),
            "lenient" => Some(Self::Lenient),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// The register lists `practitioner` (an HPR number) as the GP of `patient` (a fødselsnummer/D-number).
    RegisteredGp {
        practitioner: FieldId,
        practitioner_systems: Vec<String>,
        patient: FieldId,
        patient_systems: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct SetCoded {
    pub field: FieldId,
    pub value: Coded,
}

#[derive(Debug, Clone)]
pub(crate) struct SetText {
    pub field: FieldId,
    pub value: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub description: String,
    pub direction: RuleDirection,
    pub condition: Condition,
    pub set: SetCoded,
    pub also: Vec<SetText>,
}
