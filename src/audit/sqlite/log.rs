//! [`AuditLog`] over the SQLite file: one connection per read, one read transaction as the snapshot (WAL
//! readers see the database as of their first read, whatever the writer commits meanwhile).

use std::path::{Path, PathBuf};

use super::*;
use crate::audit::log::{AuditLog, Each, ReadError, Selection, Snapshot};

/// The SQLite access log, for reading.
#[derive(Debug, Clone)]
pub struct SqliteLog {
    path: PathBuf,
}

impl SqliteLog {
    /// The log at `path`, which must exist: a mistyped path must not read as an empty, valid log.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        connect(path, false)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

struct SqliteSnapshot<'c> {
    conn: &'c Connection,
}

impl Snapshot for SqliteSnapshot<'_> {
    fn verify(&mut self) -> Result<VerifyReport, AuditError> {
        read::verify(self.conn)
    }

    fn scan(
        &mut self,
        selection: Selection<'_>,
        through: i64,
        each: &mut Each<'_>,
    ) -> Result<(), ReadError> {
        let (sql, params): (&str, Vec<Value>) = match selection {
            Selection::Patient(p) => (
                "SELECT seq, hash, record_json FROM audit_record
                 WHERE patient_id = ?1 AND seq <= ?2 ORDER BY seq",
                vec![Value::Text(p.to_string()), Value::Integer(through)],
            ),
            Selection::Period { since_ms, until_ms } => (
                "SELECT seq, hash, record_json FROM audit_record
                 WHERE time_ms >= ?1 AND time_ms < ?2 AND seq <= ?3 ORDER BY seq",
                vec![
                    Value::Integer(since_ms),
                    Value::Integer(until_ms),
                    Value::Integer(through),
                ],
            ),
        };
        let mut stmt = self.conn.prepare(sql).map_err(db_err("scan"))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(db_err("scan"))?;
        while let Some(row) = rows.next().map_err(db_err("scan"))? {
            let seq: i64 = row.get(0).map_err(db_err("scan"))?;
            let hash: String = row.get(1).map_err(db_err("scan"))?;
            let json: String = row.get(2).map_err(db_err("scan"))?;
            let record = serde_json::from_str(&json)
                .map_err(|e| AuditError(format!("record {seq} is not readable: {e}")))?;
            each(Stored { seq, hash, record })?;
        }
        Ok(())
    }
}

impl AuditLog for SqliteLog {
    fn describe(&self) -> String {
        format!("SQLite access log {}", self.path.display())
    }

    fn read(
        &self,
        read: &mut dyn FnMut(&mut dyn Snapshot) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let conn = connect(&self.path, false)?;
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(db_err("read transaction"))?;
        let result = read(&mut SqliteSnapshot { conn: &conn });
        // A read-only transaction: ending it either way changes nothing.
        let _ = conn.execute_batch("ROLLBACK");
        result
    }
}
