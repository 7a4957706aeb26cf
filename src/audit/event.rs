//! What one access-log record is about. Most records are translation attempts, labelled with their
//! direction; the others record a use of the log itself, which Normen counts as use of personal data too: a
//! patient's insight report, and the organisation's log-control review.
//!
//! Both kinds share the one chain and the one set of columns: the kind goes into the existing `direction`
//! column (`insight-report`, `log-review`) and the details into `log_use` inside `record_json`, which the
//! hash covers. A translation record is stored exactly as before, so the chain format, the schema and every
//! chain already written stay as they are (no column added, no format bump, no migration).

use serde::{Deserialize, Serialize};

use crate::model::Direction;

/// The `direction` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    SamlToJwt,
    JwtToSaml,
    /// A patient's insight report was asked for (`audit insight`, or the HTTP endpoint).
    InsightReport,
    /// A log-control review was run (`audit review`).
    LogReview,
}

impl Event {
    /// Stable label (audit column).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SamlToJwt => Direction::SamlToJwt.as_str(),
            Event::JwtToSaml => Direction::JwtToSaml.as_str(),
            Event::InsightReport => "insight-report",
            Event::LogReview => "log-review",
        }
    }

    /// The translation's direction, when the record is a translation attempt.
    pub fn direction(self) -> Option<Direction> {
        match self {
            Event::SamlToJwt => Some(Direction::SamlToJwt),
            Event::JwtToSaml => Some(Direction::JwtToSaml),
            Event::InsightReport | Event::LogReview => None,
        }
    }

    pub fn is_exchange(self) -> bool {
        self.direction().is_some()
    }
}

impl From<Direction> for Event {
    fn from(d: Direction) -> Self {
        match d {
            Direction::SamlToJwt => Event::SamlToJwt,
            Direction::JwtToSaml => Event::JwtToSaml,
        }
    }
}

impl PartialEq<Direction> for Event {
    fn eq(&self, other: &Direction) -> bool {
        self.direction() == Some(*other)
    }
}

/// The head of the chain a report covered: every record up to `seq` verified, the last one's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredHead {
    pub seq: i64,
    pub hash: String,
}

/// What a use of the log asked for and got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogUse {
    /// Who asked: `command line` for the CLI, or the authenticated client's id.
    pub requested_by: String,
    /// The output format (`json`, `text`, `html`, `csv`).
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The review's period as given (`2026-Q4`) and its bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u64>,
    /// The chain head the answer covered (absent when the log held no record, or verification failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<CoveredHead>,
    /// Records listed (insight: accesses and refusals) or items to review (review: flags and sample).
    #[serde(default)]
    pub listed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_labels_are_the_directions_and_log_uses_have_their_own() {
        for d in [Direction::SamlToJwt, Direction::JwtToSaml] {
            let e = Event::from(d);
            assert_eq!(e.as_str(), d.as_str());
            assert_eq!(serde_json::to_value(e).unwrap(), d.as_str());
            assert_eq!(e, d);
        }
        assert_eq!(
            serde_json::to_value(Event::InsightReport).unwrap(),
            "insight-report"
        );
        assert_eq!(Event::LogReview.as_str(), "log-review");
        assert!(!Event::LogReview.is_exchange());
    }
}
