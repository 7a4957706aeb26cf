//! The default access-log store: an embedded SQLite database in WAL mode with `synchronous=FULL`, written by
//! one thread that commits records in groups, and hash-chained (see [`super::chain`]).
//!
//! Durability contract: [`SqliteSink::write`] returns `Ok` only after the transaction holding the record has
//! committed (WAL appended and fsynced). Requests block on the actix blocking pool while their record waits
//! for the writer, so one fsync serves every request that arrived during the previous one. If the queue stays
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

use super::chain::{self, GENESIS};
use super::columns::{self, Cell, COLUMNS};
use super::{AuditError, AuditRecord, AuditSink};
use crate::clock::SharedClock;
use crate::observability::metrics::Metrics;

/// Schema version, kept in `audit_meta`; a database written by a newer format is refused.
const SCHEMA_VERSION: &str = "1";

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
        let ty = match *c {
            "time_ms" | "decision_ref_user_selected" => "INTEGER",
            _ => "TEXT",
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
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(AuditError(format!(
                "the audit database has schema version {other}; this build writes {SCHEMA_VERSION}"
            )))
        }
    }
    Ok(())
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

/// A waiting request's reply slot.
#[derive(Debug, Default)]
struct Ack {
    done: Mutex<Option<Result<i64, AuditError>>>,
    cv: Condvar,
}

