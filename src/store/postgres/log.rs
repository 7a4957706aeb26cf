//! [`AuditLog`] over the cluster's PostgreSQL log: one repeatable-read, read-only transaction is the
//! snapshot; scans page through it by sequence number (keyset), so no statement runs long and memory stays
//! flat however large the log is.

use postgres::types::{ToSql, Type};
use postgres::{IsolationLevel, Transaction};

use super::Database;
use crate::audit::log::{AuditLog, Each, ReadError, Selection, Snapshot};
use crate::audit::sqlite::{Stored, VerifyReport};
use crate::audit::AuditError;

/// Rows per page of a scan.
const PAGE: i64 = 2000;

/// The PostgreSQL access log, for reading.
#[derive(Debug)]
pub struct PgLog {
    db: Database,
}

impl PgLog {
    /// Reads through `db` (whose schema the caller has checked).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn err(what: &str) -> impl Fn(postgres::Error) -> AuditError + '_ {
    move |e| AuditError(format!("{what}: {}", super::describe_error(&e)))
}

struct PgSnapshot<'c, 't> {
    tx: &'t mut Transaction<'c>,
}

impl Snapshot for PgSnapshot<'_, '_> {
    fn verify(&mut self) -> Result<VerifyReport, AuditError> {
        super::read::verify_in(self.tx)
    }

    fn scan(
        &mut self,
        selection: Selection<'_>,
        through: i64,
        each: &mut Each<'_>,
    ) -> Result<(), ReadError> {
        let mut after = i64::MIN;
        loop {
            let rows = match selection {
                Selection::Patient(p) => self.tx.query_typed(
                    "SELECT seq, hash, record_json FROM audit_record
                     WHERE patient_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                    &[
                        (&p as &(dyn ToSql + Sync), Type::TEXT),
                        (&after, Type::INT8),
                        (&through, Type::INT8),
                        (&PAGE, Type::INT8),
                    ],
                ),
                Selection::Period { since_ms, until_ms } => self.tx.query_typed(
                    "SELECT seq, hash, record_json FROM audit_record
                     WHERE time_ms >= $1 AND time_ms < $2 AND seq > $3 AND seq <= $4
                     ORDER BY seq LIMIT $5",
                    &[
                        (&since_ms as &(dyn ToSql + Sync), Type::INT8),
                        (&until_ms, Type::INT8),
                        (&after, Type::INT8),
                        (&through, Type::INT8),
                        (&PAGE, Type::INT8),
                    ],
                ),
            }
            .map_err(err("scan"))?;
            let full = i64::try_from(rows.len()).unwrap_or(0) >= PAGE;
            for r in rows {
                let seq: i64 = r.try_get(0).map_err(err("scan"))?;
                let hash: String = r.try_get(1).map_err(err("scan"))?;
                let json: String = r.try_get(2).map_err(err("scan"))?;
                let record = serde_json::from_str(&json)
                    .map_err(|e| AuditError(format!("record {seq} is not readable: {e}")))?;
                after = seq;
                each(Stored { seq, hash, record })?;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

impl AuditLog for PgLog {
    fn describe(&self) -> String {
        format!("PostgreSQL access log ({})", self.db.label())
    }

    fn read(
        &self,
        read: &mut dyn FnMut(&mut dyn Snapshot) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut conn = self.db.get().map_err(AuditError::from)?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(err("read transaction"))?;
        let result = read(&mut PgSnapshot { tx: &mut tx });
        let _ = tx.rollback();
        result
    }
}
