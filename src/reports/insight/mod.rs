//! The patient's insight report (pasientjournalforskriften § 14 second paragraph; Normen's guide 6.1.1):
//! every access to one patient's information in plain words, newest first, and the refused attempts apart.
//!
//! What it shows of each access: when (local time); who (name, health-personnel category from code table
//! 9060, HPR number, which is public); the organisation, point of care and department by name; why (purpose
//! of use, healthcare service and further grounds from the code tables, and "as your regular GP" where the
//! fastlege rule set the grounds); which service received the token. It never shows the practitioner's
//! national identity number, a refusal's technical message, free text typed by a user, or anything of
//! another patient: a record is listed only when both its `patient_id` column and the patient in its
//! stored context are this patient.

mod render;

use serde::Serialize;
use time::OffsetDateTime;

pub use render::{render, Format};

use super::describe::Describer;
use super::tables::{Lang, Tables};
use super::ChainSummary;
use crate::audit::log::{verified, AuditLog, ReadError, Selection, Stored};
use crate::model::Outcome;
use crate::rules::CodeTables;

/// Who accessed, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    /// Health-personnel categories (code table 9060) in words.
    pub category: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpr: Option<String>,
}

/// Why, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grounds {
    pub purpose: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The fastlege rule set the grounds: the practitioner is the patient's regular GP.
    pub as_regular_gp: bool,
}

/// One granted access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The record's number in the access log.
    pub record: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub when: String,
    pub who: Person,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_of_care: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub why: Grounds,
    pub received_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// One refused attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub record: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub when: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<Person>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    pub reason: String,
}

/// The whole report, in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Insight {
    pub language: &'static str,
    pub patient: String,
    #[serde(with = "time::serde::rfc3339")]
    pub produced: OffsetDateTime,
    pub produced_words: String,
    pub source: String,
    pub chain: ChainSummary,
    /// Newest first.
    pub accesses: Vec<Access>,
    /// Newest first.
    pub refused: Vec<Refusal>,
}

fn person(d: &Describer<'_>, p: &crate::model::Practitioner) -> Person {
    Person {
        name: p
            .identifier
            .as_ref()
            .and_then(|i| i.name.clone())
            .unwrap_or_else(|| d.words().get("language.unknown").to_string()),
        category: p.authorization.iter().map(|c| d.coded(c)).collect(),
        hpr: p.hpr_nr.as_ref().map(|h| h.id.clone()),
    }
}

/// Whether a record is about `patient`, by its stored context as well as its column.
fn is_about(stored: &Stored, patient: &str) -> bool {
    stored.record.context.as_ref().is_some_and(|c| {
        c.patients
            .first()
            .and_then(|p| p.identifier.as_ref())
            .is_some_and(|i| i.id == patient)
    })
}

/// Verifies the log, then reads every record about `patient` up to the verified head.
pub fn build(
    log: &dyn AuditLog,
    tables: &Tables,
    codes: &CodeTables,
    patient: &str,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<Insight, ReadError> {
    let d = Describer::new(tables, codes, lang);
    let mut report = Insight {
        language: lang.code(),
        patient: patient.to_string(),
        produced: now,
        produced_words: d.when(now),
        source: log.describe(),
        chain: ChainSummary::default(),
        accesses: Vec::new(),
        refused: Vec::new(),
    };
    log.read(&mut |snapshot| {
        let coverage = verified(snapshot)?;
        report.chain = ChainSummary::of(&coverage);
        snapshot.scan(
            Selection::Patient(patient),
            coverage.through(),
            &mut |stored| {
                if !stored.record.direction.is_exchange() || !is_about(&stored, patient) {
                    return Ok(());
                }
                let r = &stored.record;
                let ctx = r.context.as_ref();
                let p = ctx.map(|c| &c.practitioner);
                match r.outcome {
                    Outcome::Issued => {
                        let Some(ctx) = ctx else { return Ok(()) };
                        let care = &ctx.care_relationship;
                        let p = &ctx.practitioner;
                        report.accesses.push(Access {
                            record: stored.seq,
                            time: r.time,
                            when: d.when(r.time),
                            who: person(&d, p),
                            organisation: d.named(p.legal_entity.as_ref()),
                            point_of_care: d.named(p.point_of_care.as_ref()),
                            department: d.named(p.department.as_ref()),
                            why: Grounds {
                                purpose: care.purpose_of_use.iter().map(|c| d.coded(c)).collect(),
                                service: care.healthcare_service.as_ref().map(|c| d.coded(c)),
                                details: care.purpose_of_use_details.as_ref().map(|c| d.coded(c)),
                                as_regular_gp: r.fastlege.is_some(),
                            },
                            received_by: d.service(r.output_audience.as_deref()),
                            valid_until: r.output_expires.map(|t| d.when(t)),
                        });
                    }
                    Outcome::Rejected => report.refused.push(Refusal {
                        record: stored.seq,
                        time: r.time,
                        when: d.when(r.time),
                        who: p.filter(|p| p.identifier.is_some()).map(|p| person(&d, p)),
                        organisation: p.and_then(|p| d.named(p.legal_entity.as_ref())),
                        reason: d.refusal(r.error_class),
                    }),
                    // The proxy's second record of an access its `issued` record already lists.
                    Outcome::Forwarded => {}
                }
                Ok(())
            },
        )
    })?;
    let newest_first = |a: (OffsetDateTime, i64), b: (OffsetDateTime, i64)| b.cmp(&a);
    report
        .accesses
        .sort_by(|a, b| newest_first((a.time, a.record), (b.time, b.record)));
    report
        .refused
        .sort_by(|a, b| newest_first((a.time, a.record), (b.time, b.record)));
    Ok(report)
}
