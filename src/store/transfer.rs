//! Moving an access log from SQLite to PostgreSQL with its chain intact: `audit export` writes every record
//! of a SQLite log as it is stored (number, both hashes and every hashed cell) to a file of JSON lines;
//! `audit import` checks the chain line by line and loads it into an empty PostgreSQL log in one
//! transaction, anchor and head included. The records keep their numbers and hashes, so the head that
//! `audit verify` printed on the SQLite log is the head it prints on PostgreSQL, and new records continue
//! the same chain.
//!
//! The export names patients and practitioners like the log itself: it is created readable by its owner
//! only, and never over an existing file.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::postgres::read::{self, Row, Walk};
use super::postgres::Database;
use crate::audit::chain;
use crate::audit::columns::{self, Cell, COLUMNS};
use crate::audit::{sqlite, AuditError};

pub const FORMAT: &str = "xua-gateway audit export";
pub const VERSION: u32 = 1;

/// Records per insert statement during an import.
const CHUNK: usize = 1000;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    /// The chain's hashing format (`audit::chain::FORMAT` without its terminator).
    chain: String,
    columns: Vec<String>,
    anchor: Option<Anchor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Anchor {
    seq: i64,
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    seq: i64,
    prev_hash: String,
    hash: String,
    cells: Vec<Value>,
    /// The chain format the record was hashed in (records written before format 2 keep format 1).
    #[serde(default = "current_format")]
    format: u8,
}

fn current_format() -> u8 {
    chain::CURRENT
}

/// The chain format an export's header names, when its columns are that format's: an export written by an
/// older build is read with its own columns, and the columns added since are empty in each of its records.
fn export_format(header: &Header) -> Option<u8> {
    (2..=chain::CURRENT).rev().find(|&f| {
        header.chain == chain_name(f)
            && header
                .columns
                .iter()
                .map(String::as_str)
                .eq(columns::columns_of(f).iter().copied())
    })
}

/// What was moved: how many records, and the chain's head (record number and hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub head: Option<(i64, String)>,
}

fn chain_format() -> String {
    chain_name(chain::CURRENT)
}

/// The name of chain format `format` as an export header writes it (the hashed prefix without its
/// terminator).
fn chain_name(format: u8) -> String {
    String::from_utf8_lossy(chain::prefix(format))
        .trim_end_matches('\0')
        .to_string()
}

fn io(what: &str) -> impl Fn(std::io::Error) -> AuditError + '_ {
    move |e| AuditError(format!("{what}: {e}"))
}

fn sq(what: &str) -> impl Fn(rusqlite::Error) -> AuditError + '_ {
    move |e| AuditError(format!("{what}: {e}"))
}

fn create_private(path: &Path) -> Result<std::fs::File, AuditError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| {
        AuditError(format!(
            "cannot create {} (it must not exist yet): {e}",
            path.display()
        ))
    })
}

fn json_of(v: ValueRef<'_>, seq: i64) -> Result<Value, AuditError> {
    match v {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(i) => Ok(Value::from(i)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| AuditError(format!("record {seq}: a column is not UTF-8"))),
        ValueRef::Real(_) | ValueRef::Blob(_) => Err(AuditError(format!(
            "record {seq}: a column has a foreign type"
        ))),
    }
}

