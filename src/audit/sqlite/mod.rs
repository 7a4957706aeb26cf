//! The default access-log store: an embedded SQLite database in WAL mode with `synchronous=FULL`, written by
//! one thread that commits records in groups (`writer`), and hash-chained (see [`super::chain`]); `read`
//! verifies the chain and answers queries.
//!
//! Durability contract: [`SqliteSink::write`] returns `Ok`, and the answer of [`SqliteSink::submit`] is `Ok`,
//! only after the transaction holding the record has committed (WAL appended and fsynced). HTTP requests
//! await that answer on their event loop without holding a thread (`super::ack`), so one fsync serves every
//! request that arrived during the previous one. If the queue stays
//! full, the commit fails or it does not finish in time, `write` fails and the gateway issues no token. The
//! converse can happen: a record committed after its request gave up (timeout) documents a token that was
//! never delivered; an access log may over-report, never under-report.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, TransactionBehavior};

mod guard;
mod log;
mod read;
mod writer;

pub use guard::default_head_file;
pub use log::SqliteLog;
pub use read::{query, replay_entries, verify, Broken, Query, Stored, VerifyReport};
pub use writer::SqliteSink;

use super::chain::{self, GENESIS};
use super::columns::{self, Cell, COLUMNS};
use super::{AuditError, AuditRecord, AuditSink};
use crate::clock::SharedClock;
use crate::observability::metrics::Metrics;

/// Schema version, kept in `audit_meta`; a database written by a newer format is refused. Version 2 added
/// the columns of chain format 2, version 3 those of chain format 3; an older database gets them on open,
/// and its old records keep verifying in their own format.
const SCHEMA_VERSION: &str = "3";

/// `audit_meta` keys: the sequence number of the first record written in chain format 2, and in 3.
const FORMAT_2_FROM: &str = "chain_format_2_from";
const FORMAT_3_FROM: &str = "chain_format_3_from";

/// How often the writer looks at retention when idle or busy.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Most records one pruning transaction deletes, so that a first prune of a large backlog never holds up
/// the commits requests are waiting for: the writer commits queued records between chunks.
pub const PRUNE_CHUNK: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub queue_capacity: usize,
    pub max_batch: usize,
    pub enqueue_timeout: Duration,
    pub commit_timeout: Duration,
    /// 0 keeps every record.
    pub retention_days: u32,
    /// Where the chain head is kept for the next start to check (`guard`); `None`: the database path with
    /// `.head` appended.
    pub head_file: Option<PathBuf>,
}

/// The same as `[audit]`'s defaults (a test in `config` keeps the two equal).
impl Default for Settings {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            max_batch: 256,
            enqueue_timeout: Duration::from_millis(1000),
            commit_timeout: Duration::from_millis(10_000),
            retention_days: 3650,
            head_file: None,
        }
    }
}

fn db_err(context: &str) -> impl Fn(rusqlite::Error) -> AuditError + '_ {
    move |e| AuditError(format!("{context}: {e}"))
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Cell::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Creates the database file readable by its owner only: it names patients and practitioners. SQLite gives
/// the `-wal` and `-shm` files the main file's permissions.
fn create_private(path: &Path) -> Result<(), AuditError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(AuditError(format!(
            "cannot create the audit database {}: {e}",
            path.display()
        ))),
    }
}

/// Opens (and creates when `create`) the database with the settings every connection needs.
pub fn connect(path: &Path, create: bool) -> Result<Connection, AuditError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        create_private(path)?;
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let shown = path.display().to_string();
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| AuditError(format!("cannot open the audit database {shown}: {e}")))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(db_err("busy_timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db_err("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(AuditError(format!(
            "the audit database {shown} cannot use WAL (journal_mode is {mode})"
        )));
    }
    // FULL: the WAL is fsynced at every commit, so a committed record survives power loss, not only a crash.
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(db_err("pragmas"))?;
    Ok(conn)
}

