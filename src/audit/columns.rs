//! The record flattened into the explicit columns the access-log questions are asked of ("who looked at this
//! patient", "what did this practitioner look at", "what happened between these times"). The same ordered
//! list feeds the INSERT and the hash, so a column cannot be stored without being covered by the chain.

use crate::clock::rfc3339;
use crate::model::{Coded, Identifier};

use super::{AuditError, AuditRecord};

/// A column value as stored (SQLite's types that we use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    fn text(s: Option<&str>) -> Self {
        match s {
            Some(s) => Cell::Text(s.to_string()),
            None => Cell::Null,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Every column of `audit_record` except `seq`, `prev_hash` and `hash`, in storage and hashing order.
/// Append new columns at the end (and bump [`super::chain::FORMAT`]) so old chains still verify: a record
/// written in an older format is hashed over that format's columns ([`columns_of`]).
pub const COLUMNS: &[&str] = &[
    "time",
    "time_ms",
    "request_id",
    "direction",
    "outcome",
    "error_class",
    "error",
    "input_issuer",
    "input_token_id",
    "output_token_id",
    "output_audience",
    "output_expires",
    "profile",
    "client_address",
    "practitioner_id",
    "practitioner_name",
    "hpr_nr",
    "authorization",
    "legal_entity_id",
    "legal_entity_name",
    "point_of_care_id",
    "point_of_care_name",
    "department_id",
    "department_name",
    "purpose_of_use",
    "healthcare_service",
    "healthcare_service_original",
    "fastlege_rule",
    "register_answer",
    "purpose_of_use_details",
    "decision_ref_id",
    "decision_ref_user_selected",
    "patient_id",
    "record_json",
    // chain format 2: who asked and what they proved
    "client_id",
    "client_auth",
    "dpop_jkt",
    "client_cert_thumbprint",
    "actor_issuer",
    "actor_subject",
    // chain format 3: the SOAP edge
    "soap_action",
    "proxy_route",
    "upstream_status",
];

/// How many of [`COLUMNS`] each chain format hashes (format 1 had the columns up to `record_json`).
const FORMAT_COLUMNS: [(u8, usize); 3] = [(1, 34), (2, 40), (3, 43)];

/// Whether a column holds integers (every other column holds text).
pub fn is_integer(column: &str) -> bool {
    matches!(
        column,
        "time_ms" | "decision_ref_user_selected" | "upstream_status"
    )
}

/// The columns a record of chain `format` is hashed over, in order.
pub fn columns_of(format: u8) -> &'static [&'static str] {
    let n = FORMAT_COLUMNS
        .iter()
        .find(|(f, _)| *f == format)
        .map_or(COLUMNS.len(), |(_, n)| *n);
    COLUMNS.get(..n).unwrap_or(COLUMNS)
}

fn id(i: Option<&Identifier>) -> Cell {
    Cell::text(i.map(|i| i.id.as_str()))
}

fn name(i: Option<&Identifier>) -> Cell {
    Cell::text(i.and_then(|i| i.name.as_deref()))
}

fn code(c: Option<&Coded>) -> Cell {
    Cell::text(c.map(|c| c.code.as_str()))
}

