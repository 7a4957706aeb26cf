//! The writer thread and the sink requests wait on: records queued, committed in groups, acknowledged.

use super::*;
use crate::audit::ack::{Ack, Pending};

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

/// How often at most the head file is rewritten while records are committed (it may lag the database by
/// this much after a crash, which the start-up check allows: the head it names is still in the chain).
const HEAD_FILE_INTERVAL: Duration = Duration::from_secs(1);

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
    /// The file opened; readiness fails once the path names another file or none.
    identity: guard::FileIdentity,
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
        // Fail at start-up, not at the first request, when the chain's head cannot be read, or when it is
        // not the chain the head file describes (a deleted or replaced access log).
        let head_file = settings
            .head_file
            .clone()
            .unwrap_or_else(|| guard::default_head_file(path));
        guard::check_head(&conn, path, &head_file)?;
        let identity = guard::FileIdentity::of(path)?;
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
            identity: identity.clone(),
            head_file,
            head: None,
            head_written: None,
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
            identity,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enqueue(&self, job: Job) -> Result<(), AuditError> {
        let deadline = crate::clock::deadline(self.settings.enqueue_timeout);
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

    /// The replay entries of tokens exchanged since `since` that are still live at `now` (see
    /// [`super::replay_entries`]), read through the store's own connection.
    pub fn replay_entries(
        &self,
        since: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> Result<Vec<(crate::replay::ReplayKey, time::OffsetDateTime)>, AuditError> {
        let since_ms = i64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        super::replay_entries(&lock(&self.probe), since_ms, now)
    }

    /// Records waiting for the writer (a gauge for `/metrics`).
    pub fn queue_len(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }
}

impl AuditSink for SqliteSink {
    fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.submit(record).wait()
    }

    fn submit(&self, record: &AuditRecord) -> Pending {
        let queued = columns::cells(record).and_then(|cells| {
            let ack = Arc::new(Ack::default());
            self.enqueue(Job {
                cells,
                ack: ack.clone(),
            })
            .map(|()| ack)
        });
        match queued {
            Ok(ack) => Pending::queued(ack, self.settings.commit_timeout),
            Err(e) => Pending::done(Err(e)),
        }
    }

    fn ready(&self) -> Result<(), AuditError> {
        if !self.shared.alive.load(Ordering::SeqCst) {
            return Err(AuditError("the audit writer has stopped".into()));
        }
        self.identity.check()?;
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
    identity: guard::FileIdentity,
    head_file: PathBuf,
    /// The head after the last commit when the head file does not say it yet.
    head: Option<Head>,
    /// When the head file was last written (never, at first: the first commit writes it at once).
    head_written: Option<Instant>,
}

impl Writer {
    /// Rewrites the head file when it lags and `force` or the interval has passed.
    fn save_head(&mut self, force: bool) {
        let Some(head) = self.head else {
            return;
        };
        if !force
            && self
                .head_written
                .is_some_and(|t| t.elapsed() < HEAD_FILE_INTERVAL)
        {
            return;
        }
        match guard::write_head(&self.head_file, &head) {
            Ok(()) => {
                self.head = None;
                self.head_written = Some(Instant::now());
            }
            Err(e) => tracing::error!(error = %e, "the audit chain head file cannot be written"),
        }
    }

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
                    // A head file that lags is written once the interval has passed, even when idle.
                    let wait = if self.head.is_some() {
                        HEAD_FILE_INTERVAL
                    } else {
                        PRUNE_INTERVAL
                    };
                    q = self
                        .shared
                        .not_empty
                        .wait_timeout(q, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if q.jobs.is_empty() {
                    let closed = q.closed;
                    drop(q);
                    self.save_head(closed);
                    if closed {
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
                Ok((first_seq, head)) => {
                    self.head = Some(head);
                    self.save_head(false);
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

    /// Writes a batch in one transaction; returns the first sequence number used and the new head.
    fn commit(&mut self, batch: &[Job]) -> Result<(i64, Head), AuditError> {
        // SQLite would go on writing to a file whose path was deleted: commit nothing rather than records
        // that nobody can read again.
        self.identity.check()?;
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
        Ok((first, head))
    }

    /// One chunk of retention pruning; returns how many records it deleted.
    fn prune(&mut self) -> u64 {
        let now = self.clock.now();
        let cutoff = now.saturating_sub(time::Duration::days(i64::from(
            self.settings.retention_days,
        )));
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
