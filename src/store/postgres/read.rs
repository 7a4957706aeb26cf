//! Reading and maintaining the PostgreSQL access log: the chain walk of `audit verify`, `audit query`, the
//! batched insert shared by the writer and `audit import`, and retention pruning (which, as in the SQLite
//! store, keeps the last pruned record's hash as the anchor the rest of the chain starts from).

use postgres::types::{ToSql, Type};
use postgres::{GenericClient, IsolationLevel};

use super::Database;
use crate::audit::chain::{self, GENESIS};
use crate::audit::columns::{Cell, COLUMNS};
use crate::audit::sqlite::{Broken, Query, Stored, VerifyReport};
use crate::audit::AuditError;

/// Rows per page of the chain walk (keyset pagination keeps memory flat on a log of any size).
const PAGE: i64 = 5000;

/// Key of the advisory lock pruning holds, so two instances never prune at once ("xuaprun").
const PRUNE_LOCK: i64 = 0x0078_7561_7072_756e;

fn is_int(column: &str) -> bool {
    crate::audit::columns::is_integer(column)
}

fn quoted_columns() -> String {
    COLUMNS
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn err(what: &str) -> impl Fn(postgres::Error) -> AuditError + '_ {
    move |e| AuditError(format!("{what}: {}", super::describe_error(&e)))
}

/// One record as stored: its number, its cells in [`COLUMNS`] order, and both hashes (hex).
#[derive(Debug, Clone)]
pub struct Row {
    pub seq: i64,
    pub cells: Vec<Cell>,
    pub prev_hash: String,
    pub hash: String,
    /// The chain format it was hashed in (`audit::chain::CURRENT` for what this build writes).
    pub format: u8,
}

/// The statement that appends rows and moves the head in one go: one array parameter per column.
pub fn insert_sql() -> String {
    let n = COLUMNS.len();
    let arrays = (0..n + 4)
        .map(|i| format!("${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH appended AS (INSERT INTO audit_record (seq, {}, prev_hash, hash, chain_format) SELECT * FROM unnest({arrays}))
         UPDATE audit_head SET seq = ${}, hash = ${} WHERE id = 1",
        quoted_columns(),
        n + 5,
        n + 6
    )
}

enum Column<'a> {
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
}

/// Appends `rows` (already chained) and sets the head to the last of them, inside the caller's transaction.
pub fn insert_rows(tx: &mut impl GenericClient, sql: &str, rows: &[Row]) -> Result<(), AuditError> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let mut columns: Vec<Column<'_>> = COLUMNS
        .iter()
        .map(|c| {
            if is_int(c) {
                Column::Int(Vec::with_capacity(rows.len()))
            } else {
                Column::Text(Vec::with_capacity(rows.len()))
            }
        })
        .collect();
    for row in rows {
        if row.cells.len() != COLUMNS.len() {
            return Err(AuditError(format!(
                "record {} has {} cells, the log has {} columns",
                row.seq,
                row.cells.len(),
                COLUMNS.len()
            )));
        }
        for (i, (column, cell)) in columns.iter_mut().zip(&row.cells).enumerate() {
            match (column, cell) {
                (Column::Text(v), Cell::Text(s)) => v.push(Some(s.as_str())),
                (Column::Text(v), Cell::Null) => v.push(None),
                (Column::Int(v), Cell::Int(x)) => v.push(Some(*x)),
                (Column::Int(v), Cell::Null) => v.push(None),
                _ => {
                    return Err(AuditError(format!(
                        "record {}: column {} has the wrong type",
                        row.seq,
                        COLUMNS.get(i).unwrap_or(&"?")
                    )))
                }
            }
        }
    }
    let prevs: Vec<&str> = rows.iter().map(|r| r.prev_hash.as_str()).collect();
    let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    let formats: Vec<i16> = rows.iter().map(|r| i16::from(r.format)).collect();
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = Vec::with_capacity(COLUMNS.len() + 6);
    params.push((&seqs, Type::INT8_ARRAY));
    for column in &columns {
        match column {
            Column::Text(v) => params.push((v, Type::TEXT_ARRAY)),
            Column::Int(v) => params.push((v, Type::INT8_ARRAY)),
        }
    }
    params.push((&prevs, Type::TEXT_ARRAY));
    params.push((&hashes, Type::TEXT_ARRAY));
    params.push((&formats, Type::INT2_ARRAY));
    params.push((&last.seq, Type::INT8));
    params.push((&last.hash, Type::TEXT));
    tx.execute_typed(sql, &params)
        .map_err(err("audit insert"))?;
    Ok(())
}