/// Several codes (authorisations, purposes of use) in one column, space-separated: codes never hold spaces.
fn codes(cs: &[Coded]) -> Cell {
    if cs.is_empty() {
        Cell::Null
    } else {
        Cell::Text(
            cs.iter()
                .map(|c| c.code.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

/// The record's cells in [`COLUMNS`] order. `time_ms` is the record's time as milliseconds since the epoch
/// (for range queries and pruning: RFC 3339 strings with offsets do not sort).
pub fn cells(record: &AuditRecord) -> Result<Vec<Cell>, AuditError> {
    let time_ms = i64::try_from(record.time.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| AuditError("the record's time is out of range".to_string()))?;
    let json = serde_json::to_string(record).map_err(|e| AuditError(e.to_string()))?;
    let ctx = record.context.as_ref();
    let p = ctx.map(|c| &c.practitioner);
    let care = ctx.map(|c| &c.care_relationship);
    let patient = ctx.and_then(|c| c.patients.first());
    let decision = care.and_then(|c| c.decision_ref.as_ref());
    let fastlege = record.fastlege.as_ref();
    let cells = vec![
        Cell::Text(rfc3339(record.time)),
        Cell::Int(time_ms),
        Cell::Text(record.request_id.clone()),
        Cell::Text(record.direction.as_str().to_string()),
        Cell::Text(record.outcome.as_str().to_string()),
        Cell::text(record.error_class.map(|c| c.as_str())),
        Cell::text(record.error.as_deref()),
        Cell::text(record.input_issuer.as_deref()),
        Cell::text(record.input_token_id.as_deref()),
        Cell::text(record.output_token_id.as_deref()),
        Cell::text(record.output_audience.as_deref()),
        Cell::text(record.output_expires.map(rfc3339).as_deref()),
        Cell::text(record.profile.as_deref()),
        Cell::text(record.client_address.as_deref()),
        id(p.and_then(|p| p.identifier.as_ref())),
        name(p.and_then(|p| p.identifier.as_ref())),
        id(p.and_then(|p| p.hpr_nr.as_ref())),
        p.map(|p| codes(&p.authorization)).unwrap_or(Cell::Null),
        id(p.and_then(|p| p.legal_entity.as_ref())),
        name(p.and_then(|p| p.legal_entity.as_ref())),
        id(p.and_then(|p| p.point_of_care.as_ref())),
        name(p.and_then(|p| p.point_of_care.as_ref())),
        id(p.and_then(|p| p.department.as_ref())),
        name(p.and_then(|p| p.department.as_ref())),
        care.map(|c| codes(&c.purpose_of_use)).unwrap_or(Cell::Null),
        code(care.and_then(|c| c.healthcare_service.as_ref())),
        code(fastlege.and_then(|f| f.original.as_ref())),
        Cell::text(fastlege.map(|f| f.rule.as_str())),
        Cell::text(fastlege.map(|f| f.register_answer.as_str())),
        code(care.and_then(|c| c.purpose_of_use_details.as_ref())),
        Cell::text(decision.map(|d| d.id.as_str())),
        match decision.and_then(|d| d.user_selected) {
            Some(b) => Cell::Int(i64::from(b)),
            None => Cell::Null,
        },
        id(patient.and_then(|p| p.identifier.as_ref())),
        Cell::Text(json),
        Cell::text(record.client_id.as_deref()),
        Cell::text(record.client_auth.as_deref()),
        Cell::text(record.dpop_jkt.as_deref()),
        Cell::text(record.client_cert_thumbprint.as_deref()),
        Cell::text(record.actor.as_ref().map(|a| a.issuer.as_str())),
        Cell::text(record.actor.as_ref().and_then(|a| a.subject.as_deref())),
        Cell::text(record.soap_action.as_deref()),
        Cell::text(record.proxy_route.as_deref()),
        match record.upstream_status {
            Some(s) => Cell::Int(i64::from(s)),
            None => Cell::Null,
        },
    ];
    debug_assert_eq!(cells.len(), COLUMNS.len());
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, OverrideAudit};
    use crate::model::Direction;
    use crate::model::{AccessContext, Patient};

    #[test]
    fn every_record_fills_every_column_in_order() {
        let bare = AuditRecord::begin(
            Direction::JwtToSaml,
            time::macros::datetime!(2026-01-31 10:00 UTC),
            "r1",
            None,
        );
        let bare_cells = cells(&bare).unwrap();
        assert_eq!(bare_cells.len(), COLUMNS.len());
        assert_eq!(bare_cells[1], Cell::Int(1_769_853_600_000));
        assert_eq!(bare_cells[3], Cell::Text("jwt-to-saml".into()));

        let mut full = bare.clone();
        let mut ctx = AccessContext::default();
        ctx.patients.push(Patient {
            identifier: Some(Identifier {
                id: "21868534521".into(),
                ..Identifier::default()
            }),
            ..Patient::default()
        });
        full.context = Some(ctx);
        full.fastlege = Some(OverrideAudit {
            rule: "fastlege".into(),
            original: None,
            register_answer: "unreachable".into(),
        });
        let full_cells = cells(&full).unwrap();
        assert_eq!(full_cells.len(), COLUMNS.len());
        let at = |name: &str| &full_cells[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(at("patient_id"), &Cell::Text("21868534521".into()));
        assert_eq!(at("register_answer"), &Cell::Text("unreachable".into()));
        assert_eq!(at("healthcare_service_original"), &Cell::Null);
    }

    #[test]
    fn a_record_without_an_rfc3339_time_is_refused() {
        // The type holds a time; a stored record whose time is not RFC 3339 does not read back.
        let r = AuditRecord::begin(
            Direction::SamlToJwt,
            time::macros::datetime!(2026-01-31 10:00 UTC),
            "r",
            None,
        );
        let mut json = serde_json::to_value(&r).unwrap();
        json["time"] = "yesterday".into();
        assert!(serde_json::from_value::<AuditRecord>(json).is_err());
    }
}
