//! The organisation's log control (Normen's guide to access control, chapter 5 and 5.2): for one period, a
//! reproducible random sample of granted accesses and the risk-based flags `mappings/review/flags.toml`
//! declares, as a report a privacy officer ticks off, after the chain has been verified.
//!
//! The sample is drawn from the granted accesses of the period in sequence order by reservoir sampling
//! with ChaCha20 seeded from the recorded seed: the same seed on the same log draws the same sample.

mod render;
mod scan;

use std::collections::BTreeSet;

use serde::Serialize;
use time::OffsetDateTime;

pub use render::{render, Format};

use super::flags::FlagKind;
use super::period::Period;
use super::tables::{Lang, Tables};
use super::ChainSummary;
use crate::audit::log::{AuditLog, ReadError};
use crate::rules::CodeTables;

/// What a review is asked for.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub period: Period,
    pub seed: u64,
    /// Accesses to sample (the flags table's size unless given).
    pub sample: u64,
    /// Patients especially exposed to snooping.
    pub watch_list: BTreeSet<String>,
    pub lang: Lang,
}

/// One record as the review lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub record: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub when: String,
    /// Name and HPR number (or identifier) of the practitioner; empty when the attempt never got as far.
    pub practitioner: String,
    pub patient: Option<String>,
    pub organisation: Option<String>,
    /// Purpose and healthcare service, in words.
    pub grounds: String,
    /// `issued` or `rejected`.
    pub outcome: &'static str,
}

/// One flag raised: on one record, or on a group (a day's volume, a burst of refusals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub flag: FlagKind,
    /// The flag in words.
    pub title: String,
    /// What made it fire, in words, when more than the flag itself says.
    pub detail: Option<String>,
    pub items: Vec<Item>,
}

impl Finding {
    /// The record numbers the finding is about.
    pub fn records(&self) -> Vec<i64> {
        self.items.iter().map(|i| i.record).collect()
    }
}

/// Counts over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub records: u64,
    pub accesses: u64,
    pub refusals: u64,
}

/// The review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub language: &'static str,
    pub period: String,
    pub period_words: String,
    #[serde(with = "time::serde::rfc3339")]
    pub produced: OffsetDateTime,
    pub produced_words: String,
    pub source: String,
    pub chain: ChainSummary,
    pub seed: u64,
    pub watch_list_size: usize,
    pub counts: Counts,
    /// By flag, then by first record.
    pub findings: Vec<Finding>,
    /// Granted accesses the sample was drawn from.
    pub population: u64,
    /// In record order.
    pub sample: Vec<Item>,
}

impl Review {
    /// Items to review (findings and sampled accesses).
    pub fn items(&self) -> u64 {
        u64::try_from(self.findings.len() + self.sample.len()).unwrap_or(u64::MAX)
    }
}

/// Verifies the log, then scans the period (and the history the volume flag compares against).
pub fn build(
    log: &dyn AuditLog,
    tables: &Tables,
    codes: &CodeTables,
    request: &ReviewRequest,
    now: OffsetDateTime,
) -> Result<Review, ReadError> {
    let d = super::describe::Describer::new(tables, codes, request.lang);
    let outcome = scan::run(log, &d, request)?;
    let period_words = format!(
        "{} – {}",
        d.date(request.period.first),
        d.date(request.period.last)
    );
    Ok(Review {
        language: request.lang.code(),
        period: request.period.label.clone(),
        period_words,
        produced: now,
        produced_words: d.when(now),
        source: log.describe(),
        chain: outcome.chain,
        seed: request.seed,
        watch_list_size: request.watch_list.len(),
        counts: outcome.counts,
        findings: outcome.findings,
        population: outcome.population,
        sample: outcome.sample,
    })
}

/// Reads a watch list: one patient identifier a line; blank lines and `#` comments are skipped.
pub fn parse_watch_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