/// The chain's head as stored in `audit_head`, locked for the rest of the transaction.
pub fn lock_head(tx: &mut impl GenericClient) -> Result<(i64, [u8; 32]), AuditError> {
    let row = tx
        .query_one(
            "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .map_err(err("locking the chain head"))?;
    let seq: i64 = row.get(0);
    let hash: String = row.get(1);
    let hash = chain::from_hex(&hash)
        .ok_or_else(|| AuditError("the chain head's hash is not 32 bytes of hex".into()))?;
    Ok((seq, hash))
}

/// Walks a chain record by record, as `audit verify` does for either store.
#[derive(Debug)]
pub struct Walk {
    prev: (i64, [u8; 32]),
    pub records: u64,
    pub head: Option<(i64, String)>,
}

impl Walk {
    pub fn from(anchor: Option<(i64, [u8; 32])>) -> Self {
        Self {
            prev: anchor.unwrap_or((0, GENESIS)),
            records: 0,
            head: None,
        }
    }

    /// Where the walk stands: the last verified record (or the anchor / genesis).
    pub fn position(&self) -> (i64, [u8; 32]) {
        self.prev
    }

    /// Checks the next record: its number follows, its `prev_hash` is the previous hash, its hash covers it.
    pub fn step(&mut self, row: &Row) -> Result<(), Broken> {
        let (prev_seq, prev_hash) = self.prev;
        if row.seq != prev_seq + 1 {
            return Err(Broken {
                seq: prev_seq + 1,
                reason: format!(
                    "record {} is missing: the chain goes from {prev_seq} to {}",
                    prev_seq + 1,
                    row.seq
                ),
            });
        }
        if chain::from_hex(&row.prev_hash) != Some(prev_hash) {
            return Err(Broken {
                seq: row.seq,
                reason: format!("prev_hash does not match the hash of record {prev_seq}"),
            });
        }
        // A record of an older format is hashed over that format's columns; the columns added later must
        // be empty in it, or something was written into it after the fact.
        let hashed = crate::audit::columns::columns_of(row.format).len();
        let known = chain::known(row.format);
        if !known || row.cells.iter().skip(hashed).any(|c| *c != Cell::Null) {
            return Err(Broken {
                seq: row.seq,
                reason: "the record holds columns its chain format does not have".into(),
            });
        }
        let computed = chain::link_as(
            row.format,
            &prev_hash,
            row.seq,
            row.cells.get(..hashed).unwrap_or_default(),
        );
        if chain::from_hex(&row.hash) != Some(computed) {
            return Err(Broken {
                seq: row.seq,
                reason: "the record's contents do not match its hash (changed after writing)"
                    .into(),
            });
        }
        self.records += 1;
        self.prev = (row.seq, computed);
        self.head = Some((row.seq, row.hash.clone()));
        Ok(())
    }
}

fn anchor(tx: &mut impl GenericClient) -> Result<Option<(i64, [u8; 32])>, AuditError> {
    let row = tx
        .query_opt("SELECT seq, hash FROM audit_anchor WHERE id = 1", &[])
        .map_err(err("reading the anchor"))?;
    match row {
        None => Ok(None),
        Some(r) => {
            let seq: i64 = r.get(0);
            let hash: String = r.get(1);
            chain::from_hex(&hash)
                .map(|h| Some((seq, h)))
                .ok_or_else(|| AuditError("the anchor hash is not 32 bytes of hex".into()))
        }
    }
}

fn row_of(r: &postgres::Row) -> Result<Row, AuditError> {
    let seq: i64 = r.try_get(0).map_err(err("reading a record"))?;
    let mut cells = Vec::with_capacity(COLUMNS.len());
    for (i, c) in COLUMNS.iter().enumerate() {
        let cell = if is_int(c) {
            r.try_get::<_, Option<i64>>(i + 1)
                .map_err(err("reading a record"))?
                .map_or(Cell::Null, Cell::Int)
        } else {
            r.try_get::<_, Option<String>>(i + 1)
                .map_err(err("reading a record"))?
                .map_or(Cell::Null, Cell::Text)
        };
        cells.push(cell);
    }
    let n = COLUMNS.len();
    let format: i16 = r.try_get(n + 3).map_err(err("reading a record"))?;
    Ok(Row {
        seq,
        cells,
        prev_hash: r.try_get(n + 1).map_err(err("reading a record"))?,
        hash: r.try_get(n + 2).map_err(err("reading a record"))?,
        format: u8::try_from(format).unwrap_or(0),
    })
}

/// Walks the whole chain from the anchor (or genesis) in one consistent snapshot, stops at the first record
/// that does not verify, and checks that the chain ends where `audit_head` says (records cut from the end
/// are found too).
pub fn verify(db: &Database) -> Result<VerifyReport, AuditError> {
    let mut conn = db.get()?;
    let mut tx = conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err("verify"))?;
    let report = verify_in(&mut tx)?;
    tx.commit().map_err(err("verify"))?;
    Ok(report)
}