fn create_schema(conn: &Connection) -> Result<(), AuditError> {
    let mut ddl =
        String::from("CREATE TABLE IF NOT EXISTS audit_record (\n  seq INTEGER PRIMARY KEY,\n");
    for c in COLUMNS {
        let ty = if columns::is_integer(c) {
            "INTEGER"
        } else {
            "TEXT"
        };
        let not_null = matches!(
            *c,
            "time" | "time_ms" | "request_id" | "direction" | "outcome" | "record_json"
        );
        ddl.push_str(&format!(
            "  {c} {ty}{},\n",
            if not_null { " NOT NULL" } else { "" }
        ));
    }
    ddl.push_str("  prev_hash TEXT NOT NULL,\n  hash TEXT NOT NULL\n);\n");
    ddl.push_str(
        "CREATE INDEX IF NOT EXISTS audit_by_patient ON audit_record (patient_id, time_ms);
         CREATE INDEX IF NOT EXISTS audit_by_practitioner ON audit_record (practitioner_id, time_ms);
         CREATE INDEX IF NOT EXISTS audit_by_hpr ON audit_record (hpr_nr, time_ms);
         CREATE INDEX IF NOT EXISTS audit_by_time ON audit_record (time_ms);
         CREATE INDEX IF NOT EXISTS audit_by_output_token ON audit_record (output_token_id);
         -- After pruning: the last pruned record, so the first kept one still links to something known.
         CREATE TABLE IF NOT EXISTS audit_anchor (
           id INTEGER PRIMARY KEY CHECK (id = 1),
           seq INTEGER NOT NULL,
           hash TEXT NOT NULL,
           pruned_at TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    );
    conn.execute_batch(&ddl)
        .map_err(db_err("creating the schema"))?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM audit_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err("reading the schema version"))?;
    match version.as_deref() {
        None => {
            conn.execute(
                "INSERT INTO audit_meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION],
            )
            .map_err(db_err("writing the schema version"))?;
            mark_format(conn, FORMAT_2_FROM)?;
            mark_format(conn, FORMAT_3_FROM)?;
        }
        Some(old @ ("1" | "2")) => migrate(conn, old == "1")?,
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(AuditError(format!(
                "the audit database has schema version {other}; this build writes {SCHEMA_VERSION}"
            )))
        }
    }
    Ok(())
}

/// Records from the next one on are of the chain format `key` names.
fn mark_format(conn: &Connection, key: &str) -> Result<(), AuditError> {
    let next = load_head(conn)?.seq + 1;
    conn.execute(
        "INSERT INTO audit_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, next.to_string()],
    )
    .map_err(db_err("writing the chain format"))?;
    Ok(())
}

/// An older database: add the columns of the newer formats, and note where each newer format begins, in one
/// transaction. A version 1 database has no format 2 records: formats 2 and 3 begin at the same record.
fn migrate(conn: &Connection, from_1: bool) -> Result<(), AuditError> {
    let present = table_columns(conn)?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(db_err("migrating the schema"))?;
    let migrated = add_columns(conn, &present, from_1);
    let end = if migrated.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    conn.execute_batch(end)
        .map_err(db_err("migrating the schema"))?;
    migrated
}

fn add_columns(conn: &Connection, present: &[String], from_1: bool) -> Result<(), AuditError> {
    for c in COLUMNS.iter().filter(|c| !present.iter().any(|p| p == *c)) {
        let ty = if columns::is_integer(c) {
            "INTEGER"
        } else {
            "TEXT"
        };
        conn.execute_batch(&format!("ALTER TABLE audit_record ADD COLUMN {c} {ty}"))
            .map_err(db_err("migrating the schema"))?;
    }
    if from_1 {
        mark_format(conn, FORMAT_2_FROM)?;
    }
    mark_format(conn, FORMAT_3_FROM)?;
    conn.execute(
        "UPDATE audit_meta SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION],
    )
    .map_err(db_err("migrating the schema"))?;
    Ok(())
}

/// The columns `audit_record` has, in table order.
pub(crate) fn table_columns(conn: &Connection) -> Result<Vec<String>, AuditError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('audit_record')")
        .map_err(db_err("reading the schema"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db_err("reading the schema"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err("reading the schema"))?;
    Ok(names)
}

/// Where each newer chain format begins in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Formats {
    pub v2_from: i64,
    pub v3_from: i64,
}

impl Formats {
    /// The chain format of record `seq`.
    pub fn of(&self, seq: i64) -> u8 {
        if seq < self.v2_from {
            1
        } else if seq < self.v3_from {
            2
        } else {
            3
        }
    }
}

