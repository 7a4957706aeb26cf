//! The shared model: why a health professional may see a patient's documents.
//!
//! Nothing here knows about XML or JSON claims; both transports decode into and encode from these types
//! through the tables in `mappings/`. Field names follow the HelseID trust framework
//! (`nhn:tillitsrammeverk:parameters`), which is also the data model of NHN's document sharing (DM in docs/norway-profile.md).

mod exchange;
mod field;

pub use exchange::{Direction, Outcome};
pub use field::{FieldId, FieldKind, FieldPart, FieldValue};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A coded value: `{code, text, system, assigner}` (HL7 CE / FHIR Coding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coded {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigner: Option<String>,
}

/// An identifier: `{id, name, system, authority}` (HL7 II / CX).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// Reference to the local access decision in the consumer's record system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_selected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Practitioner {
    /// Fødselsnummer or D-number, with the person's name in `name`.
    pub identifier: Option<Identifier>,
    pub hpr_nr: Option<Identifier>,
    /// Authorisation category (Volven 9060) or, in other profiles, roles; several are possible.
    pub authorization: Vec<Coded>,
    pub legal_entity: Option<Identifier>,
    pub point_of_care: Option<Identifier>,
    pub department: Option<Identifier>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareRelationship {
    pub healthcare_service: Option<Coded>,
    /// Several purposes are possible in IHE profiles (e.g. TREAT and BTG); the Norwegian profile takes one.
    pub purpose_of_use: Vec<Coded>,
    pub purpose_of_use_details: Option<Coded>,
    pub decision_ref: Option<DecisionRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub identifier: Option<Identifier>,
    pub point_of_care: Option<Identifier>,
    pub department: Option<Identifier>,
}

/// What the token says about itself and the session it came from, apart from the care relationship.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub security_level: Option<String>,
    pub scope: Vec<String>,
    pub client_id: Option<String>,
    pub home_community_id: Option<String>,
    /// XUA access consent policy (`urn:ihe:iti:xua:2012:acp`).
    pub consent_policy: Option<String>,
    /// The patient's consent document (BPPC `urn:ihe:iti:bppc:2007:docid`).
    #[serde(default)]
    pub consent_document: Option<String>,
}

/// The shared model one exchange carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessContext {
    pub practitioner: Practitioner,
    pub care_relationship: CareRelationship,
    /// One entry in the Norwegian profile; XUA carries exactly one resource-id.
    pub patients: Vec<Patient>,
    pub session: Session,
}

/// Protocol-level facts about a verified input token, read by transport code (not by mapping tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub token_id: String,
    pub issued_at: OffsetDateTime,
    pub not_before: Option<OffsetDateTime>,
    pub expires: OffsetDateTime,
}

/// A verified, decoded input: the model plus the facts about the token it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub context: AccessContext,
    pub facts: TokenFacts,
}
