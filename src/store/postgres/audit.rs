//! The cluster's access log: every instance appends to one hash chain in PostgreSQL.
//!
//! Each instance group-commits its own records (a writer thread, as the SQLite store has). A commit locks
//! the chain head (`SELECT ... FROM audit_head FOR UPDATE`), links its records to the head's hash, appends
//! them and moves the head, all in one transaction: the instances take turns at the head, and the chain
//! never forks. The lock is held from that SELECT to COMMIT (one insert statement and the commit's WAL
//! flush), so one instance's batch waits at most for the other's.
//!
//! Durability contract as in SQLite: [`PgAuditSink::write`] returns `Ok` only after COMMIT has returned
//! (with PostgreSQL's default `synchronous_commit = on`, the WAL is flushed). When the database cannot be
//! reached, the commit fails or does not finish within `commit_timeout_ms`, `write` fails and no token is
//! issued. A commit whose reply was lost may still have committed: the log may over-report, never under.

use std::sync::Arc;
use std::time::Duration;

use super::read::{self, Row};
use super::Database;
use crate::audit::columns::{self, Cell};
use crate::audit::sqlite::{Settings, PRUNE_CHUNK};
use crate::audit::{chain, AuditError, AuditRecord, AuditSink};
use crate::clock::SharedClock;
use crate::observability::metrics::Metrics;
use crate::store::group_commit::{Committer, GroupCommit};

/// How often the writer looks at retention.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

pub struct PgAuditSink {
    db: Arc<Database>,
    queue: GroupCommit<Vec<Cell>>,
    clock: SharedClock,
}

impl std::fmt::Debug for PgAuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuditSink")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PgAuditSink {
    /// Starts the writer on `db` (whose schema the caller has checked); fails when the chain head cannot
    /// be read.
    pub fn open(
        db: Database,
        settings: Settings,
        metrics: Option<Arc<Metrics>>,
        clock: SharedClock,
    ) -> Result<Self, AuditError> {
        let db = Arc::new(db);
        {
            let mut conn = db.get()?;
            let mut tx = conn
                .transaction()
                .map_err(|e| AuditError::from(db.error("reading the chain head", &e)))?;
            // Fail at start-up, not at the first request, when the head is unreadable.
            read::lock_head(&mut tx)?;
        }
        let committer = PgCommitter {
            db: db.clone(),
            insert: read::insert_sql(),
            retention_days: settings.retention_days,
            clock: clock.clone(),
        };
        let queue = GroupCommit::start("audit-writer-pg", committer, settings, metrics)?;
        Ok(Self { db, queue, clock })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Records waiting for the writer.
    pub fn queue_len(&self) -> usize {
        self.queue.queue_len()
    }
}

impl AuditSink for PgAuditSink {
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.submit(record).wait()
    }

    fn submit(&self, record: &AuditRecord) -> crate::audit::ack::Pending {
        match columns::cells(record) {
            Ok(cells) => self.queue.queue(cells),
            Err(e) => crate::audit::ack::Pending::done(Err(e)),
        }
    }

    fn ready(&self) -> Result<(), AuditError> {
        if !self.queue.alive() {
            return Err(AuditError("the audit writer has stopped".into()));
        }
        self.db.ready()?;
        if self.queue.failing() {
            // The last commit failed. A load balancer that believes us sends nothing more, so no commit
            // would ever clear the flag: prove a durable write works instead (outside the chain).
            let now = crate::clock::rfc3339(self.clock.now());
            let mut conn = self.db.get()?;
            conn.execute(
                "INSERT INTO readiness_probe (id, at) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                &[&now],
            )
            .map_err(|e| {
                AuditError::from(self.db.error(
                    "the last audit commit failed and a test write fails too",
                    &e,
                ))
            })?;
            self.queue.recovered();
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

struct PgCommitter {
    db: Arc<Database>,
    insert: String,
    retention_days: u32,
    clock: SharedClock,
}

impl PgCommitter {
    fn commit_batch(&mut self, batch: &[Vec<Cell>]) -> Result<i64, AuditError> {
        let mut conn = self.db.get()?;
        let fail = |e: postgres::Error| AuditError::from(self.db.error("audit commit", &e));
        let mut tx = conn.transaction().map_err(fail)?;
        let (mut seq, mut hash) = read::lock_head(&mut tx)?;
        let first = seq + 1;
        let mut rows = Vec::with_capacity(batch.len());
        for cells in batch {
            let next = seq + 1;
            let linked = chain::link(&hash, next, cells);
            rows.push(Row {
                seq: next,
                cells: cells.clone(),
                prev_hash: chain::to_hex(&hash),
                hash: chain::to_hex(&linked),
                format: chain::CURRENT,
            });
            seq = next;
            hash = linked;
        }
        read::insert_rows(&mut tx, &self.insert, &rows)?;
        tx.commit().map_err(fail)?;
        Ok(first)
    }
}

impl Committer for PgCommitter {
    type Item = Vec<Cell>;

    fn commit(&mut self, batch: &[Vec<Cell>]) -> Result<i64, AuditError> {
        let result = self.commit_batch(batch);
        if result.is_err() {
            self.db.failed();
        }
        result
    }

    fn maintain(&mut self) -> bool {
        let now = self.clock.now();
        let cutoff = now.saturating_sub(time::Duration::days(i64::from(self.retention_days)));
        let cutoff_ms = i64::try_from(cutoff.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        match read::prune(
            &self.db,
            cutoff_ms,
            &crate::clock::rfc3339(now),
            PRUNE_CHUNK,
        ) {
            Ok(0) => false,
            Ok(n) => {
                tracing::info!(
                    records = n,
                    retention_days = self.retention_days,
                    "pruned audit records past retention"
                );
                n >= PRUNE_CHUNK
            }
            Err(e) => {
                tracing::error!(error = %e, "audit retention pruning failed");
                false
            }
        }
    }

    fn maintain_every(&self) -> Option<Duration> {
        (self.retention_days > 0).then_some(PRUNE_INTERVAL)
    }
}
