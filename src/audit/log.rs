//! One way to read the access log back, whichever store holds it, so that what is built on the log (the
//! patient's insight report, the organisation's log control) is written once.
//!
//! A reader works inside one consistent [`Snapshot`]: it verifies the chain first, then scans only records
//! up to the head it verified, so a record appended or changed while the report runs is either covered by
//! the verification or not read at all. Scans hand over one record at a time in sequence order; nothing
//! holds the whole log in memory.

pub use super::sqlite::{Broken, Stored, VerifyReport};
use super::AuditError;

/// The records one scan selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// Every record whose `patient_id` is this patient.
    Patient(&'a str),
    /// Every record whose time is in `[since_ms, until_ms)` (milliseconds since the epoch).
    Period { since_ms: i64, until_ms: i64 },
}

/// What a scan calls for each record.
pub type Each<'a> = dyn FnMut(Stored) -> Result<(), ReadError> + 'a;

/// A consistent view of the log for the time one report takes.
pub trait Snapshot {
    /// Walks the chain from its anchor (or the first record) to its head as of this snapshot, stopping at the
    /// first record that does not verify.
    fn verify(&mut self) -> Result<VerifyReport, AuditError>;

    /// Every record of `selection` numbered `through` or lower, in sequence order, one at a time.
    fn scan(
        &mut self,
        selection: Selection<'_>,
        through: i64,
        each: &mut Each<'_>,
    ) -> Result<(), ReadError>;
}

/// A store the reports can read (SQLite: [`super::sqlite::SqliteLog`]; PostgreSQL:
/// `crate::store::postgres::log::PgLog`).
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    /// Which store this is, for the report's header (never a connection string).
    fn describe(&self) -> String;

    /// Runs `read` inside one snapshot of the log.
    fn read(
        &self,
        read: &mut dyn FnMut(&mut dyn Snapshot) -> Result<(), ReadError>,
    ) -> Result<(), ReadError>;
}

/// Why a report could not be made from the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The chain does not verify: the report refuses, naming the first bad record.
    #[error("the access log does not verify: record {} is broken ({}); no report is made from it", .0.seq, .0.reason)]
    Broken(Broken),
    #[error(transparent)]
    Store(#[from] AuditError),
}

/// How far a verification reached: what a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Records verified.
    pub records: u64,
    /// The retention anchor the chain starts from (`seq`, hash), if records were pruned.
    pub anchor: Option<(i64, String)>,
    /// The last verified record (`seq`, hash); none when the log holds no record.
    pub head: Option<(i64, String)>,
}

impl Coverage {
    /// The highest record number the report may read.
    pub fn through(&self) -> i64 {
        self.head
            .as_ref()
            .map(|(s, _)| *s)
            .or(self.anchor.as_ref().map(|(s, _)| *s))
            .unwrap_or(0)
    }

    /// The first record covered (after the anchor).
    pub fn first(&self) -> Option<i64> {
        self.head.as_ref()?;
        Some(self.anchor.as_ref().map_or(1, |(s, _)| s + 1))
    }
}

/// Verifies the snapshot's chain: the coverage when it holds, [`ReadError::Broken`] when it does not.
pub fn verified(snapshot: &mut dyn Snapshot) -> Result<Coverage, ReadError> {
    let report = snapshot.verify()?;
    match report.broken {
        Some(b) => Err(ReadError::Broken(b)),
        None => Ok(Coverage {
            records: report.records,
            anchor: report.anchor,
            head: report.head,
        }),
    }
}