/// Where the newer chain formats begin: the recorded sequence numbers, or (a database not migrated yet) past
/// every record.
pub(crate) fn formats(conn: &Connection) -> Result<Formats, AuditError> {
    let boundary = |key: &str| -> Result<i64, AuditError> {
        let value: Option<String> = conn
            .query_row("SELECT value FROM audit_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err("reading the chain format"))?;
        match value {
            Some(v) => v
                .parse()
                .map_err(|_| AuditError("the chain format boundary is not a number".into())),
            None => Ok(i64::MAX),
        }
    };
    Ok(Formats {
        v2_from: boundary(FORMAT_2_FROM)?,
        v3_from: boundary(FORMAT_3_FROM)?,
    })
}

/// Where the chain stands: the last record's sequence number and hash (or the anchor's, or genesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    seq: i64,
    hash: [u8; 32],
}

fn anchor(conn: &Connection) -> Result<Option<Head>, AuditError> {
    let row: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_anchor WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db_err("reading the anchor"))?;
    match row {
        None => Ok(None),
        Some((seq, hash)) => chain::from_hex(&hash)
            .map(|hash| Some(Head { seq, hash }))
            .ok_or_else(|| AuditError("the anchor hash is not 32 bytes of hex".into())),
    }
}

fn load_head(conn: &Connection) -> Result<Head, AuditError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_record ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_err("reading the last record"))?;
    match last {
        Some((seq, hash)) => chain::from_hex(&hash)
            .map(|hash| Head { seq, hash })
            .ok_or_else(|| AuditError(format!("record {seq} has a malformed hash"))),
        None => Ok(anchor(conn)?.unwrap_or(Head {
            seq: 0,
            hash: GENESIS,
        })),
    }
}

fn insert_sql() -> String {
    let names = COLUMNS.join(", ");
    let marks = (1..=COLUMNS.len() + 3)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO audit_record (seq, {names}, prev_hash, hash) VALUES ({marks})")
}

/// Deletes the oldest records whose time is before `cutoff_ms` (at most `max_records` of them), as one
/// prefix of the chain, and moves the anchor to the last one deleted. Returns how many were deleted.
pub fn prune(
    conn: &mut Connection,
    cutoff_ms: i64,
    now: &str,
    max_records: u64,
) -> Result<u64, AuditError> {
    let tx = conn.transaction().map_err(db_err("prune"))?;
    let first_kept: Option<i64> = tx
        .query_row(
            "SELECT MIN(seq) FROM audit_record WHERE time_ms >= ?1",
            [cutoff_ms],
            |r| r.get(0),
        )
        .map_err(db_err("prune"))?;
    let last_pruned: Option<i64> = match first_kept {
        Some(k) => tx
            .query_row(
                "SELECT MAX(seq) FROM audit_record WHERE seq < ?1",
                [k],
                |r| r.get(0),
            )
            .map_err(db_err("prune"))?,
        None => tx
            .query_row("SELECT MAX(seq) FROM audit_record", [], |r| r.get(0))
            .map_err(db_err("prune"))?,
    };
    let first: Option<i64> = tx
        .query_row("SELECT MIN(seq) FROM audit_record", [], |r| r.get(0))
        .map_err(db_err("prune"))?;
    let (Some(last), Some(first)) = (last_pruned, first) else {
        return Ok(0);
    };
    let chunk_end = first.saturating_add(i64::try_from(max_records.max(1)).unwrap_or(i64::MAX) - 1);
    let last = last.min(chunk_end);
    let hash: String = tx
        .query_row(
            "SELECT hash FROM audit_record WHERE seq = ?1",
            [last],
            |r| r.get(0),
        )
        .map_err(db_err("prune"))?;
    let deleted = tx
        .execute("DELETE FROM audit_record WHERE seq <= ?1", [last])
        .map_err(db_err("prune"))?;
    tx.execute(
        "INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
         pruned_at = excluded.pruned_at",
        rusqlite::params![last, hash, now],
    )
    .map_err(db_err("prune"))?;
    tx.commit().map_err(db_err("prune"))?;
    Ok(deleted as u64)
}

#[cfg(test)]
mod format_tests;
