//! What the access log is for, beyond being kept: the patient's insight report ([`insight`]) and the
//! organisation's log control ([`review`]), both read through [`crate::audit::log::AuditLog`] so they work
//! the same on the SQLite and the PostgreSQL store. Both verify the whole chain first and say in the report
//! which head they cover; a chain that does not verify makes them refuse, naming the first bad record.
//! Every word they show comes from the declared tables under `mappings/reports/` and `mappings/review/`.
//!
//! Both are themselves uses of personal data, so each request is written to the access log ([`usage`]).

pub mod describe;
pub mod flags;
mod html;
pub mod insight;
pub mod period;
pub mod review;
pub mod service;
pub mod synthetic;
pub mod tables;
pub mod usage;
pub mod zone;

pub use html::PAGE_POLICY;

use serde::Serialize;

use crate::audit::log::Coverage;
use tables::Words;

/// What the verification before a report covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    /// Whether the chain verified (a report exists only when it did).
    pub verified: bool,
    pub records: u64,
    /// The first record covered, after the retention anchor if records were pruned.
    pub first: Option<i64>,
    /// The chain head the report covers.
    pub head: Option<i64>,
    pub head_hash: Option<String>,
    /// The last pruned record, whose hash the chain starts from.
    pub anchor: Option<i64>,
}

impl ChainSummary {
    pub fn of(c: &Coverage) -> Self {
        Self {
            verified: true,
            records: c.records,
            first: c.first(),
            head: c.head.as_ref().map(|(s, _)| *s),
            head_hash: c.head.as_ref().map(|(_, h)| h.clone()),
            anchor: c.anchor.as_ref().map(|(s, _)| *s),
        }
    }

    /// The check in words (`section` is `insight` or `review`).
    pub fn words(&self, w: &Words, section: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(anchor) = self.anchor {
            out.push(w.fill("insight.check_anchor", &[("seq", &anchor.to_string())]));
        }
        match (self.first, self.head, self.head_hash.as_deref()) {
            (Some(first), Some(head), Some(hash)) => out.push(w.fill(
                &format!("{section}.check_ok"),
                &[
                    ("records", &self.records.to_string()),
                    ("first", &first.to_string()),
                    ("head", &head.to_string()),
                    ("hash", hash),
                ],
            )),
            _ => out.push(w.get(&format!("{section}.check_empty")).to_string()),
        }
        out
    }

    /// The head as the access log's record of this use keeps it.
    pub fn covered(&self) -> Option<crate::audit::CoveredHead> {
        Some(crate::audit::CoveredHead {
            seq: self.head?,
            hash: self.head_hash.clone()?,
        })
    }
}