/// [`verify`] inside the caller's transaction (a repeatable-read snapshot, for a report that reads on).
pub fn verify_in(tx: &mut impl GenericClient) -> Result<VerifyReport, AuditError> {
    let anchor = anchor(tx)?;
    let head = tx
        .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
        .map_err(err("reading the chain head"))?;
    let (head_seq, head_hash): (i64, String) = (head.get(0), head.get(1));
    let mut walk = Walk::from(anchor);
    let mut report = VerifyReport {
        records: 0,
        anchor: anchor.map(|(s, h)| (s, chain::to_hex(&h))),
        head: None,
        broken: None,
    };
    let sql = format!(
        "SELECT seq, {}, prev_hash, hash, chain_format FROM audit_record WHERE seq > $1 ORDER BY seq LIMIT $2",
        quoted_columns()
    );
    let mut after = i64::MIN;
    'pages: loop {
        let rows = tx
            .query_typed(&sql, &[(&after, Type::INT8), (&PAGE, Type::INT8)])
            .map_err(err("verify"))?;
        for r in &rows {
            let row = row_of(r)?;
            after = row.seq;
            if let Err(b) = walk.step(&row) {
                report.broken = Some(b);
                break 'pages;
            }
        }
        if i64::try_from(rows.len()).unwrap_or(0) < PAGE {
            break;
        }
    }
    report.records = walk.records;
    report.head = walk.head.clone();
    if report.broken.is_none() {
        let (seq, hash) = walk.position();
        if seq < head_seq {
            report.broken = Some(Broken {
                seq: seq + 1,
                reason: format!(
                    "records {} to {head_seq} are missing: the chain head says the log ends at {head_seq}",
                    seq + 1
                ),
            });
        } else if seq > head_seq || chain::from_hex(&head_hash) != Some(hash) {
            report.broken = Some(Broken {
                seq,
                reason: format!(
                    "the chain head (record {head_seq}) does not match the last record ({seq})"
                ),
            });
        }
    }
    Ok(report)
}

/// `audit query`: filters combine with AND, in chain order.
pub fn query(db: &Database, q: &Query) -> Result<Vec<Stored>, AuditError> {
    let mut sql = String::from("SELECT seq, hash, record_json FROM audit_record WHERE true");
    let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    if let Some(p) = &q.patient {
        params.push(Box::new(p.clone()));
        sql.push_str(&format!(" AND patient_id = ${}", params.len()));
    }
    if let Some(p) = &q.practitioner {
        params.push(Box::new(p.clone()));
        let i = params.len();
        sql.push_str(&format!(" AND (practitioner_id = ${i} OR hpr_nr = ${i})"));
    }
    if let Some(t) = q.since_ms {
        params.push(Box::new(t));
        sql.push_str(&format!(" AND time_ms >= ${}", params.len()));
    }
    if let Some(t) = q.until_ms {
        params.push(Box::new(t));
        sql.push_str(&format!(" AND time_ms < ${}", params.len()));
    }
    sql.push_str(" ORDER BY seq");
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let mut conn = db.get()?;
    let rows = conn.query(&sql, &refs).map_err(err("query"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.get(0);
        let json: String = r.get(2);
        let record = serde_json::from_str(&json)
            .map_err(|e| AuditError(format!("record {seq} is not readable: {e}")))?;
        out.push(Stored {
            seq,
            hash: r.get(1),
            record,
        });
    }
    Ok(out)
}

/// Deletes the oldest records whose time is before `cutoff_ms` (at most `max_records`), as one prefix of the
/// chain, and moves the anchor to the last one deleted. Returns how many were deleted.
pub fn prune(
    db: &Database,
    cutoff_ms: i64,
    now: &str,
    max_records: u64,
) -> Result<u64, AuditError> {
    let mut conn = db.get()?;
    let mut tx = conn.transaction().map_err(err("prune"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_LOCK])
        .map_err(err("prune"))?;
    let first_kept: Option<i64> = tx
        .query_one(
            "SELECT MIN(seq) FROM audit_record WHERE time_ms >= $1",
            &[&cutoff_ms],
        )
        .map_err(err("prune"))?
        .get(0);
    let last_pruned: Option<i64> = match first_kept {
        Some(k) => tx
            .query_one("SELECT MAX(seq) FROM audit_record WHERE seq < $1", &[&k])
            .map_err(err("prune"))?
            .get(0),
        // Each statement sees the records committed by then (READ COMMITTED): another instance may have
        // committed fresh records since the query above, so only what is itself past the cutoff goes.
        None => tx
            .query_one(
                "SELECT MAX(seq) FROM audit_record WHERE time_ms < $1",
                &[&cutoff_ms],
            )
            .map_err(err("prune"))?
            .get(0),
    };
    let first: Option<i64> = tx
        .query_one("SELECT MIN(seq) FROM audit_record", &[])
        .map_err(err("prune"))?
        .get(0);
    let (Some(last), Some(first)) = (last_pruned, first) else {
        return Ok(0);
    };
    let chunk_end = first.saturating_add(i64::try_from(max_records.max(1)).unwrap_or(i64::MAX) - 1);
    let last = last.min(chunk_end);
    let hash: String = tx
        .query_one("SELECT hash FROM audit_record WHERE seq = $1", &[&last])
        .map_err(err("prune"))?
        .get(0);
    let deleted = tx
        .execute("DELETE FROM audit_record WHERE seq <= $1", &[&last])
        .map_err(err("prune"))?;
    tx.execute(
        "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, $1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, pruned_at = EXCLUDED.pruned_at",
        &[&last, &hash, &now],
    )
    .map_err(err("prune"))?;
    tx.commit().map_err(err("prune"))?;
    Ok(deleted)
}