impl Ack {
    fn set(&self, result: Result<i64, AuditError>) {
        *lock(&self.done) = Some(result);
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) -> Result<i64, AuditError> {
        let deadline = Instant::now() + timeout;
        let mut slot = lock(&self.done);
        loop {
            if let Some(result) = slot.take() {
                return result;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError(
                    "the audit record was not committed in time".into(),
                ));
            }
            slot = self
                .cv
                .wait_timeout(slot, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

#[derive(Debug)]
struct Job {
    cells: Vec<Cell>,
    ack: Arc<Ack>,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    not_empty: Condvar,
    not_full: Condvar,
    alive: AtomicBool,
    /// The last commit failed; cleared by the next one that succeeds.
    failing: AtomicBool,
}

/// Lock poisoning only follows a panic elsewhere; the data behind these locks stays consistent, so go on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the writer dead and fails every waiting request, however the writer thread ends.
struct WriterGuard(Arc<Shared>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
        let mut q = lock(&self.0.queue);
        q.closed = true;
        for job in q.jobs.drain(..) {
            job.ack
                .set(Err(AuditError("the audit writer has stopped".into())));
        }
        self.0.not_full.notify_all();
    }
}

/// The SQLite access-log store.
pub struct SqliteSink {
    path: PathBuf,
    settings: Settings,
    clock: SharedClock,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// For `/readyz` (a `SELECT 1` that proves the file is still there and readable).
    probe: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SqliteSink {
    /// Opens or creates the database, checks that its chain head is readable and starts the writer.
    pub fn open(
        path: &Path,
        settings: Settings,
        metrics: Option<Arc<Metrics>>,
        clock: SharedClock,
    ) -> Result<Self, AuditError> {
        let conn = connect(path, true)?;
        create_schema(&conn)?;
        // Fail at start-up, not at the first request, when the chain's head cannot be read.
        load_head(&conn)?;
        let probe = connect(path, false)?;
        let shared = Arc::new(Shared {
            alive: AtomicBool::new(true),
            ..Shared::default()
        });
        let writer = Writer {
            conn,
            shared: shared.clone(),
            settings: settings.clone(),
            metrics,
            clock: clock.clone(),
            insert: insert_sql(),
        };
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| AuditError(format!("cannot start the audit writer: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            settings,
            clock,
            shared,
            writer: Mutex::new(Some(handle)),
            probe: Mutex::new(probe),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enqueue(&self, job: Job) -> Result<(), AuditError> {
        let deadline = Instant::now() + self.settings.enqueue_timeout;
        let mut q = lock(&self.shared.queue);
        loop {
            if q.closed || !self.shared.alive.load(Ordering::SeqCst) {
                return Err(AuditError("the audit writer has stopped".into()));
            }
            if q.jobs.len() < self.settings.queue_capacity {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError("the audit queue is full".into()));
            }
            q = self
                .shared
                .not_full
                .wait_timeout(q, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        q.jobs.push_back(job);
        drop(q);
        self.shared.not_empty.notify_one();
        Ok(())
    }

    /// Records waiting for the writer (a gauge for `/metrics`).
    pub fn queue_len(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }
}

impl AuditSink for SqliteSink {
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let cells = columns::cells(record)?;
        let ack = Arc::new(Ack::default());
        self.enqueue(Job {
            cells,
            ack: ack.clone(),
        })?;
        ack.wait(self.settings.commit_timeout).map(|_| ())
    }

    fn ready(&self) -> Result<(), AuditError> {
        if !self.shared.alive.load(Ordering::SeqCst) {
            return Err(AuditError("the audit writer has stopped".into()));
        }
        let probe = lock(&self.probe);
        if self.shared.failing.load(Ordering::SeqCst) {
            // The last commit failed. A load balancer that believes us sends no more requests, so no commit
            // would ever clear the flag: try a real durable write (outside the chain) instead.
            probe
                .execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('ready_probe', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [crate::clock::rfc3339(self.clock.now())],
                )
                .map_err(db_err(
                    "the last audit commit failed and a test write fails too",
                ))?;
            self.shared.failing.store(false, Ordering::SeqCst);
            return Ok(());
        }
        probe
            .query_row("SELECT 1 FROM audit_meta LIMIT 1", [], |_| Ok(()))
            .map_err(db_err("the audit database is not readable"))
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

impl Drop for SqliteSink {
    /// Lets the writer commit what is queued, then stops it.
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.not_empty.notify_all();
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }
}

struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    settings: Settings,
    metrics: Option<Arc<Metrics>>,
    clock: SharedClock,
    insert: String,
}

impl Writer {
    fn run(mut self) {
        let _guard = WriterGuard(self.shared.clone());
        let mut last_prune: Option<Instant> = None;
        let mut backlog = false;
        loop {
            if self.settings.retention_days > 0
                && (backlog || last_prune.is_none_or(|t| t.elapsed() >= PRUNE_INTERVAL))
            {
                backlog = self.prune() >= PRUNE_CHUNK;
                last_prune = Some(Instant::now());
            }
            let batch = {
                let mut q = lock(&self.shared.queue);
                if q.jobs.is_empty() && !q.closed && !backlog {
                    q = self
                        .shared
                        .not_empty
                        .wait_timeout(q, PRUNE_INTERVAL)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if q.jobs.is_empty() {
                    if q.closed {
                        return;
                    }
                    continue;
                }
                let n = q.jobs.len().min(self.settings.max_batch);
                let batch: Vec<Job> = q.jobs.drain(..n).collect();
                if let Some(m) = &self.metrics {
                    m.audit_queue_depth(q.jobs.len());
                }
                batch
            };
            self.shared.not_full.notify_all();
            let started = Instant::now();
            let result = self.commit(&batch);
            if let Some(m) = &self.metrics {
                m.audit_commit(batch.len(), started.elapsed(), result.is_ok());
            }
            match result {
                Ok(first_seq) => {
                    self.shared.failing.store(false, Ordering::SeqCst);
                    for (i, job) in batch.into_iter().enumerate() {
                        job.ack
                            .set(Ok(first_seq + i64::try_from(i).unwrap_or(i64::MAX)));
                    }
                }
                Err(e) => {
                    self.shared.failing.store(true, Ordering::SeqCst);
                    tracing::error!(error = %e, records = batch.len(), "audit commit failed");
                    for job in batch {
                        job.ack.set(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Writes a batch in one transaction; returns the first sequence number used.
    fn commit(&mut self, batch: &[Job]) -> Result<i64, AuditError> {
        // IMMEDIATE takes the write lock before reading the head, so another process appending to the same
        // file (a `translate` run beside `serve`) waits its turn instead of forking the chain.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("audit transaction"))?;
        let mut head = load_head(&tx)?;
        let first = head.seq + 1;
        {
            let mut stmt = tx
                .prepare_cached(&self.insert)
                .map_err(db_err("audit insert"))?;
            for job in batch {
                let seq = head.seq + 1;
                let hash = chain::link(&head.hash, seq, &job.cells);
                let prev_hex = chain::to_hex(&head.hash);
                let hash_hex = chain::to_hex(&hash);
                let mut params: Vec<&dyn ToSql> = Vec::with_capacity(COLUMNS.len() + 3);
                params.push(&seq);
                params.extend(job.cells.iter().map(|c| c as &dyn ToSql));
                params.push(&prev_hex);
                params.push(&hash_hex);
                stmt.execute(params.as_slice())
                    .map_err(db_err("audit insert"))?;
                head = Head { seq, hash };
            }
        }
        tx.commit().map_err(db_err("audit commit"))?;
        Ok(first)
    }

    /// One chunk of retention pruning; returns how many records it deleted.
    fn prune(&mut self) -> u64 {
        let now = self.clock.now();
        let cutoff = now - time::Duration::days(i64::from(self.settings.retention_days));
        let cutoff_ms = i64::try_from(cutoff.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        match prune(
            &mut self.conn,
            cutoff_ms,
            &crate::clock::rfc3339(now),
            PRUNE_CHUNK,
        ) {
            Ok(0) => 0,
            Ok(n) => {
                tracing::info!(
                    records = n,
                    retention_days = self.settings.retention_days,
                    "pruned audit records past retention"
                );
                n
            }
            Err(e) => {
                tracing::error!(error = %e, "audit retention pruning failed");
                0
            }
        }
    }
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first record that does not verify (or the first missing sequence number).
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    /// The anchor the chain starts from after pruning (`seq`, hash), if any.
    pub anchor: Option<(i64, String)>,
    /// The last good record (`seq`, hash): record it elsewhere to detect truncation later.
    pub head: Option<(i64, String)>,
    pub broken: Option<Broken>,
}

fn cell_of(v: ValueRef<'_>) -> Option<Cell> {
    match v {
        ValueRef::Null => Some(Cell::Null),
        ValueRef::Integer(i) => Some(Cell::Int(i)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .map(|s| Cell::Text(s.to_string())),
        ValueRef::Real(_) | ValueRef::Blob(_) => None,
    }
}

/// Walks the whole chain from the anchor (or genesis) and stops at the first record that does not verify.
pub fn verify(conn: &Connection) -> Result<VerifyReport, AuditError> {
    let anchor = anchor(conn)?;
    let mut prev = anchor.unwrap_or(Head {
        seq: 0,
        hash: GENESIS,
    });
    let mut report = VerifyReport {
        records: 0,
        anchor: anchor.map(|a| (a.seq, chain::to_hex(&a.hash))),
        head: None,
        broken: None,
    };
    let sql = format!(
        "SELECT seq, {}, prev_hash, hash FROM audit_record ORDER BY seq",
        COLUMNS.join(", ")
    );
    let mut stmt = conn.prepare(&sql).map_err(db_err("verify"))?;
    let mut rows = stmt.query([]).map_err(db_err("verify"))?;
    let n = COLUMNS.len();
    while let Some(row) = rows.next().map_err(db_err("verify"))? {
        let seq: i64 = row.get(0).map_err(db_err("verify"))?;
        let broken = |seq: i64, reason: String| Some(Broken { seq, reason });
        if seq != prev.seq + 1 {
            report.broken = broken(
                prev.seq + 1,
                format!(
                    "record {} is missing: the chain goes from {} to {seq}",
                    prev.seq + 1,
                    prev.seq
                ),
            );
            break;
        }
        let mut cells = Vec::with_capacity(n);
        for i in 1..=n {
            match row.get_ref(i).ok().and_then(cell_of) {
                Some(c) => cells.push(c),
                None => {
                    let column = COLUMNS.get(i - 1).copied().unwrap_or("?");
                    report.broken = broken(seq, format!("column {column} has a foreign type"));
                    break;
                }
            }
        }
        if report.broken.is_some() {
            break;
        }
        let prev_hash: String = row.get(n + 1).map_err(db_err("verify"))?;
        let stored: String = row.get(n + 2).map_err(db_err("verify"))?;
        if chain::from_hex(&prev_hash) != Some(prev.hash) {
            report.broken = broken(
                seq,
                format!("prev_hash does not match the hash of record {}", prev.seq),
            );
            break;
        }
        let computed = chain::link(&prev.hash, seq, &cells);
        if chain::from_hex(&stored) != Some(computed) {
            report.broken = broken(
                seq,
                "the record's contents do not match its hash (changed after writing)".to_string(),
            );
            break;
        }
        report.records += 1;
        prev = Head {
            seq,
            hash: computed,
        };
        report.head = Some((seq, stored));
    }
    Ok(report)
}

/// What `audit query` asks for; filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub patient: Option<String>,
    /// Fødselsnummer/D-number or HPR number.
    pub practitioner: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: Option<u64>,
}

/// A stored record with its place in the chain.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: i64,
    pub hash: String,
    pub record: AuditRecord,
}

pub fn query(conn: &Connection, q: &Query) -> Result<Vec<Stored>, AuditError> {
    let mut sql = String::from("SELECT seq, hash, record_json FROM audit_record WHERE 1=1");
    let mut params: Vec<Value> = Vec::new();
    if let Some(p) = &q.patient {
        params.push(Value::Text(p.clone()));
        sql.push_str(&format!(" AND patient_id = ?{}", params.len()));
    }
    if let Some(p) = &q.practitioner {
        params.push(Value::Text(p.clone()));
        let i = params.len();
        sql.push_str(&format!(" AND (practitioner_id = ?{i} OR hpr_nr = ?{i})"));
    }
    if let Some(t) = q.since_ms {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND time_ms >= ?{}", params.len()));
    }
    if let Some(t) = q.until_ms {
        params.push(Value::Integer(t));
        sql.push_str(&format!(" AND time_ms < ?{}", params.len()));
    }
    sql.push_str(" ORDER BY seq");
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    let mut stmt = conn.prepare(&sql).map_err(db_err("query"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db_err("query"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, hash, json) = row.map_err(db_err("query"))?;
        let record = serde_json::from_str(&json)
            .map_err(|e| AuditError(format!("record {seq} is not readable: {e}")))?;
        out.push(Stored { seq, hash, record });
    }
    Ok(out)
}