/// Writes the SQLite log at `db` to `out` (a new file), from one consistent snapshot.
pub fn export(db: &Path, out: &Path) -> Result<Summary, AuditError> {
    let mut conn = sqlite::connect(db, false)?;
    let tx = conn.transaction().map_err(sq("export"))?;
    let formats = sqlite::formats(&tx)?;
    let anchor: Option<Anchor> = tx
        .query_row("SELECT seq, hash FROM audit_anchor WHERE id = 1", [], |r| {
            Ok(Anchor {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sq("reading the anchor"))?;
    let file = create_private(out)?;
    let mut w = BufWriter::new(file);
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
        chain: chain_format(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        anchor,
    };
    write_line(&mut w, &header)?;
    let sql = format!(
        "SELECT seq, {}, prev_hash, hash FROM audit_record ORDER BY seq",
        COLUMNS.join(", ")
    );
    let mut stmt = tx.prepare(&sql).map_err(sq("export"))?;
    let mut rows = stmt.query([]).map_err(sq("export"))?;
    let n = COLUMNS.len();
    let mut summary = Summary {
        records: 0,
        head: None,
    };
    while let Some(row) = rows.next().map_err(sq("export"))? {
        let seq: i64 = row.get(0).map_err(sq("export"))?;
        let mut cells = Vec::with_capacity(n);
        for i in 1..=n {
            cells.push(json_of(row.get_ref(i).map_err(sq("export"))?, seq)?);
        }
        let line = Line {
            seq,
            prev_hash: row.get(n + 1).map_err(sq("export"))?,
            hash: row.get(n + 2).map_err(sq("export"))?,
            cells,
            format: formats.of(seq),
        };
        write_line(&mut w, &line)?;
        summary.records += 1;
        summary.head = Some((seq, line.hash));
    }
    let file = w
        .into_inner()
        .map_err(|e| AuditError(format!("writing the export: {}", e.error())))?;
    file.sync_all().map_err(io("writing the export"))?;
    Ok(summary)
}

fn write_line(w: &mut impl Write, v: &impl Serialize) -> Result<(), AuditError> {
    serde_json::to_writer(&mut *w, v)
        .map_err(|e| AuditError(format!("writing the export: {e}")))?;
    w.write_all(b"\n").map_err(io("writing the export"))
}

fn cell_of(v: &Value, seq: i64) -> Result<Cell, AuditError> {
    match v {
        Value::Null => Ok(Cell::Null),
        Value::String(s) => Ok(Cell::Text(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(Cell::Int)
            .ok_or_else(|| AuditError(format!("record {seq}: a number that is not an integer"))),
        _ => Err(AuditError(format!(
            "record {seq}: a cell that is neither null, text nor integer"
        ))),
    }
}

/// Loads an export into the (empty) PostgreSQL log of `db`, checking the chain on the way; all or nothing.
pub fn import(db: &Database, file: &Path, now: &str) -> Result<Summary, AuditError> {
    let f = std::fs::File::open(file)
        .map_err(|e| AuditError(format!("cannot read {}: {e}", file.display())))?;
    let mut lines = BufReader::new(f).lines();
    let first = lines
        .next()
        .ok_or_else(|| AuditError("the export is empty".into()))?
        .map_err(io("reading the export"))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|_| AuditError("line 1 is not an audit export header".into()))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(AuditError(format!(
            "the export is {:?} version {}; this build reads {FORMAT:?} version {VERSION}",
            header.format, header.version
        )));
    }
    let Some(written_in) = export_format(&header) else {
        return Err(AuditError(
            "the export's chain format or columns are not ones this build reads".into(),
        ));
    };
    let exported_columns = columns::columns_of(written_in).len();
    let anchor = match &header.anchor {
        None => None,
        Some(a) => Some((
            a.seq,
            chain::from_hex(&a.hash).ok_or_else(|| {
                AuditError("the export's anchor hash is not 32 bytes of hex".into())
            })?,
        )),
    };

    let mut conn = db.get()?;
    let fail = |what: &'static str| {
        move |e: postgres::Error| {
            AuditError(format!("{what}: {}", super::postgres::describe_error(&e)))
        }
    };
    let mut tx = conn.transaction().map_err(fail("import"))?;
    let (head_seq, _) = read::lock_head(&mut tx)?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM audit_record) + (SELECT count(*) FROM audit_anchor)",
            &[],
        )
        .map_err(fail("import"))?
        .get(0);
    if head_seq != 0 || held != 0 {
        return Err(AuditError(
            "the PostgreSQL access log already holds records: import only into an empty log".into(),
        ));
    }
    if let Some((seq, hash)) = anchor {
        tx.execute(
            "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, $1, $2, $3)",
            &[&seq, &chain::to_hex(&hash), &now],
        )
        .map_err(fail("import"))?;
        tx.execute(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&seq, &chain::to_hex(&hash)],
        )
        .map_err(fail("import"))?;
    }
    let sql = read::insert_sql();
    let mut walk = Walk::from(anchor);
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
    for (i, line) in lines.enumerate() {
        let number = i + 2;
        let line = line.map_err(io("reading the export"))?;
        let line: Line = serde_json::from_str(&line)
            .map_err(|_| AuditError(format!("line {number} is not an exported record")))?;
        if line.cells.len() != exported_columns || line.format > written_in {
            return Err(AuditError(format!(
                "line {number} does not have the columns of the export's chain format"
            )));
        }
        let mut cells = line
            .cells
            .iter()
            .map(|v| cell_of(v, line.seq))
            .collect::<Result<Vec<_>, _>>()?;
        cells.resize(COLUMNS.len(), Cell::Null);
        let row = Row {
            seq: line.seq,
            cells,
            prev_hash: line.prev_hash,
            hash: line.hash,
            format: line.format,
        };
        walk.step(&row).map_err(|b| {
            AuditError(format!(
                "line {number}: the chain is broken at record {}: {}; nothing was imported",
                b.seq, b.reason
            ))
        })?;
        chunk.push(row);
        if chunk.len() >= CHUNK {
            read::insert_rows(&mut tx, &sql, &chunk)?;
            chunk.clear();
        }
    }
    read::insert_rows(&mut tx, &sql, &chunk)?;
    tx.commit().map_err(fail("import"))?;
    Ok(Summary {
        records: walk.records,
        head: walk.head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(chain: &str, columns: &[&str]) -> Header {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            chain: chain.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            anchor: None,
        }
    }

    #[test]
    fn exports_of_this_and_the_previous_chain_format_are_read() {
        assert_eq!(
            export_format(&header(&chain_format(), COLUMNS)),
            Some(chain::CURRENT)
        );
        let v2 = header("xua-gateway audit chain v2", columns::columns_of(2));
        assert_eq!(export_format(&v2), Some(2));
        // A header whose columns are not its format's is refused, as is an unknown format.
        let mixed = header("xua-gateway audit chain v2", COLUMNS);
        assert_eq!(export_format(&mixed), None);
        let unknown = header("xua-gateway audit chain v9", COLUMNS);
        assert_eq!(export_format(&unknown), None);
    }
}
